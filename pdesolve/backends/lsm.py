"""Latent Spectral Models (Wu, Hu, Luo, Wang, Long, "Solving High-Dimensional PDEs with Latent
Spectral Models", ICML 2023), in 1-D, 2-D and 3-D.

The network is `pdesolve.models.lsm.LSM` (sizes by preset ``lsm-small`` / ``lsm-paper`` or
explicitly); this module maps the options and the grid onto it (patch sizes per axis).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from pdesolve.backends.base import PresetOptions
from pdesolve.backends.operator import OperatorOptions, OperatorSolver
from pdesolve.data.grid import Grid
from pdesolve.errors import UserError
from pdesolve.models.lsm import LSM, PRESETS
from pdesolve.models.presets import PresetTable


class LSMOptions(OperatorOptions, PresetOptions):
    presets: ClassVar[PresetTable] = PRESETS
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
