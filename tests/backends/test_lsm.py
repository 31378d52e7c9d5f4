"""LSM: shapes in 1-D/2-D/3-D, padding to patch multiples and back, the spectral block's algebra,
persistence, a tiny overfit, the shipped cases."""

import math
from pathlib import Path

import pytest
import torch

from pdesolve.backends import Solver, get_backend
from pdesolve.config import load_case
from pdesolve.data import Grid
from pdesolve.errors import UserError
from pdesolve.models.lsm import LSM
from pdesolve.nn.latent_spectral import (
    LatentSpectralBlock,
    TrigonometricBasisOperator,
    crop,
    pad_high,
    patch_and_padded_size,
    patchify,
    unpatchify,
)

CASES = Path(__file__).resolve().parents[2] / "cases"


class MapProblem:
    task, name, inputs, outputs = "map", "toy", ("a",), ("u",)


@pytest.mark.parametrize("shape", [(40,), (33, 47), (12, 20, 9)])
def test_shapes_any_dimension_and_odd_sizes(shape):
    net = LSM(3, 2, len(shape), width=8, heads=4, projection_channels=8)
    y = net(torch.randn(2, 3, *shape))
    assert y.shape == (2, 2, *shape)


@pytest.mark.parametrize(("size", "patch", "expected"), [
    (85, None, (6, 96)),     # the paper's Darcy: 421 / 5 -> 85, padding 11, patch 6
    (64, None, (4, 64)),     # the paper's Navier-Stokes: no padding, patch 4
    (221, None, (14, 224)),  # the paper's Airfoil h axis: padding 3, patch 14
    (41, None, (3, 48)),     # Elasticity-G: padding 7, patch 3
    (64, 2, (2, 64)),        # a smaller patch: several patches at the coarsest scale
    (33, 1, (1, 48)),
])
def test_patch_and_padded_size_follow_the_papers_settings(size, patch, expected):
    assert patch_and_padded_size(size, 16, patch) == expected


def test_pad_high_and_crop_round_trip():
    x = torch.randn(2, 3, 85, 51)
    padded = pad_high(x, (96, 64))
    assert padded.shape == (2, 3, 96, 64)
    assert torch.equal(padded[..., :85, :51], x)
    assert padded[..., 85:, :].abs().sum() == 0 and padded[..., 51:].abs().sum() == 0
    assert torch.equal(crop(padded, (85, 51)), x)


def test_model_pads_to_patch_multiples_and_crops_back():
    """Inputs of 33x20 run at 48x32 inside (patch 3x2), output back on 33x20, and the padded
    region never leaks into the output shape; an explicit patch gives the same padded shape rule."""
    net = LSM(1, 1, 2, width=8, heads=4)
    assert net.patch_and_padded_shape((33, 20)) == ((3, 2), (48, 32))
    seen = {}

    def record(name):
        def hook(module, args, out):
            seen[name] = tuple(out.shape)
        return hook

    net.spectral[0].register_forward_hook(record("fine"))
    net.spectral[-1].register_forward_hook(record("coarse"))
    y = net(torch.randn(2, 1, 33, 20))
    assert y.shape == (2, 1, 33, 20)
    assert seen["fine"][-2:] == (48, 32) and seen["coarse"][-2:] == (3, 2)
    explicit = LSM(1, 1, 2, width=8, heads=4, patch=(2, 2))
    assert explicit.patch_and_padded_shape((33, 20)) == ((2, 2), (64, 32))


