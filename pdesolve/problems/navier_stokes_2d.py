"""2-D incompressible Navier--Stokes on the unit torus, vorticity form (the FNO benchmark problem).

Equation (Li et al. 2021, "Fourier neural operator for parametric PDEs", section 5.3)::

    d omega/dt + u . grad omega = nu Laplacian omega + f,
    u = (d psi/dy, -d psi/dx),    -Laplacian psi = omega,

on ``[0, 1)^2`` with periodic boundaries, forcing ``f = A (sin 2 pi (x + y) + cos 2 pi (x + y))``
(``A = 0.1``; ``A = 0`` for none) and initial vorticity ``omega_0 ~ N(0, 7^(3/2) (-Laplacian + 49 I)^(-2.5))``
in the paper's notation (a Gaussian random field with ``alpha = 2.5, tau = 7, sigma = 7^1.5``). A sample
is the trajectory ``omega(t)`` at ``t = 0, s, 2 s, ..., t_end`` (``s`` the snapshot interval).

Method: Fourier pseudo-spectral in space with the 2/3 dealiasing rule (the state keeps only the
modes ``|n_x|, |n_y| < N/3``), integrating-factor RK4 in time (viscous term exact, advection and
forcing fourth-order explicit). Each interval between requested times is split into equal steps no
longer than ``dt``, so snapshots land exactly. Data are generated on the solver grid and
subsampled to the stored grid by the `GridProblem` base.

Verified (tests/problems/test_navier_stokes_2d.py, numbers in docs/problems/navier_stokes_2d.md):
a Taylor--Green type flow (modes of one ``|k|``, no advection) decays as ``exp(-nu |k|^2 t)`` to
round-off; with ``nu = 0`` and no forcing, kinetic energy and enstrophy are conserved; the stepper
converges with order 4 in ``dt``; samples depend only on the seed and their index; generated
datasets carry their metadata.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from pydantic import ConfigDict, Field

from pdesolve.data.fields import FieldSpec
from pdesolve.data.grid import Grid
from pdesolve.errors import UserError
from pdesolve.numerics.random_fields import gaussian_random_field
from pdesolve.numerics.spectral import dealias, irfft, rfft
from pdesolve.numerics.vector_calculus import check_periodic_grid, inverse_laplacian, velocity_from_vorticity
from pdesolve.problems.base import GridProblem, SnapshotParams
from pdesolve.problems.navier_stokes_equations import integrate_vorticity_2d

DTYPES = {"float64": torch.float64, "float32": torch.float32}


class NavierStokes2DParams(SnapshotParams):
    """Parameters of `NavierStokes2D` (the ``problem`` section of a case file)."""

    model_config = ConfigDict(allow_inf_nan=False)

    viscosity: float = Field(1e-3, gt=0, description="kinematic viscosity nu (FNO: 1e-3, 1e-4, 1e-5)")
    forcing_amplitude: float = Field(
        0.1, description="A in f = A (sin 2 pi (x+y) + cos 2 pi (x+y)); 0 for no forcing")
    resolution: int = Field(128, ge=8, description="solver grid points per axis")
    t_end: float = Field(50.0, gt=0, description="last snapshot time (a multiple of snapshot_interval)")
    snapshot_interval: float = Field(1.0, gt=0, description="time between stored snapshots")
    dt: float = Field(1e-2, gt=0, description="largest time step; each interval is split into equal steps")
    dtype: Literal["float64", "float32"] = Field("float64", description="floating-point type of the solver")
    ic_alpha: float = Field(2.5, gt=1, description="GRF exponent of the initial vorticity")
    ic_tau: float = Field(7.0, gt=0, description="GRF inverse length scale of the initial vorticity")
    ic_sigma: float = Field(7.0**1.5, gt=0, description="GRF amplitude of the initial vorticity")


# ------------------------------------------------------------------------------- helpers
def stream_function(omega: torch.Tensor, grid: Grid) -> torch.Tensor:
    """Stream function ``psi`` with ``-Laplacian psi = omega`` and zero mean.

    Args:
        omega: vorticity, ``(..., Nx, Ny)`` on the periodic ``grid``.
    Returns:
        ``psi``, ``(..., Nx, Ny)``.
    """
    check_periodic_grid(grid, 2, "navier_stokes_2d")
    return irfft(rfft(omega, 2) * inverse_laplacian(grid, omega.device, omega.dtype), grid)


def velocity(omega: torch.Tensor, grid: Grid) -> torch.Tensor:
    """Velocity ``(u, v) = (d psi/dy, -d psi/dx)`` of a vorticity field (spectral derivatives).

    Args:
        omega: vorticity, ``(..., Nx, Ny)`` on the periodic ``grid``.
    Returns:
        velocity components stacked on a new axis, ``(..., 2, Nx, Ny)`` (``u`` along x first).
    """
    return velocity_from_vorticity(omega, grid)


def kinetic_energy(omega: torch.Tensor, grid: Grid) -> torch.Tensor:
    """Kinetic energy ``1/2 integral |u|^2 dx`` of the flow with vorticity ``omega``.

    Args:
        omega: vorticity, ``(..., Nx, Ny)``.
    Returns:
        ``(...)``.
    """
    u = velocity(omega, grid)
    return 0.5 * (u**2).sum(dim=(-3, -2, -1)) * grid.cell_volume


def enstrophy(omega: torch.Tensor, grid: Grid) -> torch.Tensor:
    """Enstrophy ``1/2 integral omega^2 dx``.

    Args:
        omega: vorticity, ``(..., Nx, Ny)``.
    Returns:
        ``(...)``.
    """
    return 0.5 * (omega**2).sum(dim=(-2, -1)) * grid.cell_volume


def cfl_number(omega: torch.Tensor, grid: Grid, dt: float) -> torch.Tensor:
    """Advective CFL number ``dt max(|u|/dx + |v|/dy)`` per sample.

    Args:
        omega: vorticity, ``(..., Nx, Ny)``.
        dt: time step.
    Returns:
        ``(...)``.
    """
    u = velocity(omega, grid)
    dx, dy = grid.spacing
    return dt * (u[..., 0, :, :].abs() / dx + u[..., 1, :, :].abs() / dy).amax(dim=(-2, -1))


def forcing(grid: Grid, amplitude: float, device=None, dtype=torch.float64) -> torch.Tensor:
    """The FNO forcing ``amplitude (sin 2 pi (x + y) + cos 2 pi (x + y))`` on ``grid``, ``(Nx, Ny)``."""
    x, y = (torch.as_tensor(c, dtype=dtype, device=device) for c in grid.mesh())
    phase = 2 * math.pi * (x + y)
    return amplitude * (torch.sin(phase) + torch.cos(phase))


def integrate_vorticity(
    omega0: torch.Tensor,
    grid: Grid,
    times: Sequence[float],
    *,
    viscosity: float,
    forcing_amplitude: float,
    dt: float,
    t0: float = 0.0,
) -> torch.Tensor:
    """Solve the vorticity equation from ``omega0`` at ``t0``; pseudo-spectral, 2/3 rule, IF-RK4
    (`pdesolve.problems.navier_stokes_equations.integrate_vorticity_2d` with the FNO forcing).

    Runs in the dtype and on the device of ``omega0``. The state is dealiased at the start (modes
    outside the 2/3 band dropped); a time equal to ``t0`` returns ``omega0`` itself. Each interval
    between consecutive times is split into ``ceil(interval / dt)`` equal steps.

    Args:
        omega0: initial vorticity, ``(n, Nx, Ny)`` on the periodic 2-D ``grid``.
        times: output times, non-decreasing and ``>= t0``.
        viscosity: ``nu >= 0``.
        forcing_amplitude: ``A`` of the FNO forcing (0 for none).
        dt: largest time step.
    Returns:
        vorticity at ``times``, ``(n, len(times), Nx, Ny)``.
    Raises:
        UserError: a bad grid, shape or times.
        NonFiniteError: the solution blew up (the step is too large for the flow).
    """
    check_periodic_grid(grid, 2, "navier_stokes_2d")
    f = forcing(grid, forcing_amplitude, omega0.device, omega0.dtype) if forcing_amplitude else None
    return integrate_vorticity_2d(omega0, grid, times, viscosity=viscosity, dt=dt, t0=t0, forcing=f,
                                  who="navier_stokes_2d")


# ------------------------------------------------------------------------------- problem
class NavierStokes2D(GridProblem, name="navier_stokes_2d"):
    """Forced 2-D Navier--Stokes in vorticity form on the unit torus (FNO benchmark)."""

    Params = NavierStokes2DParams
    params: NavierStokes2DParams
    task = "trajectory"
    description = "2-D incompressible Navier-Stokes, vorticity form, on the unit torus (FNO benchmark)"
    inputs = ("vorticity",)
    outputs = ("vorticity",)
    fields = {"vorticity": FieldSpec("vorticity", "1", "vorticity")}
    solver_name = "pdesolve pseudo-spectral (2/3 dealiasing) with integrating-factor RK4"

    @property
    def solver_grid(self) -> Grid:
        return Grid.uniform(2, self.params.resolution, length=1.0, layout="periodic")

    @property
    def times(self) -> np.ndarray:
        p = self.params
        count = round(p.t_end / p.snapshot_interval)
        return p.snapshot_interval * np.arange(count + 1, dtype=np.float64)

    def sample_inputs(self, n, seed, first_index, device):
        """GRF initial vorticity, ``(n, 1, N, N)``, restricted to the solver's 2/3-rule band (so the
        stored ``t = 0`` snapshot is the state the solver evolves)."""
        p = self.params
        omega = gaussian_random_field(
            self.solver_grid, n, alpha=p.ic_alpha, tau=p.ic_tau, sigma=p.ic_sigma, seed=seed,
            first_index=first_index, device=device, dtype=DTYPES[p.dtype],
        )
        # one sample at a time: batched FFTs round differently with the batch size, and sample i
        # must be bitwise the same whatever n
        return torch.stack([dealias(w, self.solver_grid) for w in omega]).unsqueeze(1)

    def simulate(self, inputs, grid, *, t0=0.0, times=None):
        """Vorticity at ``times`` (default `times`), ``(n, T, 1, *grid.shape)``, from ``(n, 1, *grid.shape)``.

        Computes in ``params.dtype`` on the device of ``inputs`` and returns the dtype of ``inputs``.
        """
        p = self.params
        if inputs.ndim != 4 or inputs.shape[1] != 1:
            raise UserError(f"expected inputs of shape (n, 1, Nx, Ny), got {tuple(inputs.shape)}")
        if any(length != 1.0 for length in grid.lengths):
            raise UserError(f"navier_stokes_2d lives on the unit torus; grid lengths are {grid.lengths}")
        omega0 = inputs[:, 0].to(DTYPES[p.dtype])
        out = integrate_vorticity(
            omega0, grid, self.times if times is None else times, viscosity=p.viscosity,
            forcing_amplitude=p.forcing_amplitude, dt=p.dt, t0=t0,
        )
        return out.unsqueeze(2).to(inputs.dtype)
