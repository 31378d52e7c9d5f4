"""Every turbulence statistic of `pdesolve compare` on fields with a known answer."""

import math

import numpy as np
import pytest
import torch

from pdesolve.data.grid import Grid
from pdesolve.engines.turbulence_stats import (
    INCREMENT_EDGES,
    SEPARATIONS,
    compare_turbulence,
    dissipation,
    flow_statistics,
    longitudinal_increments,
    pdf,
    pdf_distance,
    time_series,
    vorticity,
)
from pdesolve.numerics.spectral import rfft
from pdesolve.numerics.turbulence import ShellForcing, isotropic_scales, shell_spectrum

GRID3 = Grid.uniform(3, 16, length=2 * math.pi)
GRID2 = Grid.uniform(2, 16, length=2 * math.pi)


def shear3(a=1.0, k=1):
    """u = (a sin(k y), 0, 0) on `GRID3`, ``(1, 3, 16, 16, 16)``."""
    x, y, _ = (torch.as_tensor(c) for c in GRID3.mesh())
    return torch.stack((a * torch.sin(k * y), 0 * x, 0 * x))[None]


def test_vorticity_in_3d_and_2d():
    x, y, _ = (torch.as_tensor(c) for c in GRID3.mesh())
    u = torch.stack((0 * x, torch.sin(x), 0 * x))[None]          # omega = (0, 0, cos x)
    assert torch.allclose(vorticity(u, GRID3)[0], torch.stack((0 * x, 0 * x, torch.cos(x))), atol=1e-13)
    x2, y2 = (torch.as_tensor(c) for c in GRID2.mesh())
    u2 = torch.stack((torch.sin(y2), 0 * x2))[None]              # omega = -cos y
    assert torch.allclose(vorticity(u2, GRID2)[0, 0], -torch.cos(y2), atol=1e-13)


def test_dissipation_of_a_shear():
    """u = (sin y, 0, 0): <S_ij S_ij> = 1/4, eps = nu / 2."""
    assert dissipation(shear3(), GRID3, viscosity=0.1).item() == pytest.approx(0.05, rel=1e-12)


def test_longitudinal_increments_of_a_sine():
    """u = (sin x, 0, 0): du_r along x is sin(x + r h) - sin x; the other components give zeros."""
    x, _, _ = (torch.as_tensor(c) for c in GRID3.mesh())
    u = torch.stack((torch.sin(x), 0 * x, 0 * x))[None]
    h = GRID3.spacing[0]
    for r in SEPARATIONS:
        inc = longitudinal_increments(u, r)
        assert inc.numel() == 3 * 16**3
        assert torch.allclose(inc[: 16**3], (torch.sin(x + r * h) - torch.sin(x)).flatten(), atol=1e-14)
        assert inc[16**3:].abs().max() == 0


