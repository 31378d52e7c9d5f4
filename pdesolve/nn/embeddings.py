"""Positional embeddings appended to a field as extra channels."""

from __future__ import annotations

import torch
from torch import nn


class GridEmbedding(nn.Module):
    """Append the normalised coordinates ``x/L in [0, 1)`` of every spatial axis as channels.

    ``(b, c, *s) -> (b, c + ndim, *s)``. Coordinates are computed from the input's own shape, so the
    embedding follows the resolution (zero-shot super-resolution). ``endpoint`` puts the last point
    at 1 (grids whose nodes include both walls).
    """

    def __init__(self, ndim: int, endpoint: tuple[bool, ...] | None = None):
        super().__init__()
        self.ndim = ndim
        self.endpoint = endpoint or (False,) * ndim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape[-self.ndim:]
        axes = []
        for n, end in zip(shape, self.endpoint, strict=True):
            axes.append(torch.linspace(0.0, 1.0, n, device=x.device, dtype=x.dtype) if end
                        else torch.arange(n, device=x.device, dtype=x.dtype) / n)
        grids = torch.meshgrid(*axes, indexing="ij")
        pos = torch.stack(grids).unsqueeze(0).expand(x.shape[0], -1, *shape)
        return torch.cat([x, pos], dim=1)


class PeriodicGridEmbedding(nn.Module):
    """Append ``cos(2 pi x/L)`` and ``sin(2 pi x/L)`` of every spatial axis as channels.

    ``(b, c, *s) -> (b, c + 2 ndim, *s)``, for periodic grids (points ``i L / n``): the channels
    are continuous across the boundary, so they stay meaningful on patches that wrap around it
    (multi-grid patching) and tell each patch where it sits in the domain.
    """

    def __init__(self, ndim: int):
        super().__init__()
        self.ndim = ndim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape[-self.ndim:]
        angles = [2 * torch.pi * torch.arange(n, device=x.device, dtype=x.dtype) / n for n in shape]
        grids = torch.meshgrid(*angles, indexing="ij")
        pos = torch.stack([f(g) for g in grids for f in (torch.cos, torch.sin)])
        return torch.cat([x, pos.unsqueeze(0).expand(x.shape[0], -1, *shape)], dim=1)
