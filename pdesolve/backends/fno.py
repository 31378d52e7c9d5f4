"""Fourier Neural Operator (Li et al., "Fourier Neural Operator for Parametric Partial
Differential Equations", ICLR 2021), in 1-D, 2-D and 3-D.

Network: grid positional embedding -> pointwise lifting to ``width`` channels -> optional domain
padding of non-periodic axes -> ``layers`` Fourier layers ``v <- act(K v + W v)`` (no activation
after the last) -> crop -> pointwise projection through ``projection_channels`` to the outputs.
The spectral weights keep ``modes`` modes per axis, so the trained network evaluates on any
resolution (zero-shot super-resolution).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from torch import nn

from pdesolve.backends.operator import OperatorOptions, OperatorSolver
from pdesolve.data.grid import Grid
from pdesolve.errors import UserError
from pdesolve.nn.embeddings import GridEmbedding
from pdesolve.nn.layers import ACTIVATIONS, ChannelMLP, pointwise
from pdesolve.nn.padding import DomainPadding
from pdesolve.nn.spectral_conv import SpectralConv


class FNOOptions(OperatorOptions):
    modes: int | list[int] = Field(12, description="retained Fourier modes per axis (one int for all)")
    width: int = Field(32, gt=0, description="channels of the Fourier layers")
    layers: int = Field(4, gt=0, description="number of Fourier layers")
    projection_channels: int = Field(128, gt=0, description="hidden channels of the output projection")
    activation: Literal["gelu", "relu", "silu", "tanh"] = "gelu"
    padding: float | Literal["auto"] = Field(
        "auto", description="domain padding fraction of non-periodic axes (auto: 0.125, none if periodic)")
    positional_embedding: bool = Field(True, description="append grid coordinates as input channels")


class FNO(nn.Module):
    """``(b, in_channels, *s) -> (b, out_channels, *s)`` on grids of any size.

    Args:
        modes: retained modes per spatial axis.
        periodic: per axis, whether the domain is periodic (non-periodic axes get padding).
        endpoint: per axis, whether grid points include both ends (for the positional embedding).
        spectral_conv, spectral_kwargs: the spectral layer class, built once per layer as
            ``spectral_conv(width, width, modes, **spectral_kwargs)``.
        spectral_layers: instead, prebuilt spectral parts indexable by layer (``spectral_layers[l]``),
            e.g. one factorized weight shared by all layers.
    """

    def __init__(self, in_channels: int, out_channels: int, modes: tuple[int, ...], width: int = 32,
                 layers: int = 4, projection_channels: int = 128, activation: str = "gelu",
                 padding: float = 0.0, periodic: tuple[bool, ...] | None = None,
                 positional_embedding: bool = True, endpoint: tuple[bool, ...] | None = None,
                 spectral_conv: type[nn.Module] = SpectralConv, spectral_layers: nn.Module | None = None,
                 **spectral_kwargs):
        super().__init__()
        nd = len(modes)
        self.embedding = GridEmbedding(nd, endpoint) if positional_embedding else None
        lifted_in = in_channels + (nd if positional_embedding else 0)
        self.lift = pointwise(nd, lifted_in, width)
        self.padding = DomainPadding(padding, periodic or (True,) * nd)
        self.spectral = spectral_layers if spectral_layers is not None else nn.ModuleList(
            spectral_conv(width, width, tuple(modes), **spectral_kwargs) for _ in range(layers))
        self.skips = nn.ModuleList(pointwise(nd, width, width) for _ in range(layers))
        self.act = ACTIVATIONS[activation]()
        self.project = ChannelMLP(nd, width, projection_channels, out_channels, activation)

    def forward(self, x):
        if self.embedding is not None:
            x = self.embedding(x)
        x = self.lift(x)
        x, pads = self.padding.pad(x)
        last = len(self.skips) - 1
        for i, skip in enumerate(self.skips):
            x = self.spectral[i](x) + skip(x)
            if i < last:
                x = self.act(x)
        x = self.padding.unpad(x, pads)
        return self.project(x)


def fno_modes(options: FNOOptions, grid: Grid) -> tuple[int, ...]:
    """Retained modes per axis of ``grid`` from ``options.modes`` (one int for all axes, or a list)."""
    modes = options.modes if isinstance(options.modes, list) else [options.modes] * grid.ndim
    if len(modes) != grid.ndim:
        raise UserError(f"expected {grid.ndim} modes for a {grid.ndim}-D grid, got {len(modes)}",
                        field="backend.modes")
    return tuple(modes)


def fno_from_options(options: FNOOptions, in_channels: int, out_channels: int, grid: Grid, **extra) -> FNO:
    """An `FNO` for ``grid`` configured by ``options`` (shared by FNO-family backends); ``extra``
    goes to `FNO` (``spectral_conv=...``, ``spectral_layers=...``, spectral layer options)."""
    modes = fno_modes(options, grid)
    periodic = tuple(a.periodic for a in grid.axes)
    padding = options.padding if options.padding != "auto" else (0.0 if all(periodic) else 0.125)
    return FNO(in_channels, out_channels, modes, options.width, options.layers,
               options.projection_channels, options.activation, padding, periodic,
               options.positional_embedding, tuple(a.layout == "nodes" for a in grid.axes), **extra)


class FNOSolver(OperatorSolver, name="fno"):
    """Fourier Neural Operator."""

    Options = FNOOptions
    uniform_grid = True
    description = "Fourier Neural Operator: spectral convolutions on the lowest modes (1-D/2-D/3-D)"
    paper = "Li et al., Fourier Neural Operator for Parametric PDEs, ICLR 2021"

    def build_network(self, in_channels, out_channels, grid):
        return fno_from_options(self.options, in_channels, out_channels, grid)
