"""Bad input gets one clear line (file, field, what was expected) and exit code 2; failures while
running one line and exit code 1; nothing is written under a final name by a refused command, and
no kill leaves stray or half-written state (issue 18).

`BAD_INPUTS` walks every class of bad input across all commands: each asserts the exit code, exactly
one line on stderr, nothing on stdout, no traceback, and that no file under the test's folder, the
shared runs or the data cache was created or changed.
"""

import copy
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import yaml
from pdesolve.cli.app import app
from typer.testing import CliRunner

from tests.helpers import TINY_NS, write_case

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


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
    (_with("train.lr", float("inf")), "train.lr", "finite"),
    (_with("train.lr", float("nan")), "train.lr", "finite"),
    (_with("train.grad_clip", float("inf")), "train.grad_clip", "finite"),
    (_with("problem.viscosity", float("inf")), "problem.viscosity", "finite"),
    (_with("problem.dt", float("nan")), "problem.dt", "finite"),
    (_with("rollout.blowup_factor", float("inf")), "rollout.blowup_factor", "finite"),
    (_with("rollout", {"steps": 50}), "rollout.steps", "at most 3"),
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


# ------------------------------------------------------------------------ the whole list
TINY_DCDM = {
    "name": "tiny_dcdm",
    "problem": {"name": "poisson_obstacles", "resolution": 12, "lanczos_steps": 30, "rhs_per_system": 8,
                "obstacles": [1, 2], "obstacle_size": [0.1, 0.2]},
    "data": {"n_train": 3, "n_val": 1, "n_test": 2, "seed": 0},
    "backend": {"name": "dcdm", "channels": 4, "max_iter": 60},
    "train": {"epochs": 2, "batch_size": 8, "lr": 1e-3, "optimizer": "adam", "weight_decay": 0.0},
    "compare": {"baselines": ["cg"]},
}


class Evil:
    """An object whose unpickling would run a command: a checkpoint must never unpickle it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def laplacian(shape: tuple[int, int]) -> sp.csr_matrix:
    """The 5-point Dirichlet Laplacian on a grid (SPD)."""
    one = [sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)) for n in shape]
    return (sp.kron(one[0], sp.eye(shape[1])) + sp.kron(sp.eye(shape[0]), one[1])).tocsr()


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """A trained operator run, a DCDM run (untrained network) and the data cache, shared by the list."""
    from pdesolve.backends.dcdm import DCDMSolver
    from pdesolve.config import load_case
    from pdesolve.engines.train import train_case

    root = tmp_path_factory.mktemp("shared")
    case = write_case(root, {**TINY_NS, "train": {**TINY_NS["train"], "epochs": 1}})
    train_case(load_case(case), run_dir=root / "run", device="cpu", rollout=False)
    linear = root / "linear"
    linear.mkdir()
    (linear / "case.yaml").write_text(load_case(write_case(root, TINY_DCDM, "dcdm.yaml")).to_yaml())
    torch.manual_seed(0)
    solver = DCDMSolver(channels=4, max_iter=60)
    solver.setup = {"problem": "poisson_obstacles", "ndim": 2, "training_shape": [12, 12]}
    solver.build(solver.setup)
    solver.save(linear / "best.pt")
    return root


@dataclass
class World:
    """What a bad input is built in: the test's own folder and the shared runs."""

    root: Path
    shared: Path

    @property
    def run(self) -> str:
        return str(self.shared / "run")

    @property
    def linear(self) -> str:
        return str(self.shared / "linear")

    @property
    def data(self) -> Path:
        return self.shared / "data"

    def case(self, *overrides: str, name: str = "case.yaml") -> str:
        """TINY_NS with dotted ``path=yaml`` overrides, data cached in the shared cache."""
        case = copy.deepcopy(TINY_NS)
        case["data"]["cache_dir"] = str(self.data)
        case["output"] = {**case.get("output", {}), "runs_dir": str(self.root / "runs")}
        for text in overrides:
            key, value = text.split("=", 1)
            node = case
            *parents, last = key.split(".")
            for k in parents:
                node = node.setdefault(k, {})
            node[last] = yaml.safe_load(value)
        path = self.root / name
        path.write_text(yaml.safe_dump(case))
        return str(path)

    def file(self, name: str, content: bytes = b"") -> str:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        return str(path)

    def folder(self, name: str) -> str:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return str(path)

    def run_copy(self, which: str = "run", **replace: bytes) -> str:
        """A copy of a shared run with some of its files replaced (``best_pt=b"..."``)."""
        target = self.root / which
        shutil.copytree(self.shared / which, target)
        for name, content in replace.items():
            (target / name.replace("_", ".")).write_bytes(content)
        return str(target)

    def torch_file(self, name: str, obj) -> bytes:
        path = self.root / "made" / name
        path.parent.mkdir(exist_ok=True)
        torch.save(obj, path)
        data = path.read_bytes()
        shutil.rmtree(path.parent)
        return data

    def system(self, name: str = "system.npz", *, matrix=None, shape=(4, 4), b=None, drop=(), **extra) -> str:
        """A system file: ``matrix`` (default the Laplacian of ``shape``) as save_npz arrays, ``b``
        (default ones), ``grid_shape``; ``drop`` leaves parts out, ``extra`` adds or replaces arrays."""
        a = laplacian((4, 4)) if matrix is None else sp.csr_matrix(matrix)
        arrays = {"format": np.array(b"csr"), "shape": np.array(a.shape), "data": a.data, "indices": a.indices,
                  "indptr": a.indptr, "b": np.ones(a.shape[0]) if b is None else np.asarray(b),
                  "grid_shape": np.asarray(shape)}
        arrays.update(extra)
        for key in drop:
            arrays.pop(key)
        path = self.root / name
        with open(path, "wb") as f:
            np.savez(f, **arrays)
        return str(path)


