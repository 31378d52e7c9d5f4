"""Models apart from backends: every size preset builds and runs, presets resolve as documented
(explicit fields win, the resolved case keeps name and sizes), unknown presets are one-line errors,
and models never import backends."""

import ast
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from pdesolve.cli.app import app
from typer.testing import CliRunner

from pdesolve.backends import PresetOptions, Solver, get_backend, list_backends
from pdesolve.backends.um2n import MeshGraph, collate
from pdesolve.config import load_case
from pdesolve.data import Grid
from pdesolve.errors import UserError
from pdesolve.models import dcdm, enf2enf, fno, ifactformer, lsm, tfno, um2n
from pdesolve.numerics.meshing import mesh_with_holes, rectangle
from tests.helpers import TINY_NS, write_case

ROOT = Path(__file__).resolve().parents[1]
OPERATORS = {"fno": (1, 1), "tfno": (1, 1), "mg-tfno": (1, 1), "lsm": (1, 1), "ifactformer": (2, 3)}
# parameter counts stated in the papers' code and our docs (docs/backends/*.md)
STATED = {
    ("dcdm-paper-64", "3-D"): 97_457,       # the Keras N = 64 model
    ("dcdm-paper-128", "3-D"): 152_881,     # the N = 128 layout of the code, by our count
    ("um2n-paper", "monitor"): 1_839_103,   # the released M2N_T, 1.84 M
    ("um2n-small", "3 inputs"): 142_691,    # helmholtz_um2n, 0.14 M
    ("fno-paper-darcy", "1 -> 1, 2-D"): 2_368_001,  # dense FNO of the neuraloperator comparison
    ("tfno-small", "1 -> 1, 2-D"): 256_961,         # TFNO Tucker 0.1 of the same comparison
}


# sha1 of the sorted ``key:shape`` state-dict layout of every backend's model at its default options
# on the tiny setups of `layout_setup`, as before the networks moved to pdesolve/models: a change
# means checkpoints (best.pt) written before it no longer load
STATE_LAYOUTS = {
    "dcdm": "81dec5db7dce84ab", "enf2enf": "876f06d7b24e66c6", "fno": "b59d13a79fee3b69",
    "gp-spectral": "73aae62e3a9102b6", "ifactformer": "24b7bae6b0682098", "insr": "7a29df7d8170eeae",
    "lsm": "b82492ab6d17c329", "mg-tfno": "256d885fd8571264", "pinn": "b3a88efdc790d5f7",
    "tfno": "0f26960c370b2bdc", "um2n": "a56beba88f86573b",
}


def real_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in module.parameters())


def presets_by_backend():
    for name, cls in list_backends().items():
        if issubclass(cls.Options, PresetOptions):
            for preset in cls.Options.presets:
                yield name, preset


def fno_parameters(size, in_channels: int, out_channels: int, ndim: int) -> int:
    """Real parameters of a dense `FNO` with positional embedding, from its sizes."""
    w, m, p = size.width, size.modes, size.projection_channels
    spectral = 2 * w * w * (2 * m) ** (ndim - 1) * m  # complex weights (in, out, 2m, ..., m)
    return ((in_channels + ndim) * w + w + size.layers * (spectral + w * w + w)
            + w * p + p + p * out_channels + out_channels)


def forward(solver: Solver) -> torch.Tensor:
    """Build ``solver``'s model on a tiny problem layout and run one forward pass."""
    torch.manual_seed(0)
    if solver.name in OPERATORS:
        window, channels = OPERATORS[solver.name]
        grid = Grid.uniform(2, 16)
        solver.setup = {"grid": grid.to_json(), "inputs": [f"c{i}" for i in range(channels)],
                        "outputs": [f"c{i}" for i in range(channels)], "window": window, "increment": False}
        solver.build(solver.setup)
        return solver.modules()(torch.randn(2, window, channels, *grid.shape))
    if solver.name == "dcdm":
        solver.build({"ndim": 2})
        return solver.modules()(torch.randn(2, 1, 12, 10))
    if solver.name == "um2n":
        solver.build({"inputs": ["monitor"]})
        mesh = mesh_with_holes(rectangle(0, 0, 1, 1), [], 0.3)
        graph = MeshGraph.from_mesh(mesh, np.random.default_rng(0).uniform(0.1, 1, (mesh.n_nodes, 1)))
        return solver.modules()(collate([graph], "cpu")[0])
    if solver.name == "enf2enf":
        solver.build({"inputs": ["sdf"], "outputs": ["u", "v"]})
        m = solver.modules()
        x, a = torch.rand(2, 30, 2) * 2 - 1, torch.randn(2, 30, 1)
        mask = torch.ones(2, 30, dtype=torch.bool)
        poses = m.sample_poses(x, mask)
        weight = torch.full((2, 1, 30), 1 / 30)
        contexts = m.autodecode(x[:, None], a[:, None], weight, poses, 2, create_graph=False)
        return m.decode(x, a, poses, contexts)
    raise AssertionError(f"no tiny input for backend {solver.name}")


