"""Implicit factorized transformer, IFactFormer-m (Yang, Wang, Wang, "Implicit factorized
transformer approach to fast prediction of turbulent channel flows", Sci. China Phys. Mech. Astron.
2026, arXiv 2412.18840) and IFactFormer-o (Yang, Li, Wang, Wang, TAML 2024), in 1-D, 2-D and 3-D.

Network, in the order of the authors' model (read from public code, see
docs/backends/ifactformer.md):

1. the input window of ``T`` frames of ``c`` channels: a per-channel pointwise lift (grouped 1x1
   convolution, ``c -> ~dim/2``), GELU, and a convolution over the ``T`` frames that collapses the
   window into ``dim`` channels;
2. Gaussian Fourier positional encoding of the grid coordinates, through a linear layer, added;
3. **implicit depth**: one weight-shared `FactorizedAttention` block applied ``L`` times,
   ``u <- u + FA(u) / L``; its axial kernels act **in parallel** on the same values (variant ``m``)
   or **chained** one after another (variant ``o``, FactFormer's block);
4. a pointwise head ``dim -> dim/2 -> GELU -> outputs``.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from pdesolve.models.presets import Preset, PresetTable
from pdesolve.nn.embeddings import GaussianFourierEncoding, axis_angles
from pdesolve.nn.factorized_attention import FactorizedAttention

VARIANTS = {"m": "parallel", "o": "chained"}  # variant -> how the axial kernels combine


@dataclass(frozen=True)
class IFactFormerSize:
    """Size fields of an `IFactFormer` (``layers``: the implicit depth L)."""

    dim: int
    heads: int
    dim_head: int
    kernel_multiplier: int
    layers: int


PRESETS = PresetTable("ifactformer", IFactFormerSize, [
    Preset("ifactformer-small", IFactFormerSize(dim=32, heads=4, dim_head=16, kernel_multiplier=3, layers=4),
           "CPU-sized: the shipped 16^3 forced-HIT case (the papers' 3-D sizes are not public)"),
    Preset("ifactformer-medium", IFactFormerSize(dim=64, heads=4, dim_head=16, kernel_multiplier=3, layers=8),
           "CPU-sized: the shipped 64^2 Kolmogorov case"),
])


class IFactFormer(nn.Module):
    """``(b, window * channels, *s) -> (b, out_channels, *s)``, frames major in the input channels.

    Args:
        window: input frames; ``channels``: fields per frame.
        ndim: spatial dimensions.
        variant: ``"m"`` (parallel axial kernels) or ``"o"`` (chained).
        layers: implicit depth ``L`` (one block, ``L`` applications).
        endpoint: per axis, whether the grid includes both ends (for coordinates).
    """

    def __init__(self, window: int, channels: int, out_channels: int, ndim: int, dim: int = 64,
                 heads: int = 4, dim_head: int = 32, kernel_multiplier: int = 3, layers: int = 10,
                 variant: str = "m", rotary: bool = True, fourier_scale: float = 4.0,
                 endpoint: tuple[bool, ...] | None = None):
        super().__init__()
        self.window, self.channels, self.dim, self.layers = window, channels, dim, layers
        self.endpoint = endpoint or (False,) * ndim
        lifted = channels * max(1, dim // (2 * channels))  # ~dim/2, a multiple of the channels (groups)
        self.lift = nn.Conv2d(channels, lifted, kernel_size=1, groups=channels)
        self.collapse = nn.Conv2d(lifted, dim, kernel_size=(window, 1), bias=False)
        self.position = GaussianFourierEncoding(ndim, dim, fourier_scale, self.endpoint)
        self.position_proj = nn.Linear(dim, dim)
        self.block = FactorizedAttention(ndim, dim, heads, dim_head, kernel_multiplier, VARIANTS[variant],
                                         rotary)
        self.head = nn.Sequential(nn.Linear(dim, dim // 2, bias=False), nn.GELU(),
                                  nn.Linear(dim // 2, out_channels))

    def encode(self, x):
        """The lifted input window with the positional encoding, ``(b, *s, dim)``."""
        b, spatial = x.shape[0], x.shape[2:]
        frames = x.reshape(b, self.window, self.channels, -1).transpose(1, 2)  # (b, c, T, N)
        u = self.collapse(nn.functional.gelu(self.lift(frames)))              # (b, dim, 1, N)
        u = u.reshape(b, self.dim, *spatial).movedim(1, -1)
        return u + self.position_proj(self.position(tuple(spatial), x.device, x.dtype))

    def forward(self, x):
        u = self.encode(x)
        coords = axis_angles(tuple(x.shape[2:]), self.endpoint, x.device, x.dtype)
        for _ in range(self.layers):
            u = u + self.block(u, coords) / self.layers
        return self.head(u).movedim(-1, 1)