N = 4 * 4
BAD_INPUTS = [
    # --- case files that are not text, or not a case
    ("train-binary-case", lambda w: ["train", w.file("bin.yaml", bytes(range(256)))], 2, "UTF-8"),
    ("generate-latin1-case", lambda w: ["generate", w.file("l1.yaml", "name: caf\xe9\n".encode("latin-1"))], 2,
     "UTF-8"),
    ("train-empty-case", lambda w: ["train", w.file("empty.yaml")], 2, "mapping"),
    ("rollout-binary-run-case", lambda w: ["rollout", w.run_copy(case_yaml=b"\x80\x81\xff")], 2, "UTF-8"),
    ("compare-binary-run-case", lambda w: ["compare", w.run_copy(case_yaml=b"\xff\xfe\x00")], 2, "UTF-8"),
    ("export-binary-run-case", lambda w: ["export", w.run_copy(case_yaml=b"\xc3\x28"),
                                          "--out", str(w.root / "e.nc")], 2, "UTF-8"),
    ("resume-binary-run-case", lambda w: ["train", "--resume", w.run_copy(case_yaml=b"\x89PNG\r\n")], 2, "UTF-8"),
    # --- numbers that are not finite, sizes that are not sensible
    ("lr-inf-by-set", lambda w: ["train", w.case(), "--set", "train.lr=.inf"], 2, "finite"),
    ("weight-decay-nan-by-set", lambda w: ["generate", w.case(), "--set", "train.weight_decay=.nan"], 2, "finite"),
    ("viscosity-string-inf", lambda w: ["generate", w.case("problem.viscosity=inf")], 2, "finite"),
    ("gamma-minus-inf", lambda w: ["train", w.case("train.gamma=-.inf")], 2, "train.gamma"),
    ("epochs-negative", lambda w: ["train", w.case("train.epochs=-1")], 2, "train.epochs"),
    ("n-val-negative", lambda w: ["generate", w.case("data.n_val=-1")], 2, "data.n_val"),
    ("rollout-steps-in-case-too-many", lambda w: ["train", w.case("rollout.steps=1000000000")], 2, "rollout.steps"),
    # --- channel flow: grids that cannot resolve the walls, a coarse grid off the fine one, dt above the limit
    ("channel-first-point-too-far", lambda w: ["generate", w.case('problem={"name": "channel_3d", "resolution": '
                                                                  '[64, 17, 32]}', "data.resolution=[32, 17, 16]")],
     2, "y+ = 3.46"),
    ("channel-coarse-not-decimating", lambda w: ["generate", w.case('problem={"name": "channel_3d"}',
                                                                    "data.resolution=[24, 33, 16]")],
     2, "not a decimation"),
    ("channel-dt-above-limit", lambda w: ["generate", w.case('problem={"name": "channel_3d", "dt": 0.02}',
                                                             "data.resolution=[32, 33, 16]")],
     2, "stability limit 0.00412"),
    # --- sizes that cannot fit in memory: refused before any work, naming the field and the estimate
    ("resolution-1e6", lambda w: ["train", w.case("problem.resolution=1000000", "data.resolution=null")], 2,
     "problem.resolution"),
    ("generate-resolution-1e6", lambda w: ["generate", w.case("problem.resolution=1000000")], 2,
     "problem.resolution"),
    ("width-1e6", lambda w: ["train", w.case("backend.width=1000000")], 2, "backend.width"),
    ("modes-1e4", lambda w: ["train", w.case("backend.modes=10000")], 2, "backend.modes"),
    ("n-train-1e9", lambda w: ["train", w.case("data.n_train=1000000000")], 2, "data.n_train"),
    ("generate-n-train-1e9", lambda w: ["generate", w.case("data.n_train=1000000000")], 2, "data.n_train"),
    ("dcdm-resolution-1e6", lambda w: ["generate", w.file("dcdm.yaml", yaml.safe_dump({
        **TINY_DCDM, "problem": {**TINY_DCDM["problem"], "resolution": 1000000},
        "data": {**TINY_DCDM["data"], "cache_dir": str(w.data)}}).encode())], 2, "problem.resolution"),
    ("rollout-steps-1e9", lambda w: ["rollout", w.run, "--steps", "1000000000"], 2, "--steps"),
    ("rollout-steps-beyond-data", lambda w: ["rollout", w.run, "--steps", "4"], 2, "at most 3"),
    # --- output locations that cannot be written
    ("generate-out-is-folder", lambda w: ["generate", w.case(), "--out", w.folder("d.nc")], 2, "is a folder"),
    ("generate-out-under-file", lambda w: ["generate", w.case(), "--out", w.file("f") + "/x.nc"], 2, "is a file"),
    ("generate-out-read-only", lambda w: ["generate", w.case(), "--out", "/proc/pdesolve-x.nc"], 2, "/proc"),
    ("generate-cache-under-file", lambda w: ["generate", w.case(f"data.cache_dir={w.file('f')}/data")], 2,
     "data.cache_dir"),
    ("train-cache-under-file", lambda w: ["train", w.case(f"data.cache_dir={w.file('f')}/data")], 2,
     "data.cache_dir"),
    ("train-cache-is-file", lambda w: ["train", w.case(f"data.cache_dir={w.file('cache')}")], 2, "data.cache_dir"),
    ("train-run-dir-under-file", lambda w: ["train", w.case(), "--run-dir", w.file("f") + "/run"], 2, "--run-dir"),
    ("train-run-dir-is-file", lambda w: ["train", w.case(), "--run-dir", w.file("run")], 2, "is a file"),
    ("train-run-dir-not-empty", lambda w: ["train", w.case(), "--run-dir", str(Path(w.file("r/x")).parent)], 2,
     "not empty"),
    ("train-run-dir-read-only", lambda w: ["train", w.case(), "--run-dir", "/proc/pdesolve-run"], 2, "/proc"),
    ("train-runs-dir-under-file", lambda w: ["train", w.case(f"output.runs_dir={w.file('f')}/runs")], 2,
     "output.runs_dir"),
    ("rollout-out-is-folder", lambda w: ["rollout", w.run, "--out", w.folder("r.nc")], 2, "is a folder"),
    ("rollout-out-under-file", lambda w: ["rollout", w.run, "--out", w.file("f") + "/r.nc"], 2, "is a file"),
    ("rollout-out-read-only", lambda w: ["rollout", w.run, "--out", "/proc/r.nc"], 2, "--out"),
    ("compare-out-is-file", lambda w: ["compare", w.run, "--out", w.file("cmp")], 2, "is a file"),
    ("compare-out-under-file", lambda w: ["compare", w.run, "--out", w.file("f") + "/cmp"], 2, "--out"),
    ("export-out-is-folder", lambda w: ["export", w.run, "--out", w.folder("e.nc")], 2, "is a folder"),
    ("export-out-under-file", lambda w: ["export", w.run, "--out", w.file("f") + "/e.nc"], 2, "is a file"),
    ("export-out-read-only", lambda w: ["export", w.run, "--out", "/proc/e.nc"], 2, "--out"),
    ("solve-out-is-folder", lambda w: ["solve", w.linear, "--system", w.system(), "--out", w.folder("s.nc")], 2,
     "is a folder"),
    ("solve-out-under-file", lambda w: ["solve", w.linear, "--system", w.system(), "--out",
                                        w.file("f") + "/s.nc"], 2, "is a file"),
    # --- checkpoints that are damaged, empty, foreign or crafted: never torch's advice to unpickle
    ("rollout-best-truncated", lambda w: ["rollout", w.run_copy(best_pt=(w.shared / "run/best.pt").read_bytes()[:300])],
     2, "checkpoint.pt"),
    ("rollout-best-empty", lambda w: ["rollout", w.run_copy(best_pt=b"")], 2, "damaged"),
    ("rollout-best-random", lambda w: ["rollout", w.run_copy(best_pt=np.random.default_rng(0).bytes(4096))], 2,
     "not a pdesolve checkpoint"),
    ("rollout-best-pickled-object", lambda w: ["rollout", w.run_copy(
        best_pt=w.torch_file("evil", {"solver": Evil(w.root / "PWNED")}))], 2, "refused"),
    ("rollout-best-plain-pickle", lambda w: ["rollout", w.run_copy(
        best_pt=pickle.dumps(Evil(w.root / "PWNED")))], 2, "not a pdesolve checkpoint"),
    ("rollout-best-foreign-tensors", lambda w: ["rollout", w.run_copy(
        best_pt=w.torch_file("foreign", {"weight": torch.zeros(3)}))], 2, "no solver state"),
    ("rollout-best-wrong-shapes", lambda w: ["rollout", w.run_copy(best_pt=w.torch_file("shapes", {"solver": {
        **torch.load(w.shared / "run/best.pt", weights_only=True)["solver"], "tensors": {"x": torch.zeros(1)}}}))],
     2, "does not rebuild"),
    ("resume-checkpoint-truncated", lambda w: ["train", "--resume", w.run_copy(
        checkpoint_pt=(w.shared / "run/checkpoint.pt").read_bytes()[:500])], 2, "best.pt"),
    ("resume-checkpoint-empty", lambda w: ["train", "--resume", w.run_copy(checkpoint_pt=b"")], 2, "damaged"),
    ("resume-checkpoint-random", lambda w: ["train", "--resume", w.run_copy(
        checkpoint_pt=np.random.default_rng(1).bytes(999))], 2, "not a pdesolve checkpoint"),
    ("resume-checkpoint-pickled-object", lambda w: ["train", "--resume", w.run_copy(
        checkpoint_pt=w.torch_file("evil", Evil(w.root / "PWNED")))], 2, "refused"),
    ("resume-checkpoint-is-best", lambda w: ["train", "--resume", w.run_copy(
        checkpoint_pt=(w.shared / "run/best.pt").read_bytes())], 2, "not a training checkpoint"),
    ("solve-run-best-truncated", lambda w: ["solve", w.run_copy("linear", best_pt=b"PK\x03\x04"), "--system",
                                            w.system()], 2, "damaged"),
    # --- systems that pdesolve solve must refuse before solving
    ("solve-empty-file", lambda w: ["solve", w.linear, "--system", w.file("e.npz")], 2, "not a readable"),
    ("solve-no-arrays", lambda w: ["solve", w.linear, "--system", w.system(drop=(
        "format", "shape", "data", "indices", "indptr", "b", "grid_shape"))], 2, "lacks"),
    ("solve-random-bytes", lambda w: ["solve", w.linear, "--system", w.file("r.npz", b"\x00" * 64)], 2,
     "not a readable"),
    ("solve-pickled-array", lambda w: ["solve", w.linear, "--system", w.system(b=np.array([object()] * N))], 2,
     "pickled"),
    ("solve-missing-b", lambda w: ["solve", w.linear, "--system", w.system(drop=("b",))], 2, "'b'"),
    ("solve-missing-grid-shape", lambda w: ["solve", w.linear, "--system", w.system(drop=("grid_shape",))], 2,
     "grid_shape"),
    ("solve-no-matrix", lambda w: ["solve", w.linear, "--system", w.system(drop=("format", "data"))], 2,
     "no matrix"),
    ("solve-shape-1d", lambda w: ["solve", w.linear, "--system", w.system(shape=(16,))], 2, "2-D grids"),
    ("solve-shape-3d", lambda w: ["solve", w.linear, "--system", w.system(shape=(4, 2, 2))], 2, "2-D grids"),
    ("solve-shape-negative", lambda w: ["solve", w.linear, "--system", w.system(shape=(-4, -4))], 2,
     "at least 1"),
    ("solve-shape-zero", lambda w: ["solve", w.linear, "--system", w.system(shape=(0, 16))], 2, "at least 1"),
    ("solve-shape-float", lambda w: ["solve", w.linear, "--system", w.system(shape=(4.0, 4.0))], 2, "integers"),
    ("solve-shape-wrong-size", lambda w: ["solve", w.linear, "--system", w.system(matrix=laplacian((4, 4)),
                                                                                   shape=(3, 3))], 2, "expected 9"),
    ("solve-nan-matrix", lambda w: ["solve", w.linear, "--system", w.system(
        matrix=laplacian((4, 4)).multiply(np.where(np.eye(N), np.nan, 1.0)))], 2, "non-finite"),
    ("solve-inf-b", lambda w: ["solve", w.linear, "--system", w.system(b=np.r_[np.inf, np.ones(N - 1)])], 2,
     "non-finite"),
    ("solve-zero-matrix", lambda w: ["solve", w.linear, "--system", w.system(matrix=sp.csr_matrix((N, N)))], 2,
     "no unknowns"),
    ("solve-negative-definite", lambda w: ["solve", w.linear, "--system", w.system(matrix=-laplacian((4, 4)))], 2,
     "negative diagonal"),
    ("solve-not-symmetric", lambda w: ["solve", w.linear, "--system", w.system(
        matrix=laplacian((4, 4)) + sp.eye(N, k=1))], 2, "not symmetric"),
    ("solve-dense-not-square", lambda w: ["solve", w.linear, "--system", w.system(
        drop=("format", "shape", "data", "indices", "indptr"), A=np.eye(N)[:, :-1])], 2, "expected 16x16"),
    ("solve-dense-3d", lambda w: ["solve", w.linear, "--system", w.system(
        drop=("format", "shape", "data", "indices", "indptr"), A=np.zeros((N, N, 1)))], 2, "2-D array"),
    ("solve-b-wrong-size", lambda w: ["solve", w.linear, "--system", w.system(b=np.ones(N + 1))], 2, "17 entries"),
    ("solve-rtol-zero", lambda w: ["solve", w.linear, "--system", w.system(), "--rtol", "0"], 2, "--rtol"),
    ("solve-rtol-negative", lambda w: ["solve", w.linear, "--system", w.system(), "--rtol", "-1e-3"], 2, "--rtol"),
    ("solve-rtol-inf", lambda w: ["solve", w.linear, "--system", w.system(), "--rtol", "inf"], 2, "--rtol"),
    ("solve-rtol-nan", lambda w: ["solve", w.linear, "--system", w.system(), "--rtol", "nan"], 2, "--rtol"),
    ("solve-on-operator-run", lambda w: ["solve", w.run, "--system", w.system()], 2, "not a linear solver"),
    # --- the command line itself: one line, like every other error
    ("no-such-command", lambda w: ["trian"], 2, "No such command"),
    ("missing-run-argument", lambda w: ["rollout"], 2, "Missing argument"),
    ("missing-system-option", lambda w: ["solve", w.linear], 2, "--system"),
    ("missing-out-option", lambda w: ["export", w.run], 2, "--out"),
    ("unknown-option", lambda w: ["train", w.case(), "--colour", "red"], 2, "No such option"),
    ("steps-zero", lambda w: ["rollout", w.run, "--steps", "0"], 2, "--steps"),
    ("steps-not-a-number", lambda w: ["rollout", w.run, "--steps", "many"], 2, "--steps"),
    ("max-iter-zero", lambda w: ["solve", w.linear, "--system", w.system(), "--max-iter", "0"], 2, "--max-iter"),
    ("resolution-too-small", lambda w: ["rollout", w.run, "--resolution", "2"], 2, "--resolution"),
    ("extra-argument", lambda w: ["rollout", w.run, "surplus"], 2, "unexpected extra argument"),
    ("unknown-device", lambda w: ["train", w.case(), "--device", "tpu"], 2, "unknown device"),
    ("meta-device", lambda w: ["rollout", w.run, "--device", "meta"], 2, "unknown device"),
    ("flag-with-value", lambda w: ["train", w.case(), "--no-rollout=yes"], 2, "--no-rollout"),
]


