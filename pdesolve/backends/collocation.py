"""Shared machinery of collocation backends (kind ``field``): solvers that fit one stationary PDE
instance on a grid of collocation points and can then evaluate the solution anywhere.

A collocation backend defines its options (with ``collocation``: points per axis), `build`,
`predict` (the solution on any grid over the domain) and `objective` (the loss minimised on one
step), and inherits::

    fit    train.epochs x steps_per_epoch optimiser steps through the engine's Trainer; each epoch
           ends with a checkpoint, scored against the exact solution when the case has a
           validation sample (so best.pt is the min-over-checkpoints iterate), else the last one
    score  relative L2 error against the exact solution on the data grid
    solve  the solution on the grid of any dataset (netCDF-ready), plus `extra_variables`

Problems are `pdesolve.problems.manufactured.StationaryPDE` instances (checked): they give the
grid, the operator's derivative terms, the source, the boundary mask and the exact boundary data.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import xarray as xr
from pydantic import Field

from pdesolve.backends.base import BackendOptions, FitReport, Solver, Trainer
from pdesolve.data.grid import Grid
from pdesolve.data.samples import select_split
from pdesolve.data.tensors import grid_from_dataset, to_dataset, to_tensor
from pdesolve.errors import UserError
from pdesolve.metrics import relative_l2
from pdesolve.numerics.autodiff import MultiIndex
from pdesolve.problems.base import Problem
from pdesolve.problems.manufactured import StationaryPDE

DTYPE = torch.float64


class CollocationOptions(BackendOptions):
    """Options every collocation backend has."""

    collocation: int | list[int] = Field(
        400, description="collocation grid points per axis, boundary included (one value or one per axis)")
    steps_per_epoch: int = Field(1000, ge=1, description="optimiser steps between checkpoints")


@dataclass
class CollocationPDE:
    """A PDE sampled on the collocation grid (float64, on the solver's device)."""

    operator: Callable[[torch.Tensor, dict[MultiIndex, torch.Tensor]], torch.Tensor]  # L[u], the problem's
    terms: list[MultiIndex]        # derivative multi-indices the operator reads
    coords: tuple[torch.Tensor, ...]  # coordinates of every grid point, one grid.shape tensor per axis
    source: torch.Tensor           # f at every grid point, grid.shape
    boundary: torch.Tensor         # bool mask of boundary points, grid.shape
    boundary_values: torch.Tensor  # exact u at the masked points, (n_boundary,)

    @classmethod
    def sample(cls, problem, grid: Grid, device) -> CollocationPDE:
        coords = problem.mesh(grid, device)
        mask = problem.boundary_mask(grid, device)
        return cls(problem.operator, list(problem.linear_terms()), coords, problem.source(*coords), mask,
                   problem.exact(*coords)[mask])


class CollocationSolver(Solver):
    """Base of backends that solve one PDE instance by collocation on a tensor grid."""

    kind: ClassVar[str] = "field"
    tasks: ClassVar[tuple[str, ...]] = ("field",)
    Options: ClassVar[type[CollocationOptions]] = CollocationOptions

    @classmethod
    def unused_train_fields(cls, problem, options):
        return {**super().unused_train_fields(problem, options), "loss": "it minimises its PDE objective",
                "batch_size": "an epoch is backend.steps_per_epoch optimiser steps on the collocation points"}

    @classmethod
    def check_problem(cls, problem, options, *, horizon=1):
        super().check_problem(problem, options, horizon=horizon)
        if not isinstance(problem, StationaryPDE):
            known = ", ".join(n for n, c in Problem.registered().items() if issubclass(c, StationaryPDE))
            raise UserError(f"backend '{cls.name}' solves stationary PDEs on a box ({known}), not "
                            f"'{problem.name}'", field="problem.name")
        sizes = options.collocation if isinstance(options.collocation, list) else [options.collocation]
        if isinstance(options.collocation, list) and len(sizes) != problem.ndim:
            raise UserError(f"'{problem.name}' is {problem.ndim}-D: give one collocation size or "
                            f"{problem.ndim}, got {len(sizes)}", field="backend.collocation")
        if min(sizes) < 3:
            raise UserError(f"collocation needs at least 3 points per axis, got {options.collocation}",
                            field="backend.collocation")

    # ------------------------------------------------------------------- what subclasses define
    @abstractmethod
    def objective(self, pde: CollocationPDE, generator: torch.Generator) -> torch.Tensor:
        """The scalar loss of one optimiser step (``generator`` drives any random point sampling)."""

    @abstractmethod
    def predict(self, grid: Grid) -> torch.Tensor:
        """The solution on ``grid`` (any rectilinear grid over the domain), shape ``grid.shape``."""

    def setup_for(self, problem, grid: Grid) -> dict[str, Any]:
        """JSON-able facts `build` needs (subclasses add theirs)."""
        return {"problem": problem.name, "grid": grid.to_json(), "outputs": ["u"]}

    def extra_variables(self) -> dict[str, xr.Variable]:
        """Learned quantities written next to ``u`` by `solve`."""
        return {}

    def extra_attrs(self) -> dict[str, object]:
        """Global attributes written by `solve`."""
        return {}

    # ---------------------------------------------------------------------------- shared
    @property
    def grid(self) -> Grid:
        """The collocation grid."""
        return Grid.from_json(self.setup["grid"])

    def fit(self, problem, data: xr.Dataset, trainer: Trainer) -> FitReport:
        grid = problem.grid(self.options.collocation)
        self.setup = self.setup_for(problem, grid)
        self.build(self.setup)
        self.to(trainer.device)
        pde = CollocationPDE.sample(problem, grid, trainer.device)
        val = select_split(data, "validation")
        validate = (lambda: self.error(val)) if val.sizes["sample"] else None
        steps = self.options.steps_per_epoch

        def epoch(generator: torch.Generator):
            return (generator for _ in range(steps))

        return trainer.fit(self, self.modules(), lambda gen: self.objective(pde, gen), epoch, validate,
                           n_batches=steps)

    def error(self, data: xr.Dataset) -> float:
        """Mean relative L2 error of the solution against ``data["u"]`` on its grid."""
        ref = to_tensor(data, ["u"], dtype=DTYPE)[:, 0]
        pred = self.predict(grid_from_dataset(data)).cpu()
        return float(relative_l2(pred.expand_as(ref), ref).mean())

    def score(self, problem, data: xr.Dataset) -> dict[str, float]:
        """``test_rel_l2`` against the exact solution on the data grid."""
        return {"test_rel_l2": self.error(data)}

    def solve(self, problem, inputs: xr.Dataset) -> xr.Dataset:
        """``u`` on the grid of ``inputs`` (one identical sample per input sample) with the solver's
        `extra_variables` and `extra_attrs`."""
        grid = grid_from_dataset(inputs)
        n = inputs.sizes.get("sample", 1)
        u = self.predict(grid).cpu()
        ds = to_dataset({"u": u[None].expand(n, *grid.shape)}, grid, {"u": problem.fields["u"]},
                        dtype=np.float64)
        return ds.assign(self.extra_variables()).assign_attrs(self.extra_attrs())
