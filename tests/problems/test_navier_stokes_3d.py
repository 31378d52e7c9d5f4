"""Verification of the 3-D pseudo-spectral solver (Taylor--Green, invariants) and the hit_3d problem."""

import math

import numpy as np
import pytest
import torch

from pdesolve.config import load_case
from pdesolve.data.grid import Grid
from pdesolve.errors import NonFiniteError, UserError
from pdesolve.numerics.filters import filter_to_grid
from pdesolve.numerics.spectral import rfft
from pdesolve.numerics.turbulence import shell_spectrum
from pdesolve.numerics.vector_calculus import divergence
from pdesolve.problems import Problem
from pdesolve.problems.navier_stokes_3d import ForcedHIT3D, enstrophy, kinetic_energy, taylor_green_velocity
from pdesolve.problems.navier_stokes_equations import integrate_velocity_3d

BOX = 2 * math.pi


def small_hit(**kw):
    params = {"resolution": 16, "viscosity": 0.02, "spin_up": 0.1, "t_end": 0.2, "snapshot_interval": 0.1,
              "dt": 0.02, "dtype": "float64", **kw}
    return ForcedHIT3D(params)


# ------------------------------------------------------------------------ verification
def test_taylor_green_energy_at_t_0_1_matches_spectraldns():
    """Re = 1600, N = 32, dt = 0.01, RK4: E(0.1) = 0.124953117517 (spectralDNS regression value)."""
    grid = Grid.uniform(3, 32, length=BOX)
    u = integrate_velocity_3d(taylor_green_velocity(grid), grid, [0.1], viscosity=1 / 1600, dt=0.01)[:, -1]
    assert kinetic_energy(u).item() == pytest.approx(0.124953117517, abs=1e-12)
    assert enstrophy(u, grid).item() == pytest.approx(0.375249930801, rel=1e-8)


def test_velocity_stays_divergence_free_and_inviscid_energy_is_conserved():
    grid = Grid.uniform(3, 16, length=BOX)
    u0 = small_hit().sample_inputs(2, 0, 0, "cpu").double()
    assert divergence(u0, grid).abs().max() < 1e-12 * u0.abs().max()
    out = integrate_velocity_3d(u0, grid, [0.1, 0.2], viscosity=0.0, dt=0.005)
    for i in range(2):
        assert divergence(out[:, i], grid).abs().max() < 1e-12 * out[:, i].abs().max()
    e0, e1 = kinetic_energy(u0), kinetic_energy(out[:, -1])
    assert torch.allclose(e1, e0, rtol=1e-8)  # the dealiased rotational form conserves energy
    assert (out[:, -1] - u0).norm() > 0.05 * u0.norm()  # ... while the flow does change


def test_forcing_holds_the_lowest_shells_at_their_targets():
    problem = small_hit()
    out = problem.simulate(problem.sample_inputs(1, 0, 0, "cpu"), problem.solver_grid, times=[0.3])
    spectrum = shell_spectrum(rfft(out[:, 0], 3), problem.solver_grid)
    assert spectrum[0, 1].item() == pytest.approx(1.242477, rel=1e-10)
    assert spectrum[0, 2].item() == pytest.approx(0.391356, rel=1e-10)


def test_initial_state_has_the_prescribed_spectrum_and_depends_only_on_seed_and_index():
    problem = small_hit()
    three = problem.sample_inputs(3, 7, 0, "cpu")
    last = problem.sample_inputs(1, 7, 2, "cpu")
    assert torch.equal(three[2:], last)
    spectrum = shell_spectrum(rfft(three, 3), problem.solver_grid)
    k = torch.arange(spectrum.shape[1], dtype=torch.float64)
    shape = k**4 * torch.exp(-2 * (k / 2.0) ** 2)
    expected = shape * 0.391356 / shape[2]
    assert torch.allclose(spectrum[:, 1:6], expected[1:6].expand(3, -1), rtol=1e-10)


def test_blow_up_names_the_step():
    problem = small_hit(dt=2.0)
    with pytest.raises(NonFiniteError, match="lower problem.dt"):
        problem.simulate(5 * problem.sample_inputs(1, 0, 0, "cpu"), problem.solver_grid, times=[20.0])


# ---------------------------------------------------------------------------- problem
def test_generated_data_is_filtered_dns_with_its_scales(tmp_path):
    problem = small_hit()
    ds = problem.generate(2, seed=0, resolution=8)
    assert ds["u"].shape == (2, 3, 8, 8, 8) and ds["time"].values.tolist() == pytest.approx([0.1, 0.2, 0.3])
    dns = problem.simulate(problem.sample_inputs(2, 0, 0, "cpu"), problem.solver_grid)
    coarse = Grid.uniform(3, 8, length=BOX)
    expected = filter_to_grid(dns, problem.solver_grid, coarse, cutoff=2).float()
    stored = torch.as_tensor(np.stack([ds[c].values for c in ("u", "v", "w")], axis=2))
    assert torch.allclose(stored, expected, atol=1e-6)
    for name in ("re_lambda", "dissipation", "integral_scale", "kmax_eta"):
        assert ds[name].dims == ("sample",) and np.all(ds[name].values > 0)
        assert ds.attrs[f"mean_{name}"] == pytest.approx(float(ds[name].mean()))


def test_les_baselines_run_on_the_coarse_grid():
    problem = small_hit()
    coarse = Grid.uniform(3, 8, length=BOX)
    start = filter_to_grid(problem.sample_inputs(1, 0, 0, "cpu"), problem.solver_grid, coarse)
    baselines = problem.baselines()
    assert sorted(baselines) == ["coarse", "dsm", "smagorinsky", "wale"]
    energy = {}
    for name, baseline in baselines.items():
        out = baseline.run(problem, start, coarse, 0.0, [0.1, 0.2])
        assert out.shape == (1, 2, 3, 8, 8, 8) and torch.isfinite(out).all()
        energy[name] = kinetic_energy(out[:, -1]).item()
    assert energy["smagorinsky"] < energy["coarse"]  # the eddy viscosity drains resolved energy
    with pytest.raises(UserError, match="LES grid"):
        problem.simulate(start, problem.solver_grid, closure="smagorinsky")


def test_registered_and_the_shipped_case_loads():
    assert isinstance(Problem.from_config({"name": "hit_3d"}), ForcedHIT3D)
    case = load_case("cases/hit_3d_les.yaml")
    assert case.problem.solver_grid.shape == (64, 64, 64)
    assert case.problem.cutoff(case.problem.data_grid(case.case.data.resolution)) == 10
    assert case.case.compare.baselines == ["coarse", "smagorinsky", "dsm", "wale"]


@pytest.mark.parametrize("bad", [{"viscosity": 0.0}, {"shell_energies": []}, {"shell_energies": [1.0, -1.0]},
                                 {"t_end": 0.3}, {"les": {"smagorinsky_cs": -1}}, {"les": {"unknown": 1}},
                                 {"dtype": "float16"}])
def test_bad_parameters_are_user_errors(bad):
    with pytest.raises(UserError):
        ForcedHIT3D(bad)
