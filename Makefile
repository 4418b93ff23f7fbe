# crpsgd: two commands do all the set-up on a fresh machine: `make run` and `make test`.
#
# Variables (override on the command line, e.g. `make run NP=8 MPIEXEC=srun`):
#   PYTHON    interpreter that creates the virtual environment
#   VENV      where the virtual environment lives
#   EXTRAS    pip extras; drop `mpich` to build mpi4py against the system MPI (see README)
#   MPIEXEC   launcher; defaults to the one of the `mpich` wheel inside the venv
#   MPIFLAGS  extra launcher flags (e.g. --oversubscribe for Open MPI)
#   NP        number of ranks for `make run`

PYTHON   ?= python3
VENV     ?= .venv
EXTRAS   ?= mpich,test
BIN      := $(VENV)/bin
MPIEXEC  ?= $(BIN)/mpiexec
MPIFLAGS ?=
NP       ?= 4
STAMP    := $(VENV)/.installed-stamp
comma    := ,
# The stamp lists the extras installed so far; an EXTRAS with one not listed reinstalls
# (so `make install EXTRAS=mpich,test,torch` after `make run` installs torch). An empty
# stamp (written before stamps listed extras) counts as the default extras.
INSTALLED := $(shell test -f $(STAMP) && { cat $(STAMP); test -s $(STAMP) || echo mpich test; })
WANTED   := $(subst $(comma), ,$(EXTRAS))
ifneq ($(filter-out $(INSTALLED),$(WANTED)),)
.PHONY: $(STAMP)
endif
RUNS     ?= runs
RUN_ARGS ?= --data synthetic:n=20000,d=50,seed=1 --T 20000 --lam 1e-3 --gamma auto --fstar auto --quiet

export CRPSGD_MPIEXEC := $(MPIEXEC)
export CRPSGD_MPIFLAGS := $(MPIFLAGS)

.PHONY: install run test test-fast lint format bench-kernels bench-data bench-logreg \
	bench-theory bench-catalyst bench-peers bench-allreduce bench-overhead bench-adaptive \
	bench-resnet20 bench-fair-dl bench-torch figures docs clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[$(EXTRAS)]'
	echo $(sort $(INSTALLED) $(WANTED)) > $(STAMP)

RHO_NOTE := make run: the rho warning is expected: the analysis's condition is sufficient, \
	not necessary, and rho < 1/(1 - gamma lambda) would take hundreds of rounds here; \
	CR-PSGD with rho = 1.5 converges anyway (f - f* above)

run: $(STAMP)
	mkdir -p $(RUNS)
	@$(BIN)/python -m crpsgd.session.kernel_cache
	$(MPIEXEC) $(MPIFLAGS) -n $(NP) $(BIN)/crpsgd run --algo cr-psgd --b1 8 --rho 1.5 \
		$(RUN_ARGS) --out $(RUNS)/cr-psgd.h5 --overwrite
	@echo "$(RHO_NOTE)"
	$(MPIEXEC) $(MPIFLAGS) -n $(NP) $(BIN)/crpsgd run --algo psgd --batch 8 \
		$(RUN_ARGS) --out $(RUNS)/psgd.h5 --overwrite
	$(BIN)/crpsgd info $(RUNS)/cr-psgd.h5 $(RUNS)/psgd.h5

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not mpi and not slow"

lint: $(STAMP)
	$(BIN)/ruff check crpsgd tests bench
	$(BIN)/ruff format --check crpsgd tests bench

format: $(STAMP)
	$(BIN)/ruff check --fix crpsgd tests bench
	$(BIN)/ruff format crpsgd tests bench

bench-kernels: $(STAMP)
	$(BIN)/python -m bench kernels --out bench/results/kernels.json

bench-data: $(STAMP)
	$(BIN)/python -m bench libsvm --data ../shared/data/a9a --out bench/results/libsvm.json

# Experiments (bench/*.toml; logs in bench/out/, tables and small PNGs in bench/results/).
# More ranks than cores: MPICH's progress throttle makes a waiting rank sleep instead of
# spinning, which makes oversubscribed rounds ~10x faster (no effect on results or counts).
BENCH_ENV ?= MPIR_CVAR_CH4_PROGRESS_THROTTLE=1 MPIR_CVAR_CH4_PROGRESS_THROTTLE_NO_PROGRESS_COUNT=1

