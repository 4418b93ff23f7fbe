"""The user-code, replica and torch failure classes of issue 22 (3, 4, 5, 9, 10, 12, 13):
a ``--model`` that misbehaves ends the job promptly on every rank with one message naming
``--model``, exit status 2 before the first round (no log) and 1 after, and the log's last
status true."""

from __future__ import annotations

import pytest

pytest.importorskip("torch", reason="PyTorch is not installed (pip install crpsgd[torch])")

from crpsgd.runlog import read_run  # noqa: E402
from tests.failure_tools import finish, one_message, start_job  # noqa: E402

pytestmark = [pytest.mark.mpi, pytest.mark.slow]

MODELS = "tests.torch_bad_models"
FLAGS = ["--problem", "torch", "--data", "synthetic:n=200,d=5", "--algo", "psgd"]
FLAGS += ["--batch", "4", "--T", "40", "--gamma", "0.1", "--quiet", "--eval-rows", "20"]


def run_model(tmp_path, name: str, *extra: str, ranks: int = 2, limit: float = 60):
    """``crpsgd run`` of ``--model tests.torch_bad_models:NAME`` on ``ranks`` ranks, ended
    within ``limit`` seconds; returns (status, stderr, the log's path)."""
    out = tmp_path / "run.h5"
    job, _ = start_job(ranks, [*FLAGS, "--model", f"{MODELS}:{name}", "--out", str(out), *extra])
    status, err, _ = finish(job, limit)
    return status, err, out


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("exit_on_rank1", "exit_on_rank1() failed: called sys.exit(3)"),
        ("exit0_everywhere", "exit0_everywhere() failed: called sys.exit(0)"),
        ("os_exit_on_rank1", "os_exit_on_rank1() failed: called os._exit(0)"),
    ],
)
def test_class3_a_build_that_exits_is_one_message_and_exit_2(tmp_path, name, expected):
    """``sys.exit`` on one rank (a hang before), ``sys.exit(0)`` on every rank and
    ``os._exit(0)`` on one rank (exit 0 with no log and no message before)."""
    status, err, out = run_model(tmp_path, name)
    assert status == 2, err
    one_message(err, f"--model={MODELS}:{name}: {expected}")
    assert not out.exists()


def test_class4_a_build_that_starts_a_thread_still_ends(tmp_path):
    """A non-daemon thread of the build kept every rank alive after ``completed`` before."""
    status, err, out = run_model(tmp_path, "starts_a_thread", limit=60)
    assert status == 0, err
    assert read_run(out).status == "completed"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("size_per_rank", "the ranks built models of different sizes (parameters on ranks 0..1: "),
        ("numpy_init", "the ranks' initial parameters differ"),
    ],
)
def test_class5_and_9_ranks_that_build_different_models_are_refused(tmp_path, name, expected):
    """Different parameter counts ended in MPICH's "Message truncated" (exit 142, the log
    left running); a numpy-initialised build trained four different models in silence."""
    status, err, out = run_model(tmp_path, name)
    assert status == 2, err
    line = one_message(err, f"--model={MODELS}:{name}: {expected}")
    assert "hardware" not in line
    assert not out.exists()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"CRPSGD_TEST_ACT": "tanh"}, "its architecture (module types, parameter names"),
        ({"CRPSGD_TEST_WIDTH": "5"}, "differs: 42 parameters now, 34 then"),
    ],
)
def test_class12_resume_refuses_a_changed_model(tmp_path, env, expected):
    """ReLU -> Tanh continued to ``completed`` before; a resized model printed a ValueError
    on every rank and overwrote the log's status with ``failed``."""
    out, ckpt = tmp_path / "run.h5", tmp_path / "run.ckpt.h5"
    args = [*FLAGS, "--model", f"{MODELS}:from_environment", "--out", str(out)]
    job, _ = start_job(2, args, env={"CRPSGD_TEST_STOP_AT": "1:round:3"})
    status, err, _ = finish(job, 60)
    assert status == 75, err
    job, _ = start_job(2, ["--resume", str(ckpt)], env=env)
    status, err, _ = finish(job, 60)
    assert status == 2, err
    one_message(err, f"--resume={ckpt}: --model={MODELS}:from_environment is not the model")
    assert expected in err
    assert read_run(out).status.startswith("preempted")
    job, _ = start_job(2, ["--resume", str(ckpt)])  # the same model continues
    status, err, _ = finish(job, 60)
    assert status == 0, err
    assert read_run(out).status == "completed"


