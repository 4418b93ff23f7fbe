"""The fit of ``python -m bench allreduce`` and the peers and bookkeeping of
``python -m bench peers``."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from crpsgd.analysis.network import Network, allreduce_seconds
from crpsgd.cli.app import main
from tests.conftest import ROOT


def _module(name: str):
    return importlib.import_module(f"bench.{name}")


@pytest.mark.parametrize("p", [2, 4, 6, 8])
@pytest.mark.parametrize("algorithm", ["recursive-doubling", "rabenseifner", "ring"])
def test_allreduce_fit_recovers_the_model(p, algorithm):
    bench = _module("bench_allreduce")
    truth = Network("t", alpha=3e-6, beta=2e-10, gamma=5e-11)
    sizes = [4096, 16384, 65536, 524288] if algorithm == "rabenseifner" else [8, 256, 992, 2048]
    rows = [{"bytes": n, "median_s": allreduce_seconds(p, n, truth, algorithm)} for n in sizes]
    fit = bench.fit(p, rows, algorithm, truth.gamma)
    assert fit["alpha"] == pytest.approx(3e-6, rel=1e-6)
    assert fit["beta"] == pytest.approx(2e-10, rel=1e-6)
    assert fit["max_relative_error"] < 1e-9


def test_allreduce_fit_keeps_alpha_and_beta_nonnegative():
    bench = _module("bench_allreduce")
    design = np.array([[1.0, 10.0], [1.0, 20.0], [1.0, 30.0]])
    target = np.array([3.0, 2.0, 1.0])  # decreasing: unconstrained beta < 0
    alpha, beta = bench._nonnegative_lstsq(design, target)
    assert beta == 0.0 and alpha == pytest.approx(2.0)


def test_allreduce_fit_weighs_every_size_alike():
    """Over a sweep of six decades with 10% noise, alpha comes from the small sizes and beta
    from the large ones (a fit in absolute seconds would give alpha to the 8 MB buffer)."""
    bench = _module("bench_allreduce")
    truth = Network("t", alpha=20e-6, beta=4e-10, gamma=4e-11)
    sizes = [8, 64, 256, 992, 2048, 8192, 32768, 131072, 524288, 2160000, 8388608]
    rows = [
        {"bytes": n, "median_s": allreduce_seconds(2, n, truth, "ring") * (1.1, 0.9)[i % 2]}
        for i, n in enumerate(sizes)
    ]
    fit = bench.fit(2, rows, "ring", truth.gamma)
    assert fit["alpha"] == pytest.approx(20e-6, rel=0.15)
    assert fit["beta"] == pytest.approx(4e-10, rel=0.15)
    assert fit["max_relative_error"] < 0.25


def test_allreduce_jobs_throttle_only_when_oversubscribed():
    bench = _module("bench_allreduce")
    caller = {"PATH": "/bin", **bench.THROTTLE, "MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM": "ring"}
    quiet = bench.job_environment(2, "mpich", caller, cores=2)
    assert quiet == {"PATH": "/bin"}
    forced = bench.job_environment(8, "rabenseifner", caller, cores=2)
    assert forced["MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM"] == "reduce_scatter_allgather"
    assert forced["MPIR_CVAR_DEVICE_COLLECTIVES"] == "none"
    assert all(forced[k] == v for k, v in bench.THROTTLE.items())


def test_aggregate_ratios_and_trajectory_check():
    bench = _module("bench_peers")

    def seed(round_s, reached, final):
        return {
            "rounds": 10,
            "round_s": round_s,
            "compute_s": round_s / 2,
            "comm_s": round_s / 2,
            "loop_s": 10 * round_s,
            "time_to_target_s": reached,
            "final_f_minus_fstar": final,
        }

    per_seed = {
        "crpsgd": [seed(1e-5, 1.0, 1e-3), seed(1e-5, 2.0, 2e-3)],
        "mpi-scipy": [seed(4e-5, 4.0, 1e-3), seed(4e-5, 8.0, 2e-3)],
        "torch": [seed(1e-3, None, 5e-3), seed(1e-3, 9.0, 6e-3)],
    }
    rows = bench.aggregate(per_seed, 2)
    assert rows["crpsgd"]["round_ratio"] == 1.0 and rows["crpsgd"]["same_trajectory"]
    assert rows["mpi-scipy"]["round_ratio"] == pytest.approx(4.0)
    assert rows["mpi-scipy"]["target_ratio"] == pytest.approx(6.0 / 1.5)
    assert rows["mpi-scipy"]["same_trajectory"]
    assert rows["torch"]["time_to_target_s"] is None and rows["torch"]["target_reached"] == 1
    assert rows["torch"]["target_ratio"] is None and not rows["torch"]["same_trajectory"]


def test_a_configuration_may_name_its_own_budget():
    bench = _module("bench_peers")
    assert bench.parse_config("psgd:4@500000") == {
        "algo": "psgd",
        "batch": 4,
        "label": "PSGD(B=4)",
        "T": 500000,
    }
    assert "T" not in bench.parse_config("cr-psgd:4:1.02")
    for bad in ("psgd:4@", "psgd:4@-3", "psgd:4@1e6", "psgd", "cr-psgd:4"):
        with pytest.raises(SystemExit, match="--configs"):
            bench.parse_config(bad)
    row = {"rounds": 3, "round_s": 1e-5, "compute_s": 1e-6, "comm_s": 1e-6, "round_ratio": 1.0}
    row |= {"time_to_target_s": None, "target_ratio": None, "final_f_minus_fstar": 0.1}
    row |= {"same_trajectory": True}
    report = {"command": "c", "np": 2, "T": 2000000, "seeds": [0], "target": 1e-3}
    report |= {"step_size": 1.0, "notes": []}
    report["configs"] = [
        {"label": "PSGD(B=4)", "T": 500000, "rows": {"crpsgd": row}},
        {"label": "PSGD(B=4096)", "rows": {"crpsgd": row}},
    ]
    table = bench.markdown(report)
    assert "| PSGD(B=4) | 500000 | crpsgd |" in table
    assert "| PSGD(B=4096) | 2000000 | crpsgd |" in table


def _svm(path, n=300, d=6, seed=0):
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(n):
        a = rng.normal(size=d)
        label = 1 if a[0] + 0.5 * rng.normal() > 0 else -1
        lines.append(f"{label} " + " ".join(f"{j + 1}:{a[j]:.6f}" for j in range(d) if a[j] > -0.5))
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_peers_follow_crpsgds_trajectory(tmp_path, capsys):
    """One rank, small LIBSVM data: crpsgd and the mpi4py + SciPy peer (and torch, when
    installed) take the same rounds from the same start and streams: the same iterate up to
    rounding, and the bench reads crpsgd's log into the same form."""
    bench = _module("bench_peers")
    data = tmp_path / "d.svm"
    _svm(data)
    log = tmp_path / "c.h5"
    common = ["--data", str(data), "--n-features", "6", "--lam", "1e-3", "--T", "400"]
    algo = ["--algo", "cr-psgd", "--b1", "4", "--rho", "1.3", "--seed", "3"]
    assert main(["run", *common, *algo, "--fstar", "auto", "--quiet", "--out", str(log)]) == 0
    capsys.readouterr()
    ours = bench.crpsgd_metrics(log)
    assert ours["rounds"] == len(ours["round_s"]) and min(ours["round_s"]) > 0
    loops = [e["loop_s"] for e in ours["evals"]]
    assert loops == sorted(loops) and loops[-1] <= sum(ours["round_s"]) * 1.5 + 1e-3
    peers = ["mpi_scipy"]
    if importlib.util.find_spec("torch") is not None:
        peers.append("torch_gloo")
    for script in peers:
        out = tmp_path / f"{script}.json"
        cmd = [sys.executable, "-m", f"bench.peers.{script}", *common, *algo]
        cmd += ["--gamma", repr(ours["step_size"]), "--fstar", repr(ours["f_star"])]
        cmd += ["--out", str(out), "--port", "29731"]
        subprocess.run(cmd, check=True, cwd=ROOT, timeout=120, capture_output=True)
        theirs = json.loads(out.read_text())
        assert theirs["rounds"] == ours["rounds"]
        assert [e["sfo_per_worker"] for e in theirs["evals"]] == [
            e["sfo_per_worker"] for e in ours["evals"]
        ]
        for a, b in zip(theirs["evals"], ours["evals"], strict=True):
            assert a["f_minus_fstar"] == pytest.approx(b["f_minus_fstar"], rel=1e-9, abs=1e-12)
        summary = bench.summarise(theirs, target=1e9)
        assert summary["time_to_target_s"] == theirs["evals"][0]["loop_s"] == 0.0


