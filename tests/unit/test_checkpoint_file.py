import numpy as np
import pytest

from crpsgd.data.rng import worker_rng
from crpsgd.errors import DataFormatError
from crpsgd.files.checkpoint import (
    Checkpoint,
    checkpoint_path_for,
    read_checkpoint,
    restore_rng,
    rng_state,
    write_checkpoint,
)


def _ckpt():
    rngs = [worker_rng(3, r) for r in range(3)]
    for r in rngs:
        r.integers(0, 10, size=7)
    return rngs, Checkpoint(
        config={"T": 100, "algo": "cr-psgd"},
        n_workers=3,
        algorithm="cr-psgd",
        log_path="runs/a.h5",
        rounds=5,
        sfo_per_worker=63,
        rng_states=[rng_state(r) for r in rngs],
        arrays={"x": np.linspace(0, 1, 4)},
        state={"eval_last_sfo": 40, "wall_s": 1.5},
    )


def test_roundtrip_and_rng_continuation(tmp_path):
    rngs, ckpt = _ckpt()
    path = checkpoint_path_for(tmp_path / "a.h5")
    assert path.name == "a.ckpt.h5"
    write_checkpoint(path, ckpt)
    back = read_checkpoint(path)
    assert back.config == ckpt.config and back.rounds == 5 and back.sfo_per_worker == 63
    assert back.state == ckpt.state and back.n_workers == 3
    np.testing.assert_array_equal(back.arrays["x"], ckpt.arrays["x"])
    for original, state in zip(rngs, back.rng_states, strict=True):
        restored = restore_rng(state)
        np.testing.assert_array_equal(
            restored.integers(0, 2**62, size=5), original.integers(0, 2**62, size=5)
        )
    assert not path.with_name(path.name + ".tmp").exists()


def test_rewrite_replaces_atomically(tmp_path):
    _, ckpt = _ckpt()
    path = tmp_path / "c.h5"
    write_checkpoint(path, ckpt)
    ckpt.rounds = 9
    write_checkpoint(path, ckpt)
    assert read_checkpoint(path).rounds == 9


def test_bad_files_name_the_file(tmp_path):
    with pytest.raises(DataFormatError, match="no such checkpoint"):
        read_checkpoint(tmp_path / "none.h5")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 50)
    with pytest.raises(DataFormatError, match="junk.h5: damaged checkpoint"):
        read_checkpoint(junk)