def test_class13_a_model_over_2_28_parameters_is_refused_before_its_buffers(tmp_path):
    """2^28 + 1 parameters ran at 10 GB and wrote a 2.1 GB log before; on the meta device
    this model has no memory, so a refusal after the flat buffers could not pass here."""
    status, err, out = run_model(tmp_path, "too_big", ranks=1)
    assert status == 2, err
    one_message(err, f"--model={MODELS}:too_big: the model has 268435457 parameters, more than")
    assert not out.exists()


@pytest.mark.parametrize(
    ("name", "extra", "expected"),
    [
        ("grads_to_none", [], "a gradient of the model left the flat buffer"),  # class 10
        ("assertion_in_training", [], "failed: AssertionError: no training here"),
        ("key_error_in_training", [], "failed: KeyError: 'features'"),
        ("lazy", [], "the module has uninitialised (lazy) parameters (0.weight, 0.bias)"),
        ("float_loss", [], "the loss returned float, not a tensor"),
        ("loss_ignores_output", [], "the loss does not depend on the model's parameters"),
        ("frozen", [], "every parameter is frozen"),
        (
            "batch_norm",
            ["--micro-batch", "1"],
            "micro-batch of 1 rows) failed: ValueError: Expected more than 1 value per channel",
        ),
    ],
)
def test_class10_and_messages_model_errors_before_the_rounds(tmp_path, name, extra, expected):
    """A training step is tried before the first round: each was an exit 1 with a raw
    exception (or, for gradients set to None, a run that trained nothing in silence)."""
    status, err, out = run_model(tmp_path, name, *extra)
    assert status == 2, err
    one_message(err, f"--model={MODELS}:{name}: ")
    assert expected in err
    assert not out.exists()


def test_class3_user_code_that_exits_during_the_rounds_fails_the_job(tmp_path):
    """``os._exit(0)`` in a forward pass of rank 1 during the rounds: exit 1, the log's
    status names ``--model``, never ``completed``."""
    status, err, out = run_model(tmp_path, "exit_in_training_on_rank1")
    assert status == 1, err
    expected = f"rank 1: --model={MODELS}:exit_in_training_on_rank1: the training step failed"
    one_message(err, expected + ": called os._exit(0)")
    assert read_run(out).status == f"failed: {expected}: called os._exit(0)"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--eval-rows", "1"], "--eval-rows=1: must be >= the number of ranks (2)"),
        (["--threads", "3000000000"], "--threads='3000000000': must be <= 65536"),
        (
            ["--problem", "logreg", "--schedule", "adaptive", "--b1", "2", "--eta", "1e-200"],
            "--eta='1e-200': must be in [1e-100, 1e100]",
        ),
        (
            ["--problem", "logreg", "--schedule", "adaptive", "--b1", "2", "--max-growth", "1e308"],
            "--max-growth='1e308': must be <= 1048576",
        ),
    ],
)
def test_messages_bounds_are_one_message_and_exit_2(tmp_path, extra, expected):
    """Each was a raw exception per rank, exit 1 (a ValueError of np.array_split, an
    overflow, a ZeroDivisionError, an OverflowError)."""
    status, err, out = run_model(tmp_path, "linear", *extra)
    assert status == 2, err
    one_message(err, expected)
    assert not out.exists()


def test_messages_divergence_at_the_starting_point_names_no_round_minus_1(tmp_path):
    """A model whose output is NaN: the message said "at round -1" and blamed the step."""
    status, err, out = run_model(tmp_path, "nan_output")
    assert status == 3, err
    line = one_message(err, "diverged at round 0: ")
    assert "round -1" not in line and "--gamma" not in line
    assert "not finite at the starting point, before any step: check the data and the " in line
    assert read_run(out).status.startswith("failed: diverged at round 0")


def test_class10_gradients_lost_during_the_rounds_fail_the_job(tmp_path):
    """A forward that sets gradients to None only after the check: every later round
    trained nothing and the run ended ``completed`` before."""
    status, err, out = run_model(tmp_path, "grads_to_none_later", ranks=1)
    assert status == 1, err
    expected = f"--model={MODELS}:grads_to_none_later: the training step failed: a gradient"
    one_message(err, expected)
    assert read_run(out).status.startswith(f"failed: rank 0: {expected}")
