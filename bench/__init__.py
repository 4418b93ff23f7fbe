"""crpsgd's benchmarks and experiments, run from the project's root as ``python -m bench NAME``
(the ``make bench-*`` targets do), each writing its results under ``bench/results/`` with the
command that made them.

=================  =========================================================================
NAME               what it measures
=================  =========================================================================
experiment         one experiment definition (``bench/*.toml``): a grid of runs, tables, figures
theory             the theory checks: rounds against ``T``, suboptimality against ``N T``
adaptive-target    the adaptive schedule's target table from the definitions' results
adaptive-theory    the adaptive schedule's rounds against ``T`` (PL theory check)
kernels            gradient-kernel throughput against NumPy/SciPy and the memory read
kernels-against    the kernels against an earlier revision's, alternating in one process
libsvm             the LIBSVM reader's speed
overhead           what a round costs besides its kernel and its Allreduce
allreduce          MPI_Allreduce's latency and bandwidth fits
peers              crpsgd against mpi4py + SciPy, torch.distributed, DDP and Horovod loops
torch              a torch round's speed and memory
torch-api          crpsgd.torch.train() on a TensorDataset against a bare PyTorch loop
resnet20-table     the ResNet20 table and figure from the runs' logs
fair-table         the fair protocol's table (accuracy, rounds to target, projection), figures
=================  =========================================================================
"""

COMMANDS: dict[str, str] = {
    "experiment": "experiment",
    "theory": "theory",
    "adaptive-target": "adaptive_target",
    "adaptive-theory": "adaptive_theory",
    "kernels": "bench_kernels",
    "kernels-against": "kernels_against",
    "libsvm": "bench_libsvm",
    "overhead": "bench_overhead",
    "allreduce": "bench_allreduce",
    "peers": "bench_peers",
    "torch": "bench_torch",
    "torch-api": "bench_torch_api",
    "resnet20-table": "resnet20_table",
    "fair-table": "fair_table",
}
