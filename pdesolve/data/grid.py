"""Rectilinear grids: named axes with a length, a size, a point layout and periodicity.

A `Grid` says where the values of a field live. It knows nothing about torch or xarray beyond
producing coordinate arrays; conversions live in `pdesolve.data.tensors`.

Point layouts (``Axis.layout``):

* ``"periodic"`` -- N points ``origin + i L / N``, the last point is the image of the first.
* ``"nodes"``    -- N points ``origin + i L / (N - 1)``, both ends included (walls).
* ``"cells"``    -- N cell centres ``origin + (i + 1/2) L / N``.

An axis may instead list its ``points`` (a non-uniform axis, e.g. stretched towards a wall, read
from a user's file); ``layout`` then says whether the ends are walls (``nodes``) or cell centres
(``cells``), and ``origin``/``length`` span the points. Spectral backends refuse such axes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from pdesolve.errors import UserError

Layout = Literal["periodic", "nodes", "cells"]
AXIS_NAMES = ("x", "y", "z")


@dataclass(frozen=True)
class Axis:
    """One axis of a rectilinear grid.

    Attributes:
        name: coordinate name (``"x"``, ``"y"``, ``"z"``).
        size: number of points.
        length: extent of the domain along the axis, in ``units``.
        origin: coordinate of the domain's lower end.
        layout: where the points sit (see module docstring).
        units: CF units string of the coordinate (``"1"`` for non-dimensional).
        points: the coordinates of a non-uniform axis (``size`` increasing values), else ``None``.
    """

    name: str
    size: int
    length: float = 1.0
    origin: float = 0.0
    layout: Layout = "periodic"
    units: str = "1"
    points: tuple[float, ...] | None = None

    def __post_init__(self):
        if self.points is not None:
            points = tuple(float(p) for p in self.points)
            if len(points) != self.size or np.any(np.diff(points) <= 0):
                raise UserError(f"axis '{self.name}': expected {self.size} increasing coordinates")
            if self.layout == "periodic":
                raise UserError(f"axis '{self.name}': a periodic axis needs uniformly spaced points")
            object.__setattr__(self, "points", points)

    @property
    def periodic(self) -> bool:
        return self.layout == "periodic"

    @property
    def equally_spaced(self) -> bool:
        """True when the points are equally spaced (no explicit ``points``)."""
        return self.points is None

    @property
    def spacing(self) -> float:
        """Distance between neighbouring points (the mean distance on a non-uniform axis)."""
        if self.layout == "nodes":
            return self.length / (self.size - 1)
        return self.length / self.size

    def coords(self) -> np.ndarray:
        """The point coordinates, shape ``(size,)``, float64."""
        if self.points is not None:
            return np.asarray(self.points, dtype=np.float64)
        i = np.arange(self.size, dtype=np.float64)
        if self.layout == "cells":
            i = i + 0.5
        return self.origin + i * self.spacing

    def resized(self, size: int) -> Axis:
        """The same axis with ``size`` points (a non-uniform axis keeps every ``stride``-th point)."""
        if self.points is not None:
            return replace(self, size=int(size), points=self.points[::self.stride_to(size)])
        return replace(self, size=int(size))

    def stride_to(self, size: int) -> int:
        """The subsampling stride from this axis to one with ``size`` points.

        Raises:
            UserError: if ``size`` is not reachable by striding (for ``nodes`` both ends must be kept).
        """
        if self.layout == "nodes":
            ok = size >= 2 and (self.size - 1) % (size - 1) == 0
            stride = (self.size - 1) // (size - 1) if ok else 0
        elif self.layout == "periodic":
            ok = size >= 1 and self.size % size == 0
            stride = self.size // size if ok else 0
        else:  # cell centres do not nest under striding
            ok, stride = size == self.size, 1
        if not ok:
            raise UserError(
                f"cannot subsample axis '{self.name}' from {self.size} to {size} points "
                f"({self.layout} layout needs an integer stride)"
            )
        return stride


@dataclass(frozen=True)
class Grid:
    """A rectilinear grid: a tuple of axes in array order (x first, then y, then z).

    Arrays on the grid have the spatial shape ``grid.shape``; channel-first tensors have shape
    ``(batch, channels, *grid.shape)``.
    """

    axes: tuple[Axis, ...]

    @classmethod
    def uniform(
        cls,
        ndim: int,
        size: int | tuple[int, ...],
        length: float = 1.0,
        layout: Layout = "periodic",
        units: str = "1",
        origin: float = 0.0,
    ) -> Grid:
        """An ``ndim``-dimensional grid with the same length, layout and units on every axis."""
        sizes = (size,) * ndim if isinstance(size, int) else tuple(size)
        return cls(
            tuple(
                Axis(AXIS_NAMES[d], int(sizes[d]), float(length), float(origin), layout, units)
                for d in range(ndim)
            )
        )

    @property
    def ndim(self) -> int:
        return len(self.axes)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(a.size for a in self.axes)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.axes)

    @property
    def spacing(self) -> tuple[float, ...]:
        return tuple(a.spacing for a in self.axes)

    @property
    def lengths(self) -> tuple[float, ...]:
        return tuple(a.length for a in self.axes)

    @property
    def periodic(self) -> bool:
        """True when every axis is periodic."""
        return all(a.periodic for a in self.axes)

    @property
    def equally_spaced(self) -> bool:
        """True when every axis has equally spaced points (what FFT-based methods need)."""
        return all(a.equally_spaced for a in self.axes)

    @property
    def cell_volume(self) -> float:
        return float(np.prod(self.spacing))

    def coords(self) -> dict[str, np.ndarray]:
        """Coordinate arrays by axis name."""
        return {a.name: a.coords() for a in self.axes}

    def mesh(self) -> tuple[np.ndarray, ...]:
        """Coordinate arrays broadcast to the full grid shape (``indexing="ij"``)."""
        return tuple(np.meshgrid(*(a.coords() for a in self.axes), indexing="ij"))

    def resized(self, size: int | tuple[int, ...]) -> Grid:
        """The same domain sampled with other sizes (one int for every axis, or one per axis)."""
        sizes = (size,) * self.ndim if isinstance(size, int) else tuple(size)
        if len(sizes) != self.ndim:
            raise UserError(f"expected {self.ndim} sizes for a {self.ndim}-D grid, got {len(sizes)}")
        return Grid(tuple(a.resized(s) for a, s in zip(self.axes, sizes, strict=True)))

    def strides_to(self, other: Grid) -> tuple[int, ...]:
        """Per-axis subsampling strides from this grid to ``other`` (same domain, fewer points)."""
        return tuple(a.stride_to(b.size) for a, b in zip(self.axes, other.axes, strict=True))

    def to_json(self) -> str:
        """A JSON description that `from_json` turns back into the same grid."""
        return json.dumps([{k: v for k, v in a.__dict__.items() if not (k == "points" and v is None)}
                           for a in self.axes])

    @classmethod
    def from_json(cls, text: str) -> Grid:
        return cls(tuple(Axis(**a) for a in json.loads(text)))
