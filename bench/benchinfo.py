"""What the micro-benchmarks (bench_kernels.py, bench_libsvm.py) record beside their timings:
the machine, and the results file itself."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any


def machine_basics() -> dict[str, Any]:
    """Python, platform, architecture and CPU count."""
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }


def cpu_model() -> str | None:
    """The first ``model name`` of /proc/cpuinfo (None where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            names = [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")]
    except OSError:
        return None
    return names[0] if names else None


def write_result(path: Path, result: dict[str, Any]) -> None:
    """``result`` as indented JSON at ``path`` (its directory created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
