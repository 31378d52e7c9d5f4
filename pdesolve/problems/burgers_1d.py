"""1-D viscous Burgers equation on the unit circle (the FNO benchmark problem).

Equation (Li et al. 2021, "Fourier neural operator for parametric PDEs", section 5.2)::

    du/dt + d(u^2 / 2)/dx = nu d^2u/dx^2,    x in [0, 1) periodic,

with ``nu = 0.1`` and initial condition ``u_0 ~ N(0, 625 (-Laplacian + 25 I)^(-2))`` (mean zero).
A sample is the trajectory ``u(t)`` at ``n_snapshots`` times evenly spaced in ``[0, t_end]``; the
defaults (``t_end = 1``, two snapshots) give the FNO map ``u_0 -> u(t = 1)``.

Method: Fourier pseudo-spectral in space with the 2/3 dealiasing rule (the state keeps only the
modes ``|n| < N/3``, so the quadratic term is computed without aliasing), integrating-factor RK4
in time (viscous term exact, the flux fourth-order explicit). Each interval between requested
times is split into equal steps no longer than ``dt``, so snapshots land exactly. Sampled initial
conditions are projected on the resolved band, so the stored ``u(0)`` is exactly the state that
was evolved. Data are generated on the solver grid and subsampled to the stored grid by the
`GridProblem` base.

Verified (tests/problems/test_burgers_1d.py, numbers in docs/problems/burgers_1d.md): against the
exact Cole--Hopf solution (`cole_hopf`) for ``u_0 = sin 2 pi x`` (itself checked against the
modified-Bessel series) and for random initial conditions; the stepper converges with order 4 in
``dt``; samples depend only on the seed and their index; generated datasets carry their metadata.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from pydantic import ConfigDict, Field

from pdesolve.data.fields import FieldSpec
from pdesolve.data.grid import Grid
from pdesolve.data.symmetries import PeriodicShift, Reflection
from pdesolve.errors import UserError
from pdesolve.numerics.random_fields import gaussian_random_field
from pdesolve.numerics.spectral import dealias_mask, irfft, rfft, wavenumbers
from pdesolve.numerics.time_steppers import (
    DiagonalImplicitTerms,
    IntegratingFactorRK4,
    check_output_times,
    finite_check,
    march,
)
from pdesolve.problems.base import GridProblem, ProblemParams

DTYPES = {"float64": torch.float64, "float32": torch.float32}


class Burgers1DParams(ProblemParams):
    """Parameters of `Burgers1D` (the ``problem`` section of a case file)."""

    model_config = ConfigDict(allow_inf_nan=False)

    viscosity: float = Field(0.1, gt=0, description="kinematic viscosity nu (FNO paper: 0.1)")
    resolution: int = Field(1024, ge=8, description="solver grid points (stored data are strided from it)")
    t_end: float = Field(1.0, gt=0, description="time of the last snapshot")
    n_snapshots: int = Field(2, ge=2, description="snapshots evenly spaced in [0, t_end], both ends included")
    dt: float = Field(1e-3, gt=0, description="largest time step; each interval is split into equal steps")
    dtype: Literal["float64", "float32"] = Field("float64", description="floating-point type of the solver")
    ic_alpha: float = Field(2.0, gt=0.5, description="GRF exponent of the initial condition")
    ic_tau: float = Field(5.0, gt=0, description="GRF inverse length scale of the initial condition")
    ic_sigma: float = Field(25.0, gt=0, description="GRF amplitude of the initial condition")


# ------------------------------------------------------------------------------- helpers
def _check(u: torch.Tensor, grid: Grid, times: Sequence[float], t0: float) -> list[float]:
    if grid.ndim != 1 or not grid.periodic:
        raise UserError(f"burgers_1d needs a periodic 1-D grid, got {grid.ndim}-D layouts "
                        f"{[a.layout for a in grid.axes]}")
    if u.ndim != 2 or u.shape[1] != grid.shape[0]:
        raise UserError(f"expected velocity of shape (n, {grid.shape[0]}), got {tuple(u.shape)}")
    return check_output_times(times, t0)


def project_resolved(u: torch.Tensor, grid: Grid) -> torch.Tensor:
    """``u`` with the modes outside the 2/3-rule band removed (what the solver evolves).

    Args:
        u: velocity, ``(..., N)`` on the periodic 1-D ``grid``.
    Returns:
        the projected velocity, ``(..., N)``.
    """
    return irfft(rfft(u, 1) * dealias_mask(grid, u.device), grid)


def cfl_number(u: torch.Tensor, grid: Grid, dt: float) -> torch.Tensor:
    """Advective CFL number ``dt max|u| / dx`` per sample; ``u`` is ``(..., N)``, the result ``(...)``."""
    return dt * u.abs().amax(dim=-1) / grid.spacing[0]


class BurgersEquation1D(DiagonalImplicitTerms):
    """Burgers' equation ``du/dt = -d(u^2/2)/dx + nu d^2u/dx^2`` on the periodic 1-D ``grid``; the state
    is the Fourier velocity ``(n, N//2 + 1)`` in the 2/3-rule band, ``L = -nu k^2``.

    Args:
        viscosity: ``nu >= 0``.
        device, dtype: where and in which real dtype the operators live.
    """

    def __init__(self, grid: Grid, viscosity: float, *, device=None, dtype=torch.float64):
        self.grid = grid
        (k,) = wavenumbers(grid, device, dtype)
        self.mask = dealias_mask(grid, device).to(dtype)
        self.linear_symbol = -viscosity * k**2
        self.flux_derivative = -0.5j * k * self.mask  # -(d/dx)(u^2 / 2), dealiased

    def to_state(self, u: torch.Tensor) -> torch.Tensor:
        """Velocity ``(n, N)`` -> the resolved Fourier state."""
        return rfft(u, 1) * self.mask

    def to_physical(self, u_hat: torch.Tensor) -> torch.Tensor:
        return irfft(u_hat, self.grid)

    def explicit_terms(self, u_hat: torch.Tensor, t: float) -> torch.Tensor:
        """The flux term ``-F(d(u^2/2)/dx)``, dealiased."""
        return self.flux_derivative * rfft(irfft(u_hat, self.grid) ** 2, 1)


def integrate_burgers(
    u0: torch.Tensor,
    grid: Grid,
    times: Sequence[float],
    *,
    viscosity: float,
    dt: float,
    t0: float = 0.0,
) -> torch.Tensor:
    """Solve Burgers' equation from ``u0`` at ``t0`` (`BurgersEquation1D`, IF-RK4, `march`).

    Runs in the dtype and on the device of ``u0``. The state is projected on the resolved band at
    the start (`project_resolved`); a time equal to ``t0`` returns ``u0`` itself. Each interval
    between consecutive times is split into ``ceil(interval / dt)`` equal steps.

    Args:
        u0: initial velocity, ``(n, N)`` on the periodic 1-D ``grid`` (any length).
        times: output times, non-decreasing and ``>= t0``.
        viscosity: ``nu >= 0`` (``0``: the inviscid truncated system, which conserves energy exactly).
        dt: largest time step.
    Returns:
        velocity at ``times``, ``(n, len(times), N)``.
    Raises:
        UserError: a bad grid, shape or times.
        NonFiniteError: the solution blew up (the step is too large for the flow).
    """
    times = _check(u0, grid, times, t0)
    equation = BurgersEquation1D(grid, viscosity, device=u0.device, dtype=u0.dtype)

    def blowup(t: float, target: float, h: float) -> str:
        cfl = cfl_number(project_resolved(u0, grid), grid, h).max().item()
        return (f"burgers_1d: velocity stopped being finite between t = {t:g} and {target:g} "
                f"(step {h:.3g}, initial CFL {cfl:.2f}); lower problem.dt")

    return march(equation, IntegratingFactorRK4(), equation.to_state(u0), t0=t0, times=times, dt=dt,
                 check=finite_check(blowup), observe=equation.to_physical, initial=u0)


def cole_hopf(
    u0: torch.Tensor,
    grid: Grid,
    times: Sequence[float],
    *,
    viscosity: float,
    t0: float = 0.0,
    refine: int = 8,
) -> torch.Tensor:
    """Exact solution of Burgers' equation by the Cole--Hopf transform, for verification.

    ``u = -2 nu phi_x / phi`` where ``phi`` solves the heat equation ``phi_t = nu phi_xx`` from
    ``phi_0 = exp(-U_0 / (2 nu))``, ``U_0`` the periodic antiderivative of ``u0 - m``; a mean ``m`` is
    handled by the Galilean shift ``u(x, t) = m + w(x - m t, t)``. ``u0`` is taken as the
    trigonometric polynomial interpolating its grid values; ``phi_0`` is evaluated on a grid
    ``refine`` times finer, where its Fourier coefficients (analytic, exponentially decaying) are
    resolved to round-off, and each heat mode is advanced exactly. Computed in float64 on the device
    of ``u0``; accurate while ``max U_0 - min U_0`` is at most a few hundred ``nu`` (``phi`` then
    spans fewer than ``e^100``).

    Args:
        u0: initial velocity, ``(n, N)`` on the periodic 1-D ``grid``.
        times: output times ``>= t0``.
        viscosity: ``nu > 0``.
        refine: oversampling factor of the grid on which ``phi`` is computed.
    Returns:
        velocity at ``times`` on ``grid``, ``(n, len(times), N)``, float64.
    Raises:
        UserError: a bad grid, shape or times.
    """
    times = _check(u0, grid, times, t0)
    u0 = u0.to(torch.float64)
    mean = u0.mean(dim=-1, keepdim=True)
    fine = grid.resized(grid.shape[0] * refine)
    (k_fine,) = wavenumbers(fine, u0.device)
    (k,) = wavenumbers(grid, u0.device)
    u0_hat = rfft(u0 - mean, 1)
    if grid.shape[0] % 2 == 0:  # split the Nyquist mode evenly: the interpolant is then real
        u0_hat[..., -1] *= 0.5
    antiderivative_hat = torch.zeros(u0.shape[0], k_fine.shape[-1], dtype=u0_hat.dtype, device=u0.device)
    antiderivative_hat[:, 1:k.shape[-1]] = u0_hat[:, 1:] / (1j * k[1:])
    antiderivative = irfft(antiderivative_hat * refine, fine)
    exponent = -antiderivative / (2 * viscosity)
    phi0_hat = rfft(torch.exp(exponent - exponent.amax(dim=-1, keepdim=True)), 1)
    out = []
    for t in times:
        phi_hat = phi0_hat * torch.exp(-viscosity * k_fine**2 * (t - t0) - 1j * k_fine * mean * (t - t0))
        u = mean - 2 * viscosity * irfft(1j * k_fine * phi_hat, fine) / irfft(phi_hat, fine)
        out.append(u[:, ::refine])
    return torch.stack(out, dim=1) if out else u0.new_zeros((u0.shape[0], 0, grid.shape[0]))


# ------------------------------------------------------------------------------- problem
class Burgers1D(GridProblem, name="burgers_1d"):
    """Viscous Burgers' equation on the unit circle from random initial conditions (FNO benchmark)."""

    Params = Burgers1DParams
    params: Burgers1DParams
    task = "trajectory"
    description = "1-D viscous Burgers equation on the unit circle (FNO benchmark)"
    inputs = ("u",)
    outputs = ("u",)
    fields = {"u": FieldSpec("u", "1", "velocity")}
    symmetries = (PeriodicShift("x"), Reflection("x", ("u",), periodic=True))  # unforced, periodic: x -> -x, u -> -u
    solver_name = "pdesolve pseudo-spectral (2/3 dealiasing) with integrating-factor RK4"

    @property
    def solver_grid(self) -> Grid:
        return Grid.uniform(1, self.params.resolution, length=1.0, layout="periodic")

    @property
    def times(self) -> np.ndarray:
        return np.linspace(0.0, self.params.t_end, self.params.n_snapshots)

    def sample_inputs(self, n, seed, first_index, device):
        """Initial velocities ``(n, 1, N)``: GRF samples projected on the solver's resolved band."""
        p = self.params
        grid = self.solver_grid
        u0 = gaussian_random_field(
            grid, n, alpha=p.ic_alpha, tau=p.ic_tau, sigma=p.ic_sigma, seed=seed,
            first_index=first_index, device=device, dtype=DTYPES[p.dtype],
        )
        return project_resolved(u0, grid).unsqueeze(1)

    def simulate(self, inputs, grid, *, t0=0.0, times=None):
        """Velocity at ``times`` (default `times`), ``(n, T, 1, N)``, from ``(n, 1, N)`` on ``grid``.

        Computes in ``params.dtype`` on the device of ``inputs`` and returns the dtype of ``inputs``.
        """
        p = self.params
        if inputs.ndim != 3 or inputs.shape[1] != 1:
            raise UserError(f"expected inputs of shape (n, 1, N), got {tuple(inputs.shape)}")
        out = integrate_burgers(
            inputs[:, 0].to(DTYPES[p.dtype]), grid, self.times if times is None else times,
            viscosity=p.viscosity, dt=p.dt, t0=t0,
        )
        return out.unsqueeze(2).to(inputs.dtype)
