"""1-D advection: the exact pulse, the dataset convention, and the grid baselines (second order in
space, the midpoint rule's own error as their floor, matched memory)."""

import numpy as np
import pytest
import torch

from pdesolve.problems.advection_1d import (
    PAPER_SIREN_PARAMETERS,
    Advection1D,
    MidpointFiniteVolume,
    MUSCLFiniteVolume,
    SemiLagrangian,
    SpectralMidpoint,
)


def errors(baseline, problem, data):
    frames = baseline.run(problem)
    prediction = data.copy(deep=True)
    prediction["u"].values[:] = frames[:, :, 0].numpy()
    return problem.evaluate(prediction, data)


def test_exact_solution_translates_the_pulse_and_solves_the_pde():
    problem = Advection1D()
    x = torch.linspace(-2, 2, 401, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    u = problem.exact(x, t)
    u_x, u_t = torch.autograd.grad(u.sum(), (x, t))
    assert torch.allclose(u_t, -0.25 * u_x.sum(), atol=1e-12)  # u_t = -a u_x, summed over x
    peak = x[problem.exact(x, 12.0).argmax()].item()
    assert peak == pytest.approx(1.5, abs=0.01) and problem.exact(torch.tensor([2.0]), 12.0) < 4e-6


def test_dataset_holds_the_exact_pulse_at_every_step():
    problem = Advection1D({"steps": 4})
    ds = problem.generate(1, 0, resolution=101)
    assert ds["u"].dims == ("sample", "time", "x") and ds.sizes["time"] == 5 and ds.sizes["x"] == 101
    assert np.allclose(ds["time"], 0.05 * np.arange(5)) and ds.attrs["content_hash"]
    assert ds["x"].values[0] == -2.0 and ds["x"].values[-1] == 2.0
    metrics = problem.evaluate(ds, ds)
    assert metrics["final_rel_l2"] == 0 and metrics["final_peak"] == pytest.approx(1.0, abs=0.01)


def test_grid_baselines_at_matched_memory_and_their_floor():
    """At 901 values and t = 2 every grid scheme is within a few percent; the Fourier one is at
    the midpoint rule's own error (the floor: more modes do not help), and the central finite
    volumes converge in space towards that floor."""
    problem = Advection1D({"steps": 40})
    data = problem.generate(1, 0)
    floor = errors(SpectralMidpoint(4096), problem, data)["final_rel_l2"]
    assert floor == pytest.approx(8.8e-3, rel=0.05)  # reference notes, section 5.1
    assert errors(SpectralMidpoint(PAPER_SIREN_PARAMETERS), problem, data)["final_rel_l2"] == pytest.approx(
        floor, rel=1e-3
    )
    coarse, fine = (errors(MidpointFiniteVolume(n), problem, data)["final_rel_l2"] for n in (225, 900))
    assert fine == pytest.approx(1.1e-2, rel=0.05) and fine < coarse
    muscl = errors(MUSCLFiniteVolume(PAPER_SIREN_PARAMETERS), problem, data)
    assert muscl["final_rel_l2"] < 0.02 and muscl["final_peak"] < 1.0
    assert MidpointFiniteVolume().stored_values == 901


def test_muscl_keeps_the_pulse_bounded_on_a_coarse_grid():
    """The limiter prevents over- and undershoots where the central scheme oscillates."""
    problem = Advection1D({"steps": 40})
    for baseline, bounded in ((MUSCLFiniteVolume(60), True), (MidpointFiniteVolume(60), False)):
        u = baseline.run(problem)[0, :, 0]
        assert (u.min() > -1e-9 and u.max() <= 1.0) == bounded


def test_semi_lagrangian_is_stable_at_large_cfl_and_smears_the_pulse():
    """CFL 2.8 at 901 nodes: no blow-up, and linear interpolation keeps lowering the peak (3.5%
    by t = 12)."""
    problem = Advection1D({"steps": 240})
    peaks = SemiLagrangian(PAPER_SIREN_PARAMETERS).run(problem)[0, ::40, 0].max(dim=-1).values
    assert torch.all(peaks[1:] < peaks[:-1]) and peaks[-1] == pytest.approx(0.965, abs=0.005)
