"""The DCDM network (Kaneda, Akar, Chen, Kala, Hyde, Teran, "A Deep Conjugate Direction Method for
Iteratively Solving Linear Systems", ICML 2023): a convolutional approximation of ``A^-1 r`` up to
scale on the whole grid, in 2-D or 3-D.

Keras original (``src/train.py``): a linear 3x3(x3) lift to ``channels``, ``relu(conv)``,
``full_blocks`` residual blocks, ``relu(conv)`` (the skip), 2x average pooling, ``coarse_blocks``
residual blocks, nearest upsampling plus the skip, ``up_blocks`` residual blocks and a per-cell
linear head; 97,457 parameters in 3-D for the N = 64 layout. One deviation: the network rescales
its input to unit RMS per cell (see `DCDMNet.forward` and docs/backends/dcdm.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from pdesolve.models.presets import Preset, PresetTable
from pdesolve.nn.conv_blocks import ResidualConvBlock, conv3
from pdesolve.nn.layers import AVG_POOL, pointwise


@dataclass(frozen=True)
class DCDMSize:
    """Size fields of a `DCDMNet`: channels of every convolution and residual blocks per stage."""

    channels: int
    full_blocks: int
    coarse_blocks: int
    up_blocks: int


PRESETS = PresetTable("dcdm", DCDMSize, [
    Preset("dcdm-paper-64", DCDMSize(channels=16, full_blocks=1, coarse_blocks=3, up_blocks=2),
           "Kaneda et al. 2023, the N = 64 model (97,457 parameters in 3-D)"),
    Preset("dcdm-paper-128", DCDMSize(channels=16, full_blocks=2, coarse_blocks=5, up_blocks=3),
           "Kaneda et al. 2023, the N = 128 layout of the code (152,881 parameters in 3-D)"),
])


class DCDMNet(nn.Module):
    """``(b, 1, *s) -> (b, 1, *s)``: approximately ``A^-1 r`` up to scale, for 2-D or 3-D grids.

    With ``geometry_input`` the network also sees the fluid mask ``(b, 1, *s)`` (1 fluid, 0 solid)
    as a second input channel (not in the paper: its network sees only ``r``).
    """

    def __init__(self, ndim: int, channels: int = 16, full_blocks: int = 1, coarse_blocks: int = 3,
                 up_blocks: int = 2, geometry_input: bool = False):
        super().__init__()
        self.geometry_input = geometry_input
        self.lift = conv3(ndim, 2 if geometry_input else 1, channels)
        self.enter = conv3(ndim, channels, channels)
        self.full = nn.Sequential(*[ResidualConvBlock(ndim, channels) for _ in range(full_blocks)])
        self.skip = conv3(ndim, channels, channels)
        self.pool = AVG_POOL[ndim](2, ceil_mode=True)
        self.coarse = nn.Sequential(*[ResidualConvBlock(ndim, channels) for _ in range(coarse_blocks)])
        self.up = nn.Sequential(*[ResidualConvBlock(ndim, channels) for _ in range(up_blocks)])
        self.head = pointwise(ndim, channels, 1)
        for module in self.modules():  # Keras defaults of the reference: Glorot-uniform, zero bias
            if isinstance(module, nn.modules.conv._ConvNd):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, r: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``r`` is first rescaled to unit RMS per grid cell (each sample): the output does not
        depend on the scale of ``r``, and the biases meet inputs of the same size on every grid
        (a unit-norm ``r`` has entries ~ N^(-d/2), which at 32^3 let the biases swamp it).
        ``mask`` ``(b, 1, *s)``: the fluid mask, required exactly when the network has
        ``geometry_input``."""
        if (mask is not None) != self.geometry_input:
            raise ValueError("the fluid mask is an input exactly of a network with geometry_input")
        rms = r.flatten(1).square().mean(1).sqrt().clamp_min(torch.finfo(r.dtype).tiny)
        r = r / rms.view(-1, *(1,) * (r.ndim - 1))
        return self.body(r if mask is None else torch.cat([r, mask.to(r.dtype)], dim=1))

    def body(self, r: torch.Tensor) -> torch.Tensor:
        """The convolutional network without the input rescaling (local: each output cell sees
        the input within a fixed radius, 21-22 cells for the default layout)."""
        h = self.full(torch.relu(self.enter(self.lift(r))))
        skip = torch.relu(self.skip(h))
        coarse = self.coarse(self.pool(skip))
        h = self.up(F.interpolate(coarse, size=skip.shape[2:], mode="nearest") + skip)
        return self.head(h)
