"""The ``fno`` backend: the Fourier Neural Operator (`pdesolve.models.fno`, Li et al., ICLR 2021)
as an operator solver, in 1-D, 2-D and 3-D. Sizes by preset (``fno-small``, ``fno-paper-ns``, ...)
or explicitly."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from pdesolve.backends.base import PresetOptions
from pdesolve.backends.operator import OperatorOptions, OperatorSolver
from pdesolve.data.grid import Grid
from pdesolve.errors import UserError
from pdesolve.models.fno import FNO, PRESETS
from pdesolve.models.presets import PresetTable


class FNOOptions(OperatorOptions, PresetOptions):
    presets: ClassVar[PresetTable] = PRESETS
    modes: int | list[int] = Field(12, description="retained Fourier modes per axis (one int for all)")
    width: int = Field(32, gt=0, description="channels of the Fourier layers")
    layers: int = Field(4, gt=0, description="number of Fourier layers")
    projection_channels: int = Field(128, gt=0, description="hidden channels of the output projection")
    activation: Literal["gelu", "relu", "silu", "tanh"] = "gelu"
    padding: float | Literal["auto"] = Field(
        "auto", description="domain padding fraction of non-periodic axes (auto: 0.125, none if periodic)")
    positional_embedding: bool = Field(True, description="append grid coordinates as input channels")
    index_space_axes: list[str] = Field(
        [], description="axes with listed, non-uniform points (e.g. the channel's Gauss-Lobatto y) on which the "
                        "FFTs work in index space, as the channel papers' FNOs do; refused on any other axis")


def fno_modes(options: FNOOptions, grid: Grid) -> tuple[int, ...]:
    """Retained modes per axis of ``grid`` from ``options.modes`` (one int for all axes, or a list)."""
    modes = options.modes if isinstance(options.modes, list) else [options.modes] * grid.ndim
    if len(modes) != grid.ndim:
        raise UserError(f"expected {grid.ndim} modes for a {grid.ndim}-D grid, got {len(modes)}",
                        field="backend.modes")
    return tuple(modes)


def fno_arguments(options: FNOOptions, grid: Grid) -> dict[str, Any]:
    """`FNO.for_grid` keyword arguments from ``options`` (shared by the FNO-family backends)."""
    return {"modes": fno_modes(options, grid), "width": options.width, "layers": options.layers,
            "projection_channels": options.projection_channels, "activation": options.activation,
            "padding": options.padding, "positional_embedding": options.positional_embedding}


class FNOSolver(OperatorSolver, name="fno"):
    """Fourier Neural Operator."""

    Options = FNOOptions
    uniform_grid = True
    description = "Fourier Neural Operator: spectral convolutions on the lowest modes (1-D/2-D/3-D)"
    paper = "Li et al., Fourier Neural Operator for Parametric PDEs, ICLR 2021"

    def build_network(self, in_channels, out_channels, grid):
        return FNO.for_grid(in_channels, out_channels, grid, **fno_arguments(self.options, grid))
