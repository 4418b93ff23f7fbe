"""PSGD / CR-PSGD as a researcher writes it with mpi4py and SciPy: vectorised, no Numba.

``mpiexec -n 2 python -m bench.peers.mpi_scipy --data a9a --algo psgd --batch 4 --T ...``
(flags: :func:`common.parse_args`). One ``Allreduce`` of the gradient per round, through
mpi4py's buffer interface (the fast path a careful mpi4py user takes).
"""

from __future__ import annotations

import numpy as np
from mpi4py import MPI
from scipy.special import expit

from bench.peers import common  # noqa: E402


def main() -> None:
    args = common.parse_args()
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    problem = common.load(args, rank, size)
    A, b = problem.shard
    rec = common.Recorder(args, problem, rank, size, "mpi4py + SciPy", comm.Barrier)
    rng = rec.rng()
    x = np.zeros(A.shape[1])
    g = np.empty_like(x)

    def iterate() -> np.ndarray:
        return x

    rec.begin(iterate)
    comm.Barrier()
    for batch in common.batches(args):
        t0 = MPI.Wtime()
        idx = rec.sample(rng, batch)
        Ab = A[idx]
        yb = b[idx]
        coef = -yb * expit(-yb * (Ab @ x))
        g[:] = Ab.T @ coef / batch + args.lam * x
        t1 = MPI.Wtime()
        comm.Allreduce(MPI.IN_PLACE, g, op=MPI.SUM)
        t2 = MPI.Wtime()
        x -= (args.gamma / size) * g
        t3 = MPI.Wtime()
        rec.round_done(batch, (t1 - t0) + (t3 - t2), t2 - t1, t3 - t0, iterate)
    rec.finish(iterate)


if __name__ == "__main__":
    main()
