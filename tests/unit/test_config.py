import pytest

from crpsgd.errors import DataFormatError, UsageError
from crpsgd.registry.config import PARAMS, merge, read_toml


def test_defaults_are_valid():
    cfg = merge({}, None)
    assert cfg["algo"] == "cr-psgd" and cfg["gamma"] == "auto" and cfg["config"] is None
    assert set(cfg) == {p.name for p in PARAMS} | {"config"}


def test_command_line_strings_are_converted():
    cfg = merge({"T": "1e5", "rho": "1.5", "gamma": "0.25", "b1": "16", "fstar": "auto"}, None)
    assert cfg["T"] == 100000 and cfg["rho"] == 1.5 and cfg["gamma"] == 0.25
    assert cfg["b1"] == 16 and cfg["fstar"] == "auto"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"rho": "1"}, "--rho='1': must be > 1"),
        ({"rho": "0.5"}, "--rho='0.5': must be > 1"),
        ({"b1": "0"}, "--b1='0': must be >= 1"),
        ({"batch": "-3"}, "--batch='-3': must be >= 1"),
        ({"T": "4", "b1": "8"}, "--T=4: the budget is smaller than the first batch --b1=8"),
        ({"T": "4", "batch": "8", "algo": "psgd"}, "first batch --batch=8"),
        ({"gamma": "0"}, "--gamma='0': must be > 0"),
        ({"gamma": "-1e-3"}, "--gamma='-1e-3': must be > 0"),
        ({"gamma": "fast"}, "--gamma='fast': expected float or 'auto'"),
        ({"algo": "adam"}, "--algo='adam': must be one of cr-psgd, psgd"),
        ({"problem": "svm"}, "--problem='svm': must be one of logreg"),
        ({"T": "2.5"}, "--T='2.5': expected int"),
        ({"lam": "-1"}, "--lam='-1': must be >= 0"),
        ({"lam": "nan"}, "--lam='nan': expected float"),
        ({"seed": "-1"}, "--seed='-1': must be >= 0"),
        ({"eval_factor": "1"}, "--eval-factor='1': must be > 1"),
    ],
)
def test_bad_values_name_the_argument(flags, message):
    with pytest.raises(UsageError) as err:
        merge(flags, None)
    assert message in str(err.value)


def test_toml_then_flags_override(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text('algo = "psgd"\nbatch = 32\nT = 100_000\ngamma = 0.5\nlam = 1e-4\n')
    cfg = merge({"batch": "64"}, str(path))
    assert cfg["algo"] == "psgd" and cfg["batch"] == 64 and cfg["T"] == 100000
    assert cfg["gamma"] == 0.5 and cfg["config"] == str(path)


def test_toml_value_errors_name_the_file(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text("rho = 0.9\n")
    with pytest.raises(UsageError, match=r"rho=0.9 \(.*exp.toml\): must be > 1"):
        merge({}, str(path))


def test_toml_unknown_key_names_file_and_line(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text('algo = "psgd"\n\nstep = 3\n')
    with pytest.raises(DataFormatError, match=r"exp.toml:3: unknown key 'step'"):
        read_toml(path)


def test_toml_syntax_error_names_file_and_line(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text('algo = "psgd"\nT = = 3\n')
    with pytest.raises(DataFormatError, match=r"exp.toml:2: TOML syntax"):
        read_toml(path)


def test_toml_missing_and_binary_files(tmp_path):
    with pytest.raises(DataFormatError, match="no such configuration file"):
        read_toml(tmp_path / "absent.toml")
    path = tmp_path / "bin.toml"
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(DataFormatError, match="bin.toml: cannot read"):
        read_toml(path)
