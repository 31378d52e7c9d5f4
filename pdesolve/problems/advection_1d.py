"""1-D advection of a Gaussian pulse (the INSR paper's first example).

Equation (Chen et al., "Implicit Neural Spatial Representations for Time-dependent PDEs", ICML 2023;
set-up of the authors' ``advect1D.sh``)::

    du/dt + a du/dx = 0,   x in [-L/2, L/2],  u = 0 at both walls,
    u(x, 0) = exp(-(x - mu)^2 / (2 sigma^2)),

with ``a = 0.25``, ``L = 4``, ``mu = -1.5``, ``sigma = 0.1``, ``dt = 0.05`` and 240 steps, so the
pulse travels 3 units to ``x = +1.5`` by ``t = 12``. The exact solution is the translated pulse
``u(x, t) = u(x - a t, 0)`` (the pulse stays ``>= 0.5`` away from the walls, where it is below 4e-6).

Grid baselines at matched memory (``cells`` stored values, default 901 = the paper's SIREN):

* ``fv``: second-order finite volumes with central (unlimited) face values and the *same* implicit
  midpoint rule and ``dt`` as INSR -- only the spatial representation differs;
* ``muscl``: second-order MUSCL finite volumes (van Leer limiter, upwind flux) with SSP-RK2,
  sub-stepped to CFL 0.5 inside each ``dt`` (the usual explicit grid scheme; it clips peaks);
* ``semi_lagrangian``: first-order semi-Lagrangian advection with linear interpolation (exact
  back-trace), the grid advection of the stable-fluids baseline of `euler_2d`; it smears the pulse;
* ``spectral``: Fourier collocation with the implicit midpoint rule per mode (on the periodic
  extension of the domain; exact in space for this band-limited pulse, so with many modes it is
  the *time-discrete floor*: the error of the midpoint rule alone).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import numpy as np
import scipy.linalg
import torch
import xarray as xr
from pydantic import Field

from pdesolve.data.fields import FieldSpec
from pdesolve.data.grid import Axis, Grid
from pdesolve.problems.base import Baseline
from pdesolve.problems.evolution import EvolutionParams, EvolutionProblem, check_points, single_sample

PAPER_SIREN_PARAMETERS = 901  # 1 -> 20 -> 20 -> 20 -> 1 sine MLP of advect1D.sh
DISCRETE_MODES = 4096  # Fourier modes of the time-discrete reference (exact in space for the pulse)


class Advection1DParams(EvolutionParams):
    velocity: float = Field(0.25, description="advection speed a")
    length: float = Field(4.0, gt=0, description="domain length L; the domain is [-L/2, L/2]")
    center: float = Field(-1.5, description="initial pulse centre mu")
    width: float = Field(0.1, gt=0, description="initial pulse standard deviation sigma")
    dt: float = Field(0.05, gt=0, description="time step")
    steps: int = Field(240, ge=0, description="time steps (paper: 240, t_end = 12)")


class Advection1D(EvolutionProblem, name="advection_1d"):
    """du/dt + a du/dx = 0 on [-L/2, L/2] with zero walls, Gaussian pulse (INSR example 1)."""

    Params = Advection1DParams
    description = "1-D advection of a Gaussian pulse with a known exact solution (INSR benchmark)"
    fields = {"u": FieldSpec("u", "1", "advected scalar u")}
    outputs = ("u",)
    default_resolution = 501

    @property
    def domain(self) -> tuple[float, float]:
        return -self.params.length / 2, self.params.length / 2

    def initial(self, x: torch.Tensor) -> torch.Tensor:
        """``u(x, 0)`` (any shape, differentiable)."""
        p = self.params
        return torch.exp(-0.5 * ((x - p.center) / p.width) ** 2)

    def exact(self, x: torch.Tensor, t: float) -> torch.Tensor:
        """``u(x, t) = u(x - a t, 0)``."""
        return self.initial(x - self.params.velocity * t)

    def grid(self, points) -> Grid:
        (n,) = check_points(points, 1)
        lo, _ = self.domain
        return Grid((Axis("x", n, self.params.length, lo, "nodes"),))

    def reference(self, grid):
        x = torch.as_tensor(grid.axes[0].coords(), dtype=torch.float64)
        times = self.times
        return times, {"u": torch.stack([self.exact(x, float(t)) for t in times])}

    def time_discrete(self, x: np.ndarray) -> np.ndarray:
        """The implicit midpoint rule at the problem's ``dt``, exact in space (`SpectralMidpoint` with
        `DISCRETE_MODES` modes), at the points ``x``: ``(steps + 1, len(x))``."""
        return SpectralMidpoint(DISCRETE_MODES).run(self, grid=self.grid(len(x)))[0, :, 0].numpy()

    def evaluate(self, prediction: xr.Dataset, reference: xr.Dataset) -> dict[str, float]:
        """Relative L2 and max error against the exact pulse, its peak height, and the relative L2
        against the time-discrete reference (`time_discrete`: the same midpoint rule and ``dt``,
        exact in space), which isolates the spatial representation (``*_discrete``).

        ``final_*``: at the last predicted time; ``mean_*``: averaged over the predicted steps
        after ``t = 0``.
        """
        pred, ref = single_sample(prediction)["u"], single_sample(reference)["u"]
        ref = ref.sel(time=pred["time"], method="nearest")
        err = np.sqrt(((pred - ref) ** 2).sum("x") / (ref**2).sum("x")).values
        steps = np.rint(pred["time"].values / self.params.dt).astype(int)
        discrete = self.time_discrete(pred["x"].values)[steps]
        err_d = np.sqrt(((pred.values - discrete) ** 2).sum(-1) / (discrete**2).sum(-1))
        last = pred.isel(time=-1)
        return {
            "final_rel_l2": float(err[-1]),
            "mean_rel_l2": float(err[1:].mean()) if err.size > 1 else float(err[0]),
            "final_rel_l2_discrete": float(err_d[-1]),
            "mean_rel_l2_discrete": float(err_d[1:].mean()) if err_d.size > 1 else float(err_d[0]),
            "final_max_error": float(np.abs(last - ref.isel(time=-1)).max()),
            "final_peak": float(last.max()),
            "final_time": float(pred["time"][-1]),
        }

    def baselines(self) -> dict[str, Baseline]:
        return {
            b.name: b() for b in (MidpointFiniteVolume, MUSCLFiniteVolume, SemiLagrangian, SpectralMidpoint)
        }


# ------------------------------------------------------------------------------- baselines
class GridAdvection(Baseline):
    """A grid solver for `Advection1D` with ``cells`` stored values, sampled on any grid.

    `run` returns ``(1, steps + 1, 1, *grid.shape)``: one sample, every step time of the problem
    (``inputs``, ``t0`` and ``times`` of the generic `Baseline` signature are not used: the initial
    state and the step times come from the problem).
    """

    name: ClassVar[str]

    def __init__(self, cells: int = PAPER_SIREN_PARAMETERS):
        self.cells = int(cells)

    @property
    def stored_values(self) -> int:
        return self.cells

    def run(
        self, problem: Advection1D, inputs=None, grid: Grid | None = None, t0: float = 0.0, times=()
    ) -> torch.Tensor:
        grid = grid or problem.data_grid(None)
        sample = self.sampler(problem, grid.axes[0].coords())
        frames = [sample(state) for state in self.trajectory(problem)]
        return torch.as_tensor(np.stack(frames))[None, :, None]

    def trajectory(self, problem: Advection1D):
        """Yield the state at ``t_0 .. t_steps``."""
        raise NotImplementedError

    def sampler(self, problem: Advection1D, x: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """A function giving the values of a state at the points ``x``."""
        raise NotImplementedError


class FiniteVolumeGrid(GridAdvection):
    """Cell averages on ``cells`` cells over the domain; zero ghost cells at both walls."""

    def centres(self, problem: Advection1D) -> tuple[np.ndarray, float]:
        lo, _ = problem.domain
        h = problem.params.length / self.cells
        return lo + (np.arange(self.cells) + 0.5) * h, h

    def initial_averages(self, problem: Advection1D) -> np.ndarray:
        """Exact cell averages of the initial pulse (3-point Gauss-Legendre per cell)."""
        xc, h = self.centres(problem)
        nodes, weights = np.polynomial.legendre.leggauss(3)
        x = xc[:, None] + 0.5 * h * nodes[None, :]
        u0 = problem.initial(torch.as_tensor(x)).numpy()
        return 0.5 * (u0 * weights).sum(axis=1)

    def sampler(self, problem, x):
        """Piecewise-linear through the cell centres and the zero walls."""
        xc, _ = self.centres(problem)
        lo, hi = problem.domain
        nodes = np.concatenate([[lo], xc, [hi]])
        return lambda state: np.interp(x, nodes, np.concatenate([[0.0], state, [0.0]]))


class MidpointFiniteVolume(FiniteVolumeGrid):
    name = "fv"
    description = "second-order central finite volumes, implicit midpoint rule at the model's dt"

    def trajectory(self, problem):
        p = problem.params
        _, h = self.centres(problem)
        n, c = self.cells, p.velocity * p.dt / (4 * h)
        # (I + dt/2 A) u_new = (I - dt/2 A) u_old with (A u)_i = a (u_{i+1} - u_{i-1}) / (2h)
        banded = np.zeros((3, n))
        banded[0, 1:], banded[1, :], banded[2, :-1] = c, 1.0, -c
        u = self.initial_averages(problem)
        yield u
        for _ in range(p.steps):
            rhs = u.copy()
            rhs[1:-1] -= c * (u[2:] - u[:-2])
            rhs[0] -= c * u[1]
            rhs[-1] += c * u[-2]
            u = scipy.linalg.solve_banded((1, 1), banded, rhs)
            yield u


def van_leer(r: np.ndarray) -> np.ndarray:
    return (r + np.abs(r)) / (1 + np.abs(r))


class MUSCLFiniteVolume(FiniteVolumeGrid):
    name = "muscl"
    description = "second-order MUSCL finite volumes (van Leer limiter), SSP-RK2 sub-stepped to CFL 0.5"
    cfl: ClassVar[float] = 0.5

    def rate(self, u: np.ndarray, a: float, h: float) -> np.ndarray:
        """``-d(a u)/dx`` from upwind fluxes of limited linear reconstructions (``a > 0`` or ``< 0``)."""
        g = np.pad(u, 2)  # two zero ghost cells per wall
        du = np.diff(g)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(du[1:] != 0, du[:-1] / du[1:], 0.0)
        slope = van_leer(r) * du[1:]  # limited slope x h, cells 1..n+2 of g
        left = g[1:-1] + 0.5 * slope  # value at the right face of each cell
        right = g[1:-1] - 0.5 * slope  # value at the left face of each cell
        face = left[:-1] if a >= 0 else right[1:]  # upwind value at faces between cells
        flux = a * face
        return -(flux[1:] - flux[:-1]) / h

    def trajectory(self, problem):
        p = problem.params
        _, h = self.centres(problem)
        substeps = max(1, math.ceil(abs(p.velocity) * p.dt / (self.cfl * h)))
        tau = p.dt / substeps
        u = self.initial_averages(problem)
        yield u
        for _ in range(p.steps):
            for _ in range(substeps):
                u1 = u + tau * self.rate(u, p.velocity, h)
                u = 0.5 * (u + u1 + tau * self.rate(u1, p.velocity, h))
            yield u


class SemiLagrangian(GridAdvection):
    """Nodal values; each step takes the value at the exact departure point ``x - a dt`` by linear
    interpolation (zero inflow): the grid advection of stable fluids, unconditionally stable."""

    name = "semi_lagrangian"
    description = "first-order semi-Lagrangian advection (linear interpolation), the stable-fluids scheme"

    def nodes(self, problem: Advection1D) -> np.ndarray:
        lo, hi = problem.domain
        return np.linspace(lo, hi, self.cells)

    def trajectory(self, problem):
        p = problem.params
        x = self.nodes(problem)
        u = problem.initial(torch.as_tensor(x)).numpy()
        yield u
        for _ in range(p.steps):
            u = np.interp(x - p.velocity * p.dt, x, u, left=0.0, right=0.0)
            yield u

    def sampler(self, problem, x):
        nodes = self.nodes(problem)
        return lambda state: np.interp(x, nodes, state)


class SpectralMidpoint(GridAdvection):
    name = "spectral"
    description = "Fourier collocation on the periodic extension, implicit midpoint rule per mode"

    def nodes(self, problem: Advection1D) -> np.ndarray:
        lo, _ = problem.domain
        return lo + np.arange(self.cells) * problem.params.length / self.cells

    def trajectory(self, problem):
        p = problem.params
        k = 2 * np.pi * np.fft.rfftfreq(self.cells, d=p.length / self.cells)
        gain = (1 - 0.5j * p.velocity * k * p.dt) / (1 + 0.5j * p.velocity * k * p.dt)
        u_hat = np.fft.rfft(problem.initial(torch.as_tensor(self.nodes(problem))).numpy())
        yield u_hat
        for _ in range(p.steps):
            u_hat = u_hat * gain
            yield u_hat

    def sampler(self, problem, x):
        """The trigonometric interpolant at ``x`` (exact Fourier evaluation)."""
        lo, _ = problem.domain
        n = self.cells
        k = 2 * np.pi * np.fft.rfftfreq(n, d=problem.params.length / n)
        weights = np.full(k.shape, 2.0 / n)
        weights[0] = 1.0 / n
        if n % 2 == 0:
            weights[-1] = 1.0 / n
        basis = np.exp(1j * np.outer(x - lo, k)) * weights
        return lambda state: (basis @ state).real
