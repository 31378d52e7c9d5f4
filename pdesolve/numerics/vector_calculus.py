"""Spectral vector calculus on periodic grids: curl, divergence, Leray projection, stream function.

Fields have shape ``(..., d, *grid.shape)`` for vectors and ``(..., *grid.shape)`` for scalars; their
transforms are the rfft half-spectra of `pdesolve.numerics.spectral` (``*half``). 2-D velocities come
from a vorticity through the stream function, ``u = (d psi/dy, -d psi/dx)``, ``-Laplacian psi = omega``.
"""

from __future__ import annotations

import torch

from pdesolve.data.grid import Grid
from pdesolve.errors import UserError
from pdesolve.numerics.spectral import irfft, laplacian_symbol, rfft, wavenumbers


def check_periodic_grid(grid: Grid, ndim: int, who: str) -> None:
    """Raise a `UserError` unless ``grid`` is periodic and ``ndim``-dimensional."""
    if grid.ndim != ndim or not grid.periodic:
        raise UserError(f"{who} needs a periodic {ndim}-D grid, got {grid.ndim}-D layouts "
                        f"{[a.layout for a in grid.axes]}")


def inverse_laplacian(grid: Grid, device=None, dtype=torch.float64) -> torch.Tensor:
    """``1/|k|^2`` on the half-spectrum, 0 for the mean mode."""
    k2 = laplacian_symbol(grid, device, dtype)
    return torch.where(k2 > 0, 1.0 / torch.where(k2 > 0, k2, 1.0), 0.0)


def velocity_hat_2d(omega_hat: torch.Tensor, grid: Grid) -> torch.Tensor:
    """Fourier velocity ``(i k_y psi_hat, -i k_x psi_hat)`` of a Fourier vorticity ``(..., *half)``
    -> ``(..., 2, *half)``."""
    kx, ky = wavenumbers(grid, omega_hat.device, omega_hat.real.dtype)
    psi_hat = omega_hat * inverse_laplacian(grid, omega_hat.device, omega_hat.real.dtype)
    return torch.stack((1j * ky * psi_hat, -1j * kx * psi_hat), dim=-3)


def velocity_from_vorticity(omega: torch.Tensor, grid: Grid) -> torch.Tensor:
    """Velocity ``(u, v)`` of a 2-D vorticity ``(..., Nx, Ny)`` -> ``(..., 2, Nx, Ny)`` (zero mean)."""
    check_periodic_grid(grid, 2, "the 2-D vorticity form")
    return irfft(velocity_hat_2d(rfft(omega, 2), grid), grid)


def vorticity_3d(u: torch.Tensor, grid: Grid) -> torch.Tensor:
    """Curl of a 3-D velocity ``(..., 3, *s)`` -> ``(..., 3, *s)`` (spectral derivatives)."""
    return irfft(curl_hat(rfft(u, 3), grid), grid)


def cross(a: torch.Tensor, b: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """``a x b`` along ``dim`` (of size 3); several times faster than `torch.linalg.cross` on fields."""
    (a1, a2, a3), (b1, b2, b3) = a.unbind(dim), b.unbind(dim)
    return torch.stack((a2 * b3 - a3 * b2, a3 * b1 - a1 * b3, a1 * b2 - a2 * b1), dim=dim)


def curl_hat(u_hat: torch.Tensor, grid: Grid, ks: tuple[torch.Tensor, ...] | None = None) -> torch.Tensor:
    """``i k x u_hat`` for ``u_hat`` of shape ``(..., 3, *half)`` (``ks``: `wavenumbers`, if at hand)."""
    ks = ks or wavenumbers(grid, u_hat.device, u_hat.real.dtype)
    return 1j * cross(torch.stack(torch.broadcast_tensors(*ks)), u_hat, dim=-4)


def project_hat(u_hat: torch.Tensor, grid: Grid, ks: tuple[torch.Tensor, ...] | None = None,
                inv_k2: torch.Tensor | None = None) -> torch.Tensor:
    """Leray projection ``(I - k k^T/|k|^2) u_hat`` onto divergence-free fields, ``(..., d, *half)``
    (``ks``, ``inv_k2``: `wavenumbers` and `inverse_laplacian`, if at hand)."""
    ks = ks or wavenumbers(grid, u_hat.device, u_hat.real.dtype)
    inv_k2 = inverse_laplacian(grid, u_hat.device, u_hat.real.dtype) if inv_k2 is None else inv_k2
    phi = sum(k * u_hat.select(-grid.ndim - 1, i) for i, k in enumerate(ks)) * inv_k2
    return u_hat - torch.stack([k * phi for k in ks], dim=-grid.ndim - 1)


def divergence(u: torch.Tensor, grid: Grid) -> torch.Tensor:
    """Spectral divergence of a velocity ``(..., d, *s)`` -> ``(..., *s)``."""
    u_hat = rfft(u, grid.ndim)
    ks = wavenumbers(grid, u.device, u.dtype)
    return irfft(sum(1j * k * u_hat.select(-grid.ndim - 1, i) for i, k in enumerate(ks)), grid)
