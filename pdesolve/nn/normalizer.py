"""Unit-Gaussian normalisation of channels, saved with the model as buffers."""

from __future__ import annotations

import torch
from torch import nn


class ChannelNormalizer(nn.Module):
    """Per-channel ``(x - mean) / std`` with statistics over every other axis of the training data.

    The channel axis is ``channel_axis`` (negative counts from the end, so the same module serves
    ``(b, t, c, *s)`` and ``(b, c, *s)`` when built with the spatial rank).
    """

    def __init__(self, channels: int, spatial_ndim: int, eps: float = 1e-6):
        super().__init__()
        self.spatial_ndim = spatial_ndim
        self.eps = eps
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("std", torch.ones(channels))

    def _shape(self) -> tuple[int, ...]:
        return (-1,) + (1,) * self.spatial_ndim

    @torch.no_grad()
    def fit(self, data: torch.Tensor) -> ChannelNormalizer:
        """Set the statistics from ``data`` of shape ``(..., channels, *spatial)``."""
        c_axis = data.ndim - self.spatial_ndim - 1
        moved = data.movedim(c_axis, 0).reshape(data.shape[c_axis], -1).double()
        self.mean.copy_(moved.mean(dim=1).to(self.mean.dtype))
        self.std.copy_(moved.std(dim=1).clamp_min(self.eps).to(self.std.dtype))
        return self

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.view(self._shape())) / self.std.view(self._shape())

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.std.view(self._shape()) + self.mean.view(self._shape())