@pytest.mark.parametrize(("backend", "preset"), list(presets_by_backend()), ids=lambda v: getattr(v, "name", v))
def test_every_preset_builds_a_model_of_its_sizes(backend, preset):
    solver = get_backend(backend, preset=preset.name)
    assert {k: getattr(solver.options, k) for k in preset.sizes()} == {
        k: tuple(v) if isinstance(v, list) else v for k, v in preset.sizes().items()}
    out = forward(solver)
    assert torch.isfinite(out).all()
    if backend == "fno":  # the count follows from the sizes alone
        assert real_parameters(solver.modules().network) == fno_parameters(preset.size, 1, 1, 2)


def layout_setup(solver: Solver) -> dict:
    if solver.name in OPERATORS:
        return {"grid": Grid.uniform(2, 16).to_json(), "inputs": ["a", "b"], "outputs": ["a", "b"],
                "window": 2, "increment": False}
    if solver.name in ("pinn", "gp-spectral"):
        problem = load_case("poisson_2d_gp").problem
        return solver.setup_for(problem, problem.grid(12))
    if solver.name == "insr":
        return solver.initial_setup(load_case("insr_taylor_green_2d").problem)
    return {"dcdm": {"ndim": 3}, "um2n": {"inputs": ["monitor", "solution"]},
            "enf2enf": {"inputs": ["sdf"], "outputs": ["u", "v"]}}[solver.name]


@pytest.mark.parametrize("backend", list(list_backends()))
def test_state_dict_layout_is_unchanged(backend):
    solver = get_backend(backend)
    solver.setup = layout_setup(solver)
    solver.build(solver.setup)
    text = "\n".join(f"{k}:{tuple(v.shape)}" for k, v in sorted(solver.modules().state_dict().items()))
    assert hashlib.sha1(text.encode()).hexdigest()[:16] == STATE_LAYOUTS[backend], (
        f"the state-dict layout of '{backend}' changed (old checkpoints would not load):\n{text}")


def test_fno_preset_parameter_counts_follow_from_the_sizes():
    for preset in fno.PRESETS:
        for ndim in (1, 2):
            net = fno.FNO(3, 2, (preset.size.modes,) * ndim, preset.size.width, preset.size.layers,
                          preset.size.projection_channels)
            assert real_parameters(net) == fno_parameters(preset.size, 3, 2, ndim), (preset.name, ndim)


def test_stated_parameter_counts():
    counts = {
        ("dcdm-paper-64", "3-D"): dcdm.DCDMNet(3, **dcdm.PRESETS.get("dcdm-paper-64").sizes()),
        ("dcdm-paper-128", "3-D"): dcdm.DCDMNet(3, **dcdm.PRESETS.get("dcdm-paper-128").sizes()),
        ("um2n-paper", "monitor"): um2n.UM2NNetwork(1, **um2n.PRESETS.get("um2n-paper").sizes()),
        ("um2n-small", "3 inputs"): um2n.UM2NNetwork(3, **um2n.PRESETS.get("um2n-small").sizes()),
    }
    darcy = fno.PRESETS.get("fno-paper-darcy").size
    counts[("fno-paper-darcy", "1 -> 1, 2-D")] = fno.FNO(1, 1, (darcy.modes,) * 2, darcy.width, darcy.layers,
                                                          darcy.projection_channels)
    small = tfno.PRESETS.get("tfno-small").size
    counts[("tfno-small", "1 -> 1, 2-D")] = tfno.TFNO(1, 1, (small.modes,) * 2, small.width, small.layers,
                                                      projection_channels=small.projection_channels,
                                                      rank=small.rank)
    assert {k: real_parameters(v) for k, v in counts.items()} == STATED


