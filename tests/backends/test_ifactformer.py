"""IFactFormer-m / -o: shapes in 1-D/2-D/3-D, the axial kernel products against FactFormer's
einsum formulas, parallel (-m) against chained (-o), the implicit loop's weight sharing, rotary and
Gaussian Fourier encodings, persistence, the rollout stability guard, a tiny Kolmogorov run through
train and compare (with an FNO run beside it), the shipped cases."""

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from pdesolve.cli.app import app
from typer.testing import CliRunner

from pdesolve.backends import Solver, get_backend
from pdesolve.backends.ifactformer import IFactFormerSolver
from pdesolve.config import load_case
from pdesolve.data import Grid
from pdesolve.engines.compare import compare_run
from pdesolve.engines.rollout import predict_trajectory
from pdesolve.engines.train import train_case
from pdesolve.errors import UserError
from pdesolve.models.ifactformer import IFactFormer
from pdesolve.nn.embeddings import GaussianFourierEncoding, axis_angles
from pdesolve.nn.factorized_attention import (
    FactorizedAttention,
    RotaryEncoding,
    apply_along,
    chained,
    instance_norm,
    parallel,
)
from tests.helpers import write_case

CASES = Path(__file__).resolve().parents[2] / "cases"


def tiny_net(ndim, variant="m", layers=3, window=2, channels=2):
    return IFactFormer(window, channels, channels, ndim, dim=8, heads=2, dim_head=4, kernel_multiplier=2,
                       layers=layers, variant=variant)


@pytest.mark.parametrize("variant", ["m", "o"])
@pytest.mark.parametrize("shape", [(12,), (8, 6), (6, 5, 4)])
def test_shapes_any_dimension_and_both_variants(shape, variant):
    net = tiny_net(len(shape), variant)
    y = net(torch.randn(3, 2 * 2, *shape))
    assert y.shape == (3, 2, *shape)
    mode = "parallel" if variant == "m" else "chained"
    block = FactorizedAttention(len(shape), 8, heads=2, dim_head=4, mode=mode)
    u = torch.randn(3, *shape, 8)
    assert block(u, axis_angles(shape, (False,) * len(shape))).shape == u.shape


def test_axial_products_match_factformer_einsums():
    """Chained = FactFormer's 3-D chain of einsums; parallel = the same products, each on V, concatenated."""
    torch.manual_seed(0)
    b, h, (nx, ny, nz), c = 2, 3, (4, 5, 6), 2
    kx, ky, kz = torch.randn(b, h, nx, nx), torch.randn(b, h, ny, ny), torch.randn(b, h, nz, nz)
    v = torch.randn(b, h, nx, ny, nz, c)
    ex = torch.einsum("bhij,bhjmsc->bhimsc", kx, v)
    ey = torch.einsum("bhlm,bhimsc->bhilsc", ky, v)
    ez = torch.einsum("bhrs,bhilsc->bhilrc", kz, v)
    assert torch.allclose(apply_along(kx, v, 0), ex, atol=1e-5)
    assert torch.allclose(apply_along(ky, v, 1), ey, atol=1e-5)
    assert torch.allclose(apply_along(kz, v, 2), ez, atol=1e-5)
    chain = torch.einsum("bhrs,bhilsc->bhilrc", kz,
                         torch.einsum("bhlm,bhimsc->bhilsc", ky, torch.einsum("bhij,bhjmsc->bhimsc", kx, v)))
    assert torch.allclose(chained([kx, ky, kz], v), chain, atol=1e-4)
    assert torch.allclose(parallel([kx, ky, kz], v), torch.cat([ex, ey, ez], dim=-1), atol=1e-5)


def test_m_against_o_on_a_tiny_input():
    """Same weights for everything but the output projection: -m sees each axial transform of V
    separately (a d x wider projection input), -o only their composition. With identity kernels
    -o returns V and -m returns V repeated per axis; in general the two differ."""
    torch.manual_seed(0)
    v = torch.randn(1, 2, 4, 3, 5)
    eye = [torch.eye(n).expand(1, 2, n, n) for n in (4, 3)]
    assert torch.equal(chained(eye, v), v)
    assert torch.equal(parallel(eye, v), torch.cat([v, v], dim=-1))
    m, o = tiny_net(2, "m"), tiny_net(2, "o")
    assert m.block.to_out[0].in_features == 2 * o.block.to_out[0].in_features
    shared = {k: w for k, w in m.state_dict().items() if not k.startswith("block.to_out.0")}
    o.load_state_dict(shared, strict=False)
    x = torch.randn(2, 4, 6, 5)
    assert torch.equal(m.encode(x), o.encode(x))  # identical lifting and positional encoding
    assert not torch.allclose(m(x), o(x))
    for a, b in zip(m.block.axial_kernels(m.block.in_norm(m.encode(x)), axis_angles((6, 5), (False, False))),
                    o.block.axial_kernels(o.block.in_norm(o.encode(x)), axis_angles((6, 5), (False, False))),
                    strict=True):
        assert torch.equal(a, b)  # the kernels are the same: only how they combine differs


