"""Verification of the 2-D Navier--Stokes reference solver (exact solution, invariants, order)."""

import math

import numpy as np
import pytest
import torch

from pdesolve.data.grid import Grid
from pdesolve.errors import NonFiniteError, UserError
from pdesolve.numerics.spectral import dealias
from pdesolve.problems import Problem
from pdesolve.problems.navier_stokes_2d import (
    NavierStokes2D,
    cfl_number,
    enstrophy,
    forcing,
    integrate_vorticity,
    kinetic_energy,
    stream_function,
    velocity,
)

GRID = Grid.uniform(2, 32)


@pytest.fixture(autouse=True)
def one_thread():
    """32^2 FFTs gain nothing from threads, and on a loaded machine a second thread costs ~10x."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def random_vorticity(n=2, amplitude=5.0):
    """GRF initial vorticity on `GRID`, scaled up so that 1-2 time units change it a lot."""
    return amplitude * NavierStokes2D({"resolution": 32}).sample_inputs(n, 0, 0, "cpu")[:, 0]


def eigen_vorticity():
    """``sin 2 pi (3x + 4y) + cos 2 pi 5x``: both modes have |n|^2 = 25, so advection vanishes."""
    x, y = (torch.as_tensor(c) for c in GRID.mesh())
    return (torch.sin(2 * math.pi * (3 * x + 4 * y)) + torch.cos(2 * math.pi * 5 * x))[None]


def relative(a, b):
    return ((a - b).norm() / b.norm()).item()


# ------------------------------------------------------------------------------ helpers
def test_diagnostics_of_a_single_mode():
    x, y = (torch.as_tensor(c) for c in GRID.mesh())
    phase = 2 * math.pi * (3 * x + 4 * y)
    omega = torch.sin(phase)
    k2 = (2 * math.pi) ** 2 * 25
    assert torch.allclose(stream_function(omega, GRID), omega / k2, atol=1e-14)
    u = velocity(omega[None], GRID)
    assert u.shape == (1, 2, 32, 32)
    # u = d psi/dy, v = -d psi/dx with psi = omega / k^2
    assert torch.allclose(u[0, 0], 2 * math.pi * 4 * torch.cos(phase) / k2, atol=1e-14)
    assert torch.allclose(u[0, 1], -2 * math.pi * 3 * torch.cos(phase) / k2, atol=1e-14)
    assert kinetic_energy(omega, GRID).item() == pytest.approx(1 / (4 * k2), rel=1e-12)
    assert enstrophy(omega, GRID).item() == pytest.approx(0.25, rel=1e-12)
    umax = 2 * math.pi * 4 / k2, 2 * math.pi * 3 / k2
    assert cfl_number(omega, GRID, 0.1).item() == pytest.approx(0.1 * 32 * sum(umax), rel=1e-6)


def test_forcing_is_the_fno_forcing():
    f = forcing(GRID, 0.1)
    x, y = GRID.mesh()
    assert np.allclose(f.numpy(), 0.1 * (np.sin(2 * np.pi * (x + y)) + np.cos(2 * np.pi * (x + y))))


# ------------------------------------------------------------------------ verification
def test_eigenmode_decays_at_the_exact_rate():
    """Unforced flow made of modes with one |k| (Taylor--Green type) decays as exp(-nu |k|^2 t)."""
    nu = 1e-2
    problem = NavierStokes2D({"viscosity": nu, "forcing_amplitude": 0.0, "resolution": 32, "dt": 0.05})
    omega0 = eigen_vorticity()
    out = problem.simulate(omega0[:, None], GRID, times=[0.0, 0.5, 1.0])[:, :, 0]
    assert torch.equal(out[:, 0], omega0)  # a time equal to t0 returns the input
    rate = -math.log(out[0, 2].norm().item() / out[0, 1].norm().item()) / 0.5
    exact = nu * (2 * math.pi) ** 2 * 25
    assert rate == pytest.approx(exact, rel=1e-10)
    assert torch.allclose(out[:, 2], omega0 * math.exp(-exact), atol=1e-12)


def test_inviscid_unforced_flow_conserves_energy_and_enstrophy():
    omega = integrate_vorticity(random_vorticity(), GRID, [0.01, 2.0], viscosity=0.0,
                                forcing_amplitude=0.0, dt=0.01)
    assert relative(omega[:, 1], omega[:, 0]) > 0.5  # the flow has changed a lot
    energy, ens = kinetic_energy(omega, GRID), enstrophy(omega, GRID)
    assert ((energy[:, 1] - energy[:, 0]) / energy[:, 0]).abs().max() < 1e-10
    assert ((ens[:, 1] - ens[:, 0]) / ens[:, 0]).abs().max() < 1e-7


def test_time_stepping_is_fourth_order():
    omega0 = random_vorticity()

    def run(dt):
        return integrate_vorticity(omega0, GRID, [1.0], viscosity=1e-3, forcing_amplitude=0.1, dt=dt)

    reference = run(0.1 / 16)
    errors = [relative(run(dt), reference) for dt in (0.1, 0.05, 0.025)]
    orders = [math.log2(errors[i] / errors[i + 1]) for i in range(2)]
    assert all(3.8 < q < 4.2 for q in orders), (errors, orders)


def test_steps_land_exactly_on_requested_times():
    """One run through t = 0.3 and 1.0 equals a run straight to 1.0 (0.7 = 3 steps of 0.2333)."""
    omega0 = random_vorticity(1)
    kw = dict(viscosity=1e-3, forcing_amplitude=0.1, dt=0.25)
    direct = integrate_vorticity(omega0, GRID, [0.3, 1.0], **kw)
    restarted = integrate_vorticity(direct[:, 0], GRID, [1.0], t0=0.3, **kw)
    assert torch.allclose(restarted[:, 0], direct[:, 1], atol=1e-13)


def test_blow_up_names_the_step():
    problem = NavierStokes2D({"resolution": 32, "dt": 0.5, "t_end": 10.0})
    with pytest.raises(NonFiniteError, match="lower problem.dt"):
        problem.simulate(10 * random_vorticity(1)[:, None], GRID)


# -------------------------------------------------------------------- problem plumbing
def test_registered_with_defaults():
    problem = Problem.from_config({"name": "navier_stokes_2d"})
    assert isinstance(problem, NavierStokes2D)
    assert problem.params.viscosity == 1e-3 and problem.params.t_end == 50.0
    assert problem.times.tolist() == list(range(51))
    assert problem.solver_grid.shape == (128, 128) and problem.solver_grid.periodic


@pytest.mark.parametrize("bad", [
    {"viscosity": 0.0}, {"viscosity": -1e-3}, {"viscosity": float("inf")}, {"dt": 0.0},
    {"t_end": 2.5, "snapshot_interval": 1.0}, {"dtype": "float16"}, {"resolution": 4}, {"reynolds": 1},
])
def test_bad_parameters_are_user_errors(bad):
    with pytest.raises(UserError):
        NavierStokes2D(bad)


def test_bad_grids_and_times_are_user_errors():
    problem = NavierStokes2D({"resolution": 32})
    x = random_vorticity(1)[:, None]
    with pytest.raises(UserError, match="periodic"):
        problem.simulate(x, Grid.uniform(2, 32, layout="cells"))
    with pytest.raises(UserError, match="unit torus"):
        problem.simulate(x, Grid.uniform(2, 32, length=2.0))
    with pytest.raises(UserError, match="shape"):
        problem.simulate(x, Grid.uniform(2, 16))
    with pytest.raises(UserError, match="non-decreasing"):
        problem.simulate(x, GRID, t0=1.0, times=[0.5])


def test_samples_depend_only_on_seed_and_index():
    problem = NavierStokes2D({"resolution": 32, "t_end": 1.0, "dt": 0.1})
    three = problem.sample_inputs(3, 7, 0, "cpu")
    last = problem.sample_inputs(1, 7, 2, "cpu")
    assert torch.equal(three[2:], last)
    assert not torch.equal(three[0], three[1])
    assert torch.allclose(dealias(three, GRID), three, atol=1e-14)  # inside the solver's band
    assert torch.allclose(problem.simulate(three, GRID)[2:], problem.simulate(last, GRID), atol=1e-12)


def test_float32_solver_matches_float64():
    kw = {"resolution": 32, "t_end": 2.0, "dt": 0.05}
    x = NavierStokes2D(kw).sample_inputs(2, 0, 0, "cpu")
    ref = NavierStokes2D(kw).simulate(x, GRID)
    single = NavierStokes2D({**kw, "dtype": "float32"}).simulate(x.float(), GRID)
    assert single.dtype == torch.float32
    assert relative(single.double(), ref) < 1e-5


def test_coarse_baseline_runs_on_the_data_grid():
    problem = NavierStokes2D({"resolution": 32, "t_end": 2.0, "dt": 0.1})
    coarse = GRID.resized(16)
    x = problem.restrict(problem.sample_inputs(2, 0, 0, "cpu"), GRID, coarse)
    out = problem.baselines()["coarse"].run(problem, x, coarse, 1.0, [1.0, 2.0])
    assert out.shape == (2, 2, 1, 16, 16)
    assert torch.equal(out[:, 0], x)


def test_generated_dataset():
    problem = NavierStokes2D({"resolution": 32, "t_end": 2.0, "dt": 0.1})
    ds = problem.generate(n=2, seed=0, resolution=16)
    assert ds["vorticity"].dims == ("sample", "time", "x", "y")
    assert ds["vorticity"].shape == (2, 3, 16, 16)
    assert ds["time"].values.tolist() == [0.0, 1.0, 2.0]
    assert ds["vorticity"].attrs["units"] == "1"
    assert ds["vorticity"].attrs["long_name"] == "vorticity"
    assert ds.attrs["problem"] == "navier_stokes_2d" and ds.attrs["viscosity"] == 1e-3
    assert ds.attrs["content_hash"] == problem.recipe_hash(problem.recipe(2, 0, 16))
    assert np.isfinite(ds["vorticity"].values).all()
    x0 = problem.restrict(problem.sample_inputs(2, 0, 0, "cpu"), GRID, GRID.resized(16))
    assert np.allclose(ds["vorticity"].values[:, 0], x0[:, 0].numpy(), rtol=1e-6, atol=1e-7)
    # sample i does not depend on how many samples are generated, nor on the batching
    more = problem.generate(n=3, seed=0, resolution=16, batch_size=2)
    assert np.allclose(more["vorticity"].values[:2], ds["vorticity"].values, atol=1e-6)
