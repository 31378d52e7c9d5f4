"""Verification of the 2-D Kolmogorov-flow problem (exact solutions, filtered data, LES baselines)."""

import math

import numpy as np
import pytest
import torch

from pdesolve.config import load_case
from pdesolve.data.grid import Grid
from pdesolve.errors import UserError
from pdesolve.numerics.filters import filter_to_grid
from pdesolve.numerics.spectral import rfft
from pdesolve.problems import Problem
from pdesolve.problems.kolmogorov_2d import Kolmogorov2D

BOX = 2 * math.pi


def small(**kw):
    params = {"resolution": 32, "spin_up": 0.2, "t_end": 0.4, "snapshot_interval": 0.2, "dt": 0.01,
              "dtype": "float64", **kw}
    return Kolmogorov2D(params)


def test_laminar_kolmogorov_flow_is_steady():
    """omega_s = -A k_f cos(k_f y) / (nu k_f^2 + alpha) balances forcing, viscosity and drag."""
    problem = small()
    p, grid = problem.params, problem.solver_grid
    y = torch.as_tensor(grid.mesh()[1])
    kf = p.forcing_wavenumber
    laminar = -p.forcing_amplitude * kf * torch.cos(kf * y) / (p.viscosity * kf**2 + p.drag)
    out = problem.simulate(laminar[None, None], grid, times=[1.0])
    assert torch.allclose(out[0, 0, 0], laminar, atol=1e-11)


def test_unforced_eigenmode_decays_with_viscosity_and_drag():
    problem = small(forcing_amplitude=0.0, viscosity=0.01, drag=0.1)
    x, y = (torch.as_tensor(c) for c in problem.solver_grid.mesh())
    omega = (torch.sin(3 * x + 4 * y) + torch.cos(5 * x))[None, None]  # |k|^2 = 25 for both: no advection
    out = problem.simulate(omega, problem.solver_grid, times=[0.5])
    assert torch.allclose(out[0, 0, 0], omega[0, 0] * math.exp(-(0.01 * 25 + 0.1) * 0.5), atol=1e-12)


def test_generated_data_is_filtered_dns_vorticity_with_its_scales():
    problem = small()
    ds = problem.generate(2, seed=0, resolution=16)
    assert ds["vorticity"].shape == (2, 3, 16, 16)
    coarse = Grid.uniform(2, 16, length=BOX)
    dns = problem.simulate(problem.sample_inputs(2, 0, 0, "cpu"), problem.solver_grid)
    expected = filter_to_grid(dns[:, :, 0], problem.solver_grid, coarse).float()
    assert torch.allclose(torch.as_tensor(ds["vorticity"].values), expected, atol=1e-5)
    w_hat = rfft(torch.as_tensor(ds["vorticity"].values, dtype=torch.float64), 2)
    kx, ky = torch.meshgrid(torch.fft.fftfreq(16, 1 / 16), torch.fft.rfftfreq(16, 1 / 16), indexing="ij")
    assert w_hat[..., (kx**2 + ky**2) > 5.0**2 + 1e-9].abs().max() < 1e-3  # cutoff floor(16/3) = 5
    for name in ("kinetic_energy", "enstrophy", "dissipation"):
        assert ds[name].dims == ("sample",) and np.all(ds[name].values > 0)
    assert np.allclose(ds["dissipation"].values, 2 * 1e-3 * ds["enstrophy"].values)


def test_velocity_of_the_state():
    problem = small()
    x, y = (torch.as_tensor(c) for c in problem.solver_grid.mesh())
    u = problem.velocity(torch.sin(2 * x)[None, None, None], problem.solver_grid)  # (1, 1, 2, N, N)
    assert u.shape == (1, 1, 2, 32, 32)
    assert torch.allclose(u[0, 0, 1], -torch.cos(2 * x) / 2, atol=1e-13)


def test_les_baselines_include_leith_and_dissipate():
    problem = small()
    coarse = Grid.uniform(2, 16, length=BOX)
    start = filter_to_grid(3 * problem.sample_inputs(1, 0, 0, "cpu"), problem.solver_grid, coarse)
    baselines = problem.baselines()
    assert sorted(baselines) == ["coarse", "dsm", "leith", "smagorinsky", "wale"]
    enstrophy = {}
    for name, baseline in baselines.items():
        out = baseline.run(problem, start, coarse, 0.0, [0.5])
        assert out.shape == (1, 1, 1, 16, 16) and torch.isfinite(out).all()
        enstrophy[name] = out.pow(2).mean().item()
    assert enstrophy["smagorinsky"] < enstrophy["coarse"] and enstrophy["leith"] < enstrophy["coarse"]


def test_registered_and_the_shipped_case_loads():
    assert isinstance(Problem.from_config({"name": "kolmogorov_2d"}), Kolmogorov2D)
    case = load_case("cases/kolmogorov_2d_les.yaml")
    assert case.problem.solver_grid.shape == (256, 256)
    assert case.problem.cutoff(case.problem.data_grid(case.case.data.resolution)) == 21
    assert "leith" in case.case.compare.baselines


@pytest.mark.parametrize("bad", [{"viscosity": -1.0}, {"drag": -0.1}, {"t_end": 0.3},
                                 {"forcing_wavenumber": 0}])
def test_bad_parameters_are_user_errors(bad):
    with pytest.raises(UserError):
        Kolmogorov2D(bad)
