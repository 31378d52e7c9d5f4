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

from typing import Literal

from pydantic import Field, field_validator, model_validator
from torch import nn

from pdesolve.backends.operator import OperatorOptions, OperatorSolver
from pdesolve.data.grid import Grid
from pdesolve.errors import UserError
from pdesolve.nn.embeddings import GridEmbedding
from pdesolve.nn.latent_spectral import LatentSpectralBlock, crop, pad_high, patch_and_padded_size
from pdesolve.nn.layers import ChannelMLP, pointwise
from pdesolve.nn.unet import DoubleConv, Down, Up

SCALES = 5  # the paper's hierarchy: 4 halvings, so padded sizes are multiples of 16 x patch
DOWNSAMPLING = 2 ** (SCALES - 1)


class LSMOptions(OperatorOptions):
    width: int = Field(64, gt=0, description="d_model: channels at the finest scale (paper: 64 Darcy/NS, 32 others)")
    num_basis: int = Field(12, gt=0, description="terms of the trigonometric basis operator")
    num_tokens: int = Field(4, gt=0, description="latent tokens per patch")
    heads: int = Field(8, gt=0, description="attention heads of the spectral blocks (width must be a multiple)")
    patch_size: int | list[int] | Literal["auto"] = Field(
        "auto", description="points per patch per axis, the same at every scale; auto: ceil(size / 16)")
    projection_channels: int = Field(128, gt=0, description="hidden channels of the output projection")

    @field_validator("patch_size")
    @classmethod
    def _positive_patches(cls, value):
        sizes = value if isinstance(value, list) else [value] if isinstance(value, int) else []
        if any(p < 1 for p in sizes):
            raise ValueError("patch sizes must be positive")
        return value

    @model_validator(mode="after")
    def _heads_divide_width(self):
        if self.width % self.heads:
            raise ValueError(f"width ({self.width}) must be a multiple of heads ({self.heads})")
        return self


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


def lsm_from_options(options: LSMOptions, in_channels: int, out_channels: int, grid: Grid) -> LSM:
    """An `LSM` for ``grid`` configured by ``options``."""
    if grid.ndim not in (1, 2, 3):
        raise UserError(f"lsm works on 1-D, 2-D and 3-D grids, got {grid.ndim}-D", field="backend")
    patch = options.patch_size
    if isinstance(patch, int):
        patch = [patch] * grid.ndim
    if isinstance(patch, list) and len(patch) != grid.ndim:
        raise UserError(f"expected {grid.ndim} patch sizes for a {grid.ndim}-D grid, got {len(patch)}",
                        field="backend.patch_size")
    return LSM(in_channels, out_channels, grid.ndim, options.width, options.num_basis, options.num_tokens,
               options.heads, tuple(patch) if isinstance(patch, list) else None, options.projection_channels,
               tuple(a.layout == "nodes" for a in grid.axes))


class LSMSolver(OperatorSolver, name="lsm"):
    """Latent Spectral Models."""

    Options = LSMOptions
    description = ("Latent Spectral Models: U-Net hierarchy with attention-pooled latent tokens evolved "
                   "by a learned trigonometric basis (1-D/2-D/3-D)")
    paper = "Wu et al., Solving High-Dimensional PDEs with Latent Spectral Models, ICML 2023"

    def build_network(self, in_channels, out_channels, grid):
        return lsm_from_options(self.options, in_channels, out_channels, grid)
