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


def axis_angles(shape: tuple[int, ...], endpoint: tuple[bool, ...], device=None, dtype=torch.float32
                ) -> list[torch.Tensor]:
    """Per axis, the points' coordinates as angles of the domain: ``2 pi i / n`` (``[0, 2 pi)``, a
    periodic axis), or ``2 pi i / (n - 1)`` with ``endpoint`` (both ends included)."""
    return [torch.linspace(0.0, 2 * torch.pi, n, device=device, dtype=dtype) if end
            else 2 * torch.pi * torch.arange(n, device=device, dtype=dtype) / n
            for n, end in zip(shape, endpoint, strict=True)]


class GaussianFourierEncoding(nn.Module):
    """Random Fourier features of the grid coordinates (Tancik et al. 2020; FactFormer's
    ``GaussianFourierFeatureTransform``): ``[sin(2 pi x B), cos(2 pi x B)]`` with ``x = coordinates / L``
    per axis and a fixed ``B ~ N(0, scale^2)`` of shape ``(ndim, features / 2)``.

    ``forward(shape, device, dtype) -> (*shape, features)``. ``scale`` is the standard deviation of the
    frequencies in cycles per domain length. ``B`` is a buffer (saved with the model, not trained).
    """

    def __init__(self, ndim: int, features: int, scale: float = 4.0,
                 endpoint: tuple[bool, ...] | None = None):
        super().__init__()
        if features % 2:
            raise ValueError(f"Fourier features come in sin/cos pairs; got an odd count {features}")
        self.endpoint = endpoint or (False,) * ndim
        self.register_buffer("frequencies", torch.randn(ndim, features // 2) * scale)

    def forward(self, shape: tuple[int, ...], device=None, dtype=torch.float32) -> torch.Tensor:
        coords = [a / (2 * torch.pi) for a in axis_angles(shape, self.endpoint, device, dtype)]
        x = torch.stack(torch.meshgrid(*coords, indexing="ij"), dim=-1)  # (*shape, ndim)
        phase = 2 * torch.pi * x @ self.frequencies.to(dtype)
        return torch.cat((phase.sin(), phase.cos()), dim=-1)
