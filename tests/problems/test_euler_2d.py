"""2-D incompressible Euler: the Taylor-Green state is a steady, wall-compatible Euler solution,
the multi-scale state's patches, the evaluation metrics, and the stable-fluids baseline (exact
projection, dissipation shrinking with resolution, matched memory)."""

import math

import numpy as np
import pytest
import torch

from pdesolve.problems.euler_2d import (
    PAPER_SIREN_PARAMETERS,
    Euler2D,
    MACVelocity,
    StableFluids,
    taylor_green,
    taylor_green_multi,
)


def test_taylor_green_is_a_steady_euler_solution_with_slip_walls():
    """div u = 0, (u . grad) u is a gradient (zero curl: the pressure balances it), u . n = 0."""
    p = (torch.rand(2000, 2, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    u, v = taylor_green(p[:, 0], p[:, 1])
    gu = torch.autograd.grad(u.sum(), p, create_graph=True)[0]
    gv = torch.autograd.grad(v.sum(), p, create_graph=True)[0]
    assert (gu[:, 0] + gv[:, 1]).abs().max() < 1e-12
    ax, ay = u * gu[:, 0] + v * gu[:, 1], u * gv[:, 0] + v * gv[:, 1]
    curl = (
        torch.autograd.grad(ay.sum(), p, retain_graph=True)[0][:, 0]
        - torch.autograd.grad(ax.sum(), p)[0][:, 1]
    )
    assert curl.abs().max() < 1e-10
    wall = torch.linspace(-1, 1, 50, dtype=torch.float64)
    ones = torch.ones_like(wall)
    assert (
        taylor_green(ones, wall)[0].abs().max() < 1e-12 and taylor_green(wall, -ones)[1].abs().max() < 1e-12
    )


def test_multi_scale_state_lives_in_its_two_patches():
    x, y = torch.meshgrid(torch.linspace(-1, 1, 201), torch.linspace(-1, 1, 201), indexing="ij")
    u, v = taylor_green_multi(x, y)
    speed = torch.hypot(u, v)
    inside = ((x <= 0.05) & (y <= 0.05)) | ((x > 0.7375) & (y > 0.7375))
    assert speed[~inside].max() == 0 and speed[inside].max() > 0.9
    small = (x > 0.75) & (y > 0.75)
    assert speed[small].max() > 0.9  # the 8x smaller pattern keeps the full amplitude


def test_dataset_and_metrics():
    steady = Euler2D({"steps": 3}).generate(1, 0, resolution=16)
    assert steady["u"].dims == ("sample", "time", "x", "y") and steady.sizes["time"] == 4
    assert np.allclose(steady["u"][0, 3], steady["u"][0, 0])
    multi = Euler2D({"initial": "taylor_green_multi", "steps": 3}).generate(1, 0, resolution=16)
    assert multi.sizes["time"] == 1  # no exact solution: the initial state only
    problem = Euler2D({"steps": 3})
    assert problem.evaluate(steady, steady) == pytest.approx(
        {"final_energy_loss": 0.0, "final_vorticity_loss": 0.0, "final_time": 0.15, "final_rel_l2": 0.0}
    )
    damped = steady.copy(deep=True)
    damped["u"][:] *= 0.9
    damped["v"][:] *= 0.9
    assert problem.evaluate(damped, steady)["final_energy_loss"] == pytest.approx(0.19)


def test_projection_is_exact_and_keeps_the_walls():
    state = MACVelocity(24)
    rng = np.random.default_rng(0)
    state.u, state.v = rng.standard_normal(state.u.shape), rng.standard_normal(state.v.shape)
    state.enforce_walls()
    state.project()
    assert np.abs(state.divergence()).max() < 1e-10
    assert np.all(state.u[[0, -1]] == 0) and np.all(state.v[:, [0, -1]] == 0)


def test_stable_fluids_dissipates_less_on_finer_grids():
    problem = Euler2D({"steps": 10})
    data = problem.generate(1, 0, resolution=32)
    losses = []
    for n in (16, 32):
        frames = StableFluids(n).run(problem, grid=problem.grid(32))
        prediction = data.copy(deep=True)
        prediction["u"].values[:], prediction["v"].values[:] = (
            frames[:, :, 0].numpy(),
            frames[:, :, 1].numpy(),
        )
        losses.append(problem.evaluate(prediction, data)["final_energy_loss"])
    assert 0 < losses[1] < 0.6 * losses[0] < 0.5


def test_matched_memory_grid_size():
    assert StableFluids.cells_for(PAPER_SIREN_PARAMETERS) == 46
    assert StableFluids().stored_values == 3 * 46**2 + 2 * 46 <= PAPER_SIREN_PARAMETERS < 3 * 47**2 + 2 * 47
    assert math.isclose(MACVelocity(46).h, 2 / 46)
