"""Latent Spectral Models (Wu, Hu, Luo, Wang, Long, "Solving High-Dimensional PDEs with Latent
Spectral Models", ICML 2023), in 1-D, 2-D and 3-D.

Network, in the order of the authors' ``models/LSM_2D.py`` / ``LSM_3D.py``:

1. append grid coordinates, pointwise lift to ``width`` channels (on the data grid);
2. zero-pad the high end of every axis to a multiple of ``16 x patch`` (`patch_and_padded_size`);
3. hierarchical projection network: a 5-scale U-Net encoder (channels ``w, 2w, 4w, 8w, 8w``);
   the feature map of every scale passes through a `LatentSpectralBlock` (same patch size at every
   scale) before it is used -- as skip connection, or at the bottleneck as the decoder's input;
4. U-Net decoder (bilinear upsampling, concatenation, double convolution), pointwise output conv;
5. crop the padding, project pointwise ``w -> projection_channels -> outputs`` with a GELU.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from pdesolve.models.presets import Preset, PresetTable
from pdesolve.nn.embeddings import GridEmbedding
from pdesolve.nn.latent_spectral import LatentSpectralBlock, crop, pad_high, patch_and_padded_size
from pdesolve.nn.layers import ChannelMLP, pointwise
from pdesolve.nn.unet import DoubleConv, Down, Up

SCALES = 5  # the paper's hierarchy: 4 halvings, so padded sizes are multiples of 16 x patch
DOWNSAMPLING = 2 ** (SCALES - 1)


@dataclass(frozen=True)
class LSMSize:
    """Size fields of an `LSM` (``width``: d_model, channels at the finest scale)."""

    width: int
    num_basis: int
    num_tokens: int
    heads: int
    projection_channels: int


PRESETS = PresetTable("lsm", LSMSize, [
    Preset("lsm-small", LSMSize(width=32, num_basis=12, num_tokens=4, heads=8, projection_channels=128),
           "Wu et al. 2023, d_model 32 (their Elasticity, Plasticity, Airfoil); the shipped CPU cases"),
    Preset("lsm-paper", LSMSize(width=64, num_basis=12, num_tokens=4, heads=8, projection_channels=128),
           "Wu et al. 2023, d_model 64 (their Darcy and Navier-Stokes)"),
])


class LSM(nn.Module):
    """``(b, in_channels, *s) -> (b, out_channels, *s)`` for 1-D, 2-D or 3-D grids of any size.

    Args:
        ndim: spatial dimensions.
        width: channels at the finest scale.
        patch: points per patch per axis; ``None`` picks ``ceil(s / 16)`` from each input's shape
            (then the coarsest scale is a single patch, as in every setting of the paper).
        endpoint: per axis, whether the grid includes both ends (for the coordinate channels).
    """

    def __init__(self, in_channels: int, out_channels: int, ndim: int, width: int = 64, num_basis: int = 12,
                 num_tokens: int = 4, heads: int = 8, patch: tuple[int, ...] | None = None,
                 projection_channels: int = 128, endpoint: tuple[bool, ...] | None = None):
        super().__init__()
        if patch is not None and len(patch) != ndim:
            raise ValueError(f"expected {ndim} patch sizes, got {len(patch)}")
        self.ndim, self.patch = ndim, patch
        self.embedding = GridEmbedding(ndim, endpoint)
        self.lift = pointwise(ndim, in_channels + ndim, width)
        channels = [width, 2 * width, 4 * width, 8 * width, 8 * width]
        self.encoder = nn.ModuleList(
            [DoubleConv(ndim, width, width)]
            + [Down(ndim, c_in, c_out) for c_in, c_out in zip(channels[:-1], channels[1:], strict=True)])
        self.spectral = nn.ModuleList(
            LatentSpectralBlock(c, num_basis, num_tokens, heads) for c in channels)
        decoded = [4 * width, 2 * width, width, width]  # output channels of each Up, coarse to fine
        coarse = [channels[-1], *decoded[:-1]]
        skips = channels[-2::-1]
        self.decoder = nn.ModuleList(
            Up(ndim, c + s, out) for c, s, out in zip(coarse, skips, decoded, strict=True))
        self.out = pointwise(ndim, width, width)
        self.project = ChannelMLP(ndim, width, projection_channels, out_channels, "gelu")

    def patch_and_padded_shape(self, shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Patch size and padded spatial shape for inputs of spatial ``shape``."""
        given = self.patch or (None,) * self.ndim
        sizes = [patch_and_padded_size(n, DOWNSAMPLING, p) for n, p in zip(shape, given, strict=True)]
        return tuple(p for p, _ in sizes), tuple(n for _, n in sizes)

    def forward(self, x):
        shape = tuple(x.shape[2:])
        patch, padded = self.patch_and_padded_shape(shape)
        x = pad_high(self.lift(self.embedding(x)), padded)
        features = []
        for down in self.encoder:
            x = down(x)
            features.append(x)
        x = self.spectral[-1](features[-1], patch)
        for up, skip, block in zip(self.decoder, features[-2::-1], list(self.spectral)[-2::-1], strict=True):
            x = up(x, block(skip, patch))
        return self.project(crop(self.out(x), shape))
