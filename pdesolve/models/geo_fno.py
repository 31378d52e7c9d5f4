"""Geo-FNO (Li et al., "Fourier Neural Operator with Learned Deformations for PDEs on General
Geometries", 2022), the point-cloud variant of its Elasticity experiment: node features at the
physical nodes -> a learned deformation to latent coordinates ``xi = x + d(x)`` in the unit square
-> a spectral layer from the points onto an ``s x s`` latent grid -> FNO layers there -> a
spectral layer from the grid back to the nodes (plus a pointwise skip) -> projection.

The deformation ``d`` is a small MLP initialised to zero (the identity map); coordinates are
normalised by the caller to ``[0, 1]^2``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pdesolve.nn.geo_spectral import GridToPoint, PointToGrid, fourier_basis
from pdesolve.nn.spectral_conv import SpectralConv


class GeoFNO(nn.Module):
    """``(x (b, n, 2) in [0, 1]^2, a (b, n, c_in), mask (b, n)) -> (b, n, c_out)``.

    Args:
        modes: Fourier modes per axis (half spectrum on y); width: channels; layers: FNO layers on
            the latent grid; grid: latent grid size ``s``; deform_hidden: the deformation MLP's width.
    """

    def __init__(self, in_channels: int, out_channels: int, *, modes: int = 12, width: int = 32, layers: int = 3,
                 grid: int = 40, deform_hidden: int = 32):
        super().__init__()
        self.modes, self.grid = modes, grid
        self.deform = nn.Sequential(nn.Linear(2, deform_hidden), nn.GELU(), nn.Linear(deform_hidden, deform_hidden),
                                    nn.GELU(), nn.Linear(deform_hidden, 2))
        nn.init.zeros_(self.deform[-1].weight)
        nn.init.zeros_(self.deform[-1].bias)
        self.lift = nn.Linear(in_channels + 2, width)
        self.to_grid = PointToGrid(width, width, modes)
        self.spectral = nn.ModuleList(SpectralConv(width, width, (modes, modes)) for _ in range(layers))
        self.pointwise = nn.ModuleList(nn.Conv2d(width, width, 1) for _ in range(layers))
        self.to_points = GridToPoint(width, width, modes)
        self.skip = nn.Linear(width, width)
        self.project = nn.Sequential(nn.Linear(width, 128), nn.GELU(), nn.Linear(128, out_channels))

    def latent(self, x: torch.Tensor) -> torch.Tensor:
        """Latent coordinates ``xi`` of physical (normalised) points ``x``."""
        return x + self.deform(x)

    def forward(self, x: torch.Tensor, a: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        basis = fourier_basis(self.latent(x), self.modes)
        h = self.lift(torch.cat([x, a], -1)) * mask[..., None]
        w = mask / mask.sum(1, keepdim=True)
        u = F.gelu(self.to_grid(h, basis, w, self.grid))
        for k, (spec, point) in enumerate(zip(self.spectral, self.pointwise, strict=True)):
            u = spec(u) + point(u)
            u = F.gelu(u) if k < len(self.spectral) - 1 else u
        out = F.gelu(self.to_points(u, basis) + self.skip(h))
        return self.project(out)
