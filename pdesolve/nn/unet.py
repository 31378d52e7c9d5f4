"""U-Net building blocks in 1-D, 2-D and 3-D (Ronneberger et al. 2015; the bilinear-upsampling
variant used by LSM's hierarchical projection network).

* `DoubleConv` -- ``(3x3 conv -> BatchNorm -> ReLU) x 2``: ``(b, in, *s) -> (b, out, *s)``.
* `Down` -- 2x max-pooling then `DoubleConv`: ``(b, in, *s) -> (b, out, *s/2)``.
* `Up` -- 2x (bi/tri)linear upsampling of the coarse map, concatenated after the skip, then
  `DoubleConv` with ``in/2`` middle channels: ``(b, c, *s/2), (b, c_skip, *s) -> (b, out, *s)``.
"""

from __future__ import annotations

import torch
from torch import nn

from pdesolve.nn.layers import BATCH_NORM, CONV, INTERPOLATION, MAX_POOL


class DoubleConv(nn.Module):
    """Two ``3^ndim`` convolutions (no bias), each followed by BatchNorm and ReLU."""

    def __init__(self, ndim: int, in_channels: int, out_channels: int, mid_channels: int | None = None):
        super().__init__()
        mid = mid_channels or out_channels
        conv, norm = CONV[ndim], BATCH_NORM[ndim]
        self.net = nn.Sequential(
            conv(in_channels, mid, kernel_size=3, padding=1, bias=False), norm(mid), nn.ReLU(inplace=True),
            conv(mid, out_channels, kernel_size=3, padding=1, bias=False), norm(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Down(nn.Module):
    """Halve every spatial axis by max-pooling, then `DoubleConv`."""

    def __init__(self, ndim: int, in_channels: int, out_channels: int):
        super().__init__()
        self.net = nn.Sequential(MAX_POOL[ndim](2), DoubleConv(ndim, in_channels, out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Up(nn.Module):
    """Double every spatial axis of the coarse map (linear interpolation, corners aligned), put it
    after the skip connection along channels, and mix with `DoubleConv`.

    Args:
        in_channels: channels of the coarse map plus those of the skip.
    """

    def __init__(self, ndim: int, in_channels: int, out_channels: int):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode=INTERPOLATION[ndim], align_corners=True)
        self.conv = DoubleConv(ndim, in_channels, out_channels, in_channels // 2)

    def forward(self, coarse: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(coarse)], dim=1))
