"""Fourier (x, z) -- Chebyshev--Gauss--Lobatto (y) grids of a plane channel: transforms, derivatives,
the 2/3 dealiasing rule in x and z.

A `ChannelGrid` is ``[0, lx) x [-1, 1] x [0, lz)`` on ``nx x ny x nz`` points, ``y_j = cos(pi j / N)``,
``N = ny - 1`` (``j = 0`` the upper wall). Physical fields ``(..., nx, ny, nz)``; Fourier amplitudes
(``norm="forward"``) ``(..., nx, ny, nz//2 + 1)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from pdesolve.numerics import chebyshev


@dataclass(frozen=True)
class ChannelGrid:
    """A channel box ``[0, lx) x [-1, 1] x [0, lz)`` on ``nx x (ny) x nz`` points (``ny = N + 1`` Chebyshev points)."""

    nx: int
    ny: int
    nz: int
    lx: float = 8.0
    lz: float = 4.0

    @property
    def n(self) -> int:
        """Chebyshev degree ``N = ny - 1``."""
        return self.ny - 1

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.nx, self.ny, self.nz)

    @property
    def y(self) -> np.ndarray:
        return chebyshev.points(self.n)

    def kept(self, count: int) -> int:
        """Largest mode index kept by the 2/3 rule on ``count`` points."""
        return (count - 1) // 3


class SpectralChannel:
    """Transforms, derivatives and dealiasing on a `ChannelGrid` (torch, any device and float dtype)."""

    def __init__(self, grid: ChannelGrid, device=None, dtype=torch.float64):
        self.grid, self.device, self.dtype = grid, torch.device(device or "cpu"), dtype
        self.cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
        ix = torch.fft.fftfreq(grid.nx, 1.0 / grid.nx, device=self.device, dtype=dtype)
        iz = torch.fft.rfftfreq(grid.nz, 1.0 / grid.nz, device=self.device, dtype=dtype)
        self.kx = (2 * math.pi / grid.lx * ix)[:, None, None]  # (nx, 1, 1)
        self.kz = (2 * math.pi / grid.lz * iz)[None, None, :]  # (1, 1, nzh)
        self.k2 = self.kx**2 + self.kz**2
        mask = (ix.abs() <= grid.kept(grid.nx))[:, None, None] & (iz <= grid.kept(grid.nz))[None, None, :]
        self.mask = mask.to(dtype)  # (nx, 1, nzh)
        self.d = torch.as_tensor(chebyshev.differentiation_matrix(grid.n), dtype=dtype, device=self.device)
        self.y = torch.as_tensor(grid.y, dtype=dtype, device=self.device)
        self.weights = torch.as_tensor(chebyshev.quadrature_weights(grid.n), dtype=dtype, device=self.device)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        """Physical ``(..., nx, ny, nz)`` -> Fourier amplitudes ``(..., nx, ny, nzh)``, dealiased."""
        return torch.fft.rfftn(f, dim=(-3, -1), norm="forward") * self.mask

    def inverse(self, f_hat: torch.Tensor) -> torch.Tensor:
        """Fourier amplitudes ``(..., nx, ny, nzh)`` -> physical ``(..., nx, ny, nz)``."""
        return torch.fft.irfftn(f_hat, s=(self.grid.nx, self.grid.nz), dim=(-3, -1), norm="forward")

    def dy(self, f: torch.Tensor) -> torch.Tensor:
        """``d/dy`` along the Chebyshev axis (``-2``) of real or complex ``(..., ny, m)``."""
        d = self.d if not f.is_complex() else self.d.to(f.dtype)
        return torch.einsum("ij,...jk->...ik", d, f)

    def divergence_rows(self, t_hat: torch.Tensor) -> torch.Tensor:
        """``d_j T_ij`` of Fourier tensors ``(n, 3, 3, nx, ny, nzh)`` -> ``(n, 3, nx, ny, nzh)``."""
        return 1j * self.kx * t_hat[:, :, 0] + self.dy(t_hat[:, :, 1]) + 1j * self.kz * t_hat[:, :, 2]

    def divergence(self, u_hat: torch.Tensor) -> torch.Tensor:
        """``div u`` of Fourier velocities ``(n, 3, nx, ny, nzh)`` -> ``(n, nx, ny, nzh)``."""
        return 1j * self.kx * u_hat[:, 0] + self.dy(u_hat[:, 1]) + 1j * self.kz * u_hat[:, 2]