bench-logreg: $(STAMP)
	$(BENCH_ENV) $(MPIEXEC) $(MPIFLAGS) -n 10 $(BIN)/python -m bench experiment bench/logreg_a9a.toml
	$(BENCH_ENV) $(MPIEXEC) $(MPIFLAGS) -n 10 $(BIN)/python -m bench experiment bench/logreg_synthetic.toml

bench-theory: $(STAMP)
	$(BENCH_ENV) $(BIN)/python -m bench theory

# Issue 3: CR-PSGD-Catalyst vs PSGD(B) and PR-SGD on non-convex problems, N = 8 (resumable:
# completed grid points are kept; bench/results/catalyst.{md,json} and catalyst-*.png).
bench-catalyst: $(STAMP)
	$(BENCH_ENV) $(MPIEXEC) $(MPIFLAGS) -n 8 $(BIN)/python -m bench experiment bench/catalyst.toml

# Issue 11: ResNet20, CR-PSGD vs PSGD (small batch + step decay, large batch) and Local SGD,
# N = 8 ranks (oversubscribed here), the reduced version on the digits stand-in (not
# CIFAR-10; bench/resnet20.toml [quick]); the full one: jobs/resnet20_cifar10_n8.sbatch.
DIGITS := bench/out/digits-cifar10
bench-resnet20: $(STAMP)
	test -f $(DIGITS)/test_batch.bin || $(BIN)/crpsgd digits-cifar10 $(DIGITS)
	$(BENCH_ENV) $(MPIEXEC) $(MPIFLAGS) -n 8 $(BIN)/python -m bench experiment bench/resnet20.toml --quick
	$(BIN)/python -m bench resnet20-table bench/out/resnet20-quick --out bench/results/resnet20-quick-table

# Issue 20: the fair protocol (bench/fair_dl.toml): PSGD small/large, CR-PSGD fixed/scaled/adaptive,
# Local SGD, post-local SGD (each plain and with local momentum), DiLoCo and DiLoCo with a growing inner batch, each tuned on seed 0
# from one step-size grid, the best point on 3 seeds; ResNet20 on the digits stand-in (not
# CIFAR-10), N = 4 ranks, T = 8 epochs a run, 142 runs: 102 min measured on 2 cores. `make bench-fair-dl QUICK=1`: its [quick]
# smoke test (one point per method). Real CIFAR-10: CRPSGD_EXPERIMENT=fair jobs/resnet20_cifar10_n8.sbatch.
FAIR := fair_dl$(if $(QUICK),-quick)
bench-fair-dl: $(STAMP)
	test -f $(DIGITS)/test_batch.bin || $(BIN)/crpsgd digits-cifar10 $(DIGITS)
	$(BENCH_ENV) $(MPIEXEC) $(MPIFLAGS) -n 4 $(BIN)/python -m bench experiment bench/fair_dl.toml $(if $(QUICK),--quick)
	$(BIN)/python -m bench fair-table bench/fair_dl.toml $(if $(QUICK),--quick) --out bench/results/$(FAIR)-table

# Issue 11: a ResNet20 round on one rank against bare PyTorch, and micro-batch memory.
bench-torch: $(STAMP)
	$(BIN)/python -m bench torch --out bench/results/torch.json
	$(BIN)/python -m bench torch-api --out bench/results/torch_api.json

# Issue 10: the same PSGD / CR-PSGD written four ways (crpsgd, mpi4py + SciPy, torch.distributed
# gloo with all_reduce and with DDP, Horovod), N = 2 ranks; run on a quiet machine. The torch
# rows need torch in the venv ($(BIN)/pip install torch); without it they are skipped.
# Issue 9, reduced (one seed, three step sizes; N = 4, a9a's N = 10, all oversubscribed: rounds and
# errors are exact): the adaptive schedule (its default eta, the eta sweep 1 .. 16 and, issue 19,
# the inner-product test at eta 1 and 4) against CR-PSGD at every rho and the tuned constant
# batch, on the synthetic, ill-conditioned (cond 1e4 and 1e6) and a9a (lambda 1e-4 and 1e-5)
# logistic regressions, bench-catalyst's two non-convex problems and ResNet20 on the digits
# stand-in (not CIFAR-10; needs the torch extra, skipped with one line without it); then the
# PL theory check of every candidate, then the target and sweep tables (bench/results/adaptive.{md,json}),
# whose minimax leaves out the candidates that fail the theory check.
# `make bench-adaptive QUICK=1`: every definition's [quick] version, a smoke test of a few
# minutes, with its results in bench/out/adaptive-quick/ (bench/results/ untouched).
ADAPTIVE := adaptive_synthetic adaptive_illcond adaptive_a9a adaptive_nonconvex_a9a adaptive_mlp \
	adaptive_resnet20 adaptive_illcond6 adaptive_a9a_lam5
