"""Spectral layers between a point cloud and a regular latent grid (Geo-FNO, Li et al.,
"Fourier Neural Operator with Learned Deformations for PDEs on General Geometries", 2022).

Points carry latent coordinates ``xi`` in ``[0, 1]^2`` (the learned deformation of the physical
nodes). The Fourier coefficients of a point function are its non-uniform transform
``F_k = sum_j w_j h_j exp(-2 pi i k . xi_j)`` (``w_j``: 1 / node count); the coefficients of a
grid function come from the FFT. Modes ``k_x`` in ``0..m-1, -m..-1`` and ``k_y`` in ``0..m-1``
(the real transform's half spectrum), mixed per mode by a complex channel weight.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def mode_grid(modes: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Wave numbers ``(2m,)`` along x and ``(m,)`` along y of the retained half spectrum."""
    kx = torch.cat([torch.arange(modes), torch.arange(-modes, 0)]).to(device)
    return kx.float(), torch.arange(modes, device=device).float()


def fourier_basis(xi: torch.Tensor, modes: int) -> torch.Tensor:
    """``exp(2 pi i k . xi)`` at latent points ``xi (b, n, 2)``: ``(b, n, 2m, m)`` complex."""
    kx, ky = mode_grid(modes, xi.device)
    phase = 2 * math.pi * (xi[..., 0, None, None] * kx[:, None] + xi[..., 1, None, None] * ky)
    return torch.polar(torch.ones_like(phase), phase)


class _ModeWeight(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, modes: int):
        super().__init__()
        self.modes = modes
        scale = 1.0 / (in_channels * out_channels)
        self.weight = nn.Parameter(scale * torch.rand(in_channels, out_channels, 2 * modes, modes, 2))

    def mix(self, coeffs: torch.Tensor) -> torch.Tensor:
        """``(b, i, 2m, m) -> (b, o, 2m, m)``."""
        return torch.einsum("bixy,ioxy->boxy", coeffs, torch.view_as_complex(self.weight))


class PointToGrid(_ModeWeight):
    """Point features ``(b, n, c_in)`` at ``xi`` -> grid ``(b, c_out, s, s)`` (on ``[0, 1)^2``)."""

    def forward(self, h: torch.Tensor, basis: torch.Tensor, weight: torch.Tensor, size: int) -> torch.Tensor:
        coeffs = torch.einsum("bnc,bnxy->bcxy", (h * weight[..., None]).to(basis.dtype), basis.conj())
        out = self.mix(coeffs)
        m = self.modes
        full = torch.zeros(*out.shape[:2], size, size // 2 + 1, dtype=out.dtype, device=out.device)
        full[..., :m, :m] = out[..., :m, :]
        full[..., -m:, :m] = out[..., m:, :]
        return torch.fft.irfft2(full, s=(size, size), norm="forward")


class GridToPoint(_ModeWeight):
    """Grid ``(b, c_in, s, s)`` -> point values ``(b, n, c_out)`` at ``xi`` (the grid's Fourier
    series evaluated off the grid)."""

    def forward(self, u: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
        m = self.modes
        spec = torch.fft.rfft2(u, norm="forward")
        coeffs = torch.cat([spec[..., :m, :m], spec[..., -m:, :m]], dim=-2)
        out = self.mix(coeffs)
        out = out * torch.cat([torch.ones(1), torch.full((m - 1,), 2.0)]).to(out.device)  # conjugate half
        return torch.einsum("boxy,bnxy->bno", out, basis).real