def test_implicit_loop_shares_one_block():
    """L applications of one block: parameters do not grow with L, the forward pass is
    u <- u + FA(u) / L with the same module every time."""
    torch.manual_seed(0)
    shallow, deep = tiny_net(2, layers=1), tiny_net(2, layers=7)
    n_params = lambda net: sum(p.numel() for p in net.parameters())  # noqa: E731
    assert n_params(shallow) == n_params(deep)
    deep.load_state_dict(shallow.state_dict())
    x = torch.randn(2, 4, 6, 5)
    calls = []
    deep.block.register_forward_hook(lambda mod, args, out: calls.append(mod))
    y = deep(x)
    assert len(calls) == 7 and all(c is deep.block for c in calls)
    coords = axis_angles((6, 5), (False, False))
    u = deep.encode(x)
    for _ in range(7):
        u = u + deep.block(u, coords) / 7
    assert torch.allclose(y, deep.head(u).movedim(-1, 1), atol=1e-6)
    assert not torch.allclose(y, shallow(x))  # same weights, different depth


def test_instance_norm_normalises_each_channel_over_the_grid():
    z = torch.randn(2, 3, 50, 4) * 7 + 3
    out = instance_norm(z)
    assert torch.allclose(out.mean(2), torch.zeros(2, 3, 4), atol=1e-5)
    assert torch.allclose(out.var(2, correction=0), torch.ones(2, 3, 4), atol=1e-3)


def test_rotary_kernel_depends_on_coordinate_differences():
    torch.manual_seed(0)
    rot = RotaryEncoding(8)
    q, k = torch.randn(5, 8), torch.randn(5, 8)
    x = torch.linspace(0, 3, 5)
    scores = rot(q, x) @ rot(k, x).T
    shifted = rot(q, x + 0.7) @ rot(k, x + 0.7).T
    assert torch.allclose(scores, shifted, atol=1e-4)
    assert not torch.allclose(scores, q @ k.T)


def test_gaussian_fourier_encoding():
    torch.manual_seed(0)
    enc = GaussianFourierEncoding(2, 6, scale=3.0)
    feats = enc((8, 4))
    assert feats.shape == (8, 4, 6) and feats.abs().max() <= 1
    assert torch.allclose(feats[..., :3] ** 2 + feats[..., 3:] ** 2, torch.ones(8, 4, 3), atol=1e-6)
    assert "frequencies" in enc.state_dict()  # fixed random draw, saved with the model
    x = torch.tensor([0.0, 0.25])  # the point (2, 1) of the 8 x 4 grid: coordinates / L
    phase = 2 * torch.pi * x @ enc.frequencies
    expected = torch.cat([torch.sin(phase), torch.cos(phase)])
    assert torch.allclose(enc((8, 4))[0, 1], expected, atol=1e-5)
    with pytest.raises(ValueError):
        GaussianFourierEncoding(2, 5)


def test_options_and_persistence():
    with pytest.raises(UserError, match="dim"):
        get_backend("ifactformer", dim=7)
    solver = get_backend("ifactformer", variant="o", dim=8, heads=2, dim_head=4, layers=2, window=2)
    assert isinstance(solver, IFactFormerSolver) and solver.label == "ifactformer-o"
    solver.setup = {"problem": "toy", "task": "trajectory", "inputs": ["u"], "outputs": ["u"], "window": 2,
                    "increment": True, "grid": Grid.uniform(2, 6, length=1.0).to_json()}
    solver.build(solver.setup)
    state = solver.state_dict()
    json.loads(state["options"])
    again = Solver.from_state_dict(state)
    x = torch.randn(3, 2, 1, 6, 6)
    assert torch.equal(again.predict(x), solver.predict(x))


