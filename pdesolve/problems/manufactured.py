"""Stationary PDEs on a box with manufactured exact solutions: the GP-HM benchmarks.

Equations (Fang et al., "Solving High Frequency and Multi-Scale PDEs with Gaussian Processes",
ICLR 2024, as set up in the authors' code), on ``[0, L]^d`` with Dirichlet data from the exact
solution on the whole boundary of the box::

    poisson              Laplacian u = f                               (1-D or 2-D)
    allen_cahn           Laplacian u + u (u^2 - 1) = f                  (1-D or 2-D)
    advection_spacetime  beta u_x + u_y = f,  y playing the time t      (2-D space-time box)

The source ``f`` is manufactured from the chosen exact solution by automatic differentiation
(float64), so ``u`` solves the problem exactly; the advection box prescribes ``u`` on all four sides,
final time included, as the authors do. Exact solutions are picked by name from `EXACT_SOLUTIONS`
(the paper's cases); each carries its domain and the angular frequencies it contains.

A field problem is one PDE instance, not a distribution. Its dataset holds the exact solution
``u`` (and the source ``f``) on an evaluation grid (``data.resolution`` points per axis, both ends
included; default 300 as in the authors' test sets); every sample is that same instance.
Convention for cases: ``n_train: 1`` (never read by field solvers, which fit the PDE itself),
``n_val: 1`` to select the best checkpoint by its error against the exact solution (the paper's
min-over-checkpoints protocol) or ``n_val: 0`` to keep the last iterate, ``n_test: 1``.

Each PDE exposes what field solvers need: `linear_terms` (derivative multi-index -> coefficient),
the pointwise `reaction` term, `operator`, `source`, `exact` and `boundary_mask`. The classical
baseline ``fd`` solves the same equations with second-order central differences (Newton's method
for the Allen--Cahn term) on a grid of the solver's size.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch
import xarray as xr
from pydantic import ConfigDict, Field, field_validator

from pdesolve.data.fields import FieldSpec
from pdesolve.data.grid import Axis, Grid
from pdesolve.data.tensors import to_dataset
from pdesolve.errors import UserError
from pdesolve.numerics.autodiff import MultiIndex, partial_derivatives
from pdesolve.problems.base import Baseline, Problem, ProblemParams

TWO_PI = 2 * math.pi
AXIS_NAMES = ("x", "y", "z")
DEFAULT_EVALUATION_POINTS = 300


@dataclass(frozen=True)
class ExactSolution:
    """A manufactured solution.

    Attributes:
        formula: the expression, for people.
        ndim: number of coordinates.
        length: the domain is ``[0, length]^ndim``.
        function: ``u(x[, y])`` on coordinate tensors of one shape (torch, differentiable).
        frequencies: per axis, the angular frequencies present (``100`` for ``sin(100 x)``).
        origin: the authors' configuration(s) using it.
    """

    formula: str
    ndim: int
    length: float
    function: Callable[..., torch.Tensor]
    frequencies: tuple[tuple[float, ...], ...]
    origin: str


def _mix(x: torch.Tensor) -> torch.Tensor:
    return torch.sin(x) + 0.1 * torch.sin(20 * x) + torch.cos(100 * x)


EXACT_SOLUTIONS: dict[str, ExactSolution] = {
    # 1-D
    "sin100x": ExactSolution("sin(100x)", 1, TWO_PI, lambda x: torch.sin(100 * x), ((100.0,),),
                             "poisson_1d-single_sin, allencahn_1d-single_sin"),
    "sin6x_cos100x": ExactSolution(
        "sin(6x) cos(100x)", 1, TWO_PI, lambda x: torch.sin(6 * x) * torch.cos(100 * x), ((94.0, 106.0),),
        "poisson_1d-sin_cos, allencahn_1d-sin_cos"),
    "x_sin200x": ExactSolution("x sin(200x)", 1, TWO_PI, lambda x: x * torch.sin(200 * x), ((200.0,),),
                               "poisson_1d-x_time_sinx"),
    "mix_sin": ExactSolution(
        "sin(x) + 0.1 sin(20x) + 0.05 sin(100x)", 1, 1.0,
        lambda x: torch.sin(x) + 0.1 * torch.sin(20 * x) + 0.05 * torch.sin(100 * x), ((1.0, 20.0, 100.0),),
        "poisson_1d-mix_sin (the code's sin; its comment says 0.05 cos(100x))"),
    "sin500x_quad": ExactSolution(
        "sin(500x) - 2(x - 0.5)^2", 1, 1.0, lambda x: torch.sin(500 * x) - 2 * (x - 0.5) ** 2,
        ((0.0, 500.0),),
        "poisson_1d-x2_add_sinx"),
    "sin6x": ExactSolution("sin(6x)", 1, TWO_PI, lambda x: torch.sin(6 * x), ((6.0,),),
                           "low-frequency check (not in the paper)"),
    # 2-D
    "sin100x_sin100y": ExactSolution(
        "sin(100x) sin(100y)", 2, TWO_PI, lambda x, y: torch.sin(100 * x) * torch.sin(100 * y),
        ((100.0,), (100.0,)), "poisson_2d-sin_sin"),
    "sin6x_cos20x_sum": ExactSolution(
        "sin(6x) cos(20x) + sin(6y) cos(20y)", 2, TWO_PI,
        lambda x, y: torch.sin(6 * x) * torch.cos(20 * x) + torch.sin(6 * y) * torch.cos(20 * y),
        ((14.0, 26.0), (14.0, 26.0)), "poisson_2d-sin_add_cos"),
    "mix_sincos_2d": ExactSolution(
        "(sin x + 0.1 sin 20x + cos 100x)(sin y + 0.1 sin 20y + cos 100y)", 2, 1.0,
        lambda x, y: _mix(x) * _mix(y), ((1.0, 20.0, 100.0), (1.0, 20.0, 100.0)), "allencahn_2d-mix-sincos"),
    "sin_x_minus_200y": ExactSolution(
        "sin(x - 200y)", 2, 1.0, lambda x, y: torch.sin(x - 200 * y), ((1.0,), (200.0,)),
        "advection-sin (beta = 200)"),
    "sin6x_sin6y": ExactSolution(
        "sin(6x) sin(6y)", 2, TWO_PI, lambda x, y: torch.sin(6 * x) * torch.sin(6 * y), ((6.0,), (6.0,)),
        "low-frequency check (not in the paper)"),
}


class ManufacturedParams(ProblemParams):
    """Parameters shared by the manufactured-solution problems."""

    model_config = ConfigDict(allow_inf_nan=False)

    solution: str = Field("sin100x", description=f"exact solution, one of: {', '.join(EXACT_SOLUTIONS)}")

    @field_validator("solution")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in EXACT_SOLUTIONS:
            raise ValueError(f"unknown exact solution (expected one of: {', '.join(EXACT_SOLUTIONS)})")
        return name


class AdvectionParams(ManufacturedParams):
    solution: str = Field("sin_x_minus_200y", description="exact solution u(x, t) (a 2-D one)")
    beta: float = Field(200.0, description="advection speed beta in beta u_x + u_t = f")


class StationaryPDE(Problem):
    """A stationary PDE ``sum_a c_a d^a u + r(u) = f`` on a box with Dirichlet data on its boundary.

    Subclasses give `linear_terms` and, when nonlinear, `reaction` and `reaction_derivative`.
    """

    task = "field"
    Params = ManufacturedParams
    fields = {
        "u": FieldSpec("u", "1", "solution u"),
        "f": FieldSpec("f", "1", "source term f of the PDE"),
    }
    dimensions: ClassVar[tuple[int, ...]] = (1, 2, 3)
    equation: ClassVar[str] = ""

    def __init__(self, params=None, *, source: str | None = None):
        super().__init__(params, source=source)
        if self.solution.ndim not in self.dimensions:
            dims = " or ".join(f"{d}-D" for d in self.dimensions)
            raise UserError(f"exact solution '{self.params.solution}' is {self.solution.ndim}-D; "
                            f"'{self.name}' is posed in {dims}", source=source, field="problem.solution")

    # ------------------------------------------------------------------------ the PDE
    @property
    def solution(self) -> ExactSolution:
        return EXACT_SOLUTIONS[self.params.solution]

    @property
    def ndim(self) -> int:
        return self.solution.ndim

    def linear_terms(self) -> dict[MultiIndex, float]:
        """Derivative multi-index -> coefficient of the linear part of the operator."""
        raise NotImplementedError

    def reaction(self, u: torch.Tensor) -> torch.Tensor | None:
        """The pointwise nonlinear term ``r(u)`` (``None``: linear PDE)."""
        return None

    def reaction_derivative(self, u: torch.Tensor) -> torch.Tensor | None:
        """``dr/du`` (``None``: linear PDE)."""
        return None

    def operator(self, u: torch.Tensor, derivatives: dict[MultiIndex, torch.Tensor]) -> torch.Tensor:
        """``L[u] = sum_a c_a d^a u + r(u)`` from ``u`` and its derivatives (multi-index -> values)."""
        out = sum(c * derivatives[a] for a, c in self.linear_terms().items())
        r = self.reaction(u)
        return out if r is None else out + r

    def exact(self, *coords: torch.Tensor) -> torch.Tensor:
        """The exact solution at points given by one coordinate tensor per axis (one shape)."""
        return self.solution.function(*coords)

    def source(self, *coords: torch.Tensor) -> torch.Tensor:
        """The manufactured source ``f = L[u_exact]`` at the points (autograd, in the coordinates' dtype)."""
        xs = [c.detach().clone().requires_grad_(True) for c in coords]
        with torch.enable_grad():
            u = self.exact(*xs)
            derivs = partial_derivatives(u, xs, self.linear_terms())
            return self.operator(u.detach(), derivs).detach()

    # -------------------------------------------------------------------------- grids
    def grid(self, points: int | Sequence[int]) -> Grid:
        """The box with ``points`` nodes per axis, both ends included (``nodes`` layout)."""
        sizes = [points] * self.ndim if isinstance(points, int) else list(points)
        if len(sizes) != self.ndim or min(sizes) < 3:
            raise UserError(f"expected {self.ndim} grid sizes of at least 3 points, got {points}")
        return Grid(tuple(Axis(AXIS_NAMES[j], int(n), self.solution.length, 0.0, "nodes")
                          for j, n in enumerate(sizes)))

    def data_grid(self, resolution: int | Sequence[int] | None) -> Grid:
        """The evaluation grid of the dataset (default 300 nodes per axis)."""
        return self.grid(DEFAULT_EVALUATION_POINTS if resolution is None else resolution)

    @staticmethod
    def mesh(grid: Grid, device=None, dtype=torch.float64) -> tuple[torch.Tensor, ...]:
        """Coordinates of every grid point, one tensor of shape ``grid.shape`` per axis."""
        axes = [torch.as_tensor(a.coords(), dtype=dtype, device=device) for a in grid.axes]
        return tuple(torch.meshgrid(*axes, indexing="ij"))

    @staticmethod
    def boundary_mask(grid: Grid, device=None) -> torch.Tensor:
        """``True`` on the faces of the box, shape ``grid.shape``."""
        mask = torch.zeros(grid.shape, dtype=torch.bool, device=device)
        for j in range(grid.ndim):
            index = [slice(None)] * grid.ndim
            for end in (0, -1):
                index[j] = end
                mask[tuple(index)] = True
        return mask

    # --------------------------------------------------------------------------- data
    def recipe(self, n, seed, resolution):
        return super().recipe(n, 0, list(self.data_grid(resolution).shape))

    def generate(self, n, seed, *, resolution=None, device="cpu", batch_size=32) -> xr.Dataset:
        """The exact solution and the source on the evaluation grid, as ``n`` identical samples."""
        grid = self.data_grid(resolution)
        coords = self.mesh(grid, device)
        u, f = self.exact(*coords), self.source(*coords)
        attrs = self.dataset_attrs(
            source="manufactured exact solution (closed form; source term by automatic differentiation)",
            title=f"{self.name}: exact solution {self.solution.formula}", recipe=self.recipe(n, seed, resolution),
            equation=self.equation, exact_solution=self.solution.formula,
            exact_frequencies=json.dumps(self.solution.frequencies))
        fields = {"u": u.cpu()[None].expand(n, *grid.shape), "f": f.cpu()[None].expand(n, *grid.shape)}
        return to_dataset(fields, grid, self.fields, attrs=attrs, dtype=np.float64)

    def baselines(self) -> dict[str, Baseline]:
        return {"fd": FiniteDifference()}

    # ------------------------------------------------------------ classical reference
    def finite_difference(self, grid: Grid, *, tol: float = 1e-12, max_newton: int = 50) -> torch.Tensor:
        """Second-order central finite differences on ``grid`` (Newton for the reaction term).

        Interior nodes carry the PDE, boundary nodes the exact Dirichlet data. Returns ``u`` of
        shape ``grid.shape`` (float64) at the grid nodes.
        """
        coords = self.mesh(grid)
        f = self.source(*coords).numpy().reshape(-1)
        g = self.exact(*coords).numpy().reshape(-1)
        boundary = self.boundary_mask(grid).numpy().reshape(-1)
        a = sum(c * _difference_operator(grid, index) for index, c in self.linear_terms().items()).tocsr()
        keep = sp.diags((~boundary).astype(np.float64))
        pin = sp.diags(boundary.astype(np.float64))
        u = np.where(boundary, g, 0.0)
        for _ in range(max_newton):
            ut = torch.from_numpy(u)
            r = self.reaction(ut)
            dr = self.reaction_derivative(ut)
            residual = a @ u - f + (0.0 if r is None else r.numpy())
            residual = np.where(boundary, u - g, residual)
            jac = keep @ (a + (0 if dr is None else sp.diags(dr.numpy()))) + pin
            try:
                du = spla.splu(jac.tocsc()).solve(-residual)
            except RuntimeError:  # SuperLU: "Factor is exactly singular"
                raise UserError("the finite-difference system is singular (central differences of first-"
                                "order terms need an even number of interior points per axis)") from None
            u = u + du
            if r is None or np.linalg.norm(du) <= tol * max(np.linalg.norm(u), 1.0):
                break
        return torch.from_numpy(u.reshape(grid.shape))


def _difference_1d(n: int, h: float, order: int) -> sp.spmatrix:
    """Central difference of ``order`` (0, 1 or 2) on ``n`` nodes; the end rows are not used."""
    stencils = {0: ([1.0], [0]), 1: ([-0.5 / h, 0.5 / h], [-1, 1]),
                2: ([1 / h**2, -2 / h**2, 1 / h**2], [-1, 0, 1])}
    if order not in stencils:
        raise UserError(f"finite differences of order {order} are not available (0..2)")
    values, offsets = stencils[order]
    return sp.diags(values, offsets, shape=(n, n))


def _difference_operator(grid: Grid, index: MultiIndex) -> sp.spmatrix:
    """``d^index`` on the row-major flattened grid (Kronecker product of 1-D differences)."""
    out = sp.identity(1)
    for axis, order in zip(grid.axes, index, strict=True):
        out = sp.kron(out, _difference_1d(axis.size, axis.spacing, order))
    return out


class FiniteDifference(Baseline):
    name = "fd"
    description = "second-order central finite differences on the solver's grid (Newton for nonlinear terms)"

    def run(self, problem: StationaryPDE, inputs, grid: Grid, t0=0.0, times=()) -> torch.Tensor:
        """``u`` on ``grid``, shape ``(1, 1, *grid.shape)`` (``inputs`` are not used)."""
        return problem.finite_difference(grid)[None, None]


def _laplacian(ndim: int) -> dict[MultiIndex, float]:
    return {tuple(2 * (j == k) for k in range(ndim)): 1.0 for j in range(ndim)}


class Poisson(StationaryPDE, name="poisson"):
    """Poisson: Laplacian u = f (1-D or 2-D), Dirichlet data on the box boundary."""

    description = "Poisson equation with a manufactured high-frequency/multi-scale solution (GP-HM benchmark)"
    equation = "Laplacian u = f"
    dimensions = (1, 2, 3)

    def linear_terms(self):
        return _laplacian(self.ndim)


class AllenCahn(StationaryPDE, name="allen_cahn"):
    """Stationary Allen--Cahn: Laplacian u + u (u^2 - 1) = f, Dirichlet data on the box boundary."""

    description = "stationary Allen-Cahn equation with a manufactured solution (GP-HM benchmark)"
    equation = "Laplacian u + u (u^2 - 1) = f"
    dimensions = (1, 2, 3)

    def linear_terms(self):
        return _laplacian(self.ndim)

    def reaction(self, u):
        return u * (u * u - 1)

    def reaction_derivative(self, u):
        return 3 * u * u - 1


class AdvectionSpaceTime(StationaryPDE, name="advection_spacetime"):
    """Advection beta u_x + u_t = f on the space-time box [0, L]^2 (y is t), u given on all four sides."""

    Params = AdvectionParams
    description = "1-D advection as a 2-D space-time boundary-value problem (GP-HM benchmark)"
    equation = "beta u_x + u_y = f (y is time)"
    dimensions = (2,)

    def linear_terms(self):
        return {(1, 0): self.params.beta, (0, 1): 1.0}