def test_ddp_peer_augmentation_is_a_padded_crop_or_its_mirror():
    torch = pytest.importorskip("torch")
    ddp = importlib.import_module("bench.peers.resnet_ddp")
    x = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    out = ddp.augment(x, torch.Generator().manual_seed(1))
    assert out.shape == x.shape and out.dtype == torch.uint8
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    for k in range(16):
        windows = [padded[k, :, oy : oy + 32, ox : ox + 32] for oy in range(9) for ox in range(9)]
        assert any(torch.equal(out[k], w) or torch.equal(out[k], w.flip(-1)) for w in windows)


@pytest.mark.slow
@pytest.mark.mpi
def test_resnet_round_rows_from_both_sides(tmp_path):
    """The ResNet20 round of bench-peers: crpsgd's log and the DDP script under ``mpiexec
    -n 2``, two rounds each; every figure is a measured positive time."""
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    bench = _module("bench_peers")
    resnet = importlib.import_module("bench.peers.resnet")
    got = resnet.measure(
        bench._launcher(2), bench._env(2), tmp_path, [2], bench._free_port, 1, 2, 1
    )
    (row,) = got["rows"]
    assert row["batch"] == 2 and row["measured_rounds"] == 2
    for key in ("crpsgd_round_s", "crpsgd_compute_s", "ddp_round_s"):
        assert 0 < row[key] < 60
    assert row["crpsgd_compute_s"] <= row["crpsgd_round_s"]
    assert row["ddp_over_crpsgd"] == pytest.approx(row["ddp_round_s"] / row["crpsgd_round_s"])
    assert "| 2 |" in resnet.markdown(got) and "not CIFAR-10" in resnet.markdown(got)
