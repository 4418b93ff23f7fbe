#!/usr/bin/env bash
# GPU check (issue 18), a few minutes on one GPU:
#  1. ResNet20 on CIFAR-shaped data (the digits stand-in of `crpsgd digits-cifar10`): samples/s
#     of crpsgd's round against a bare PyTorch loop of the same batch, and their ratio
#     (python -m bench.gpu_check);
#  2. one `crpsgd run` end to end on the GPU (--backend torch, --amp);
#  3. the GPU tests and the backend/amp tests (they skip, saying why, without a GPU).
# Results go to $OUT (default bench/results/gpu_check): speed.json, speed.txt, run.txt,
# tests.txt, gpu.txt; the data and the run's log to $WORK (default bench/out/gpu_check).
#
# Usage: bench/gpu_check.sh
# Knobs (environment): PYTHON (a command, e.g. "nice -n 19 python"), OUT, WORK, DEVICE (cuda),
# AMP (bf16), BACKEND (torch), BATCH (128), STEPS (50 per timed block), BLOCKS (5),
# RUN_T (SFO of the end-to-end run, 20000), TESTS (the test paths to run).
# A CPU smoke test of the script: DEVICE=cpu AMP=off BATCH=8 STEPS=2 BLOCKS=1 RUN_T=64
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python}
OUT=${OUT:-bench/results/gpu_check}
DEVICE=${DEVICE:-cuda}
AMP=${AMP:-bf16}
BACKEND=${BACKEND:-torch}
BATCH=${BATCH:-128}
STEPS=${STEPS:-50}
BLOCKS=${BLOCKS:-5}
RUN_T=${RUN_T:-20000}
TESTS=${TESTS:-"tests/mpi/test_gpu.py tests/unit/test_torch_problem.py::test_a_cuda_round_matches_the_cpu_round tests/unit/test_torch_amp.py tests/mpi/test_backend_torch.py"}
WORK=${WORK:-bench/out/gpu_check}
DATA="$WORK/data"
mkdir -p "$OUT" "$WORK"

if [ "$DEVICE" = cuda ]; then
    $PYTHON -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' || {
        echo "gpu_check: no CUDA GPU here (DEVICE=cpu runs the script on the CPU)" >&2
        exit 1
    }
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader \
        >"$OUT/gpu.txt" 2>/dev/null || true
fi

echo "== data: the digits stand-in in CIFAR-10's format ($DATA)"
[ -f "$DATA/data_batch_1.bin" ] || $PYTHON -m crpsgd digits-cifar10 "$DATA"

echo "== speed: crpsgd round vs a bare PyTorch loop (ResNet20, B=$BATCH, $DEVICE, amp $AMP)"
$PYTHON -m bench.gpu_check --data "cifar10:$DATA" --device "$DEVICE" --amp "$AMP" \
    --backend "$BACKEND" --batch "$BATCH" --steps "$STEPS" --blocks "$BLOCKS" \
    --out "$OUT/speed.json" | tee "$OUT/speed.txt"

echo "== one run end to end: crpsgd run --device $DEVICE --amp $AMP --backend $BACKEND"
start=$(date +%s)
$PYTHON -m crpsgd run --problem torch --data "cifar10:$DATA" --device "$DEVICE" \
    --amp "$AMP" --backend "$BACKEND" --algo cr-psgd --b1 "$BATCH" --rho 1.2 --T "$RUN_T" \
    --gamma 0.05 --momentum 0.9 --micro-batch "$BATCH" --eval-rows 1000 \
    --out "$WORK/run.h5" --overwrite --quiet | tee "$OUT/run.txt"
echo "wall: $(($(date +%s) - start)) s (set-up and evaluations included)" | tee -a "$OUT/run.txt"
$PYTHON -m crpsgd info "$WORK/run.h5" >>"$OUT/run.txt"

echo "== tests (GPU tests skip without a GPU, saying why)"
set +e
# shellcheck disable=SC2086  # TESTS is a list of test paths
$PYTHON -m pytest -q -rs $TESTS 2>&1 | tee "$OUT/tests.txt"
status=${PIPESTATUS[0]}
set -e
echo "gpu_check: results in $OUT (tests: exit status $status)"
exit "$status"
