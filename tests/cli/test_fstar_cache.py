"""The f* cache: keyed by data content hash, lambda, width and solver tolerance; validated on
read; in the user cache directory by default, next to the data only when asked."""

import json
import os
import subprocess
import sys

import pytest

from crpsgd.problems import fstar_cache as fc
from crpsgd.runlog import read_run
from tests.conftest import ROOT

KEY = fc.cache_key("ab" * 32, "logreg", 1e-4, 123, "newton", 1e-10)
ENTRY = {"value": 0.3245, "grad_norm": 5e-11, "note": "Newton, 9 iterations"}


def test_store_then_lookup_round_trips(tmp_path):
    paths = [tmp_path / "a.fstar.json", tmp_path / "user" / "f.json"]
    assert fc.lookup(paths, KEY) is None
    written = fc.store(paths, KEY, ENTRY)
    assert written == paths[0]
    hit = fc.lookup(paths, KEY)
    assert hit["value"] == 0.3245 and hit["path"] == str(paths[0])


@pytest.mark.parametrize(
    "change",
    [
        {"lam": repr(1e-3)},
        {"n_features": 124},
        {"tol": repr(1e-8)},
        {"data_sha256": "cd" * 32},
        {"problem": "other"},
    ],
)
def test_a_different_key_misses(tmp_path, change):
    path = tmp_path / "c.json"
    fc.store([path], KEY, ENTRY)
    assert fc.lookup([path], {**KEY, **change}) is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{not json",
        "[]",
        json.dumps({"version": 99, "entries": {}}),
        json.dumps({"version": 1, "entries": []}),
    ],
)
def test_corrupt_or_foreign_files_are_ignored(tmp_path, text):
    path = tmp_path / "c.json"
    path.write_text(text)
    assert fc.lookup([path], KEY) is None
    assert fc.store([path], KEY, ENTRY) == path  # and get replaced by a valid file
    assert fc.lookup([path], KEY)["value"] == 0.3245


@pytest.mark.parametrize(
    "bad",
    [
        {"value": float("nan")},
        {"value": "0.3"},
        {"grad_norm": 1e-6},  # the solve did not reach the key's tolerance
        {"grad_norm": 2e-9, "bound": 1e-6},  # nor is its f - f* bound tiny
        {"grad_norm": 2e-9, "bound": float("nan")},
        {"key": {**KEY, "lam": "0.5"}},  # stored under the wrong key
    ],
)
def test_entries_that_do_not_validate_are_ignored(tmp_path, bad):
    path = tmp_path / "c.json"
    record = {**ENTRY, "key": KEY, **bad}
    table = {"version": 1, "entries": {json.dumps(KEY, sort_keys=True): record}}
    path.write_text(json.dumps(table))
    assert fc.lookup([path], KEY) is None


def test_default_is_the_user_cache_even_beside_writable_data(tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "set.svm").write_text("+1 1:1\n")
    monkeypatch.setenv("CRPSGD_CACHE", str(tmp_path / "cache"))
    user = tmp_path / "cache" / f"fstar-{'ab' * 32}.json"
    sidecar = data_dir / "set.svm.fstar.json"
    paths = fc.candidate_paths(str(data_dir / "set.svm"), "ab" * 32)
    assert paths == [user, sidecar]
    assert fc.store(paths, KEY, ENTRY) == user and not sidecar.exists()
    (tmp_path / "blocker").write_text("")  # a user cache that cannot be created, even by root
    monkeypatch.setenv("CRPSGD_CACHE", str(tmp_path / "blocker" / "cache"))
    blocked = fc.candidate_paths(str(data_dir / "set.svm"), "ab" * 32)
    assert fc.store(blocked, KEY, ENTRY) is None and not sidecar.exists()
    # a sidecar that exists (an earlier version's, a colleague's) is read
    user.unlink()
    fc.store([sidecar], KEY, ENTRY)
    assert fc.lookup(paths, KEY)["path"] == str(sidecar)


