"""Fourier Neural Operator (Li et al., "Fourier Neural Operator for Parametric Partial
Differential Equations", ICLR 2021), in 1-D, 2-D and 3-D.

Network: grid positional embedding -> pointwise lifting to ``width`` channels -> optional domain
padding of non-periodic axes -> ``layers`` Fourier layers ``v <- act(K v + W v)`` (no activation
after the last) -> crop -> pointwise projection through ``projection_channels`` to the outputs.
The spectral weights keep ``modes`` modes per axis, so the trained network evaluates on any
resolution (zero-shot super-resolution).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import nn

from pdesolve.data.grid import Grid
from pdesolve.models.presets import Preset, PresetTable
from pdesolve.nn.embeddings import GridEmbedding
from pdesolve.nn.layers import ACTIVATIONS, ChannelMLP, pointwise
from pdesolve.nn.padding import DomainPadding
from pdesolve.nn.spectral_conv import SpectralConv

AUTO_PADDING = 0.125  # ``padding="auto"``: this fraction on grids with a non-periodic axis, else none


@dataclass(frozen=True)
class FNOSize:
    """Size fields of an `FNO` (``modes``: retained modes per axis, one int for all axes)."""

    modes: int
    width: int
    layers: int
    projection_channels: int


PRESETS = PresetTable("fno", FNOSize, [
    Preset("fno-small", FNOSize(modes=8, width=20, layers=4, projection_channels=64),
           "CPU-sized: the quickstart's one-minute 32^2 network"),
    Preset("fno-paper-ns", FNOSize(modes=12, width=20, layers=4, projection_channels=128),
           "Li et al. 2021, FNO-2D on Navier-Stokes (fourier_2d_time.py)"),
    Preset("fno-paper-darcy", FNOSize(modes=12, width=32, layers=4, projection_channels=128),
           "Li et al. 2021, Darcy flow (fourier_2d.py)"),
    Preset("fno-paper-burgers", FNOSize(modes=16, width=64, layers=4, projection_channels=128),
           "Li et al. 2021, Burgers (fourier_1d.py)"),
])


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

    @classmethod
    def for_grid(cls, in_channels: int, out_channels: int, grid: Grid, modes: tuple[int, ...],
                 padding: float | Literal["auto"] = "auto", **kwargs) -> FNO:
        """The network for ``grid``: periodicity and positional-embedding end points from its axes,
        ``padding="auto"`` pads by `AUTO_PADDING` when an axis is not periodic. ``kwargs`` go to
        the constructor (sizes, activation, spectral layer options)."""
        periodic = tuple(a.periodic for a in grid.axes)
        if padding == "auto":
            padding = 0.0 if all(periodic) else AUTO_PADDING
        return cls(in_channels, out_channels, tuple(modes), padding=padding, periodic=periodic,
                   endpoint=tuple(a.layout == "nodes" for a in grid.axes), **kwargs)

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
