"""Without PyTorch the package works and a torch problem is one message (runs everywhere:
torch is hidden from a subprocess)."""

import subprocess
import sys

from tests.conftest import ROOT

HIDE_TORCH = "import sys; sys.modules['torch'] = None\n"


def test_without_torch_a_torch_problem_is_one_usage_error():
    code = HIDE_TORCH + (
        "from crpsgd.errors import UsageError\n"
        "from crpsgd.torchprob import torch_available\n"
        "from crpsgd.torchprob.build import TORCH_PARAMS, build_torch_problem\n"
        "import crpsgd.comm.communicator, crpsgd.schedules.optim\n"
        "import crpsgd.data.images, crpsgd.data.cifar10\n"
        "assert not torch_available() and sys.modules['torch'] is None\n"
        "try:\n"
        "    build_torch_problem({p.name: p.default for p in TORCH_PARAMS}, None, None)\n"
        "except UsageError as exc:\n"
        "    print(exc)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (
        "--problem torch needs PyTorch: from the project's checkout, make install "
        "EXTRAS=mpich,test,torch (or pip install -e '.[torch]')"
    )


def test_without_torch_crpsgd_torch_is_one_import_error_saying_how_to_install():
    code = HIDE_TORCH + (
        "try:\n    import crpsgd.torch\nexcept ImportError as exc:\n    print(exc)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (
        "crpsgd.torch needs PyTorch: from the project's checkout, make install "
        "EXTRAS=mpich,test,torch (or pip install -e '.[torch]')"
    )
