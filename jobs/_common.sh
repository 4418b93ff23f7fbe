# Sourced by the jobs/*.sbatch scripts: where things are and how to launch MPI ranks.
#
#   CRPSGD_DATA_DIR  directory holding the LIBSVM files (a9a, a9a.t)  [../shared/data]
#   CRPSGD_OUT       directory for the HDF5 logs, tables and figures   [runs/slurm-<job id>]
#   CRPSGD_PYTHON    a python with crpsgd installed   [.venv/bin/python of the submit dir, else python3]
#   CRPSGD_LAUNCH    srun (srun --mpi=pmi2, the default) or mpirun (the MPI's own launcher)
#   CRPSGD_QUICK=1   the short version of the experiment (what tests/test_slurm.py submits)
# Relative paths are relative to the directory sbatch was called from (the project's root).
set -euo pipefail
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
NTASKS="${SLURM_NTASKS:-1}"
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

# run_experiment DEFINITION.toml: every grid point of the definition, then its table and figure.
run_experiment() {
    "${LAUNCH[@]}" "$PY" bench/experiment.py "$1" "${QUICK[@]}" \
        --data-dir "$DATA_DIR" --out-dir "$OUT/logs" --results-dir "$OUT"
}
