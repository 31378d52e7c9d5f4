"""2-D incompressible Euler flow in a closed box (the INSR paper's fluid examples).

Equations (Chen et al., ICML 2023; set-up of the authors' ``fluid2Dtlgn.sh`` / ``fluid2DtlgnM.sh``)::

    du/dt + (u . grad) u = -grad p,   div u = 0,   x in [-1, 1]^2,   u . n = 0 on the walls,

density 1, no viscosity, ``dt = 0.05``, 100 steps. Initial states (`INITIAL_STATES`):

* ``taylor_green``: ``u = sin(pi X) cos(pi Y) / pi``, ``v = -cos(pi X) sin(pi Y) / pi`` with
  ``X = x + 1``, ``Y = y + 1`` -- 2 x 2 Taylor--Green cells. It is a *steady* solution of the Euler
  equations with these walls, so the exact solution is the initial state at every time and any
  loss of kinetic energy or vorticity is numerical dissipation;
* ``taylor_green_multi``: the authors' multi-scale demo -- an unscaled Taylor--Green pattern
  compressed into ``[-1, 0]^2`` and another compressed 8x into ``[0.75, 1]^2``, zero elsewhere,
  each blended to zero over a thin gap (0.05 and 0.0125). No exact solution.

The evaluation grid is cell-centred (``data.resolution`` cells per axis, default 64), as the
authors' uniform sampler. `evaluate` reports kinetic-energy and vorticity loss relative to the
exact initial state on that grid (vorticity by second-order differences of the sampled field, the
same for every method) and, for ``taylor_green``, the relative L2 error of the velocity.

Grid baseline ``stable_fluids``: Stam's stable fluids (SIGGRAPH 1999) on a staggered (MAC) grid at
matched memory -- semi-Lagrangian advection (one Euler back-trace with the grid's own velocity,
clamped to the box, bilinear interpolation; the same integrator INSR uses), then an exact pressure
projection (the Neumann Poisson problem diagonalised by the type-II DCT), the same ``dt``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar, Literal

import numpy as np
import scipy.fft
import torch
import xarray as xr
from pydantic import Field

from pdesolve.data.fields import FieldSpec
from pdesolve.data.grid import Axis, Grid
from pdesolve.problems.base import Baseline
from pdesolve.problems.evolution import EvolutionParams, EvolutionProblem, check_points, single_sample

PAPER_SIREN_PARAMETERS = 3330 + 3297  # velocity 2->2 and pressure 2->1 sine MLPs, 3 x 32 (fluid2Dtlgn.sh)


# --------------------------------------------------------------------------- initial states
def taylor_green(
    x: torch.Tensor, y: torch.Tensor, scale: float = 1.0 / math.pi
) -> tuple[torch.Tensor, torch.Tensor]:
    """2 x 2 Taylor--Green cells on ``[-1, 1]^2`` with amplitude ``scale``."""
    X, Y = (x + 1) * math.pi, (y + 1) * math.pi
    return scale * torch.sin(X) * torch.cos(Y), -scale * torch.cos(X) * torch.sin(Y)


def _blended_patch(x, y, corner: float, low_side: bool, gap: float, zoom: float, shift: float):
    """An unscaled Taylor--Green pattern squeezed into a square patch, faded to zero over ``gap``
    outside it (the authors' ``taylorgreen_multi_velocity`` construction)."""
    if low_side:
        mask = (x <= corner + gap) & (y <= corner + gap)
        outside = torch.stack([x - corner, y - corner], -1).clamp(0, gap)
    else:
        mask = (x > corner - gap) & (y > corner - gap)
        outside = torch.stack([corner - x, corner - y], -1).clamp(0, gap)
    weight = 1 - outside.norm(dim=-1) / gap
    u, v = taylor_green((x * zoom + shift).clamp(-1, 1), (y * zoom + shift).clamp(-1, 1), 1.0)
    zero = torch.zeros_like(x)
    return torch.where(mask, u * weight, zero), torch.where(mask, v * weight, zero)


def taylor_green_multi(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The multi-scale pattern (see module docstring)."""
    scale, gap = 8.0, 0.05
    u1, v1 = _blended_patch(x, y, 0.0, True, gap, 2.0, 1.0)
    corner = 1 - 2 / scale
    u2, v2 = _blended_patch(x, y, corner, False, gap * 2 / scale, scale, 1 - scale)
    return u1 + u2, v1 + v2


INITIAL_STATES: dict[str, Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]] = {
    "taylor_green": taylor_green,
    "taylor_green_multi": taylor_green_multi,
}
STEADY = {"taylor_green"}


class Euler2DParams(EvolutionParams):
    initial: Literal["taylor_green", "taylor_green_multi"] = Field(
        "taylor_green", description="initial velocity: taylor_green (steady) or taylor_green_multi"
    )
    dt: float = Field(0.05, gt=0, description="time step")
    steps: int = Field(100, ge=0, description="time steps (paper: 100)")


class Euler2D(EvolutionProblem, name="euler_2d"):
    """Inviscid incompressible flow in [-1, 1]^2 with slip walls (INSR fluid examples)."""

    Params = Euler2DParams
    description = (
        "2-D incompressible Euler in a box: Taylor-Green (steady) and multi-scale Taylor-Green (INSR)"
    )
    fields = {
        "u": FieldSpec("u", "1", "velocity x component", "eastward_velocity"),
        "v": FieldSpec("v", "1", "velocity y component", "northward_velocity"),
    }
    outputs = ("u", "v")
    default_resolution = 64

    @property
    def steady(self) -> bool:
        return self.params.initial in STEADY

    def initial(self, points: torch.Tensor) -> torch.Tensor:
        """Initial velocity at ``points`` ``(..., 2)``: ``(..., 2)``."""
        u, v = INITIAL_STATES[self.params.initial](points[..., 0], points[..., 1])
        return torch.stack([u, v], dim=-1)

    def grid(self, points) -> Grid:
        nx, ny = check_points(points, 2)
        return Grid((Axis("x", nx, 2.0, -1.0, "cells"), Axis("y", ny, 2.0, -1.0, "cells")))

    @property
    def reference_at_every_step(self) -> bool:
        return self.steady  # the multi-scale flow has no known solution after t = 0

    def reference(self, grid):
        x, y = (torch.as_tensor(c) for c in grid.mesh())
        u0 = self.initial(torch.stack([x, y], -1))
        times = self.times if self.steady else self.times[:1]
        return times, {
            name: u0[..., i][None].expand(len(times), *grid.shape) for i, name in enumerate(self.outputs)
        }

    def evaluate(self, prediction: xr.Dataset, reference: xr.Dataset) -> dict[str, float]:
        """Kinetic-energy and vorticity loss at the last predicted time (relative to the exact
        initial state on the evaluation grid) and, for a steady state, the velocity error."""
        pred, ref = single_sample(prediction), single_sample(reference)
        h = [float(ref[c][1] - ref[c][0]) for c in ("x", "y")]
        first = {n: ref[n].isel(time=0).values for n in self.outputs}
        last = {n: pred[n].isel(time=-1).values for n in self.outputs}
        e0, e1 = kinetic_energy(first["u"], first["v"], h), kinetic_energy(last["u"], last["v"], h)
        w0 = np.linalg.norm(vorticity(first["u"], first["v"], h))
        w1 = np.linalg.norm(vorticity(last["u"], last["v"], h))
        out = {
            "final_energy_loss": float(1 - e1 / e0),
            "final_vorticity_loss": float(1 - w1 / w0),
            "final_time": float(pred["time"][-1]),
        }
        if self.steady:
            diff = sum(((last[n] - first[n]) ** 2).sum() for n in self.outputs)
            out["final_rel_l2"] = float(np.sqrt(diff / sum((first[n] ** 2).sum() for n in self.outputs)))
        return out

    def baselines(self) -> dict[str, Baseline]:
        return {StableFluids.name: StableFluids()}


def kinetic_energy(u: np.ndarray, v: np.ndarray, spacing: list[float]) -> float:
    """``1/2 int |u|^2 dx`` by the midpoint rule on a cell-centred grid."""
    return float(0.5 * (u**2 + v**2).sum() * spacing[0] * spacing[1])


def vorticity(u: np.ndarray, v: np.ndarray, spacing: list[float]) -> np.ndarray:
    """``dv/dx - du/dy`` by second-order differences (one-sided at the edges); arrays ``(nx, ny)``."""
    return np.gradient(v, spacing[0], axis=0, edge_order=2) - np.gradient(u, spacing[1], axis=1, edge_order=2)


# ------------------------------------------------------------------------------- baseline
def _bilinear(field: np.ndarray, fi: np.ndarray, fj: np.ndarray) -> np.ndarray:
    """``field`` at fractional indices ``(fi, fj)``, clamped to the array (bilinear)."""
    ni, nj = field.shape
    fi, fj = np.clip(fi, 0, ni - 1), np.clip(fj, 0, nj - 1)
    i0, j0 = np.minimum(fi.astype(int), ni - 2), np.minimum(fj.astype(int), nj - 2)
    a, b = fi - i0, fj - j0
    return (
        (1 - a) * (1 - b) * field[i0, j0]
        + a * (1 - b) * field[i0 + 1, j0]
        + (1 - a) * b * field[i0, j0 + 1]
        + a * b * field[i0 + 1, j0 + 1]
    )


class MACVelocity:
    """Velocity on a staggered ``n x n`` grid over ``[-1, 1]^2``: ``u (n+1, n)`` on the x-faces,
    ``v (n, n+1)`` on the y-faces; the wall-normal components are zero."""

    def __init__(self, n: int):
        self.n, self.h = n, 2.0 / n
        i = np.arange(n + 1) * self.h - 1
        c = (np.arange(n) + 0.5) * self.h - 1
        self.u_points = np.meshgrid(i, c, indexing="ij")  # x-face positions
        self.v_points = np.meshgrid(c, i, indexing="ij")  # y-face positions
        self.u = np.zeros((n + 1, n))
        self.v = np.zeros((n, n + 1))

    def u_at(self, x, y, u=None):
        return _bilinear(self.u if u is None else u, (x + 1) / self.h, (y + 1) / self.h - 0.5)

    def v_at(self, x, y, v=None):
        return _bilinear(self.v if v is None else v, (x + 1) / self.h - 0.5, (y + 1) / self.h)

    def enforce_walls(self) -> None:
        self.u[0], self.u[-1], self.v[:, 0], self.v[:, -1] = 0.0, 0.0, 0.0, 0.0

    def divergence(self) -> np.ndarray:
        return (np.diff(self.u, axis=0) + np.diff(self.v, axis=1)) / self.h

    def advect(self, dt: float) -> None:
        """Semi-Lagrangian: each face takes the old value at its back-traced position."""
        u_old, v_old = self.u.copy(), self.v.copy()
        for points, component, at in ((self.u_points, "u", self.u_at), (self.v_points, "v", self.v_at)):
            x, y = points
            bx = np.clip(x - dt * self.u_at(x, y, u_old), -1, 1)
            by = np.clip(y - dt * self.v_at(x, y, v_old), -1, 1)
            setattr(self, component, at(bx, by, u_old if component == "u" else v_old))
        self.enforce_walls()

    def project(self) -> None:
        """Subtract the gradient of the pressure solving ``Lap p = div u`` with zero-flux walls."""
        n, h = self.n, self.h
        lam = -4 / h**2 * np.sin(np.pi * np.arange(n) / (2 * n)) ** 2
        denom = lam[:, None] + lam[None, :]
        denom[0, 0] = 1.0
        p_hat = scipy.fft.dctn(self.divergence(), type=2, norm="ortho") / denom
        p_hat[0, 0] = 0.0
        p = scipy.fft.idctn(p_hat, type=2, norm="ortho")
        self.u[1:-1] -= np.diff(p, axis=0) / h
        self.v[:, 1:-1] -= np.diff(p, axis=1) / h


class StableFluids(Baseline):
    """Stable fluids on a MAC grid of ``n x n`` cells (stores ``u, v, p``: ``3 n^2 + 2 n`` values)."""

    name: ClassVar[str] = "stable_fluids"
    description: ClassVar[str] = (
        "stable fluids (semi-Lagrangian + exact projection) on a MAC grid at matched memory"
    )

    def __init__(self, n: int | None = None):
        self.n = n if n is not None else self.cells_for(PAPER_SIREN_PARAMETERS)

    @staticmethod
    def cells_for(values: int) -> int:
        """The largest ``n`` whose ``u, v, p`` storage does not exceed ``values``."""
        n = int(math.sqrt(values / 3))
        while 3 * (n + 1) ** 2 + 2 * (n + 1) <= values:
            n += 1
        while 3 * n**2 + 2 * n > values:
            n -= 1
        return n

    @property
    def stored_values(self) -> int:
        return 3 * self.n**2 + 2 * self.n

    def initial_state(self, problem: Euler2D) -> MACVelocity:
        state = MACVelocity(self.n)
        for points, index in ((state.u_points, 0), (state.v_points, 1)):
            xy = torch.as_tensor(np.stack(points, -1))
            setattr(state, "uv"[index], problem.initial(xy)[..., index].numpy())
        state.enforce_walls()
        return state

    def trajectory(self, problem: Euler2D):
        """Yield the state at ``t_0 .. t_steps`` (one `MACVelocity`, updated in place)."""
        state = self.initial_state(problem)
        yield state
        for _ in range(problem.params.steps):
            state.advect(problem.params.dt)
            state.project()
            yield state

    def run(
        self, problem: Euler2D, inputs=None, grid: Grid | None = None, t0: float = 0.0, times=()
    ) -> torch.Tensor:
        """``(1, steps + 1, 2, *grid.shape)``: ``u, v`` at every step time sampled on ``grid``
        (``inputs``, ``t0`` and ``times`` are not used; the problem gives the initial state and times)."""
        grid = grid or problem.data_grid(None)
        x, y = grid.mesh()
        frames = [np.stack([state.u_at(x, y), state.v_at(x, y)]) for state in self.trajectory(problem)]
        return torch.as_tensor(np.stack(frames))[None]
