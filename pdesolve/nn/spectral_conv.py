"""Spectral convolution: the Fourier layer of neural operators (Li et al., ICLR 2021).

A spectral layer maps ``(batch, in_channels, *spatial)`` to ``(batch, out_channels, *spatial)``
by a real FFT over the spatial axes, a learned complex linear map on the lowest ``modes`` of each
axis (positive and negative frequencies on every axis but the last, which the real FFT halves),
and the inverse FFT on the input's own grid -- so a trained layer runs on any resolution.

`SpectralConvBase` holds what every spectral layer shares: the retained-mode bookkeeping and the
transforms. Retained modes are gathered into one block ``(b, c, 2 m_1, ..., 2 m_{d-1}, m_d)``
(rows ``0..m-1`` then ``-m..-1`` on each axis but the last) so the weight is applied by a single
contraction. The transforms are pruned: the real FFT runs along the last axis, and each further
axis is transformed only on the columns already retained (the inverse mirrors it, and ``irfft``
zero-fills the dropped columns), which saves about a third of the FFT work at the usual mode
counts. `SpectralConv` is the dense layer; `pdesolve.nn.factorized_spectral_conv` adds low-rank ones.

The FFTs run in float32 even under autocast (cuFFT has no bf16 transform).
"""

from __future__ import annotations

import math
from abc import abstractmethod

import torch
from torch import nn


def retained_modes(modes: tuple[int, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    """Modes kept per axis on a grid of ``shape``: ``modes`` clipped to what the grid has
    (``n // 2`` per sign on the full axes, ``n // 2 + 1`` on the last, half-spectrum axis)."""
    last = len(shape) - 1
    return tuple(min(m, n // 2 + 1 if d == last else n // 2)
                 for d, (m, n) in enumerate(zip(modes, shape, strict=True)))


def mode_matmul(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Per-mode channel mixing ``(b, i, *K), (i, o, *K) -> (b, o, *K)``."""
    return torch.einsum("bi...,io...->bo...", x, weight)


class SpectralConvBase(nn.Module):
    """Retained-mode transforms shared by spectral layers; subclasses define `contract`.

    Args:
        in_channels, out_channels: channel counts.
        modes: retained modes per spatial axis (on the last axis, of the half-spectrum).
    """

    def __init__(self, in_channels: int, out_channels: int, modes: tuple[int, ...]):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.modes = tuple(int(m) for m in modes)

    @property
    def ndim(self) -> int:
        return len(self.modes)

    @property
    def mode_shape(self) -> tuple[int, ...]:
        """Spectral shape of the weight: ``(2 m_1, ..., 2 m_{d-1}, m_d)``."""
        return (*[2 * m for m in self.modes[:-1]], self.modes[-1])

    def weight_rows(self, shape: tuple[int, ...]) -> list[torch.Tensor | None]:
        """Per axis, the rows of the weight's mode axis that a grid of ``shape`` uses
        (``None``: all of them -- the usual case, when the grid has every retained mode)."""
        rows: list[torch.Tensor | None] = []
        last = self.ndim - 1
        for d, (m, k) in enumerate(zip(self.modes, retained_modes(self.modes, shape), strict=True)):
            if k == m:
                rows.append(None)
            elif d == last:
                rows.append(torch.arange(k))
            else:
                rows.append(torch.cat([torch.arange(k), torch.arange(2 * m - k, 2 * m)]))
        return rows

    def to_modes(self, x: torch.Tensor) -> torch.Tensor:
        """Retained Fourier coefficients (``norm="forward"``): ``(b, c, *s) -> (b, c, *K)``."""
        shape = tuple(x.shape[-self.ndim:])
        kept = retained_modes(self.modes, shape)
        x_hat = torch.fft.rfft(x, dim=-1, norm="forward")[..., : kept[-1]]
        for d in range(self.ndim - 1):
            axis, n, k = d - self.ndim, shape[d], kept[d]
            x_hat = torch.fft.fft(x_hat, dim=axis, norm="forward")
            if 2 * k < n:
                x_hat = torch.cat([x_hat.narrow(axis, 0, k), x_hat.narrow(axis, n - k, k)], dim=axis)
        return x_hat

    def from_modes(self, y_hat: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        """Inverse of `to_modes` with the dropped modes set to zero: ``(b, o, *K) -> (b, o, *shape)``."""
        for d in reversed(range(self.ndim - 1)):
            axis, n = d - self.ndim, shape[d]
            k = y_hat.shape[axis] // 2
            if 2 * k < n:
                gap = list(y_hat.shape)
                gap[axis] = n - 2 * k
                y_hat = torch.cat([y_hat.narrow(axis, 0, k), y_hat.new_zeros(gap), y_hat.narrow(axis, k, k)],
                                  dim=axis)
            y_hat = torch.fft.ifft(y_hat, dim=axis, norm="forward")
        return torch.fft.irfft(y_hat, n=shape[-1], dim=-1, norm="forward")

    @abstractmethod
    def contract(self, x_hat: torch.Tensor, rows: list[torch.Tensor | None], **options) -> torch.Tensor:
        """Apply the spectral weight: ``(b, in, *K) -> (b, out, *K)``; ``rows`` from `weight_rows`."""

    def forward(self, x: torch.Tensor, **options) -> torch.Tensor:
        """``(b, in, *s) -> (b, out, *s)``; ``options`` go to `contract` (e.g. a layer index)."""
        shape = tuple(x.shape[-self.ndim:])
        with torch.autocast(device_type=x.device.type, enabled=False):
            x_hat = self.to_modes(x.float())
            return self.from_modes(self.contract(x_hat, self.weight_rows(shape), **options), shape)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, modes={self.modes}"


def select_rows(weight: torch.Tensor, rows: list[torch.Tensor | None], first_axis: int) -> torch.Tensor:
    """``weight`` restricted to ``rows`` on its mode axes, which start at ``first_axis``."""
    for d, index in enumerate(rows):
        if index is not None:
            weight = weight.index_select(first_axis + d, index.to(weight.device))
    return weight


class SpectralConv(SpectralConvBase):
    """Fourier layer with a dense complex weight of shape ``(in, out, 2 m_1, ..., 2 m_{d-1}, m_d)``.

    Args:
        in_channels, out_channels: channel counts.
        modes: retained modes per spatial axis (on the last axis, of the half-spectrum).
    """

    def __init__(self, in_channels: int, out_channels: int, modes: tuple[int, ...]):
        super().__init__(in_channels, out_channels, modes)
        scale = 1.0 / (in_channels * out_channels)
        # stored as real pairs so optimisers, DDP and weights_only checkpoints see a real tensor
        self.weight = nn.Parameter(scale * torch.rand(in_channels, out_channels, *self.mode_shape, 2))

    def spectral_weight(self) -> torch.Tensor:
        """The complex weight ``(in, out, *mode_shape)``."""
        return torch.view_as_complex(self.weight)

    def contract(self, x_hat, rows):
        return mode_matmul(x_hat, select_rows(self.spectral_weight(), rows, 2))

    def n_spectral_parameters(self) -> int:
        """Real parameters of the spectral weight."""
        return math.prod(self.weight.shape)
