"""FNO: shapes in 1-D/2-D/3-D, resolution transfer, padding, persistence."""

import math

import pytest
import torch

from pdesolve.backends import Solver, get_backend
from pdesolve.config import TrainConfig
from pdesolve.data import Grid
from pdesolve.data.samples import add_splits, select_split
from pdesolve.data.tensors import to_tensor
from pdesolve.engines.train import Trainer
from pdesolve.metrics import relative_l2
from pdesolve.models.fno import FNO
from pdesolve.nn.padding import DomainPadding
from pdesolve.nn.spectral_conv import SpectralConv
from pdesolve.problems.burgers_1d import Burgers1D


@pytest.mark.parametrize("shape", [(32,), (16, 12), (8, 8, 6)])
def test_shapes_any_dimension(shape):
    net = FNO(3, 2, modes=(4,) * len(shape), width=8, layers=2, projection_channels=8)
    y = net(torch.randn(5, 3, *shape))
    assert y.shape == (5, 2, *shape)


def test_spectral_conv_is_resolution_invariant_on_band_limited_input():
    """The same layer on a band-limited field sampled at 16 and at 64 points gives the same field."""
    torch.manual_seed(0)
    conv = SpectralConv(2, 3, (4, 4))
    x = torch.linspace(0, 1, 65)[:-1]
    X, Y = torch.meshgrid(x, x, indexing="ij")
    field = torch.stack([torch.sin(2 * math.pi * X) * torch.cos(4 * math.pi * Y),
                         torch.cos(2 * math.pi * (X + 2 * Y))])[None]
    fine = conv(field)
    coarse = conv(field[..., ::4, ::4])
    assert torch.allclose(fine[..., ::4, ::4], coarse, atol=1e-5)


def test_spectral_conv_keeps_only_retained_modes():
    conv = SpectralConv(1, 1, (2, 2))
    x = torch.linspace(0, 1, 33)[:-1]
    X, Y = torch.meshgrid(x, x, indexing="ij")
    high = torch.sin(2 * math.pi * 5 * X)[None, None]  # mode 5 > retained 2
    assert conv(high).abs().max() < 1e-6


def test_zero_shot_super_resolution_of_trained_solver():
    """Trained briefly on Burgers' u0 -> u(1) sampled at 32 points, the FNO maps the same functions
    sampled at 64 points (never seen at that resolution) with about its training-resolution error:
    the learned map is between functions, not grids. Both errors are far below the mean field's."""
    problem = Burgers1D({"resolution": 256})  # the same 40 solutions, strided to 32 and to 64 points
    coarse, fine = (add_splits(problem.generate(n=40, seed=0, resolution=n), 32, 4, 4) for n in (32, 64))
    solver = get_backend("fno", modes=8, width=16, layers=3, projection_channels=32)
    torch.manual_seed(0)
    solver.fit(problem, coarse, Trainer(TrainConfig(epochs=20, batch_size=8, lr=3e-3, schedule="cosine"), "cpu"))
    errors, baseline = {}, {}
    for name, data in (("coarse", coarse), ("fine", fine)):
        test, train = select_split(data, "test"), select_split(data, "train")
        errors[name] = solver.score(problem, test)["test_rel_l2"]
        y = to_tensor(test, ["u"])[:, -1]
        mean = to_tensor(train, ["u"])[:, -1].mean(0, keepdim=True).expand_as(y)
        baseline[name] = float(relative_l2(mean, y).mean())
    assert errors["coarse"] < 0.1 * baseline["coarse"], (errors, baseline)  # it learned the map (~0.02 vs ~0.9)
    assert errors["fine"] < 1.5 * errors["coarse"], errors  # and keeps it at twice the resolution
    assert errors["fine"] < 0.1 * baseline["fine"], (errors, baseline)


def test_domain_padding_round_trip():
    pad = DomainPadding(0.25, (False, True))
    x = torch.randn(2, 3, 16, 8)
    padded, pads = pad.pad(x)
    assert padded.shape == (2, 3, 20, 8) and pads == (4, 0)
    assert torch.equal(DomainPadding.unpad(padded, pads), x)


def test_state_dict_round_trip_weights_only(tmp_path):
    solver = get_backend("fno", modes=3, width=6, layers=2, window=2)

    class Problem:
        task, name, inputs, outputs = "trajectory", "toy", ("w",), ("w",)

    solver.setup = solver.setup_for(Problem, Grid.uniform(1, 32))
    solver.build(solver.setup)
    path = solver.save(tmp_path / "fno.pt")
    state = torch.load(path, weights_only=True)
    assert isinstance(state["options"], str) and isinstance(state["setup"], str)
    again = Solver.load(path)
    x = torch.randn(3, 2, 1, 32)
    assert torch.equal(again.predict(x), solver.predict(x))
    assert again.options == solver.options


def test_modes_must_match_dimension():
    from pdesolve.errors import UserError

    solver = get_backend("fno", modes=[4, 4, 4])

    class Problem:
        task, name, inputs, outputs = "map", "toy", ("a",), ("u",)

    solver.setup = solver.setup_for(Problem, Grid.uniform(2, 16))
    with pytest.raises(UserError, match="expected 2 modes"):
        solver.build(solver.setup)
