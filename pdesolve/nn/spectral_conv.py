"""Spectral convolution: the Fourier layer of neural operators (Li et al., ICLR 2021).

``SpectralConv`` maps ``(batch, in_channels, *spatial)`` to ``(batch, out_channels, *spatial)``
by a real FFT over the spatial axes, a learned complex linear map on the lowest ``modes`` of each
axis (positive and negative frequencies on every axis but the last, which the real FFT halves),
and the inverse FFT on the input's own grid -- so a trained layer runs on any resolution.

The FFTs run in float32 even under autocast (cuFFT has no bf16 transform).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def corner_slices(modes: tuple[int, ...], shape: tuple[int, ...]) -> list[tuple[slice, ...]]:
    """Index blocks of the retained low modes of an rfft half-spectrum of ``shape`` (spatial).

    Every axis but the last contributes a positive block ``[0, m)`` and a negative block
    ``[n - m, n)``; the last axis contributes ``[0, m)``. Modes are clipped to what the grid has.
    """
    blocks: list[tuple[slice, ...]] = [()]
    nd = len(shape)
    for d, (m, n) in enumerate(zip(modes, shape, strict=True)):
        if d == nd - 1:
            m_eff = min(m, n // 2 + 1)
            blocks = [b + (slice(0, m_eff),) for b in blocks]
        else:
            m_eff = min(m, n // 2)
            blocks = [b + (s,) for b in blocks for s in (slice(0, m_eff), slice(n - m_eff, n))]
    return blocks


def weight_slices(modes: tuple[int, ...], shape: tuple[int, ...]) -> list[tuple[slice, ...]]:
    """The blocks of a weight of spatial shape ``(2 m_1, ..., 2 m_{d-1}, m_d)`` matching `corner_slices`."""
    blocks: list[tuple[slice, ...]] = [()]
    nd = len(shape)
    for d, (m, n) in enumerate(zip(modes, shape, strict=True)):
        if d == nd - 1:
            blocks = [b + (slice(0, min(m, n // 2 + 1)),) for b in blocks]
        else:
            m_eff = min(m, n // 2)
            blocks = [b + (s,) for b in blocks for s in (slice(0, m_eff), slice(2 * m - m_eff, 2 * m))]
    return blocks


class SpectralConv(nn.Module):
    """Fourier layer with a dense complex weight of shape ``(in, out, 2 m_1, ..., 2 m_{d-1}, m_d)``.

    Args:
        in_channels, out_channels: channel counts.
        modes: retained modes per spatial axis (on the last axis, of the half-spectrum).
    """

    def __init__(self, in_channels: int, out_channels: int, modes: tuple[int, ...]):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.modes = tuple(int(m) for m in modes)
        wshape = (in_channels, out_channels, *[2 * m for m in self.modes[:-1]], self.modes[-1])
        scale = 1.0 / (in_channels * out_channels)
        # stored as real pairs so optimisers, DDP and weights_only checkpoints see a real tensor
        self.weight = nn.Parameter(scale * torch.rand(*wshape, 2))

    @property
    def ndim(self) -> int:
        return len(self.modes)

    def spectral_weight(self) -> torch.Tensor:
        """The complex weight ``(in, out, *mode_shape)``."""
        return torch.view_as_complex(self.weight)

    def contract(self, x_hat: torch.Tensor, block: tuple[slice, ...], wblock: tuple[slice, ...]) -> torch.Tensor:
        """Apply the weight block to the input block: ``(b, in, *m) -> (b, out, *m)``."""
        w = self.spectral_weight()[(slice(None), slice(None), *wblock)]
        return torch.einsum("bi...,io...->bo...", x_hat[(slice(None), slice(None), *block)], w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = tuple(range(-self.ndim, 0))
        shape = tuple(x.shape[-self.ndim:])
        with torch.autocast(device_type=x.device.type, enabled=False):
            x_hat = torch.fft.rfftn(x.float(), dim=dims, norm="forward")
            out_hat = torch.zeros(
                (x.shape[0], self.out_channels, *shape[:-1], shape[-1] // 2 + 1),
                dtype=x_hat.dtype, device=x.device,
            )
            for block, wblock in zip(corner_slices(self.modes, shape), weight_slices(self.modes, shape),
                                     strict=True):
                out_hat[(slice(None), slice(None), *block)] = self.contract(x_hat, block, wblock)
            return torch.fft.irfftn(out_hat, s=shape, dim=dims, norm="forward")

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, modes={self.modes}"

    def n_spectral_parameters(self) -> int:
        """Real parameters of the spectral weight."""
        return math.prod(self.weight.shape)
