"""Spectral filters and the eddy viscosity of each SGS model on fields with a known answer."""

import math
from types import SimpleNamespace

import pytest
import torch

from pdesolve.data.grid import Grid
from pdesolve.numerics.filters import cutoff_mask, filter_to_grid, filter_width, les_cutoff, sharp_filter
from pdesolve.numerics.sgs import (
    WALE,
    DynamicSmagorinsky,
    Leith,
    ResolvedFlow,
    Smagorinsky,
    eddy_viscosity_force,
    velocity_gradient,
)
from pdesolve.numerics.spectral import irfft, laplacian_symbol, rfft
from pdesolve.numerics.vector_calculus import project_hat, velocity_hat_2d

GRID3 = Grid.uniform(3, 16, length=2 * math.pi)
GRID2 = Grid.uniform(2, 32, length=2 * math.pi)


def mesh(grid):
    return tuple(torch.as_tensor(c) for c in grid.mesh())


def flow_of(u, grid, viscosity=1e-3):
    return ResolvedFlow(rfft(u, grid.ndim), grid, viscosity)


def random_solenoidal(grid, n=1, seed=0, k_max=4):
    g = torch.Generator().manual_seed(seed)
    u_hat = rfft(torch.randn((n, grid.ndim, *grid.shape), generator=g, dtype=torch.float64), grid.ndim)
    return irfft(project_hat(u_hat * cutoff_mask(grid, k_max), grid), grid)


# ------------------------------------------------------------------------------ filters
def test_cutoff_and_width_of_an_les_grid():
    assert les_cutoff(Grid.uniform(3, 32, length=2 * math.pi)) == 10  # the Wang group's k_c on 32^3
    assert les_cutoff(Grid.uniform(2, 64, length=2 * math.pi)) == 21
    assert filter_width(Grid.uniform(3, 32, length=2 * math.pi), 10) == pytest.approx(math.pi / 10)


def test_sharp_filter_keeps_modes_inside_the_sphere_only():
    x, y, z = mesh(GRID3)
    inside = torch.sin(3 * x) * torch.cos(2 * y)          # |k| = sqrt(13) ~ 3.6
    outside = torch.cos(4 * x + 3 * z)                    # |k| = 5
    filtered = sharp_filter((inside + outside)[None], GRID3, cutoff=4)
    assert torch.allclose(filtered[0], inside, atol=1e-13)


def test_filter_to_grid_of_a_band_limited_field_is_its_coarse_samples():
    x, y, z = mesh(GRID3)
    u = torch.sin(x + y) + torch.cos(3 * z)
    coarse = Grid.uniform(3, 8, length=2 * math.pi)
    out = filter_to_grid(u[None], GRID3, coarse)  # cutoff floor(8/3) = 2 removes cos 3z
    expected = torch.sin(x + y)[::2, ::2, ::2]
    assert out.shape == (1, 8, 8, 8)
    assert torch.allclose(out[0], expected, atol=1e-13)


# --------------------------------------------------------------------------- gradients
def test_velocity_gradient_of_a_shear():
    x, y, z = mesh(GRID3)
    u = torch.stack((torch.sin(y), torch.zeros_like(x), torch.zeros_like(x)))[None]
    g = velocity_gradient(rfft(u, 3), GRID3)
    expected = torch.zeros_like(g)
    expected[0, 0, 1] = torch.cos(y)
    assert torch.allclose(g, expected, atol=1e-13)


# ------------------------------------------------------------------------------ models
def test_smagorinsky_on_a_shear():
    """u = (A sin y, 0, 0): |S| = |A cos y|, nu_t = (C_s Delta)^2 |A cos y|."""
    x, y, z = mesh(GRID3)
    a, delta, c = 2.0, 0.3, 0.17
    u = torch.stack((a * torch.sin(y), 0 * x, 0 * x))[None]
    nu_t = Smagorinsky(delta, c).eddy_viscosity(flow_of(u, GRID3))
    assert torch.allclose(nu_t[0], (c * delta) ** 2 * (a * torch.cos(y)).abs(), atol=1e-12)


def wale_of(g, delta=0.5, c_w=0.5):
    return WALE(delta, c_w).eddy_viscosity(SimpleNamespace(gradient=g.reshape(1, *g.shape, 1, 1, 1)))


