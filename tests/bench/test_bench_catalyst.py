"""The experiment runner's short version and data directory (what jobs/catalyst_n8.sbatch
runs), on the committed definition bench/catalyst.toml."""

import tomllib
from pathlib import Path

from tests.conftest import ROOT, bench_module

definition = bench_module("runner.definition")


def _definition() -> dict:
    return tomllib.loads((ROOT / "bench" / "catalyst.toml").read_text())


def test_quick_version_runs_one_point_per_method_at_its_reference():
    full = _definition()
    quick = definition.quick_version(full)
    assert quick["name"] == "catalyst-quick" and quick["seeds"] == [full["tune_seed"]]
    assert [m["name"] for m in quick["method"]] == full["quick"]["methods"]
    assert all(p["run"]["T"] == full["quick"]["run"]["T"] for p in quick["problem"])
    for method in quick["method"]:
        (point,) = definition.grid_points(method)
        original = next(m for m in full["method"] if m["name"] == method["name"])
        for key, value in point.items():
            if isinstance(original.get(key), list):
                assert value == original.get("reference", {}).get(key, original[key][0])
    assert full["problem"][0]["run"]["T"] == 16384  # the full definition is untouched


def test_data_dir_moves_files_and_keeps_synthetic_data(tmp_path):
    moved = definition.with_data_dir(_definition(), str(tmp_path))
    data = {p["name"]: p["run"]["data"] for p in moved["problem"]}
    assert Path(data["a9a"]) == tmp_path.resolve() / "a9a"
    assert data["mlp"].startswith("synthetic:")