@pytest.mark.parametrize("shape,patch", [((8, 12), (2, 3)), ((4, 6, 8), (2, 3, 4)), ((10,), (5,))])
def test_patchify_groups_contiguous_blocks_and_inverts(shape, patch):
    x = torch.randn(2, 5, *shape)
    tokens = patchify(x, patch)
    n_patches = math.prod(n // p for n, p in zip(shape, patch, strict=True))
    assert tokens.shape == (2 * n_patches, math.prod(patch), 5)
    first = x[(0, slice(None), *(slice(0, p) for p in patch))]  # the first patch of sample 0
    assert torch.equal(tokens[0], first.reshape(5, -1).T)
    assert torch.equal(unpatchify(tokens, patch, shape), x)


def test_trigonometric_basis_operator_formula():
    torch.manual_seed(0)
    op = TrigonometricBasisOperator(3, num_basis=5)
    t = torch.randn(2, 3, 4)
    expected = t.clone()
    for k in range(5):
        expected += op.weight[:, k, None] * torch.sin(math.pi * k * t / 5)
        expected += op.weight[:, 5 + k, None] * torch.cos(math.pi * k * t / 5)
    assert torch.allclose(op(t), expected, atol=1e-6)


def test_block_encoder_is_unscaled_softmax_over_points():
    torch.manual_seed(0)
    block = LatentSpectralBlock(8, num_basis=4, num_tokens=3, heads=2)
    points = torch.randn(5, 6, 8)
    key, value = block.key_value(points).chunk(2, dim=-1)
    k = key.reshape(5, 6, 2, 4).transpose(1, 2)
    v = value.reshape(5, 6, 2, 4).transpose(1, 2)
    latent = block.latent.expand(5, -1, -1, -1)
    tokens = torch.softmax(latent @ k.transpose(-1, -2), dim=-1) @ v + latent  # no 1/sqrt(d)
    assert torch.allclose(block.encode(points), tokens.transpose(2, 3).reshape(5, 8, 3), atol=1e-6)


def test_block_acts_patch_by_patch():
    """Changing one patch changes the block's output on that patch only."""
    torch.manual_seed(0)
    block = LatentSpectralBlock(8, heads=2)
    x = torch.randn(1, 8, 8, 8)
    x2 = x.clone()
    x2[..., :4, :4] += 1.0
    diff = (block(x2, (4, 4)) - block(x, (4, 4))).abs().sum(dim=1)[0]
    assert diff[:4, :4].min() > 0
    assert diff[4:].max() == 0 and diff[:, 4:].max() == 0


@pytest.mark.slow  # a long verification: pytest -m slow
def test_tiny_overfit():
    """A small LSM fits 4 smooth input -> output pairs to a few percent."""
    torch.manual_seed(0)
    n, s = 4, 16
    xs = torch.linspace(0, 1, s)
    X, Y = torch.meshgrid(xs, xs, indexing="ij")
    phase = torch.rand(n, 1, 1) * 2 * math.pi
    a = torch.sin(2 * math.pi * X + phase).unsqueeze(1)
    u = (a * torch.cos(math.pi * Y) + 0.5 * X * Y).detach()
    net = LSM(1, 1, 2, width=8, heads=4, projection_channels=16)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)

    def rel_l2():
        return ((net(a) - u).flatten(1).norm(dim=1) / u.flatten(1).norm(dim=1)).mean()

    with torch.no_grad():
        start = float(rel_l2())
    for _ in range(100):
        opt.zero_grad()
        loss = rel_l2()
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        final = float(rel_l2())
    assert final < 0.1 and final < start / 5, (start, final)


def test_solver_state_dict_round_trip_weights_only(tmp_path):
    solver = get_backend("lsm", width=8, heads=4, window=1, patch_size=[1, 2])
    solver.setup = solver.setup_for(MapProblem, Grid.uniform(2, (12, 20), layout="nodes"))
    solver.build(solver.setup)
    path = solver.save(tmp_path / "lsm.pt")
    state = torch.load(path, weights_only=True)
    assert isinstance(state["options"], str) and isinstance(state["setup"], str)
    again = Solver.load(path)
    x = torch.randn(3, 1, 1, 12, 20)
    assert torch.equal(again.predict(x), solver.predict(x))
    assert again.options == solver.options


def test_bad_options_are_user_errors():
    with pytest.raises(UserError, match="multiple of heads"):
        get_backend("lsm", width=12, heads=8)
    with pytest.raises(UserError, match="patch_size"):
        get_backend("lsm", patch_size=0)
    solver = get_backend("lsm", width=8, heads=4, patch_size=[2, 2, 2])
    solver.setup = solver.setup_for(MapProblem, Grid.uniform(2, 16))
    with pytest.raises(UserError, match="expected 2 patch sizes"):
        solver.build(solver.setup)


@pytest.mark.parametrize("name", ["darcy_2d_lsm", "navier_stokes_2d_lsm"])
def test_shipped_cases_validate(name):
    resolved = load_case(CASES / f"{name}.yaml", ["train.epochs=0"])
    assert resolved.backend_cls.name == "lsm"


def test_train_case_end_to_end_on_a_trajectory_problem(tmp_path):
    """The whole engine path (fit through a 2-step unroll, best checkpoint, test, rollout) with LSM."""
    from pdesolve.engines.train import train_case
    from tests.helpers import TINY_NS, write_case

    case = {**TINY_NS, "backend": {"name": "lsm", "window": 2, "width": 8, "heads": 4, "projection_channels": 8},
            "train": {**TINY_NS["train"], "epochs": 1, "unroll": 2}, "output": {"figures": False}}
    summary = train_case(load_case(write_case(tmp_path, case)), run_dir=tmp_path / "run", device="cpu")
    assert math.isfinite(summary.test["test_rel_l2"])
    assert summary.rollout["steps"] == 3 and math.isfinite(summary.rollout["rollout_rel_l2"])
    assert Solver.load(tmp_path / "run" / "best.pt").name == "lsm"
