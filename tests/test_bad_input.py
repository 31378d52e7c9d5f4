"""Bad input gets one clear line (file, field, what was expected) and exit code 2."""

import copy

import pytest
import yaml
from pdesolve.cli.app import app
from typer.testing import CliRunner

from tests.helpers import TINY_NS, write_case

runner = CliRunner()


def _with(path: str, value):
    case = copy.deepcopy(TINY_NS)
    node = case
    keys = path.split(".")
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    if value is _DELETE:
        node.pop(keys[-1])
    else:
        node[keys[-1]] = value
    return case


_DELETE = object()

# (case, field named in the message, words expected in the message)
BAD_CASES = [
    (_with("problem.name", "navier_stokes_7d"), "problem.name", "unknown problem"),
    (_with("problem.name", _DELETE), "problem.name", "required"),
    (_with("problem.viscosity", -1.0), "problem.viscosity", "greater than 0"),
    (_with("problem.viscosity", "thick"), "problem.viscosity", "number"),
    (_with("problem.viscousity", 1e-3), "problem.viscousity", "unknown field"),
    (_with("backend.name", "fnord"), "backend.name", "unknown backend"),
    (_with("backend.width", 0), "backend.width", "greater than 0"),
    (_with("backend.modes", "many"), "backend.modes", "valid"),
    (_with("backend.colour", "red"), "backend.colour", "unknown field"),
    (_with("data.n_train", 0), "data.n_train", "greater than 0"),
    (_with("data.resolution", 12), None, "subsample"),
    (_with("train.epochs", -3), "train.epochs", "greater than or equal"),
    (_with("train.lr", "fast"), "train.lr", "number"),
    (_with("train.schedule", "zigzag"), "train.schedule", "cosine"),
    (_with("train.optimizer", "sgd2"), "train.optimizer", "adam"),
    (_with("compare.baselines", ["smagorinsky_9000"]), "compare.baselines", "unknown baseline"),
    (_with("backend.window", 20), None, "too short"),
    (_with("backend", "fno"), "backend", "mapping"),
    (_with("name", "has spaces!"), "name", "pattern"),
    (_with("rollout", {"steps": 0}), "rollout.steps", "greater than 0"),
]


def _run(args):
    result = runner.invoke(app, args)
    return result.exit_code, result.stderr.strip()


@pytest.mark.parametrize(("case", "field", "words"), BAD_CASES)
def test_bad_case_file(tmp_path, case, field, words):
    path = write_case(tmp_path, case)
    code, message = _run(["train", str(path), "--device", "cpu", "--no-rollout"])
    assert code == 2, message
    assert len(message.splitlines()) == 1, message
    assert str(path) in message or "--set" in message
    if field:
        assert field in message
    assert words.lower() in message.lower()
    assert "Traceback" not in message


def test_invalid_yaml_names_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nproblem: {name: navier_stokes_2d\nbackend: [\n")
    code, message = _run(["train", str(path)])
    assert code == 2 and "line" in message and str(path) in message


def test_case_not_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text(yaml.safe_dump([1, 2, 3]))
    code, message = _run(["generate", str(path)])
    assert code == 2 and "mapping" in message


def test_missing_case_file():
    code, message = _run(["train", "no/such/case.yaml"])
    assert code == 2 and "no/such/case.yaml" in message and "shipped" in message


def test_bad_override_syntax():
    code, message = _run(["train", "--set", "train.epochs"])
    assert code == 2 and "--set" in message and "PATH=VALUE" in message


def test_override_unknown_field():
    code, message = _run(["generate", "quickstart", "--set", "data.n_trian=3"])
    assert code == 2 and "data.n_trian" in message and "unknown field" in message


def test_missing_run_directory(tmp_path):
    for command in (["rollout", str(tmp_path / "nope")], ["compare", str(tmp_path / "nope")],
                    ["export", str(tmp_path / "nope"), "--out", str(tmp_path / "x.nc")],
                    ["train", "--resume", str(tmp_path / "nope")]):
        code, message = _run(command)
        assert code == 2 and "not a run directory" in message, command


def test_cuda_requested_without_gpu(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    path = write_case(tmp_path, TINY_NS)
    code, message = _run(["train", str(path), "--device", "cuda"])
    assert code == 2 and "CUDA" in message


def test_case_and_resume_together(tmp_path):
    code, message = _run(["train", "quickstart", "--resume", str(tmp_path)])
    assert code == 2 and "either" in message


def test_not_a_netcdf_file(tmp_path):
    from pdesolve.data.netcdf import read_netcdf
    from pdesolve.errors import UserError

    bad = tmp_path / "bad.nc"
    bad.write_text("hello")
    with pytest.raises(UserError, match="not a readable netCDF"):
        read_netcdf(bad)
