"""Symmetries of a problem and augmentation by them: every element the channel declares commutes with
its reference solver (so augmented samples are solutions), the transforms themselves, and the
``train.augment`` refusals."""

import pytest
import torch
from pdesolve.cli.app import app
from typer.testing import CliRunner

from pdesolve.config import load_case
from pdesolve.data.symmetries import Augmentation, PeriodicShift, Reflection
from pdesolve.engines.train import train_case
from pdesolve.problems.burgers_1d import Burgers1D
from pdesolve.problems.channel_flow import ChannelFlow3D
from tests.helpers import train_interrupted_then_resumed, write_case

FIELDS = ("u", "v", "w")


def test_reflections_and_shifts_of_known_fields():
    t = torch.arange(2 * 3 * 4 * 5, dtype=torch.float64).reshape(1, 2, 3, 4, 5)  # (b, frames, c, x, y)
    torch.manual_seed(0)
    seen = set()
    for _ in range(16):
        (out,) = Augmentation([Reflection("x", ("v",), periodic=True)], ("x", "y"))([(t, FIELDS)])
        flipped = bool((out[0, :, 0] != t[0, :, 0]).any())
        seen.add(flipped)
        if flipped:  # periodic: x_k -> x_{-k}; u and w even, v odd
            index = [(-k) % 4 for k in range(4)]
            assert torch.equal(out[0, :, 0], t[0, :, 0, index]) and torch.equal(out[0, :, 1], -t[0, :, 1, index])
        else:
            assert torch.equal(out, t)
    assert seen == {True, False}
    torch.manual_seed(1)
    (out,) = Augmentation([Reflection("y", ("w",), periodic=False)], ("x", "y"))([(t, FIELDS)])
    while torch.equal(out, t):
        (out,) = Augmentation([Reflection("y", ("w",), periodic=False)], ("x", "y"))([(t, FIELDS)])
    assert torch.equal(out[0, :, 2], -t[0, :, 2].flip(-1)) and torch.equal(out[0, :, :2], t[0, :, :2].flip(-1))
    torch.manual_seed(2)
    x, y = Augmentation([PeriodicShift("y")], ("x", "y"))([(t, FIELDS), (t + 1, FIELDS)])
    assert torch.equal(y, x + 1)  # one draw for a sample's window and its targets
    assert sum(torch.equal(x, torch.roll(t, shift, -1)) for shift in range(5)) == 1  # a periodic shift in y
    with pytest.raises(ValueError, match="axes"):
        Augmentation([PeriodicShift("z")], ("x", "y"))


def test_every_channel_symmetry_commutes_with_the_kmm_solver():
    """S(evolve(u0)) == evolve(S(u0)) for random group elements S: the augmented samples are channel flows."""
    problem = ChannelFlow3D({"length_x": 4.0, "length_z": 2.0, "resolution": [16, 25, 12], "spin_up": 0.0,
                             "t_end": 0.02, "snapshot_interval": 0.02, "dt": 0.004, "perturbation": 0.3})
    grid = problem.solver_grid
    u0 = problem.sample_inputs(1, 0, 0, "cpu")
    u1 = problem.simulate(u0, grid, times=[0.02])  # (1, 1, 3, *s)
    augment = Augmentation(problem.symmetries, grid.names)
    for seed in range(4):
        torch.manual_seed(seed)
        (s0,) = augment([(u0[:, None], FIELDS)])
        torch.manual_seed(seed)
        (s1,) = augment([(u1, FIELDS)])
        assert not torch.equal(s0[:, 0], u0)
        evolved = problem.simulate(s0[:, 0], grid, times=[0.02])
        assert torch.allclose(evolved, s1, atol=1e-10 * float(u1.abs().max())), seed


def test_burgers_symmetries_commute_with_its_solver():
    problem = Burgers1D({"resolution": 128})
    grid = problem.solver_grid
    u0 = problem.sample_inputs(2, 0, 0, "cpu")  # (n, 1, x)
    u1 = problem.simulate(u0, grid, times=[0.1])  # (n, 1, 1, x)
    augment = Augmentation(problem.symmetries, grid.names)
    for seed in range(3):
        torch.manual_seed(seed)
        (s0,) = augment([(u0[:, None], ("u",))])
        torch.manual_seed(seed)
        (s1,) = augment([(u1, ("u",))])
        assert not torch.equal(s0[:, 0], u0)
        evolved = problem.simulate(s0[:, 0], grid, times=[0.1])
        assert torch.allclose(evolved, s1, atol=1e-9 * float(u1.abs().max())), seed


@pytest.mark.parametrize("case, message", [
    ({"problem": {"name": "navier_stokes_2d"}, "backend": {"name": "fno"}}, "declares no symmetries"),  # forced
    ({"problem": {"name": "darcy_2d"}, "backend": {"name": "fno"}}, "only operator backends on trajectories"),
    ({"problem": {"name": "poisson_obstacles", "resolution": 16}, "backend": {"name": "dcdm"}},
     "only operator backends on trajectories augment"),
])
def test_augment_where_it_cannot_apply_exits_2(tmp_path, case, message):
    path = write_case(tmp_path, {"name": "augment", **case, "train": {"augment": True}})
    result = CliRunner().invoke(app, ["train", str(path)])
    assert result.exit_code == 2 and message in result.output
    assert len(result.output.strip().splitlines()) == 1 and "train.augment" in result.output


BURGERS = {"name": "tiny_burgers", "problem": {"name": "burgers_1d", "resolution": 64, "t_end": 1.0, "n_snapshots": 3},
           "data": {"n_train": 6, "n_val": 2, "n_test": 2, "resolution": 32, "seed": 0},
           "backend": {"name": "fno", "window": 1, "modes": 4, "width": 8, "layers": 2, "projection_channels": 8},
           "train": {"epochs": 3, "batch_size": 4, "lr": 1e-3, "seed": 0, "threads": 1}, "output": {"figures": False}}


def _weights(run):
    return torch.load(run / "checkpoint.pt", weights_only=True)["solver"]["tensors"]


def test_augmented_training_changes_the_fit_and_resumes_to_the_same_weights(tmp_path, monkeypatch):
    case = write_case(tmp_path, {**BURGERS, "data": {**BURGERS["data"], "cache_dir": str(tmp_path / "data")}})
    train_case(load_case(case), run_dir=tmp_path / "plain", device="cpu", rollout=False)
    train_case(load_case(case, ["train.augment=true"]), run_dir=tmp_path / "straight", device="cpu", rollout=False)
    train_interrupted_then_resumed(case, ["train.augment=true"], tmp_path / "split", monkeypatch)
    plain, straight, split = (_weights(tmp_path / name) for name in ("plain", "straight", "split"))
    assert all(torch.equal(straight[k], split[k]) for k in straight)  # the draws are part of the checkpoint
    assert all(torch.isfinite(v).all() for v in straight.values())
    assert not all(torch.equal(plain[k], straight[k]) for k in plain)  # the samples were transformed
