"""Geo-FNO's point <-> grid spectral layers and network (pdesolve.nn.geo_spectral, pdesolve.models.geo_fno)."""

from __future__ import annotations

import math

import torch

from pdesolve.models.geo_fno import GeoFNO
from pdesolve.nn.geo_spectral import GridToPoint, PointToGrid, fourier_basis

M, S = 4, 16


def identity(layer):
    with torch.no_grad():
        layer.weight.zero_()
        for c in range(layer.weight.shape[0]):
            layer.weight[c, c, ..., 0] = 1.0
    return layer


def band_limited(x, y):
    """A real function with modes below M on the unit torus."""
    return (1.0 + torch.cos(2 * math.pi * x) * 0.5 + torch.sin(2 * math.pi * (2 * x + 3 * y))
            - 0.3 * torch.cos(2 * math.pi * (-3 * x + y)))


def grid_points():
    t = torch.arange(S) / S
    gx, gy = torch.meshgrid(t, t, indexing="ij")
    return gx, gy, torch.stack([gx, gy], -1).reshape(1, -1, 2)


def test_grid_to_point_evaluates_the_grid_fourier_series_off_the_grid():
    gx, gy, _ = grid_points()
    u = band_limited(gx, gy)[None, None]
    xi = torch.rand(1, 50, 2, dtype=torch.float64).float()
    out = identity(GridToPoint(1, 1, M))(u, fourier_basis(xi, M))
    torch.testing.assert_close(out[0, :, 0], band_limited(xi[0, :, 0], xi[0, :, 1]), atol=1e-4, rtol=1e-4)


def test_point_to_grid_recovers_a_band_limited_function_from_uniform_points():
    gx, gy, pts = grid_points()
    h = band_limited(pts[..., 0], pts[..., 1])[..., None]
    w = torch.full(pts.shape[:2], 1.0 / pts.shape[1])
    grid = identity(PointToGrid(1, 1, M))(h, fourier_basis(pts, M), w, S)
    torch.testing.assert_close(grid[0, 0], band_limited(gx, gy), atol=1e-4, rtol=1e-4)


def test_geo_fno_starts_from_the_identity_deformation_and_ignores_padding():
    torch.manual_seed(0)
    net = GeoFNO(1, 2, modes=4, width=8, layers=2, grid=12, deform_hidden=8)
    x = torch.rand(2, 30, 2)
    torch.testing.assert_close(net.latent(x), x)
    a, mask = torch.randn(2, 30, 1), torch.ones(2, 30, dtype=torch.bool)
    out = net(x, a, mask)
    assert out.shape == (2, 30, 2)
    # padded nodes (mask False, any values) change nothing at the real nodes
    xp, ap = torch.cat([x, torch.rand(2, 5, 2)], 1), torch.cat([a, torch.randn(2, 5, 1)], 1)
    mp = torch.cat([mask, torch.zeros(2, 5, dtype=torch.bool)], 1)
    torch.testing.assert_close(net(xp, ap, mp)[:, :30], out, atol=1e-5, rtol=1e-5)
    out.sum().backward()
    assert net.deform[-1].weight.grad.abs().sum() > 0  # the deformation learns
