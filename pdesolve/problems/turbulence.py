"""What the periodic turbulence problems share: filtered-DNS data and the LES baselines.

A `TurbulentFlow` runs its DNS on the solver grid and stores the **filtered DNS** on the data
(LES) grid: a sharp spectral cutoff at ``k_c`` (default ``floor(N_les / 3)``, the Wang group's
``k_c = 10`` on 32^3) followed by Fourier truncation. `simulate` on any other grid is an LES on
that grid, evolving exactly the modes ``|n| <= k_c`` (inside the 2/3 rule) with a time step scaled
by the grid ratio; with no closure it is the under-resolved "coarse" baseline. The LES baselines
add an eddy-viscosity closure (`pdesolve.numerics.sgs`) with the constants of ``params.les``:

========== =============================================================
coarse      no model (the DNS solver at the LES resolution)
smagorinsky constant-coefficient Smagorinsky, ``C_s = les.smagorinsky_cs``
dsm         dynamic Smagorinsky (Germano--Lilly, test filter ``les.test_filter_ratio`` x wider)
wale        WALE, ``C_w = les.wale_cw``
leith       Leith (2-D problems only), ``C_L = les.leith_cl``
========== =============================================================

`pdesolve compare` reads `velocity` and `viscosity` to compute the turbulence statistics.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from pdesolve.data.grid import Grid
from pdesolve.errors import UserError
from pdesolve.numerics.filters import filter_to_grid, filter_width, les_cutoff
from pdesolve.numerics.sgs import WALE, DynamicSmagorinsky, EddyViscosityModel, Leith, Smagorinsky
from pdesolve.problems.base import Baseline, GridProblem, SnapshotParams, UnderResolved

DTYPES = {"float64": torch.float64, "float32": torch.float32}


class LESOptions(BaseModel):
    """The ``problem.les`` section: the LES grid's filter and the SGS models' constants.

    These do not change the generated data (they are left out of its content hash), except
    ``cutoff``, which defines the filtered DNS.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    cutoff: int | None = Field(None, gt=0, description="sharp-filter mode radius k_c; null = floor(N_les/3)")
    smagorinsky_cs: float = Field(0.17, gt=0, description="Smagorinsky constant (Lilly's 0.17 for HIT)")
    test_filter_ratio: float = Field(2.0, gt=1, description="dynamic Smagorinsky test-to-grid filter width")
    wale_cw: float = Field(0.5, gt=0, description="WALE constant (Nicoud-Ducros / Xcompact3d 0.5)")
    leith_cl: float = Field(0.2, gt=0, description="Leith constant (2-D problems)")


class TurbulenceParams(SnapshotParams):
    """Parameters every `TurbulentFlow` has; subclasses add the physics, the DNS grid (``resolution``),
    ``viscosity``, ``spin_up``, ``t_end`` (stored span) and ``dt``."""

    model_config = ConfigDict(allow_inf_nan=False)

    snapshot_interval: float = Field(0.2, gt=0, description="time between stored snapshots")
    dtype: Literal["float64", "float32"] = Field("float32", description="floating-point type of the solver")
    les: LESOptions = Field(default_factory=LESOptions)


Closure = Callable[[LESOptions, float, float], EddyViscosityModel]
CLOSURES: dict[str, Closure] = {
    "smagorinsky": lambda les, delta, cutoff: Smagorinsky(delta, les.smagorinsky_cs),
    "dsm": lambda les, delta, cutoff: DynamicSmagorinsky(delta, cutoff / les.test_filter_ratio,
                                                         les.test_filter_ratio),
    "wale": lambda les, delta, cutoff: WALE(delta, les.wale_cw),
    "leith": lambda les, delta, cutoff: Leith(delta, les.leith_cl),
}


class EddyViscosityLES(Baseline):
    """LES with the closure of `CLOSURES` named like the baseline."""

    def run(self, problem, inputs, grid, t0, times):
        return problem.simulate(inputs, grid, t0=t0, times=times, closure=self.name)


