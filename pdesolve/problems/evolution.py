"""Time-dependent field problems: one PDE instance integrated in time from a known initial state.

These are the INSR examples (Chen et al., ICML 2023): a field solver integrates them step by step
with a fixed time step ``dt`` for ``steps`` steps, at times ``t_k = k dt``. A problem provides the
physics (domain, initial state, parameters), the exact solution where one is known, headline
diagnostics shared by every method (`evaluate`), and classical grid baselines.

Dataset convention (task ``"field"``, as for the GP-HM problems in `manufactured`): every sample is
the same instance. Variables ``(sample, time, *grid)`` hold the reference on an evaluation grid
(``data.resolution`` points per axis): the exact solution at every step time where it is known,
otherwise only the initial state at ``t = 0`` (then ``time`` has length 1). Cases use
``n_train: 1`` (never read: the solver fits the PDE itself), ``n_val: 0`` and ``n_test: 1``.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch
import xarray as xr
from pydantic import ConfigDict, Field

from pdesolve.data.grid import Grid
from pdesolve.data.tensors import to_dataset
from pdesolve.errors import UserError
from pdesolve.problems.base import Problem, ProblemParams


class EvolutionParams(ProblemParams):
    """Time stepping shared by every time-dependent field problem."""

    model_config = ConfigDict(allow_inf_nan=False)

    dt: float = Field(0.05, gt=0, description="time step")
    steps: int = Field(10, ge=0, description="time steps to integrate (the run ends at t = steps * dt)")


class EvolutionProblem(Problem):
    """Base of the time-dependent field problems (see module docstring).

    Class attributes:
        outputs: the state variables a solver produces, in order.
        default_resolution: evaluation points per axis when ``data.resolution`` is null.
        source: how the reference is obtained (netCDF ``source`` attribute).
    """

    task = "field"
    outputs: ClassVar[tuple[str, ...]]
    default_resolution: ClassVar[int]
    source: ClassVar[str] = "closed-form initial state and exact solution"

    @property
    def times(self) -> np.ndarray:
        """``t_k = k dt`` for ``k = 0..steps``."""
        return np.arange(self.params.steps + 1) * self.params.dt

    @abstractmethod
    def grid(self, points: int | Sequence[int]) -> Grid:
        """The evaluation grid over the domain with ``points`` per axis."""

    def data_grid(self, resolution: int | Sequence[int] | None) -> Grid:
        return self.grid(self.default_resolution if resolution is None else resolution)

    @property
    def reference_at_every_step(self) -> bool:
        """Whether `reference` gives the solution at every step time (else only at ``t = 0``: no
        known solution, the rollout judges by the problem's own metrics)."""
        return True

    @abstractmethod
    def reference(self, grid: Grid) -> tuple[np.ndarray, dict[str, torch.Tensor]]:
        """Reference times and fields on ``grid``: name -> ``(time, *grid.shape)``."""

    @abstractmethod
    def evaluate(self, prediction: xr.Dataset, reference: xr.Dataset) -> dict[str, float]:
        """Headline metrics of a prediction (one sample, ``(time, *grid)`` variables at the step
        times) against the problem's reference dataset (one sample)."""

    def recipe(self, n, seed, resolution):
        return super().recipe(n, 0, list(self.data_grid(resolution).shape))

    def generate(self, n, seed, *, resolution=None, device="cpu", batch_size=32) -> xr.Dataset:
        """The reference on the evaluation grid as ``n`` identical samples (see module docstring)."""
        grid = self.data_grid(resolution)
        times, fields = self.reference(grid)
        attrs = self.dataset_attrs(
            source=self.source, recipe=self.recipe(n, seed, resolution),
            title=f"{self.name}: reference on a {' x '.join(map(str, grid.shape))} evaluation grid")
        data = {k: v.cpu()[None].expand(n, *v.shape) for k, v in fields.items()}
        return to_dataset(data, grid, self.fields, times=times, attrs=attrs, dtype=np.float64)


def check_points(points: int | Sequence[int], ndim: int, minimum: int = 3) -> tuple[int, ...]:
    """``points`` as one size per axis, each at least ``minimum``."""
    sizes = (points,) * ndim if isinstance(points, int) else tuple(int(p) for p in points)
    if len(sizes) != ndim or min(sizes) < minimum:
        raise UserError(f"expected {ndim} grid size(s) of at least {minimum} points, got {points}")
    return sizes


def single_sample(ds: xr.Dataset) -> xr.Dataset:
    """The first sample of a dataset with a ``sample`` dimension (the dataset itself otherwise)."""
    return ds.isel(sample=0) if "sample" in ds.dims else ds