def test_beside_data_when_asked_and_read_only_data_falls_back(tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "set.svm").write_text("+1 1:1\n")
    monkeypatch.setenv("CRPSGD_CACHE", str(tmp_path / "cache"))
    paths = fc.candidate_paths(str(data_dir / "set.svm"), "ab" * 32, beside_data=True)
    assert paths == [
        data_dir / "set.svm.fstar.json",
        tmp_path / "cache" / f"fstar-{'ab' * 32}.json",
    ]
    os.chmod(data_dir, 0o555)  # read-only, even for root (which os.access alone ignores)
    try:
        assert fc.store(paths, KEY, ENTRY) == paths[1]
        assert not paths[0].exists()
        assert fc.lookup(paths, KEY)["path"] == str(paths[1])
    finally:
        os.chmod(data_dir, 0o755)
    assert fc.store(paths, {**KEY, "lam": "0.5"}, ENTRY) == paths[0]


def test_user_cache_dir_order(monkeypatch, tmp_path):
    monkeypatch.delenv("CRPSGD_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert fc.user_cache_dir() == tmp_path / "xdg" / "crpsgd"
    monkeypatch.setenv("CRPSGD_CACHE", str(tmp_path / "mine"))
    assert fc.user_cache_dir() == tmp_path / "mine"


def _run(args, cache):
    env = {**os.environ, "CRPSGD_CACHE": str(cache)}
    proc = subprocess.run(
        [sys.executable, "-m", "crpsgd", "run", "--quiet", "--T", "200", "--fstar", "auto", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def test_run_solves_once_then_reads_the_cache(tmp_path):
    spec = "synthetic:n=300,d=5,seed=2"
    out1, out2 = tmp_path / "1.h5", tmp_path / "2.h5"
    _run(["--data", spec, "--lam", "1e-3", "--out", str(out1)], tmp_path / "cache")
    _run(["--data", spec, "--lam", "1e-3", "--out", str(out2)], tmp_path / "cache")
    first, second = read_run(out1).attrs, read_run(out2).attrs
    assert first["f_star_source"].startswith("Newton")
    assert second["f_star_source"].startswith("cached ")
    assert first["f_star"] == second["f_star"]
    assert len(list((tmp_path / "cache").glob("fstar-*.json"))) == 1
    # another lambda is another key: solved again
    out3 = tmp_path / "3.h5"
    _run(["--data", spec, "--lam", "2e-3", "--out", str(out3)], tmp_path / "cache")
    assert read_run(out3).attrs["f_star_source"].startswith("Newton")


def test_run_caches_in_the_user_cache_not_beside_the_data(tmp_path):
    data = tmp_path / "small.svm"
    data.write_text(
        "".join(f"{1 if i % 3 else -1} 1:{i % 5} 2:1 3:{(i * 7) % 4}\n" for i in range(60))
    )
    _run(["--data", str(data), "--lam", "1e-2", "--out", str(tmp_path / "a.h5")], tmp_path / "c")
    assert not (tmp_path / "small.svm.fstar.json").exists()
    (cached,) = (tmp_path / "c").glob("fstar-*.json")
    _run(["--data", str(data), "--lam", "1e-2", "--out", str(tmp_path / "b.h5")], tmp_path / "c")
    assert read_run(tmp_path / "b.h5").attrs["f_star_source"].startswith(f"cached {cached}")


def test_the_key_names_the_rank_count():
    """Ranks add their shards' sums in an order set by their number: an ``f*`` solved on 2
    ranks is not served to a run on 4, whose log must not depend on what was solved before."""
    two = fc.cache_key("ab" * 32, "logreg", 1e-4, 123, fc.SOLVER, 1e-10, ranks=2)
    four = fc.cache_key("ab" * 32, "logreg", 1e-4, 123, fc.SOLVER, 1e-10, ranks=4)
    assert two["ranks"] == 2 and fc._key_id(two) != fc._key_id(four)


def test_a_solve_that_stalled_at_a_tiny_bound_is_kept(tmp_path):
    """Newton on a large sum can stall above the tolerance at the float64 rounding of the
    gradient (||grad f|| = 2e-9, f - f* <= 2e-14 on 50,000 samples): the value is as exact as
    the arithmetic allows and a second solve gives the same one, so it is kept and read back."""
    path = tmp_path / "c.json"
    stalled = {"value": 0.3065, "grad_norm": 2.08e-9, "bound": 2.2e-14, "note": "Newton, 100"}
    assert fc.store([path], KEY, stalled) == path
    assert fc.lookup([path], KEY)["value"] == 0.3065
    assert fc.acceptable(5e-11, None, 1e-10) and not fc.acceptable(2e-9, None, 1e-10)
    assert not fc.acceptable(2e-9, 2 * fc.STALLED_BOUND, 1e-10)