QUICK ?=
ADAPTIVE_RESULTS := $(if $(QUICK),bench/out/adaptive-quick,bench/results)
ADAPTIVE_JSON := $(foreach n,$(ADAPTIVE),$(ADAPTIVE_RESULTS)/$(n)$(if $(QUICK),-quick).json)
ADAPTIVE_RUN = $(BENCH_ENV) $(MPIEXEC) $(MPIFLAGS) -n $(1) $(BIN)/python -m bench experiment \
	bench/$(2).toml $(if $(QUICK),--quick --results-dir $(ADAPTIVE_RESULTS))
ADAPTIVE_THEORY_T := 1000,3000
bench-adaptive: $(STAMP)
	$(call ADAPTIVE_RUN,4,adaptive_nonconvex_a9a)
	$(call ADAPTIVE_RUN,4,adaptive_mlp)
	if $(BIN)/python -c "import torch" 2>/dev/null; then \
	  test -f $(DIGITS)/test_batch.bin || $(BIN)/crpsgd digits-cifar10 $(DIGITS); \
	  $(call ADAPTIVE_RUN,4,adaptive_resnet20); \
	else echo "bench-adaptive: ResNet20 skipped, no PyTorch (make install EXTRAS=mpich,test,torch)"; fi
	$(call ADAPTIVE_RUN,4,adaptive_synthetic)
	$(call ADAPTIVE_RUN,4,adaptive_illcond)
	$(call ADAPTIVE_RUN,10,adaptive_a9a)
	$(call ADAPTIVE_RUN,4,adaptive_illcond6)
	$(call ADAPTIVE_RUN,10,adaptive_a9a_lam5)
	$(BENCH_ENV) $(MPIEXEC) $(MPIFLAGS) -n 2 $(BIN)/python -m bench adaptive-theory \
		$(if $(QUICK),--T $(ADAPTIVE_THEORY_T) --out $(ADAPTIVE_RESULTS)/adaptive_theory.json)
	$(BIN)/python -m bench adaptive-target --out $(ADAPTIVE_RESULTS)/adaptive \
		--theory $(ADAPTIVE_RESULTS)/adaptive_theory.json \
		$$(for f in $(ADAPTIVE_JSON); do test -f $$f && echo $$f; done)

bench-peers: $(STAMP)
	$(BIN)/python -m bench peers --out bench/results/peers.json --md bench/results/peers.md

# The round's Allreduce for N = 2, 4, 8 (above 2 oversubscribed on 2 cores), alpha/beta fits.
bench-allreduce: $(STAMP)
	$(BIN)/python -m bench allreduce --out bench/results/allreduce.json --n 2,4,8

# Tables and figures redrawn from the committed results alone (no training): a figure whose
# results JSON keeps its curves is redrawn, the others are kept and the command that redraws
# them is named.
figures: $(STAMP)
	$(BIN)/python -m bench experiment bench/logreg_a9a.toml --analyse-only
	$(BIN)/python -m bench experiment bench/logreg_synthetic.toml --analyse-only
	for n in $(ADAPTIVE); do if [ -f bench/results/$$n.json ]; then \
		$(BIN)/python -m bench experiment bench/$$n.toml --analyse-only || exit 1; \
		else echo "figures: $$n has no committed results yet (make bench-adaptive)"; fi; done
	$(BIN)/python -m bench theory --analyse-only
	if [ -f bench/results/fair_dl-table.json ]; then $(BIN)/python -m bench fair-table \
		bench/fair_dl.toml --redraw --out bench/results/fair_dl-table; \
		else echo "figures: fair_dl has no committed results yet (make bench-fair-dl)"; fi

# The documentation site (docs/, mkdocs.yml) into site/; needs the docs extra
# (make install EXTRAS=mpich,test,docs). tests/cli/test_docs.py runs the same strict build.
docs: $(STAMP)
	$(BIN)/python -m mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) $(RUNS) site .pytest_cache .ruff_cache build *.egg-info

# Issue 10: driver overhead of a PSGD(B) round on a9a, N = 2 (bench/results/overhead.json).
bench-overhead: $(STAMP)
	$(BIN)/python -m bench overhead --out bench/results/overhead.json