def _tree(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``roots`` with its size and modification time."""
    out = {}
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                st = path.stat()
                out[str(path)] = (st.st_size, st.st_mtime_ns)
    return out


def assert_one_line(result, code: int, words: str = "") -> str:
    """Exit ``code``, exactly one line on stderr (containing ``words``), nothing on stdout, no traceback."""
    message = result.stderr.strip()
    assert result.exit_code == code, (result.exit_code, message, result.stdout)
    assert len(message.splitlines()) == 1, message
    assert result.stdout == "", result.stdout
    assert "Traceback" not in message and "weights_only=False" not in message and "allow_pickle" not in message
    assert words.lower() in message.lower(), message
    return message


def test_the_list_is_long_and_distinct():
    ids = [entry[0] for entry in BAD_INPUTS]
    assert len(set(ids)) == len(ids)
    assert len(ids) + len(BAD_CASES) >= 60
    text = " ".join(str(entry[1].__code__.co_consts) for entry in BAD_INPUTS)
    for command in ("train", "generate", "rollout", "compare", "export", "solve"):
        assert f"'{command}'" in text, command


@pytest.mark.parametrize(("args", "code", "words"), [pytest.param(*e[1:], id=e[0]) for e in BAD_INPUTS])
def test_bad_input(shared, tmp_path, args, code, words):
    w = World(tmp_path, shared)
    argv = args(w)
    before = _tree(tmp_path, shared)
    result = runner.invoke(app, argv)
    assert_one_line(result, code, words)
    assert _tree(tmp_path, shared) == before, "a refused command wrote or changed files"
    assert not (tmp_path / "PWNED").exists()


def test_usage_errors_are_one_line_from_python_m_too(tmp_path):
    """``python -m pdesolve`` runs the same group: usage errors are one line, help is typer's."""
    env = {**os.environ, "PDESOLVE_PROGRESS": "0"}
    bad = subprocess.run([sys.executable, "-m", "pdesolve", "rollout", "--steps", "0", str(tmp_path)],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert bad.returncode == 2 and bad.stdout == "" and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert bad.stderr.startswith("error: pdesolve rollout:")
    ok = subprocess.run([sys.executable, "-m", "pdesolve", "--help"], capture_output=True, text=True, env=env)
    assert ok.returncode == 0 and "rollout" in ok.stdout


def test_help_and_no_arguments_still_show_help():
    assert runner.invoke(app, ["rollout", "--help"]).exit_code == 0
    bare = runner.invoke(app, [])
    assert bare.exit_code == 0 and "Usage" in bare.stdout


# ----------------------------------------------------------------- failures while running
def test_a_breakdown_is_exit_1_and_writes_no_solution(shared, tmp_path):
    """An indefinite matrix with a positive diagonal passes validation; the iteration breaks down
    on it (a direction with d.Ad < 0): exit 1, its reason, no solution file."""
    from pdesolve.backends import Solver
    from pdesolve.numerics.grid_systems import GridSystem

    solver = Solver.load(shared / "linear" / "best.pt")
    b = np.ones(N)
    q = solver.prepare(GridSystem.from_matrix(laplacian((4, 4)), (4, 4)))(torch.as_tensor(b)).numpy()
    q /= np.linalg.norm(q)
    beta = 2.0 / (1.0 - np.sum(q**4))
    a = np.eye(N) - beta * (np.outer(q, q) - np.diag(q**2))  # unit diagonal, q.A q = 1 - beta (1 - sum q^4) < 0
    system = World(tmp_path, shared).system(matrix=a, b=b)
    result = runner.invoke(app, ["solve", str(shared / "linear"), "--system", system])
    assert_one_line(result, 1, "broke down")
    assert not list(tmp_path.glob("*.nc"))


def test_the_good_system_solves(shared, tmp_path):
    """The baseline of the solve list: the Laplacian the bad inputs spoil solves."""
    system = World(tmp_path, shared).system()
    result = runner.invoke(app, ["solve", str(shared / "linear"), "--system", system, "--rtol", "1e-6"])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "system.solution.nc").is_file()


def test_nan_after_a_good_epoch_stops_and_keeps_the_summary(shared, tmp_path, monkeypatch):
    """The loss turns NaN in epoch 1 (after a good epoch 0): training stops with one line and exit
    1, best.pt holds the last good model, summary.json the fit; no test, no rollout."""
    from pdesolve.metrics import LOSSES

    real, calls = LOSSES["relative_l2"], {"n": 0}

    def diverging(pred, target):
        calls["n"] += 1
        loss = real(pred, target)
        return loss if calls["n"] == 1 else loss * float("nan")

    monkeypatch.setitem(LOSSES, "relative_l2", diverging)
    w = World(tmp_path, shared)
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", w.case("train.epochs=3", "train.batch_size=1000"), "--run-dir", str(run),
                                 "--device", "cpu"])
    message = assert_one_line(result, 1, "non-finite")
    assert str(run / "best.pt") in message
    summary = json.loads((run / "summary.json").read_text())
    assert summary["fit"]["stopped"] == "non-finite loss" and summary["fit"]["epochs"] == 1
    assert summary["test"] == {} and summary["rollout"] is None
    assert "clamped" in summary["fit"]["notes"][0]
    assert not (run / "rollout.nc").exists()
    from pdesolve.engines.runs import RunDir

    assert RunDir.open(run).load_solver() is not None


