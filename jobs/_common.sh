# Sourced by the jobs/*.sbatch scripts: where things are and how to launch MPI ranks.
#
#   CRPSGD_DATA_DIR  directory of the data files: the LIBSVM files a9a, a9a.t (from the LIBSVM
#                    site) and, for resnet20_cifar10_n8.sbatch, cifar-10-batches-bin/ (see
#                    that script)                                    [../shared/data]
#   CRPSGD_OUT       directory for the HDF5 logs, tables and figures   [runs/slurm-<job id>]
#   CRPSGD_PYTHON    a python with crpsgd installed   [.venv/bin/python of the submit dir, else python3]
#   CRPSGD_LAUNCH    srun (srun --mpi=pmi2, the default) or mpirun (the MPI's own launcher)
#   CRPSGD_QUICK=1   the short version of the experiment (what tests/cli/test_slurm.py submits)
#   CRPSGD_NTASKS    ranks outside SLURM                 [the script's own #SBATCH --ntasks]
#   CRPSGD_FEWER_RANKS=1  run an experiment with fewer ranks than its script's --ntasks (its
#                    title's N); refused otherwise. Its tables and figures then say the N that ran.
# Relative paths are relative to the directory sbatch was called from (the project's root).
set -euo pipefail
# the ranks the script asks for (its experiment's N); read before the cd ($0 may be relative)
WANT_NTASKS="$(sed -n 's/^#SBATCH --ntasks=\([0-9][0-9]*\).*/\1/p' "$0" | head -n 1)"
cd "${SLURM_SUBMIT_DIR:-.}"
DATA_DIR="${CRPSGD_DATA_DIR:-../shared/data}"
OUT="${CRPSGD_OUT:-runs/slurm-${SLURM_JOB_ID:-local}}"
if [ -n "${CRPSGD_PYTHON:-}" ]; then
    PY="$CRPSGD_PYTHON"
elif [ -x .venv/bin/python ]; then
    PY=.venv/bin/python
else
    PY=python3
fi
if [ -n "${SLURM_NTASKS:-}" ]; then
    NTASKS="$SLURM_NTASKS"
else
    NTASKS="${CRPSGD_NTASKS:-${WANT_NTASKS:-1}}"
fi
case "${CRPSGD_LAUNCH:-srun}" in
    srun) LAUNCH=(srun --mpi=pmi2 -n "$NTASKS") ;;
    mpirun)
        MPIRUN="$(dirname "$PY")/mpirun"
        [ -x "$MPIRUN" ] || MPIRUN=mpirun
        LAUNCH=("$MPIRUN" -n "$NTASKS")
        ;;
    *) echo "CRPSGD_LAUNCH=${CRPSGD_LAUNCH}: must be srun or mpirun" >&2; exit 2 ;;
esac
QUICK=()
if [ "${CRPSGD_QUICK:-0}" = 1 ]; then QUICK=(--quick); fi
mkdir -p "$OUT"
# Oversubscribed nodes (more ranks than cores): let a waiting MPICH rank sleep, not spin.
export MPIR_CVAR_CH4_PROGRESS_THROTTLE="${MPIR_CVAR_CH4_PROGRESS_THROTTLE:-1}"
echo "crpsgd job ${SLURM_JOB_ID:-local}: $NTASKS ranks, data $DATA_DIR, out $OUT, launch ${LAUNCH[*]}"

# check_ranks: an experiment runs with the N its script (and title) says, or with fewer only
# when CRPSGD_FEWER_RANKS=1 says so.
check_ranks() {
    [ -n "$WANT_NTASKS" ] && [ "$NTASKS" -lt "$WANT_NTASKS" ] || return 0
    if [ "${CRPSGD_FEWER_RANKS:-0}" != 1 ]; then
        echo "$(basename "$0"): $NTASKS ranks, but this experiment is for N = $WANT_NTASKS" \
            "(#SBATCH --ntasks=$WANT_NTASKS); give it $WANT_NTASKS ranks (outside SLURM:" \
            "CRPSGD_NTASKS), or set CRPSGD_FEWER_RANKS=1 to run with $NTASKS" >&2
        exit 2
    fi
    echo "crpsgd job: N = $NTASKS ranks, fewer than the script's N = $WANT_NTASKS" \
        "(CRPSGD_FEWER_RANKS=1); the tables and figures say N = $NTASKS"
}

# run_experiment DEFINITION.toml: every grid point of the definition, then its table and figure.
run_experiment() {
    check_ranks
    "${LAUNCH[@]}" "$PY" -m bench experiment "$1" "${QUICK[@]}" \
        --data-dir "$DATA_DIR" --out-dir "$OUT/logs" --results-dir "$OUT"
}