def test_wale_vanishes_in_pure_shear_and_is_known_in_strain_and_rotation():
    a, delta, c_w = 3.0, 0.5, 0.5
    shear = torch.zeros(3, 3, dtype=torch.float64)
    shear[0, 1] = a
    assert wale_of(shear).abs().max() < 1e-12  # the property WALE was designed for
    strain = torch.diag(torch.tensor([a, -a, 0.0], dtype=torch.float64))
    sd2, s2 = 2 * a**4 / 3, 2 * a**2
    assert wale_of(strain).item() == pytest.approx((c_w * delta) ** 2 * sd2**1.5 / (s2**2.5 + sd2**1.25))
    rotation = torch.tensor([[0.0, -a, 0.0], [a, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    assert wale_of(rotation).item() == pytest.approx((c_w * delta) ** 2 * sd2**0.25)
    # a 2-D gradient is embedded in 3-D (w = 0, d/dz = 0): the same answer as the 3-D rotation
    assert wale_of(rotation[:2, :2]).item() == pytest.approx(wale_of(rotation).item())


def test_leith_on_a_single_vorticity_mode():
    """omega = sin 2x: |grad omega| = 2 |cos 2x|, nu_t = (C_L Delta)^3 2 |cos 2x|."""
    x, _ = mesh(GRID2)
    u_hat = velocity_hat_2d(rfft(torch.sin(2 * x)[None], 2), GRID2)
    nu_t = Leith(0.2, 0.3).eddy_viscosity(ResolvedFlow(u_hat, GRID2, 1e-3))
    assert torch.allclose(nu_t[0], (0.3 * 0.2) ** 3 * 2 * torch.cos(2 * x).abs(), atol=1e-12)
    with pytest.raises(Exception, match="2-D"):
        Leith(0.2).eddy_viscosity(flow_of(random_solenoidal(GRID3), GRID3))


def test_dynamic_smagorinsky_is_zero_when_the_test_filter_resolves_everything():
    """Modes |k| <= 1 and their products (|k| <= 2) pass the test filter at 3: L = 0, so C = 0."""
    u = random_solenoidal(GRID3, n=2, k_max=1)
    model = DynamicSmagorinsky(delta=0.5, test_cutoff=3.0)
    flow = flow_of(u, GRID3)
    assert model.coefficient(flow).abs().max() < 1e-12
    assert model.eddy_viscosity(flow).abs().max() < 1e-12


def test_dynamic_smagorinsky_is_clipped_at_minus_the_viscosity(monkeypatch):
    u = random_solenoidal(GRID3, k_max=5)
    model, nu = DynamicSmagorinsky(delta=0.5, test_cutoff=2.5), 1e-2
    monkeypatch.setattr(DynamicSmagorinsky, "coefficient", lambda self, flow: torch.tensor([-1.0]))
    flow = flow_of(u, GRID3, viscosity=nu)
    nu_t = model.eddy_viscosity(flow)
    assert nu_t.min().item() == pytest.approx(-nu)
    assert torch.allclose(nu_t, torch.clamp_min(-0.25 * flow.strain_magnitude, -nu))


def test_dynamic_smagorinsky_constant_of_filtered_turbulence():
    """A priori on filtered forced-HIT DNS (32^3 -> k_c = 5), the Lilly--Germano C_s lies near the
    textbook 0.1-0.2 (positive: the model drains energy from the resolved scales)."""
    from pdesolve.problems.navier_stokes_3d import ForcedHIT3D

    problem = ForcedHIT3D({"resolution": 32, "viscosity": 0.02, "dtype": "float64", "dt": 0.02})
    u = problem.simulate(problem.sample_inputs(1, 0, 0, "cpu"), problem.solver_grid, times=[1.5])[:, 0]
    les = Grid.uniform(3, 16, length=2 * math.pi)
    u_les = filter_to_grid(u, problem.solver_grid, les, cutoff=5)
    c = DynamicSmagorinsky(filter_width(les, 5), test_cutoff=2.5).coefficient(flow_of(u_les, les))
    assert 0.05 < math.sqrt(c.item()) < 0.35


# ------------------------------------------------------------------------------- force
class ConstantViscosity:
    def __init__(self, nu):
        self.nu = nu

    def eddy_viscosity(self, flow):
        return torch.full_like(flow.strain_magnitude, self.nu)


@pytest.mark.parametrize("grid", [GRID3, GRID2], ids=["3d", "2d"])
def test_force_of_a_constant_eddy_viscosity_is_its_laplacian(grid):
    """div(2 nu_0 S) = nu_0 Laplacian u for a divergence-free u."""
    u = random_solenoidal(grid, k_max=4)
    u_hat = rfft(u, grid.ndim)
    force = eddy_viscosity_force(ConstantViscosity(0.3), u_hat, grid, viscosity=0.0)
    expected = -0.3 * laplacian_symbol(grid) * u_hat
    assert torch.allclose(force, expected, atol=1e-10 * expected.abs().max().item())
