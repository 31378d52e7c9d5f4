"""2-D Darcy flow on the unit square with a two-valued random coefficient (the FNO benchmark problem).

Equation (Li et al. 2021, "Fourier neural operator for parametric PDEs", section 5.1)::

    -div(a(x) grad u(x)) = f(x),   x in (0, 1)^2,      u = 0 on the boundary,

with ``f = 1`` and ``a = 12`` where ``psi >= 0``, ``a = 3`` where ``psi < 0``, ``psi`` a Gaussian
random field with covariance ``(-Laplacian + 9 I)^(-2)`` (Neumann Laplacian, cosine eigenfunctions:
`pdesolve.numerics.random_fields.cosine_random_field`). A sample maps the coefficient ``a``
(``permeability``) to the solution ``u`` (``pressure``), both on a ``nodes`` grid that includes the
boundary (``u`` is zero there). The default 253 x 253 solver grid strides to data grids of 127, 85,
64, 43, ... nodes (``252 = 2^2 3^2 7``) at a fraction of a second per sample; FNO used 421 x 421
(differences from the FNO scripts: docs/problems/darcy_2d.md).

Method: the five-point finite-volume/finite-difference scheme on the nodes grid with harmonic-mean
face coefficients ``2 a_P a_E / (a_P + a_E)`` (second order for smooth ``a``; the harmonic mean is
the exact series conductance across a jump), the Dirichlet nodes eliminated, giving a symmetric
positive-definite matrix (`darcy_matrix`) solved by a sparse LU factorisation (SuperLU with a
minimum-degree ordering on ``A + A^T``) per sample (`solve_darcy`).

Verified (tests/problems/test_darcy_2d.py, numbers in docs/problems/darcy_2d.md): the matrix is
symmetric positive definite; a manufactured solution with a smooth variable coefficient converges
with order 2; with a constant coefficient a discrete eigenfunction is reproduced to round-off and
``f = 1`` matches the Fourier-series solution; the random field matches its cosine series; samples
depend only on the seed and their index; generated datasets carry their metadata.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch
from pydantic import ConfigDict, Field, model_validator

from pdesolve.data.fields import FieldSpec
from pdesolve.data.grid import Grid
from pdesolve.errors import UserError
from pdesolve.numerics.random_fields import cosine_random_field
from pdesolve.problems.base import GridProblem, ProblemParams


class Darcy2DParams(ProblemParams):
    """Parameters of `Darcy2D` (the ``problem`` section of a case file)."""

    model_config = ConfigDict(allow_inf_nan=False)

    resolution: int = Field(
        253, ge=5, description="solver nodes per axis, walls included (253 strides to 127, 85, 64, 43, 22)"
    )
    forcing: float = Field(1.0, description="constant source term f")
    high: float = Field(12.0, gt=0, description="coefficient where the random field is >= 0")
    low: float = Field(3.0, gt=0, description="coefficient where the random field is < 0 (FNO scripts: 4)")
    alpha: float = Field(2.0, gt=1, description="GRF exponent (> 1 for a field with finite variance in 2-D)")
    tau: float = Field(3.0, gt=0, description="GRF inverse length scale")
    modes: int | None = Field(
        None, ge=1, description="cosine modes per axis of the GRF (default: resolution, as FNO); fixing "
        "it makes a seed give the same coefficient function at every resolution"
    )

    @model_validator(mode="after")
    def _modes_fit_the_grid(self):
        if self.modes is not None and self.modes > self.resolution:
            raise ValueError(f"modes ({self.modes}) cannot exceed resolution ({self.resolution})")
        return self


# ------------------------------------------------------------------------------- solver
def _check_grid(grid: Grid) -> None:
    if grid.ndim != 2 or any(a.layout != "nodes" for a in grid.axes) or min(grid.shape) < 3:
        raise UserError(f"darcy_2d needs a 2-D nodes grid with at least 3 points per axis, got shape "
                        f"{grid.shape} with layouts {[a.layout for a in grid.axes]}")


def _harmonic_mean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return 2.0 * a * b / (a + b)


def darcy_matrix(a: np.ndarray, grid: Grid) -> sp.csc_matrix:
    """The matrix of ``-div(a grad u)`` on the interior nodes of ``grid`` (``u = 0`` on the boundary).

    Row/column ``p = (i - 1) (N_y - 2) + (j - 1)`` is interior node ``(i, j)`` (C order of
    ``u[1:-1, 1:-1]``). Face coefficients are harmonic means of the neighbouring node values.

    Args:
        a: coefficient at the nodes, ``(N_x, N_y)``, positive.
        grid: a 2-D ``nodes`` grid of that shape (any spacings).
    Returns:
        the symmetric positive-definite matrix, ``((N_x - 2) (N_y - 2),) * 2``, float64.
    """
    _check_grid(grid)
    a = np.asarray(a, dtype=np.float64)
    if a.shape != grid.shape:
        raise UserError(f"expected a coefficient of shape {grid.shape}, got {a.shape}")
    if not (np.isfinite(a).all() and (a > 0).all()):
        raise UserError("darcy_2d needs a finite, positive coefficient")
    hx, hy = grid.spacing
    nx, ny = grid.shape[0] - 2, grid.shape[1] - 2
    ax = _harmonic_mean(a[:-1, :], a[1:, :]) / hx**2  # face (i + 1/2, j), (N_x - 1, N_y)
    ay = _harmonic_mean(a[:, :-1], a[:, 1:]) / hy**2  # face (i, j + 1/2), (N_x, N_y - 1)
    diag = ax[1:, 1:-1] + ax[:-1, 1:-1] + ay[1:-1, 1:] + ay[1:-1, :-1]
    index = np.arange(nx * ny).reshape(nx, ny)
    east = -ax[1:-1, 1:-1]  # (i, j) -- (i + 1, j) for interior i < N_x - 2
    north = -ay[1:-1, 1:-1]  # (i, j) -- (i, j + 1) for interior j < N_y - 2
    rows = np.concatenate([index.ravel(), index[:-1].ravel(), index[1:].ravel(),
                           index[:, :-1].ravel(), index[:, 1:].ravel()])
    cols = np.concatenate([index.ravel(), index[1:].ravel(), index[:-1].ravel(),
                           index[:, 1:].ravel(), index[:, :-1].ravel()])
    vals = np.concatenate([diag.ravel(), east.ravel(), east.ravel(), north.ravel(), north.ravel()])
    return sp.csc_matrix((vals, (rows, cols)), shape=(nx * ny, nx * ny))


def solve_darcy(a: torch.Tensor, grid: Grid, forcing: float | torch.Tensor = 1.0) -> torch.Tensor:
    """Solve ``-div(a grad u) = f`` with ``u = 0`` on the boundary, one sparse LU per sample.

    Args:
        a: coefficients at the nodes, ``(n, N_x, N_y)``, positive.
        grid: the 2-D ``nodes`` grid they live on.
        forcing: ``f``, a number or values at the nodes broadcastable to ``(n, N_x, N_y)``
            (its boundary values are not used).
    Returns:
        ``u`` at the nodes (zero on the boundary), ``(n, N_x, N_y)``, on the device and in the dtype
        of ``a`` (computed in float64 on the CPU).
    """
    _check_grid(grid)
    if a.ndim != 3 or tuple(a.shape[1:]) != grid.shape:
        raise UserError(f"expected coefficients of shape (n, {grid.shape[0]}, {grid.shape[1]}), "
                        f"got {tuple(a.shape)}")
    coeff = a.detach().cpu().to(torch.float64).numpy()
    f = torch.as_tensor(forcing, dtype=torch.float64).detach().cpu()
    try:
        f = torch.broadcast_to(f, coeff.shape).numpy()
    except RuntimeError:
        raise UserError(f"forcing of shape {tuple(f.shape)} does not broadcast to {coeff.shape}") from None
    u = np.zeros_like(coeff)
    for i in range(coeff.shape[0]):
        lu = spla.splu(darcy_matrix(coeff[i], grid), permc_spec="MMD_AT_PLUS_A")
        u[i, 1:-1, 1:-1] = lu.solve(np.ascontiguousarray(f[i, 1:-1, 1:-1]).ravel()).reshape(
            grid.shape[0] - 2, grid.shape[1] - 2)
    return torch.from_numpy(u).to(device=a.device, dtype=a.dtype)


# ------------------------------------------------------------------------------- problem
class Darcy2D(GridProblem, name="darcy_2d"):
    """Steady Darcy flow with a thresholded Gaussian-random-field coefficient (FNO benchmark)."""

    Params = Darcy2DParams
    params: Darcy2DParams
    task = "map"
    description = "2-D Darcy flow on the unit square, two-valued random coefficient (FNO benchmark)"
    inputs = ("permeability",)
    outputs = ("pressure",)
    fields = {
        "permeability": FieldSpec("permeability", "1", "diffusion coefficient a"),
        "pressure": FieldSpec("pressure", "1", "solution u"),
    }
    solver_name = "pdesolve five-point finite differences, harmonic-mean faces, sparse LU (SuperLU)"

    @property
    def solver_grid(self) -> Grid:
        return Grid.uniform(2, self.params.resolution, length=1.0, layout="nodes")

    def sample_inputs(self, n, seed, first_index, device):
        """Coefficients ``(n, 1, N, N)``: ``high`` where the cosine GRF is ``>= 0``, else ``low``."""
        p = self.params
        psi = cosine_random_field(self.solver_grid, n, alpha=p.alpha, tau=p.tau, sigma=p.tau ** (p.alpha - 1),
                                  seed=seed, first_index=first_index, modes=p.modes)
        a = torch.where(psi >= 0, p.high, p.low).to(torch.float64)
        return a.unsqueeze(1).to(device)

    def simulate(self, inputs, grid, *, t0=0.0, times=None):
        """Solutions ``(n, 1, *grid.shape)`` for coefficients ``(n, 1, *grid.shape)`` on a nodes ``grid``.

        ``t0`` and ``times`` are ignored (a steady problem).
        """
        if inputs.ndim != 4 or inputs.shape[1] != 1:
            raise UserError(f"expected inputs of shape (n, 1, Nx, Ny), got {tuple(inputs.shape)}")
        return solve_darcy(inputs[:, 0], grid, self.params.forcing).unsqueeze(1)
