"""The PINN baseline: its physics loss, point sampling, training through the Trainer, persistence."""

import pytest
import torch

from pdesolve.backends import Solver, get_backend
from pdesolve.backends.collocation import CollocationPDE
from pdesolve.config import TrainConfig
from pdesolve.data.samples import add_splits, select_split
from pdesolve.engines.train import Trainer
from pdesolve.problems.manufactured import AllenCahn, Poisson

ADAM = dict(optimizer="adam", lr=1e-3, weight_decay=0.0, schedule="constant", grad_clip=None, seed=0)


def built(problem, **options):
    torch.manual_seed(0)
    solver = get_backend("pinn", **options)
    grid = problem.grid(solver.options.collocation)
    solver.setup = solver.setup_for(problem, grid)
    solver.build(solver.setup)
    return solver, CollocationPDE.sample(problem, grid, "cpu")


def test_loss_is_the_mean_squared_residual_plus_weighted_boundary_misfit():
    problem = AllenCahn({"solution": "sin6x"})
    solver, pde = built(problem, collocation=20, width=8, depth=2, boundary_weight=3.0)
    x = pde.coords[0].clone().requires_grad_(True)
    u = solver.model(x[:, None])
    (du,) = torch.autograd.grad(u.sum(), x, create_graph=True)
    (d2u,) = torch.autograd.grad(du.sum(), x)
    residual = d2u + u * (u * u - 1) - pde.source
    boundary = u[[0, -1]] - pde.boundary_values
    expected = residual.square().mean() + 3.0 * boundary.square().mean()
    assert torch.allclose(solver.objective(pde, torch.Generator()), expected)


def test_point_batches_follow_the_generator():
    problem = Poisson({"solution": "sin6x_sin6y"})
    solver, pde = built(problem, collocation=12, width=8, depth=2, batch_points=30)
    a = solver.objective(pde, torch.Generator().manual_seed(1))
    b = solver.objective(pde, torch.Generator().manual_seed(1))
    c = solver.objective(pde, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.slow  # a long verification: pytest -m slow
def test_training_lowers_the_physics_loss_and_the_state_reloads(tmp_path):
    problem = Poisson({"solution": "sin6x"})
    data = add_splits(problem.generate(3, 0, resolution=64), 1, 1, 1)
    solver = get_backend("pinn", collocation=64, width=100, depth=4, boundary_weight=100.0,
                         steps_per_epoch=150)
    torch.manual_seed(0)
    report = solver.fit(problem, data, Trainer(TrainConfig(epochs=4, **ADAM), "cpu"))
    losses = [h["train_loss"] for h in report.history]
    assert losses[-1] < 0.8 * losses[0], losses  # a PINN starts slowly on sin(6x) (spectral bias)
    assert len(report.history) == 4 and all(h["val_rel_l2"] > 0 for h in report.history)
    again = Solver.load(solver.save(tmp_path / "pinn.pt"))
    out = again.solve(problem, select_split(data, "test"))
    assert torch.allclose(torch.as_tensor(out["u"].values[0]), solver.predict(problem.grid(64)))
