"""One printed line per measured row of ``bench_kernels.py`` (samples/s, bytes/s, ratios)."""

from __future__ import annotations


def _m(entry: dict) -> str:
    return f"{entry['median_samples_per_s'] / 1e6:7.2f}"


def _gb(entry: dict) -> str:
    return f"{entry['median_bytes_per_s'] / 1e9:5.1f}"


def print_dense_row(row: dict) -> None:
    r = row
    print(
        f"dense d={r['d']:3d} B={r['batch']:6d} | Msamples/s numba {_m(r['numba'])}"
        f" numpy {_m(r['numpy'])} (repeats once {_m(r['numpy_repeats_once'])})"
        f" | GB/s numba {_gb(r['numba'])} seq-read {_gb(r['read_seq'])}"
        f" sampled-read {_gb(r['read_sampled'])} prefetched {_gb(r['read_sampled_prefetched'])}"
        f" | numba/numpy {r['numba_over_numpy']:4.1f}x"
        f" (/repeats once {r['numba_over_numpy_repeats_once']:4.1f}x)"
        f" /seq-read {r['numba_over_read_seq']:4.2f}"
        f" /sampled-read {r['numba_over_read_sampled']:4.2f}"
        f" /prefetched {r['numba_over_read_sampled_prefetched']:4.2f}",
        flush=True,
    )


def print_csr_row(row: dict) -> None:
    print(
        f"csr a9a    B={row['batch']:6d} | Msamples/s numba {_m(row['numba'])}"
        f" scipy {_m(row['scipy'])} (repeats once {_m(row['scipy_repeats_once'])})"
        f" | numba/scipy {row['numba_over_scipy']:4.1f}x"
        f" (/repeats once {row['numba_over_scipy_repeats_once']:4.1f}x)",
        flush=True,
    )
