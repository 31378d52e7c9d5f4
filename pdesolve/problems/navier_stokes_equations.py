"""Incompressible Navier--Stokes on periodic boxes, pseudo-spectral: the 2-D vorticity form and the
3-D velocity (rotational) form, with an optional eddy-viscosity closure for LES. Shared by
`navier_stokes_2d`, `kolmogorov_2d` and `hit_3d` (and the Taylor--Green checks).

2-D (``omega`` = vorticity, ``psi`` = stream function, ``u = (d psi/dy, -d psi/dx)``), `VorticityEquation2D`::

    d omega/dt + u . grad omega = nu Laplacian omega - alpha omega + f_omega + curl(div(2 nu_t S))

integrated with integrating-factor RK4 (viscosity and linear drag ``alpha`` exact).

3-D (``u`` velocity, ``omega = curl u``, ``P`` the Leray projector ``I - k k^T / |k|^2``),
`VelocityEquation3D`::

    d u_hat/dt = P [ F(u x omega) + F(div(2 nu_t S)) ] - nu |k|^2 u_hat

integrated with classical RK4 (as spectralDNS, whose Taylor--Green regression value this
reproduces); an optional ``after_step`` hook (e.g. low-shell energy forcing) acts after each step.

Both keep only the modes of the 2/3 rule (intersected with a sharp cutoff ``|n| <= cutoff`` when
one is given, so an LES evolves exactly the modes of its filtered DNS). The loop is
`pdesolve.numerics.time_steppers.march`: each interval between output times is split into
``ceil(interval / dt)`` equal steps, so snapshots land exactly. Everything runs in the dtype and on
the device of the initial state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from pdesolve.data.grid import Grid
from pdesolve.errors import UserError
from pdesolve.numerics.filters import resolved_mask
from pdesolve.numerics.sgs import EddyViscosityModel, eddy_viscosity_force
from pdesolve.numerics.spectral import irfft, laplacian_symbol, rfft, wavenumbers
from pdesolve.numerics.time_steppers import (
    DiagonalImplicitTerms,
    IntegratingFactorRK4,
    RungeKutta4,
    finite_check,
    march,
)
from pdesolve.numerics.vector_calculus import (
    check_periodic_grid,
    cross,
    curl_hat,
    inverse_laplacian,
    project_hat,
    velocity_from_vorticity,
    velocity_hat_2d,
)


def advective_cfl(u: torch.Tensor, grid: Grid, dt: float) -> torch.Tensor:
    """``dt max_x sum_i |u_i| / dx_i`` per sample of a velocity ``(n, d, *s)`` -> ``(n,)``."""
    rate = sum(u[:, i].abs() / h for i, h in enumerate(grid.spacing))
    return dt * rate.flatten(1).amax(1)


# ------------------------------------------------------------------------------- 2-D
class VorticityEquation2D(DiagonalImplicitTerms):
    """The 2-D vorticity equation on the periodic ``grid``; the state is the Fourier vorticity
    ``(n, *half)`` (kept in the resolved band).

    Args:
        viscosity: ``nu >= 0``; drag: linear drag ``alpha >= 0``.
        forcing: vorticity source ``f_omega``, ``(Nx, Ny)`` (``None``: unforced).
        cutoff: keep only modes ``|n| <= cutoff`` besides the 2/3 rule (LES on a filtered grid).
        closure: eddy-viscosity model of the subgrid stress (``None``: no model).
        device, dtype: where and in which real dtype the operators live.
    """

    def __init__(self, grid: Grid, viscosity: float, *, drag: float = 0.0, forcing: torch.Tensor | None = None,
                 cutoff: float | None = None, closure: EddyViscosityModel | None = None, device=None,
                 dtype=torch.float64):
        self.grid, self.viscosity, self.closure = grid, viscosity, closure
        self.kx, self.ky = kx, ky = wavenumbers(grid, device, dtype)
        self.mask = mask = resolved_mask(grid, cutoff, device).to(dtype)
        self.linear_symbol = -viscosity * (kx**2 + ky**2) - drag
        self.forcing_hat = rfft(forcing.to(device, dtype), 2) * mask if forcing is not None else 0.0
        inv_k2 = inverse_laplacian(grid, device, dtype)
        self.u_of_w, self.v_of_w = 1j * ky * inv_k2, -1j * kx * inv_k2
        # u . grad omega = (d_xx - d_yy)(u v) + d_xy (v^2 - u^2) for divergence-free u (Basdevant):
        # two inverse and two forward transforms per evaluation instead of five
        self.d_uv, self.d_vv_uu = -(kx**2 - ky**2) * mask, -(kx * ky) * mask

    def to_state(self, omega: torch.Tensor) -> torch.Tensor:
        """Vorticity ``(n, Nx, Ny)`` -> the resolved Fourier state."""
        return rfft(omega, 2) * self.mask

    def to_physical(self, w_hat: torch.Tensor) -> torch.Tensor:
        return irfft(w_hat, self.grid)

    def explicit_terms(self, w_hat: torch.Tensor, t: float) -> torch.Tensor:
        """``f - u . grad omega (+ curl of the SGS force)`` in Fourier space, dealiased."""
        u, v = irfft(torch.stack((self.u_of_w * w_hat, self.v_of_w * w_hat)), self.grid).unbind(0)
        uv, vv_uu = rfft(torch.stack((u * v, v * v - u * u)), 2).unbind(0)
        out = self.forcing_hat - self.d_uv * uv - self.d_vv_uu * vv_uu
        if self.closure is not None:
            force = eddy_viscosity_force(self.closure, velocity_hat_2d(w_hat, self.grid), self.grid,
                                         self.viscosity) * self.mask
            out = out + 1j * (self.kx * force[:, 1] - self.ky * force[:, 0])
        return out


def integrate_vorticity_2d(
    omega0: torch.Tensor, grid: Grid, times: Sequence[float], *, viscosity: float, dt: float,
    t0: float = 0.0, forcing: torch.Tensor | None = None, drag: float = 0.0, cutoff: float | None = None,
    closure: EddyViscosityModel | None = None, who: str = "2-D Navier-Stokes",
) -> torch.Tensor:
    """Solve the 2-D vorticity equation from ``omega0`` at ``t0`` (`VorticityEquation2D`, IF-RK4).

    Args:
        omega0: initial vorticity, ``(n, Nx, Ny)`` on the periodic 2-D ``grid``.
        times: output times, non-decreasing and ``>= t0`` (a time equal to ``t0`` returns ``omega0``).
        viscosity, forcing, drag, cutoff, closure: as `VorticityEquation2D`.
        who: the problem's name, for messages.
    Returns:
        vorticity at ``times``, ``(n, len(times), Nx, Ny)``.
    Raises:
        UserError: a bad grid, shape or times.
        NonFiniteError: the solution blew up (the step is too large for the flow).
    """
    check_periodic_grid(grid, 2, who)
    if omega0.ndim != 3 or tuple(omega0.shape[1:]) != grid.shape:
        raise UserError(f"expected vorticity of shape (n, {grid.shape[0]}, {grid.shape[1]}), "
                        f"got {tuple(omega0.shape)}")
    equation = VorticityEquation2D(grid, viscosity, drag=drag, forcing=forcing, cutoff=cutoff, closure=closure,
                                   device=omega0.device, dtype=omega0.dtype)
    state = equation.to_state(omega0)

    def blowup(t: float, target: float, h: float) -> str:
        u = velocity_from_vorticity(equation.to_physical(state), grid)
        return (f"{who}: vorticity stopped being finite between t = {t:g} and {target:g} (step {h:.3g}, "
                f"initial CFL {advective_cfl(u, grid, h).max().item():.2f}); lower problem.dt")

    return march(equation, IntegratingFactorRK4(), state, t0=t0, times=times, dt=dt, check=finite_check(blowup),
                 observe=equation.to_physical, initial=omega0)


# ------------------------------------------------------------------------------- 3-D
class VelocityEquation3D(DiagonalImplicitTerms):
    """3-D incompressible Navier--Stokes in rotational form on the periodic ``grid``; the state is the
    divergence-free Fourier velocity ``(n, 3, *half)`` (kept in the resolved band).

    Args:
        viscosity: ``nu >= 0`` (the diagonal ``L = -nu |k|^2``).
        cutoff: keep only modes ``|n| <= cutoff`` besides the 2/3 rule (LES on a filtered grid).
        closure: eddy-viscosity model of the subgrid stress (``None``: no model).
        device, dtype: where and in which real dtype the operators live.
    """

    def __init__(self, grid: Grid, viscosity: float, *, cutoff: float | None = None,
                 closure: EddyViscosityModel | None = None, device=None, dtype=torch.float64):
        self.grid, self.viscosity, self.closure = grid, viscosity, closure
        self.mask = resolved_mask(grid, cutoff, device).to(dtype)
        self.linear_symbol = -viscosity * laplacian_symbol(grid, device, dtype)
        self.ks, self.inv_k2 = wavenumbers(grid, device, dtype), inverse_laplacian(grid, device, dtype)

    def to_state(self, u: torch.Tensor) -> torch.Tensor:
        """Velocity ``(n, 3, *s)`` -> its resolved, divergence-free Fourier state."""
        return project_hat(rfft(u, 3) * self.mask, self.grid)

    def to_physical(self, u_hat: torch.Tensor) -> torch.Tensor:
        return irfft(u_hat, self.grid)

    def explicit_terms(self, u_hat: torch.Tensor, t: float) -> torch.Tensor:
        """``P F(u x omega [+ div 2 nu_t S])``, dealiased (9 FFTs without a closure)."""
        grid = self.grid
        u, omega = irfft(torch.cat((u_hat, curl_hat(u_hat, grid, self.ks)), dim=1), grid).split(3, dim=1)
        nonlinear = rfft(cross(u, omega), 3)
        if self.closure is not None:
            nonlinear = nonlinear + eddy_viscosity_force(self.closure, u_hat, grid, self.viscosity)
        return project_hat(nonlinear * self.mask, grid, self.ks, self.inv_k2)


def integrate_velocity_3d(
    u0: torch.Tensor, grid: Grid, times: Sequence[float], *, viscosity: float, dt: float, t0: float = 0.0,
    cutoff: float | None = None, closure: EddyViscosityModel | None = None,
    after_step: Callable[[torch.Tensor], torch.Tensor] | None = None, who: str = "3-D Navier-Stokes",
) -> torch.Tensor:
    """Solve the 3-D incompressible Navier--Stokes equations from ``u0`` at ``t0`` (`VelocityEquation3D`, RK4).

    The initial velocity is dealiased and projected onto divergence-free fields first.

    Args:
        u0: initial velocity, ``(n, 3, Nx, Ny, Nz)`` on the periodic 3-D ``grid``.
        times: output times, non-decreasing and ``>= t0`` (a time equal to ``t0`` returns ``u0``).
        viscosity, cutoff, closure: as `VelocityEquation3D`.
        after_step: ``u_hat -> u_hat`` applied after every step (forcing by energy rescaling).
        who: the problem's name, for messages.
    Returns:
        velocity at ``times``, ``(n, len(times), 3, Nx, Ny, Nz)``.
    Raises:
        UserError: a bad grid, shape or times.
        NonFiniteError: the solution blew up.
    """
    check_periodic_grid(grid, 3, who)
    if u0.ndim != 5 or u0.shape[1] != 3 or tuple(u0.shape[2:]) != grid.shape:
        raise UserError(f"expected velocity of shape (n, 3, {', '.join(map(str, grid.shape))}), "
                        f"got {tuple(u0.shape)}")
    equation = VelocityEquation3D(grid, viscosity, cutoff=cutoff, closure=closure, device=u0.device, dtype=u0.dtype)

    def blowup(t: float, target: float, h: float) -> str:
        return (f"{who}: velocity stopped being finite between t = {t:g} and {target:g} (step {h:.3g}, "
                f"initial CFL {advective_cfl(u0, grid, h).max().item():.2f}); lower problem.dt")

    hook = None if after_step is None else (lambda u_hat, t: after_step(u_hat))
    return march(equation, RungeKutta4(), equation.to_state(u0), t0=t0, times=times, dt=dt, after_step=hook,
                 check=finite_check(blowup), observe=equation.to_physical, initial=u0)
