"""TFNO / MG-TFNO: factorization parameter counts, factorized contraction against the dense
reconstruction, joint factorization, multi-grid patch/stitch, wall refusal, cases, persistence."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from pdesolve.backends import Solver, get_backend
from pdesolve.backends.tfno import MGTFNOSolver
from pdesolve.config import load_case
from pdesolve.data import Grid
from pdesolve.errors import UserError
from pdesolve.nn.factorized_spectral_conv import (
    CP,
    FACTORIZATIONS,
    FactorizedSpectralConv,
    TensorTrain,
    Tucker,
)
from pdesolve.nn.multigrid_patching import MultigridPatchedOperator, MultigridPatching
from pdesolve.nn.spectral_conv import SpectralConv

ROOT = Path(__file__).resolve().parents[2]
SHAPE = (32, 32, 24, 12)  # (in, out, 2 m_1, m_2) for width 32 and 12 modes


@pytest.mark.parametrize(("cls", "rank", "ranks", "params"), [
    # counts equal neuraloperator 2.0.0's (tensorly's rank rules) for the same tensor
    (Tucker, 0.1, (18, 18, 13, 7), 18 * 18 * 13 * 7 + 32 * 18 * 2 + 24 * 13 + 12 * 7),
    (Tucker, 0.05, (15, 15, 11, 6), 15 * 15 * 11 * 6 + 32 * 15 * 2 + 24 * 11 + 12 * 6),
    (CP, 0.1, (295,), 295 * (1 + 32 + 32 + 24 + 12)),
    (CP, 0.05, (147,), 147 * (1 + 32 + 32 + 24 + 12)),
    (TensorTrain, 0.1, (1, 27, 23, 15, 1), 32 * 27 + 27 * 32 * 23 + 23 * 24 * 15 + 15 * 12),
    (TensorTrain, 0.05, (1, 19, 16, 11, 1), 32 * 19 + 19 * 32 * 16 + 16 * 24 * 11 + 11 * 12),
])
def test_fractional_rank_parameter_counts(cls, rank, ranks, params):
    weight = cls(SHAPE, rank, layered=False, init_std=0.1)
    assert weight.rank == ranks
    assert weight.n_parameters() == 2 * params  # complex entries as real pairs
    fraction = weight.n_parameters() / weight.n_dense_parameters()
    assert abs(fraction - rank) < 0.1 * rank


@pytest.mark.parametrize("factorization", sorted(FACTORIZATIONS))
@pytest.mark.parametrize("layers", [None, 3])
def test_factorized_contraction_matches_dense_reconstruction(factorization, layers):
    torch.manual_seed(0)
    conv = FactorizedSpectralConv(4, 5, (3, 4), factorization, rank=0.5, layers=layers)
    x_hat = torch.randn(2, 4, 6, 4, dtype=torch.cfloat)
    rows = conv.weight_rows((16, 16))
    for layer in ([None] if layers is None else range(layers)):
        parts = conv.weight.parts(layer)
        dense = conv.weight.reconstruct(parts)
        assert dense.shape == (4, 5, 6, 4)
        fast = conv.weight.contract(x_hat, parts)
        reference = torch.einsum("bixy,ioxy->boxy", x_hat, dense)
        assert torch.allclose(fast, reference, atol=1e-5, rtol=1e-4)
        assert torch.allclose(conv.contract(x_hat, rows, layer=layer), reference, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("factorization", sorted(FACTORIZATIONS))
def test_factorized_layer_equals_dense_layer_with_its_reconstruction(factorization):
    """Whole layers agree, also on a grid too coarse for all modes (rows of the factors selected)."""
    torch.manual_seed(1)
    conv = FactorizedSpectralConv(3, 2, (5, 5), factorization, rank=0.3)
    reconstructed = FactorizedSpectralConv(3, 2, (5, 5), factorization, rank=0.3,
                                           implementation="reconstructed")
    reconstructed.load_state_dict(conv.state_dict())
    dense = SpectralConv(3, 2, (5, 5))
    with torch.no_grad():
        dense.weight.copy_(torch.view_as_real(conv.dense_weight()))
    for shape in [(32, 24), (8, 6)]:
        x = torch.randn(2, 3, *shape)
        assert torch.allclose(conv(x), dense(x), atol=1e-5)
        assert torch.allclose(reconstructed(x), dense(x), atol=1e-5)


def test_initial_weight_scale():
    torch.manual_seed(0)
    for factorization in FACTORIZATIONS:
        conv = FactorizedSpectralConv(32, 32, (12, 12), factorization, rank=0.1)
        std = conv.dense_weight().abs().pow(2).mean().sqrt().item()
        assert 0.5 * 0.177 < std < 1.5 * 0.177  # sqrt(2 / (in + out)), as neuraloperator


def test_joint_factorization_is_one_tensor_for_all_layers():
    solver = get_backend("tfno", modes=4, width=8, layers=3, joint_factorization=True, factorization="tt")
    per_layer = get_backend("tfno", modes=4, width=8, layers=3, factorization="tt")

    class Problem:
        task, name, inputs, outputs = "map", "toy", ("a",), ("u",)

    for s in (solver, per_layer):
        s.setup = s.setup_for(Problem, Grid.uniform(2, 16))
        s.build(s.setup)
    convs = [m for m in solver.model.modules() if isinstance(m, FactorizedSpectralConv)]
    assert len(convs) == 1 and convs[0].weight.shape == (3, 8, 8, 8, 4)
    assert convs[0][2](torch.randn(1, 8, 16, 16)).shape == (1, 8, 16, 16)
    assert len([m for m in per_layer.model.modules() if isinstance(m, FactorizedSpectralConv)]) == 3
    assert solver.predict(torch.randn(2, 1, 1, 16, 16)).shape == (2, 1, 16, 16)


@pytest.mark.parametrize(("levels", "fraction", "shape"), [(1, 0.125, (32, 32)), (2, 0.0625, (64, 48)),
                                                          (1, 0.0, (16,)), (1, 0.25, (8, 8, 16))])
def test_patch_then_stitch_is_identity_for_the_identity_operator(levels, fraction, shape):
    patching = MultigridPatching(levels, fraction)
    x = torch.randn(2, 3, *shape)
    windows = patching.patch(x)
    n = 2 ** levels
    assert windows.shape == (2 * n ** len(shape), 3 * (levels + 1), *patching.window_shape(shape))
    identity_on_fine_level = MultigridPatchedOperator(_FirstChannels(3), patching)
    assert torch.equal(identity_on_fine_level(x), x)
    chunked = MultigridPatchedOperator(_FirstChannels(3), patching, patches_per_pass=3)
    assert torch.equal(chunked(x), x)


class _FirstChannels(torch.nn.Module):
    """The identity on the fine level: returns the first ``c`` channels of each window."""

    def __init__(self, c):
        super().__init__()
        self.c = c

    def forward(self, x):
        return x[:, : self.c]


def test_coarse_levels_are_centred_subsampled_windows():
    """Level 1 of patch (0, 0) covers twice its neighbourhood at half resolution, wrapping around."""
    patching = MultigridPatching(1, 0.125)
    x = torch.arange(32 * 32, dtype=torch.float32).reshape(1, 1, 32, 32)
    windows = patching.patch(x)  # window 16 + 2 * 4 = 24
    (g, _) = patching.geometry((32, 32))
    assert (g.patch, g.padding, g.window) == (16, 4, 24)
    coarse = x[0, 0, ::2, ::2]
    rows = (torch.arange(24) - 8) % 16  # centre of patch 0 is point 8 = coarse point 4; 24 / 2 = 12 before it
    assert torch.equal(windows[0, 1], coarse[rows][:, rows])
    assert torch.equal(windows[0, 0], x[0, 0][(torch.arange(24) - 4) % 32][:, (torch.arange(24) - 4) % 32])
    assert patching.input_compression((32, 32)) == pytest.approx(32 * 32 / 24**2)


def test_patching_refuses_sizes_it_cannot_split():
    with pytest.raises(UserError, match="divisible by 16"):
        MultigridPatching(2, 0.1).patch(torch.randn(1, 1, 40, 40))


class _WalledProblem:
    task, name, inputs, outputs = "trajectory", "walled_channel", ("u",), ("u",)
    times = list(range(5))
    solver_grid = Grid.uniform(2, 16, layout="nodes")


def test_mg_tfno_refuses_walls_and_accepts_the_torus():
    with pytest.raises(UserError, match="not periodic"):
        MGTFNOSolver.check_problem(_WalledProblem, MGTFNOSolver.Options())
    resolved = load_case(ROOT / "cases" / "navier_stokes_2d_128_mgtfno.yaml")
    assert resolved.backend_cls is MGTFNOSolver


@pytest.mark.parametrize("case", ["navier_stokes_2d_tfno", "navier_stokes_2d_128_mgtfno"])
def test_shipped_cases_load(case):
    resolved = load_case(ROOT / "cases" / f"{case}.yaml", ["train.epochs=0"])
    assert resolved.case.backend["rank"] == 0.1


def test_mg_tfno_solver_round_trip_and_any_resolution(tmp_path):
    solver = get_backend("mg-tfno", modes=4, width=8, layers=2, projection_channels=16, levels=1,
                         padding_fraction=0.125, factorization="cp", rank=0.2)

    class Problem:
        task, name, inputs, outputs = "map", "toy", ("a",), ("u",)

    solver.setup = solver.setup_for(Problem, Grid.uniform(2, 32))
    solver.build(solver.setup)
    x = torch.randn(2, 1, 1, 32, 32)
    again = Solver.load(solver.save(tmp_path / "mg.pt"))
    assert torch.equal(again.predict(x), solver.predict(x))
    assert solver.predict(torch.randn(1, 1, 1, 64, 64)).shape == (1, 1, 64, 64)
    spectral = sum(m.n_spectral_parameters() for m in solver.model.modules()
                   if isinstance(m, FactorizedSpectralConv))
    assert spectral < 0.25 * 2 * 2 * 8 * 8 * 8 * 4  # two layers, well under the dense count


def test_tfno_trains_on_a_tiny_case(tmp_path):
    from pdesolve.engines.train import train_case
    from tests.helpers import TINY_NS, write_case

    case = {**TINY_NS, "backend": {**TINY_NS["backend"], "name": "tfno", "window": 1, "rank": 0.2}}
    summary = train_case(load_case(write_case(tmp_path, case)), rollout=False)
    assert math.isfinite(summary.test["test_rel_l2"]) and summary.test["test_rel_l2"] < 2.0
