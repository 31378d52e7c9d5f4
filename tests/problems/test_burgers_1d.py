"""Verification of the 1-D Burgers reference solver (Cole--Hopf exact solutions, order, dealiasing)."""

import math

import numpy as np
import pytest
import torch
from scipy.special import ive

from pdesolve.data.grid import Grid
from pdesolve.errors import NonFiniteError, UserError
from pdesolve.numerics.random_fields import gaussian_random_field
from pdesolve.numerics.spectral import rfft
from pdesolve.problems import Problem
from pdesolve.problems.burgers_1d import Burgers1D, cole_hopf, integrate_burgers, project_resolved

GRID = Grid.uniform(1, 128)
X = torch.as_tensor(GRID.coords()["x"])


def bessel_solution(x, t, nu, shift=0.0):
    """Exact solution from ``u_0 = shift + sin 2 pi x``: ``phi_0 = exp(cos(2 pi x) / (4 pi nu))``
    expands in modified Bessel functions, ``phi = I_0(a) + 2 sum_n I_n(a) e^(-nu (2 pi n)^2 t) cos 2 pi n x``
    with ``a = 1 / (4 pi nu)``; a mean ``shift`` moves the profile with speed ``shift``."""
    a, n = 1 / (4 * math.pi * nu), np.arange(1, 200)[:, None]
    xi = 2 * math.pi * n * (np.asarray(x) - shift * t)
    w = ive(n, a) * np.exp(-nu * (2 * math.pi * n) ** 2 * t)
    phi = ive(0, a) + 2 * (w * np.cos(xi)).sum(0)
    return shift + 8 * math.pi * nu * (n * w * np.sin(xi)).sum(0) / phi


