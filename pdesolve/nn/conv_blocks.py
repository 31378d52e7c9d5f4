"""Plain convolution blocks on 2-D and 3-D grids ('same' padding, channel-first tensors)."""

from __future__ import annotations

import torch
from torch import nn

from pdesolve.nn.layers import CONV


def conv3(ndim: int, in_channels: int, out_channels: int) -> nn.Module:
    """A 3-wide (3x3, 3x3x3) convolution with 'same' zero padding and a bias."""
    return CONV[ndim](in_channels, out_channels, kernel_size=3, padding=1)


class ResidualConvBlock(nn.Module):
    """``x + relu(conv(relu(conv(x))))``: ``(b, c, *s) -> (b, c, *s)`` (the ReLU before the add,
    as in the Keras DCDM network)."""

    def __init__(self, ndim: int, channels: int):
        super().__init__()
        self.first = conv3(ndim, channels, channels)
        self.second = conv3(ndim, channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.relu(self.second(torch.relu(self.first(x))))