def test_every_family_has_presets_of_its_own_fields():
    for table in (fno.PRESETS, tfno.PRESETS, lsm.PRESETS, ifactformer.PRESETS, dcdm.PRESETS, um2n.PRESETS,
                  enf2enf.PRESETS):
        assert len(table) >= 2
        for preset in table:
            assert preset.name.startswith(f"{table.family}-") and preset.source
            assert tuple(preset.sizes()) == table.fields


def test_preset_fills_only_the_fields_the_case_does_not_set(tmp_path):
    case = {**TINY_NS, "backend": {"name": "fno", "window": 2, "preset": "fno-paper-ns", "width": 8}}
    resolved = load_case(write_case(tmp_path, case))
    backend = resolved.case.backend
    assert backend["preset"] == "fno-paper-ns"
    assert backend["width"] == 8  # explicit wins
    assert (backend["modes"], backend["layers"], backend["projection_channels"]) == (12, 4, 128)  # the preset's
    # the resolved case.yaml of a run holds name and sizes and rebuilds the same options
    again = tmp_path / "resolved.yaml"
    again.write_text(resolved.to_yaml())
    assert load_case(again).backend_options == resolved.backend_options
    # and so does a checkpoint
    solver = resolved.make_solver()
    solver.setup = solver.setup_for(resolved.problem, resolved.problem.data_grid(16))
    solver.build(solver.setup)
    rebuilt = Solver.from_state_dict(solver.state_dict())
    assert rebuilt.options == solver.options and rebuilt.options.width == 8


def test_override_from_the_command_line_beats_the_cases_preset():
    resolved = load_case("quickstart", ["backend.width=24"])
    assert resolved.case.backend["preset"] == "fno-small"
    assert (resolved.case.backend["width"], resolved.case.backend["modes"]) == (24, 8)


@pytest.mark.parametrize("name", ["quickstart", "helmholtz_um2n", "channel_obstacles_enf2enf"])
def test_shipped_cases_show_the_preset_and_its_sizes(name):
    raw = yaml.safe_load(load_case(name).to_yaml())["backend"]
    preset = list_backends()[raw["name"]].Options.presets.get(raw["preset"])
    explicit = yaml.safe_load((ROOT / "cases" / f"{name}.yaml").read_text())["backend"]
    for key, value in preset.sizes().items():
        assert raw[key] == explicit.get(key, value)


def test_unknown_preset_is_one_line_naming_the_known_ones(tmp_path):
    path = write_case(tmp_path, {**TINY_NS, "backend": {**TINY_NS["backend"], "preset": "fno-huge"}})
    with pytest.raises(UserError) as err:
        load_case(path)
    assert err.value.field == "backend.preset" and err.value.source == str(path)
    for name in fno.PRESETS.names():
        assert name in err.value.message
    result = CliRunner().invoke(app, ["train", str(path), "--device", "cpu", "--no-rollout"])
    message = result.stderr.strip()
    assert result.exit_code == 2 and len(message.splitlines()) == 1
    assert "backend.preset" in message and "unknown preset 'fno-huge'" in message and "Traceback" not in message
    with pytest.raises(UserError, match="backend.preset: unknown preset 'lsm-small'"):
        get_backend("fno", preset="lsm-small")


def test_backend_without_presets_rejects_the_option():
    with pytest.raises(UserError, match="backend.preset: unknown field"):
        get_backend("gp-spectral", preset="gp-small")


def test_cli_lists_presets():
    result = CliRunner().invoke(app, ["backends", "--presets"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for _, preset in presets_by_backend():
        assert preset.name in result.output
    assert "--presets" in CliRunner().invoke(app, ["backends", "--help"]).output


def test_models_import_layers_never_backends():
    for path in (ROOT / "pdesolve" / "models").glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
        imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [m for m in imported if m.startswith(("pdesolve.backends", "pdesolve.engines"))], path.name


def test_one_conv_table():
    """``{1: Conv1d, 2: Conv2d, 3: Conv3d}`` lives in `pdesolve.nn.layers` only."""
    hits = [p for p in (ROOT / "pdesolve").rglob("*.py") if "nn.Conv1d" in p.read_text()]
    assert [p.relative_to(ROOT).as_posix() for p in hits] == ["pdesolve/nn/layers.py"]
