"""The bit-for-bit cases give the same logs whatever the processor's vector width.

Each case runs under several processor targets on this machine, each with a fresh Numba cache
so that every kernel is compiled anew for it:

* ``generic``: Numba compiles for the x86-64 baseline (SSE2, no fused multiply-add),
  OpenBLAS uses its Prescott kernels, NumPy's dispatched loops fall back to its baseline and
  glibc's mathematical functions to their variants without FMA or AVX;
* ``haswell``: AVX2 and FMA, OpenBLAS's Haswell kernels, nothing of AVX-512;
* ``host``: whatever this processor has (AVX-512 on many servers).

The digests of every target must equal the recorded fixture of ``tests/mpi/test_bit_for_bit.py``:
a sum whose order followed the vector width, a BLAS call or a processor-dependent ``exp`` in
a logged value would make them differ (as they did before the kernels summed in a fixed
order: the fixture then passed on AVX2 machines only).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.mpi.test_bit_for_bit import CASES, FIXTURE, _run

pytestmark = [pytest.mark.mpi, pytest.mark.slow]

_GLIBC_WITHOUT = {
    "generic": "-AVX512F,-AVX512DQ,-AVX512VL,-AVX2,-FMA,-FMA4,-AVX",
    "haswell": "-AVX512F,-AVX512DQ,-AVX512VL",
}


def _cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _numpy_features_beyond(keep: tuple[str, ...]) -> str:
    """NumPy's dispatch targets found on this processor, less those in ``keep``: the value
    of ``NPY_DISABLE_CPU_FEATURES`` that leaves NumPy no more than ``keep``."""
    from numpy._core._multiarray_umath import __cpu_baseline__, __cpu_dispatch__, __cpu_features__

    found = [f for f in __cpu_dispatch__ if __cpu_features__.get(f) and f not in __cpu_baseline__]
    return " ".join(f for f in found if f not in keep)


def target_environment(target: str, cache: Path) -> dict[str, str]:
    """The environment of one target's runs (``cache``: its own, empty Numba cache)."""
    env = {"NUMBA_CACHE_DIR": str(cache)}
    if target == "generic":
        env.update(NUMBA_CPU_NAME="generic", OPENBLAS_CORETYPE="Prescott")
        env["NPY_DISABLE_CPU_FEATURES"] = _numpy_features_beyond(())
    elif target == "haswell":
        env.update(NUMBA_CPU_NAME="haswell", OPENBLAS_CORETYPE="Haswell")
        env["NPY_DISABLE_CPU_FEATURES"] = _numpy_features_beyond(("X86_V3", "AVX2", "FMA3"))
    if target in _GLIBC_WITHOUT:
        env["GLIBC_TUNABLES"] = f"glibc.cpu.hwcaps={_GLIBC_WITHOUT[target]}"
    return env


@pytest.mark.parametrize("target", ["generic", "haswell", "host"])
def test_every_target_gives_the_recorded_digests(tmp_path, target):
    if target == "haswell" and not {"avx2", "fma"} <= _cpu_flags():
        pytest.skip("this processor has no AVX2/FMA: code compiled for haswell cannot run")
    env = target_environment(target, tmp_path / "numba-cache")
    expected = json.loads(FIXTURE.read_text())
    got = {
        f"{case}/N{n}": _run(case, n, tmp_path / f"{case}-{n}.h5", env=env)
        for case in sorted(CASES)
        for n in (1, 2)
    }
    differing = sorted(key for key in expected if got[key] != expected[key])
    assert not differing, f"{target}: digests differ from the fixture for {differing}"