def test_rollout_stops_on_non_finite_output_with_a_clear_message():
    """A model whose increments overflow float32 after three steps: the rollout keeps three frames
    and says why it stopped; one that is non-finite at once is an error naming the step."""
    solver = get_backend("ifactformer", dim=8, heads=2, dim_head=4, layers=2, window=2)
    solver.setup = {"problem": "toy", "task": "trajectory", "inputs": ["u"], "outputs": ["u"], "window": 2,
                    "increment": True, "grid": Grid.uniform(2, 6, length=1.0).to_json()}
    solver.build(solver.setup)
    with torch.no_grad():
        solver.model.in_norm.std.fill_(1e38)    # inputs up to 3e38 stay O(1) inside the network
        solver.model.out_norm.mean.fill_(1e38)  # each step adds ~1e38: inf at step 4
    traj = predict_trajectory(solver.predict, torch.zeros(2, 2, 1, 6, 6), steps=10)
    assert traj.frames.shape[1] == 3
    assert traj.stopped == "non-finite prediction at step 4"
    with torch.no_grad():
        solver.model.out_norm.std.fill_(float("nan"))
    with pytest.raises(UserError, match="no usable step.*non-finite prediction at step 1"):
        predict_trajectory(solver.predict, torch.zeros(2, 2, 1, 6, 6), steps=10)


TINY_KOLMOGOROV = {
    "name": "tiny_kolmogorov",
    "problem": {"name": "kolmogorov_2d", "resolution": 32, "spin_up": 0.4, "t_end": 2.0,
                "snapshot_interval": 0.2, "dt": 0.01},
    "data": {"n_train": 3, "n_val": 1, "n_test": 1, "resolution": 16, "seed": 0},
    "backend": {"name": "ifactformer", "window": 3, "dim": 8, "heads": 2, "dim_head": 4, "layers": 2},
    "train": {"epochs": 2, "batch_size": 8, "lr": 2e-3, "seed": 0},
    "rollout": {"steps": 6},
    "compare": {"baselines": ["smagorinsky"]},
    "output": {"figures": False},
}


def test_tiny_kolmogorov_train_then_compare_with_an_fno_run(tmp_path):
    """Train IFactFormer-m and an FNO on the same data, then `pdesolve compare RUN --model FNO_RUN`: both
    models and the LES start from the same fields, each row carries the turbulence statistics."""
    m = train_case(load_case(write_case(tmp_path, TINY_KOLMOGOROV)), device="cpu", rollout=False)
    history = m.fit.history
    assert len(history) == 2 and history[-1]["train_loss"] < history[0]["train_loss"]
    fno_backend = {"name": "fno", "window": 3, "predict_increment": True, "modes": 4, "width": 8, "layers": 2,
                   "projection_channels": 8}
    fno_case = {**TINY_KOLMOGOROV, "backend": fno_backend}
    fno = train_case(load_case(write_case(tmp_path, fno_case, "fno.yaml")), device="cpu", rollout=False)
    result = CliRunner().invoke(app, ["compare", str(m.run_dir), "--model", str(fno.run_dir),
                                      "--device", "cpu"])
    assert result.exit_code == 0, result.output
    rows = {r["method"]: r for r in json.loads((m.run_dir / "compare" / "table.json").read_text())["rows"]}
    assert list(rows) == ["ifactformer-m", "fno", "smagorinsky"]
    for row in rows.values():
        assert 0 < row["rel_l2"] < 10 and "velocity_spectrum_log_err" in row and "vorticity_pdf_l1" in row
    with pytest.raises(UserError, match="distinct labels"):
        compare_run(m.run_dir, device="cpu", models=[m.run_dir])
    other = tmp_path / "other-run"  # the FNO run, as if trained on data of another seed
    shutil.copytree(fno.run_dir, other)
    case = yaml.safe_load((other / "case.yaml").read_text())
    case["data"]["seed"] = 1
    (other / "case.yaml").write_text(yaml.safe_dump(case))
    with pytest.raises(UserError, match="other data"):
        compare_run(m.run_dir, device="cpu", models=[other])


@pytest.mark.parametrize("name", ["hit_3d_ifactformer", "kolmogorov_2d_ifactformer"])
def test_shipped_cases_resolve(name):
    resolved = load_case(CASES / f"{name}.yaml", ["train.epochs=0"])
    assert resolved.backend_cls is IFactFormerSolver
    assert resolved.backend_options.variant == "m" and resolved.backend_options.window == 5
    assert {"smagorinsky", "dsm"} <= set(resolved.case.compare.baselines)
