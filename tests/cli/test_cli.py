"""The command line on one rank: bad input, info, convert, TOML configuration."""

import h5py
import numpy as np
import pytest

from crpsgd.cli.app import main
from crpsgd.runlog import read_run
from tests.conftest import run_cli


@pytest.fixture
def files(tmp_path):
    (tmp_path / "train.svm").write_text("1 1:0.5 3:1\n-1 2:1.0\n+1 1:1 2:-1\n-1 3:2\n")
    (tmp_path / "wide.svm").write_text("1 1:0.5 7:1\n-1 2:1.0\n")
    (tmp_path / "badlabel.svm").write_text("1 1:0.5\n2 2:1.0\n")
    (tmp_path / "malformed.svm").write_text("1 1:0.5\n-1 2:1.0\n1 3:x\n")
    (tmp_path / "exists.h5").write_bytes(b"")
    return tmp_path


BAD_INPUTS = [
    (["--rho", "1"], "--rho='1': must be > 1"),
    (["--b1", "0"], "--b1='0': must be >= 1"),
    (["--T", "5", "--b1", "8"], "--T=5: the budget is smaller than the first batch --b1=8"),
    (["--gamma", "0"], "--gamma='0': must be > 0"),
    (["--gamma", "-0.1"], "--gamma='-0.1': must be > 0"),
    (["--problem", "svm"], "--problem='svm': must be one of logreg"),
    (["--algo", "sgd"], "--algo='sgd': must be one of cr-psgd, psgd"),
    (["--data", "{d}/absent.svm"], "absent.svm"),
    (["--data", "{d}/malformed.svm"], "malformed.svm:3:"),
    (["--data", "{d}/badlabel.svm"], "badlabel.svm:2: non-binary label"),
    (["--data", "{d}/train.svm", "--test-data", "{d}/wide.svm"], "wide.svm"),
    (["--out", "{d}/exists.h5"], "exists.h5: file exists (pass --overwrite"),
    (["--config", "{d}/absent.toml"], "absent.toml: no such configuration file"),
    (["--lam"], "--lam: expected one argument"),
    (["--frobnicate", "3"], "unrecognized arguments: --frobnicate 3"),
    (["--lr-scaling", "cubic"], "--lr-scaling='cubic': must be one of constant, linear"),
    (["--algo", "local-sgd", "--lr-scaling", "sqrt"], "--lr-scaling=sqrt: the step follows"),
    # one worker, no within-worker variance: refused before the log is created
    (
        ["--problem", "mlp", "--gamma", "0.1", "--lr-scaling", "adascale"],
        "--lr-scaling=adascale on one worker needs the within-worker gradient variance",
    ),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUTS)
def test_bad_input_is_one_message_and_exit_2(files, capsys, args, message):
    args = [a.format(d=files) for a in args]
    if "--out" not in args:
        args += ["--out", str(files / "new.h5")]
    status = main(
        ["run", "--data", "synthetic:n=100,d=3", "--T", "50", *args]
        if "--data" not in args
        else ["run", "--T", "50", *args]
    )
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("crpsgd: error:") == 1 and message in err, err
    assert not (files / "new.h5").exists()


def test_width_mismatch_message_names_both(files, capsys):
    status = main(
        [
            "run",
            "--data",
            str(files / "train.svm"),
            "--test-data",
            str(files / "wide.svm"),
            "--T",
            "4",
            "--b1",
            "1",
            "--out",
            str(files / "o.h5"),
        ]
    )
    err = capsys.readouterr().err
    assert status == 2 and "wide.svm:1:" in err and "7" in err, err


def test_run_info_and_overwrite(tmp_path, capsys):
    out = tmp_path / "r.h5"
    args = [
        "run",
        "--data",
        "synthetic:n=400,d=4,seed=2",
        "--T",
        "200",
        "--fstar",
        "auto",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "round" in printed and "cr-psgd:" in printed  # progress lines and the summary
    assert main(args) == 2  # exists
    assert main([*args, "--overwrite", "--quiet", "--algo", "psgd", "--batch", "10"]) == 0
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "psgd(B=10)" in text and "status: completed" in text and "f_star" in text
    run = read_run(out)
    assert run.summary["rounds"] == 20 and run.summary["suboptimality"] >= -1e-12


def test_info_table_of_several_runs(tmp_path, capsys):
    outs = []
    for algo in ("cr-psgd", "psgd"):
        outs.append(str(tmp_path / f"{algo}.h5"))
        assert (
            main(
                [
                    "run",
                    "--algo",
                    algo,
                    "--data",
                    "synthetic:n=300,d=3",
                    "--T",
                    "100",
                    "--quiet",
                    "--out",
                    outs[-1],
                ]
            )
            == 0
        )
    capsys.readouterr()
    assert main(["info", *outs]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["run", "N", "rounds"]
    assert lines[2].startswith("cr-psgd(B1=8,rho=1.2)") and lines[3].startswith("psgd(B=8)")


def test_info_of_a_missing_log(tmp_path, capsys):
    assert main(["info", str(tmp_path / "none.h5")]) == 2
    assert "no such run log" in capsys.readouterr().err


def test_toml_config_is_recorded_merged(tmp_path):
    cfg = tmp_path / "exp.toml"
    cfg.write_text('algo = "psgd"\nbatch = 4\nT = 40\ndata = "synthetic:n=200,d=3"\n')
    out = tmp_path / "r.h5"
    assert main(["run", "--config", str(cfg), "--batch", "8", "--quiet", "--out", str(out)]) == 0
    run = read_run(out)
    assert run.config["batch"] == 8 and run.config["T"] == 40 and run.config["algo"] == "psgd"
    assert run.config["config"] == str(cfg) and run.summary["rounds"] == 5


def test_convert_and_run_on_hdf5(files, capsys):
    out = files / "train.h5"
    assert main(["convert", str(files / "train.svm"), str(out), "--n-features", "4"]) == 0
    with h5py.File(out, "r") as f:
        assert f.attrs["n_features"] == 4
    assert main(["convert", str(files / "train.svm"), str(out)]) == 2  # exists
    log = files / "r.h5"
    assert (
        main(["run", "--data", str(out), "--T", "8", "--b1", "1", "--quiet", "--out", str(log)])
        == 0
    )
    assert read_run(log).attrs["data_shape"] == [4, 4]


def test_python_dash_m_without_launcher(tmp_path):
    proc = run_cli(
        [
            "run",
            "--data",
            "synthetic:n=100,d=3",
            "--T",
            "30",
            "--quiet",
            "--out",
            str(tmp_path / "r.h5"),
        ]
    )
    assert proc.returncode == 0, proc.stderr
    assert "cr-psgd: " in proc.stdout
    assert np.isfinite(read_run(tmp_path / "r.h5").x).all()