def test_pdf_of_gaussian_samples_and_pdf_distance():
    values = torch.randn(400_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    density = pdf(values, INCREMENT_EDGES)
    assert np.sum(density * np.diff(INCREMENT_EDGES)) == pytest.approx(1.0, abs=1e-4)
    centres = 0.5 * (INCREMENT_EDGES[1:] + INCREMENT_EDGES[:-1])
    gauss = np.exp(-centres**2 / 2) / math.sqrt(2 * math.pi)
    assert np.abs(density - gauss).max() < 0.01
    assert pdf_distance(density, density, INCREMENT_EDGES) == 0.0
    left = pdf(torch.full((10,), -5.0), INCREMENT_EDGES)
    right = pdf(torch.full((10,), 5.0), INCREMENT_EDGES)
    assert pdf_distance(left, right, INCREMENT_EDGES) == pytest.approx(2.0)


def test_spectrum_and_time_series_of_a_steady_shear():
    """u = (A sin 3y, 0, 0): E(3) = A^2/4 = K, u_rms = sqrt(2K/3), omega_rms = 3A/sqrt(2)."""
    a = 2.0
    u = shear3(a, k=3)
    traj = torch.stack((u, u), dim=1)                              # (1, 2, 3, *s)
    stats = flow_statistics(traj, GRID3, viscosity=0.01, u_rms_ref=1.0, omega_rms_ref=1.0)
    assert stats.spectrum[3] == pytest.approx(a**2 / 4, rel=1e-12)
    assert np.delete(stats.spectrum, 3).max() < 1e-20
    series = time_series(traj, GRID3, viscosity=0.01)
    assert np.allclose(series["kinetic_energy"], a**2 / 4)
    assert np.allclose(series["u_rms"], math.sqrt(2 * a**2 / 4 / 3))
    assert np.allclose(series["omega_rms"], 3 * a / math.sqrt(2))
    assert np.allclose(series["dissipation"], 0.01 * 9 * a**2 / 2)  # 2 nu <S:S> = nu <omega^2>


def test_a_method_equal_to_the_reference_scores_zero(tmp_path):
    g = torch.Generator().manual_seed(1)
    ref = torch.randn((2, 3, 3, *GRID3.shape), generator=g, dtype=torch.float64)
    other = 0.5 * ref
    times = np.array([0.1, 0.2, 0.3])
    cmp = compare_turbulence(ref, {"same": ref.clone(), "half": other}, GRID3, 0.01, times)
    assert all(v == pytest.approx(0.0, abs=1e-12) for v in cmp.row("same").values())
    half = cmp.row("half")
    assert half["kinetic_energy_rel_err"] == pytest.approx(0.75)
    assert half["u_rms_rel_err"] == pytest.approx(0.5)
    assert half["velocity_spectrum_log_err"] == pytest.approx(math.log10(4))
    ds = cmp.dataset()
    assert ds["velocity_spectrum_half"].attrs["long_name"].startswith("velocity energy spectrum")
    assert ds["increment_pdf_reference"].dims == ("separation", "increment")
    assert ds["u_rms_same"].shape == (3,)
    paths = [a.write(tmp_path / a.name) for a in cmp.artifacts("test")]
    assert all(p.is_file() and p.stat().st_size > 1000 for p in paths)


def test_a_method_that_stopped_early_has_padded_series():
    g = torch.Generator().manual_seed(2)
    ref = torch.randn((1, 4, 3, *GRID3.shape), generator=g, dtype=torch.float64)
    cmp = compare_turbulence(ref, {"short": ref[:, :2]}, GRID3, 0.01, np.arange(4.0))
    assert np.isnan(cmp.dataset()["kinetic_energy_short"].values[2:]).all()
    assert cmp.row("short")["kinetic_energy_rel_err"] == pytest.approx(0.0, abs=1e-12)


# ------------------------------------------------------------------- isotropic scales
def test_isotropic_scales_of_a_single_shell():
    """All energy K in shell k: eps = 2 nu k^2 K, L = 3 pi / (4 k), Re_lambda = K sqrt(20 / (3 nu eps))."""
    u, nu, k = shear3(2.0, k=3), 0.01, 3
    s = isotropic_scales(u, GRID3, nu)
    energy = 1.0
    eps = 2 * nu * k**2 * energy
    assert s["kinetic_energy"].item() == pytest.approx(energy)
    assert s["dissipation"].item() == pytest.approx(eps)
    assert s["integral_scale"].item() == pytest.approx(3 * math.pi / (4 * k))
    assert s["re_lambda"].item() == pytest.approx(energy * math.sqrt(20 / (3 * nu * eps)))


def test_shell_forcing_sets_the_forced_shells():
    g = torch.Generator().manual_seed(3)
    u_hat = rfft(torch.randn((2, 3, *GRID3.shape), generator=g, dtype=torch.float64), 3)
    forced = ShellForcing({1: 1.242477, 2: 0.391356}, GRID3)(u_hat)
    before, after = shell_spectrum(u_hat, GRID3), shell_spectrum(forced, GRID3)
    assert torch.allclose(after[:, 1], torch.tensor(1.242477, dtype=torch.float64))
    assert torch.allclose(after[:, 2], torch.tensor(0.391356, dtype=torch.float64))
    assert torch.allclose(after[:, 3:], before[:, 3:])
    total = 0.5 * (torch.fft.irfftn(forced, s=GRID3.shape, dim=(-3, -2, -1)) ** 2).sum(1).mean()
    assert after.sum(1).mean().item() == pytest.approx(total.item(), rel=1e-10)  # Parseval