def test_batch_size_larger_than_the_training_set_is_clamped_with_a_note(shared, tmp_path):
    w = World(tmp_path, shared)
    result = runner.invoke(app, ["train", w.case("train.epochs=1", "train.batch_size=1000"), "--run-dir",
                                 str(tmp_path / "run"), "--device", "cpu", "--no-rollout"])
    assert result.exit_code == 0, result.stderr
    assert "clamped" in result.stdout and "1000" in result.stdout


def test_zero_epochs_keep_the_initialised_model(shared, tmp_path):
    """``train.epochs: 0`` trains nothing: the run holds the initialised model, tested as such."""
    w = World(tmp_path, shared)
    result = runner.invoke(app, ["train", w.case("train.epochs=0"), "--run-dir", str(tmp_path / "run"),
                                 "--device", "cpu", "--no-rollout"])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "run" / "best.pt").is_file()
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["fit"]["epochs"] == 0


# --------------------------------------------------------------------------- state on disk
def _kill_when_stalled(script: str, cwd: Path) -> None:
    """Run ``script`` in a subprocess until it prints STALLED (a temporary file is open), then SIGKILL it."""
    env = {**os.environ, "PDESOLVE_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=cwd, env=env)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "STALLED", (line, proc.stderr.read() if proc.poll() is not None else "")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def test_kill_during_an_atomic_write_leaves_the_old_file_and_the_next_write_cleans_up(tmp_path):
    from pdesolve.data.netcdf import atomic_replace

    target = tmp_path / "table.json"
    target.write_text("old")
    _kill_when_stalled(f"""
        import time
        from pathlib import Path
        from pdesolve.data.netcdf import atomic_replace
        def write(tmp):
            tmp.write_text("half")
            print("STALLED", flush=True)
            time.sleep(600)
        atomic_replace(Path({str(target)!r}), write)
    """, tmp_path)
    assert target.read_text() == "old"
    assert len(list(tmp_path.glob(".table.json.*.tmp"))) == 1
    atomic_replace(target, lambda tmp: tmp.write_text("new"))
    assert target.read_text() == "new"
    assert not list(tmp_path.glob(".*.tmp"))


def test_temporaries_of_live_writers_are_kept(tmp_path):
    """A concurrent writer's temporary (its process alive) is not a stale one."""
    from pdesolve.data.netcdf import atomic_replace

    live = tmp_path / f".data.nc.{os.getpid()}-abc123.tmp"
    live.write_text("being written")
    atomic_replace(tmp_path / "data.nc", lambda tmp: tmp.write_text("x"))
    assert live.exists()


def test_atomic_writes_follow_the_umask(tmp_path):
    from pdesolve.data.netcdf import UMASK, atomic_replace

    new = atomic_replace(tmp_path / "new.txt", lambda tmp: tmp.write_text("x"))
    assert new.stat().st_mode & 0o777 == 0o666 & ~UMASK
    new.chmod(0o640)
    atomic_replace(new, lambda tmp: tmp.write_text("y"))
    assert new.stat().st_mode & 0o777 == 0o640


def test_kill_during_the_first_best_checkpoint_write_then_resume(shared, tmp_path):
    """SIGKILL while the first best.pt is a temporary (checkpoint.pt of epoch 0 written): resume removes
    the temporary, restores best.pt from the checkpoint, logs every epoch once and finishes."""
    case = World(tmp_path, shared).case("train.epochs=2")
    run = tmp_path / "run"
    _kill_when_stalled(f"""
        import time
        import torch
        from pdesolve.config import load_case
        from pdesolve.data.netcdf import atomic_replace
        from pdesolve.engines.runs import RunDir
        from pdesolve.engines.train import train_case
        original = RunDir.save_checkpoint
        def save_checkpoint(self, state, path):
            if path.name != "best.pt":
                return original(self, state, path)
            def stall(tmp):
                torch.save(state, tmp)
                print("STALLED", flush=True)
                time.sleep(600)
            return atomic_replace(path, stall)
        RunDir.save_checkpoint = save_checkpoint
        train_case(load_case({case!r}), run_dir={str(run)!r}, device="cpu", rollout=False)
    """, tmp_path)
    assert list(run.glob(".best.pt.*.tmp")) and not (run / "best.pt").exists()
    result = runner.invoke(app, ["train", "--resume", str(run), "--device", "cpu", "--no-rollout"])
    assert result.exit_code == 0, result.stderr
    assert not list(run.glob(".*.tmp")) and (run / "best.pt").is_file()
    assert [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [0, 1]


def test_a_kill_between_the_metrics_record_and_the_checkpoint_logs_each_epoch_once(shared, tmp_path, monkeypatch):
    """Stopped after epoch 1's metrics record, before its checkpoint.pt is in place: the resumed run
    cuts metrics.jsonl back to what checkpoint.pt (epoch 0) had seen and redoes epoch 1 once."""
    from pdesolve.config import load_case
    from pdesolve.engines.runs import RunDir
    from pdesolve.engines.train import train_case

    case = World(tmp_path, shared).case("train.epochs=3")
    run = tmp_path / "run"
    original, writes = RunDir.save_checkpoint, {"n": 0}

    def killed_on_the_second_checkpoint(self, state, path):
        if path.name == "checkpoint.pt":
            writes["n"] += 1
            if writes["n"] == 2:
                raise KeyboardInterrupt
        return original(self, state, path)

    monkeypatch.setattr(RunDir, "save_checkpoint", killed_on_the_second_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        train_case(load_case(case), run_dir=run, device="cpu", rollout=False)
    monkeypatch.setattr(RunDir, "save_checkpoint", original)
    assert [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [0, 1]
    result = runner.invoke(app, ["train", "--resume", str(run), "--device", "cpu", "--no-rollout"])
    assert result.exit_code == 0, result.stderr
    assert [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [0, 1, 2]


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_damaged_cached_data_file_is_regenerated(shared, tmp_path, damage):
    from pdesolve.config import load_case
    from pdesolve.engines.data import cached_path

    w = World(tmp_path, shared)
    case = w.case(f"data.cache_dir={tmp_path / 'cache'}")
    cached = cached_path(load_case(case))
    cached.parent.mkdir()
    good = cached_path(load_case(w.case(name="shared.yaml"))).read_bytes()
    cached.write_bytes(good[: len(good) // 2] if damage == "truncate" else b"\x00garbage" * 100)
    result = runner.invoke(app, ["generate", case])
    assert result.exit_code == 0, result.stderr
    assert "regenerating" in result.stdout
    assert cached.read_bytes() != b"" and runner.invoke(app, ["generate", case]).exit_code == 0