class SmagorinskyLES(EddyViscosityLES):
    name = "smagorinsky"
    description = "LES, constant-coefficient Smagorinsky"


class DynamicSmagorinskyLES(EddyViscosityLES):
    name = "dsm"
    description = "LES, dynamic Smagorinsky (Germano-Lilly, box-averaged, clipped)"


class WALELES(EddyViscosityLES):
    name = "wale"
    description = "LES, wall-adapting local eddy viscosity (WALE)"


class LeithLES(EddyViscosityLES):
    name = "leith"
    description = "LES, Leith's 2-D vorticity-gradient viscosity"


LES_3D = (UnderResolved, SmagorinskyLES, DynamicSmagorinskyLES, WALELES)
LES_2D = (*LES_3D, LeithLES)


class TurbulentFlow(GridProblem):
    """Base of periodic incompressible flows stored as filtered DNS (see module docstring).

    Subclasses take `TurbulenceParams` and define `integrate` and `velocity`.
    """

    task = "trajectory"

    @abstractmethod
    def integrate(self, state: torch.Tensor, grid: Grid, *, t0: float, times: Sequence[float], dt: float,
                  cutoff: float | None, closure: EddyViscosityModel | None) -> torch.Tensor:
        """The solver: states ``(n, C, *grid.shape)`` at ``t0`` -> ``(n, T, C, *grid.shape)`` at ``times``."""

    @abstractmethod
    def velocity(self, states: torch.Tensor, grid: Grid) -> torch.Tensor:
        """Velocity ``(..., d, *grid.shape)`` of states ``(..., C, *grid.shape)``."""

    @property
    def viscosity(self) -> float:
        return float(self.params.viscosity)

    @property
    def times(self) -> np.ndarray:
        """``spin_up + k snapshot_interval``, ``k = 0 .. t_end / snapshot_interval``."""
        p = self.params
        count = round(p.t_end / p.snapshot_interval)
        return p.spin_up + p.snapshot_interval * np.arange(count + 1, dtype=np.float64)

    def cutoff(self, grid: Grid) -> int:
        """Sharp-filter mode radius ``k_c`` of an LES grid."""
        return self.params.les.cutoff or les_cutoff(grid)

    def time_step(self, grid: Grid) -> float:
        """``params.dt`` on the solver grid, scaled by the grid ratio on coarser grids (same CFL)."""
        return self.params.dt * self.solver_grid.shape[0] / grid.shape[0]

    def restrict(self, u, grid, target):
        """Filtered DNS: sharp cutoff at `cutoff` of ``target``, then Fourier truncation."""
        return u if target == grid else filter_to_grid(u, grid, target, self.cutoff(target))

    def recipe(self, n, seed, resolution):
        recipe = super().recipe(n, seed, resolution)
        recipe["params"]["les"] = {"cutoff": self.params.les.cutoff}
        return recipe

    def simulate(self, inputs, grid, *, t0=0.0, times=None, closure: str | None = None):
        """DNS on the solver grid; LES on any other grid (no model unless ``closure`` names one).

        Computes in ``params.dtype`` on the device of ``inputs`` and returns the dtype of ``inputs``.
        """
        if grid.lengths != self.solver_grid.lengths:
            raise UserError(f"{self.name} lives on a box of lengths {self.solver_grid.lengths}; "
                            f"grid lengths are {grid.lengths}")
        dns = grid == self.solver_grid
        cutoff = None if dns else self.cutoff(grid)
        model = None
        if closure is not None:
            if dns:
                raise UserError(f"an SGS closure runs on an LES grid, not the DNS grid {grid.shape}")
            model = CLOSURES[closure](self.params.les, filter_width(grid, cutoff), cutoff)
        out = self.integrate(inputs.to(DTYPES[self.params.dtype]), grid, t0=t0,
                             times=self.times if times is None else times, dt=self.time_step(grid),
                             cutoff=cutoff, closure=model)
        return out.to(inputs.dtype)