@pytest.fixture(autouse=True)
def one_thread():
    """Small batched FFTs run fastest on one thread (two threads on a busy machine are ~10x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def random_velocity(n=3, resolution=128):
    return Burgers1D({"resolution": resolution}).sample_inputs(n, 0, 0, "cpu")[:, 0]


def relative(a, b):
    return ((a - b).norm() / b.norm()).item()


# ------------------------------------------------------------------------- exact solutions
@pytest.mark.parametrize("nu, shift", [(0.1, 0.0), (0.02, 0.0), (0.1, 0.7)])
def test_cole_hopf_matches_the_bessel_series(nu, shift):
    times = [0.0, 0.1, 0.3, 1.0]
    exact = cole_hopf(shift + torch.sin(2 * math.pi * X)[None], GRID, times, viscosity=nu)
    for i, t in enumerate(times):
        assert np.abs(exact[0, i].numpy() - bessel_solution(X.numpy(), t, nu, shift)).max() < 1e-10


def test_smooth_initial_condition_matches_the_exact_solution():
    problem = Burgers1D({"resolution": 128, "dt": 1e-3})
    out = problem.simulate(torch.sin(2 * math.pi * X)[None, None], GRID, times=[0.0, 0.1, 0.3, 1.0])[:, :, 0]
    assert out.shape == (1, 4, 128)
    for i, t in enumerate([0.0, 0.1, 0.3, 1.0]):
        assert np.abs(out[0, i].numpy() - bessel_solution(X.numpy(), t, 0.1)).max() < 1e-10


def test_random_initial_conditions_match_the_exact_solution():
    grid = Grid.uniform(1, 256)
    u0 = random_velocity(3, 256)
    times = [0.05, 0.5, 1.0]
    exact = cole_hopf(u0, grid, times, viscosity=0.1)
    out = integrate_burgers(u0, grid, times, viscosity=0.1, dt=5e-4)
    assert relative(exact[:, -1], u0) > 0.5  # the solution has changed a lot
    for i in range(len(times)):
        assert relative(out[:, i], exact[:, i]) < 2e-9


def test_time_stepping_is_fourth_order():
    u0 = (torch.sin(2 * math.pi * X) + 0.5 * torch.cos(4 * math.pi * X + 1))[None]
    exact = cole_hopf(u0, GRID, [0.5], viscosity=0.1)
    errors = [relative(integrate_burgers(u0, GRID, [0.5], viscosity=0.1, dt=dt), exact)
              for dt in (0.02, 0.01, 0.005)]
    orders = [math.log2(errors[i] / errors[i + 1]) for i in range(2)]
    assert all(3.8 < q < 4.2 for q in orders), (errors, orders)


def test_steps_land_exactly_on_requested_times():
    """One run through t = 0.3 and 1.0 equals a run restarted at 0.3 (0.7 = 3 steps of 0.2333)."""
    u0 = random_velocity(2)
    direct = integrate_burgers(u0, GRID, [0.3, 1.0], viscosity=0.1, dt=0.25)
    restarted = integrate_burgers(direct[:, 0], GRID, [1.0], t0=0.3, viscosity=0.1, dt=0.25)
    assert torch.allclose(restarted[:, 0], direct[:, 1], atol=1e-14)


# ------------------------------------------------------------------------------ dealiasing
def test_resolved_band_is_the_two_thirds_rule():
    u = torch.randn(2, 128, dtype=torch.float64)
    p = project_resolved(u, GRID)
    spectrum = rfft(p, 1).abs()
    assert spectrum[:, 43:].max() < 1e-12 and spectrum[:, 1:43].min() > 0  # |n| < 128/3 kept
    assert torch.allclose(project_resolved(p, GRID), p, atol=1e-14)
    assert rfft(random_velocity(2)[:, None], 1).abs()[..., 43:].max() < 1e-12  # samples lie in the band


def test_inviscid_truncated_system_conserves_energy_past_the_shock():
    """The 2/3-rule Galerkin system conserves energy exactly; aliasing errors would break this
    (the same run without dealiasing blows up)."""
    grid = Grid.uniform(1, 64)
    x = torch.as_tensor(grid.coords()["x"])
    u0 = project_resolved((torch.sin(2 * math.pi * x) + 0.5 * torch.cos(4 * math.pi * x + 1))[None], grid)
    u = integrate_burgers(u0, grid, [0.5], viscosity=0.0, dt=1e-3)  # a shock forms near t = 0.1
    energy0, energy = (u0**2).mean(), (u[:, 0] ** 2).mean()
    assert abs(energy / energy0 - 1) < 1e-6


def test_blow_up_names_the_step():
    problem = Burgers1D({"resolution": 128, "viscosity": 1e-4, "dt": 0.2})
    with pytest.raises(NonFiniteError, match="lower problem.dt"):
        problem.simulate(20 * random_velocity(1)[:, None], GRID)


# --------------------------------------------------------------------- problem plumbing
def test_registered_with_fno_defaults():
    problem = Problem.from_config({"name": "burgers_1d"})
    assert isinstance(problem, Burgers1D)
    p = problem.params
    assert (p.viscosity, p.t_end, p.n_snapshots, p.dtype) == (0.1, 1.0, 2, "float64")
    assert (p.ic_alpha, p.ic_tau, p.ic_sigma) == (2.0, 5.0, 25.0)  # 625 (-Laplacian + 25 I)^-2
    assert problem.times.tolist() == [0.0, 1.0]
    assert problem.solver_grid.shape == (1024,) and problem.solver_grid.periodic
    assert Burgers1D({"t_end": 2.0, "n_snapshots": 5}).times.tolist() == [0.0, 0.5, 1.0, 1.5, 2.0]


@pytest.mark.parametrize("bad", [
    {"viscosity": 0.0}, {"viscosity": -0.1}, {"viscosity": float("nan")}, {"dt": 0.0}, {"t_end": -1.0},
    {"n_snapshots": 1}, {"dtype": "float16"}, {"resolution": 4}, {"ic_tau": 0.0}, {"reynolds": 1},
])
def test_bad_parameters_are_user_errors(bad):
    with pytest.raises(UserError):
        Burgers1D(bad)


def test_unreachable_data_resolution_is_a_user_error():
    with pytest.raises(UserError, match="subsample"):
        Burgers1D({"resolution": 128}).generate(n=1, seed=0, resolution=100)


def test_bad_grids_shapes_and_times_are_user_errors():
    problem = Burgers1D({"resolution": 128})
    x = random_velocity(1)[:, None]
    with pytest.raises(UserError, match="periodic 1-D"):
        problem.simulate(x, Grid.uniform(1, 128, layout="nodes"))
    with pytest.raises(UserError, match="periodic 1-D"):
        problem.simulate(x, Grid.uniform(2, 128))
    with pytest.raises(UserError, match="shape"):
        problem.simulate(x, Grid.uniform(1, 64))
    with pytest.raises(UserError, match="shape"):
        problem.simulate(x[:, 0], GRID)
    with pytest.raises(UserError, match="non-decreasing"):
        problem.simulate(x, GRID, t0=1.0, times=[0.5])


def test_samples_are_the_specified_field_and_depend_only_on_seed_and_index():
    problem = Burgers1D({"resolution": 128})
    three = problem.sample_inputs(3, 7, 0, "cpu")
    assert three.shape == (3, 1, 128) and three.dtype == torch.float64
    grf = gaussian_random_field(GRID, 3, alpha=2.0, tau=5.0, sigma=25.0, seed=7)
    assert torch.allclose(three[:, 0], project_resolved(grf, GRID), atol=1e-14)
    assert three.mean(dim=-1).abs().max() < 1e-14
    last = problem.sample_inputs(1, 7, 2, "cpu")
    assert torch.equal(three[2:], last)
    assert torch.equal(problem.sample_inputs(3, 7, 0, "cpu"), three)
    assert not torch.equal(three[0], three[1])
    assert not torch.equal(problem.sample_inputs(1, 8, 0, "cpu"), three[:1])


def test_float32_solver_matches_float64():
    x = random_velocity(2)[:, None]
    ref = Burgers1D({"resolution": 128}).simulate(x, GRID)
    single = Burgers1D({"resolution": 128, "dtype": "float32"}).simulate(x.float(), GRID)
    assert single.dtype == torch.float32
    assert relative(single.double(), ref) < 1e-5


def test_coarse_baseline_runs_on_the_data_grid():
    problem = Burgers1D({"resolution": 128})
    coarse = GRID.resized(64)
    x = problem.restrict(problem.sample_inputs(2, 0, 0, "cpu"), GRID, coarse)
    out = problem.baselines()["coarse"].run(problem, x, coarse, 0.0, [0.0, 1.0])
    assert out.shape == (2, 2, 1, 64)
    assert torch.equal(out[:, 0], x)
    fine = problem.restrict(problem.simulate(problem.sample_inputs(2, 0, 0, "cpu"), GRID), GRID, coarse)
    # the strided start aliases modes 22..42, but nu = 0.1 damps them by exp(-1900) before t = 1
    assert relative(out[:, 1], fine[:, 1]) < 1e-6


def test_generated_dataset():
    problem = Burgers1D({"resolution": 128, "n_snapshots": 3})
    ds = problem.generate(n=3, seed=0, resolution=32)
    assert ds["u"].dims == ("sample", "time", "x")
    assert ds["u"].shape == (3, 3, 32)
    assert ds["time"].values.tolist() == [0.0, 0.5, 1.0]
    assert ds["u"].attrs["units"] == "1" and ds["u"].attrs["long_name"] == "velocity"
    assert ds["x"].attrs["layout"] == "periodic"
    assert ds.attrs["problem"] == "burgers_1d" and ds.attrs["viscosity"] == 0.1
    assert ds.attrs["content_hash"] == problem.recipe_hash(problem.recipe(3, 0, 32))
    assert np.isfinite(ds["u"].values).all()
    x0 = problem.restrict(problem.sample_inputs(3, 0, 0, "cpu"), GRID, GRID.resized(32))
    assert np.allclose(ds["u"].values[:, 0], x0[:, 0].numpy(), rtol=1e-6, atol=1e-7)
    # sample i does not depend on how many samples are generated, nor on the batching
    fewer = problem.generate(n=2, seed=0, resolution=32, batch_size=1)
    assert np.array_equal(fewer["u"].values, ds["u"].values[:2])
