"""Pseudo-spectral incompressible Navier--Stokes on periodic boxes: 2-D vorticity form and 3-D
velocity (rotational) form, with an optional eddy-viscosity closure for LES.

2-D (``omega`` = vorticity, ``psi`` = stream function, ``u = (d psi/dy, -d psi/dx)``)::

    d omega/dt + u . grad omega = nu Laplacian omega - alpha omega + f_omega + curl(div(2 nu_t S))

integrated with integrating-factor RK4 (viscosity and linear drag ``alpha`` exact).

3-D (``u`` velocity, ``omega = curl u``, ``P`` the Leray projector ``I - k k^T / |k|^2``)::

    d u_hat/dt = P [ F(u x omega) + F(div(2 nu_t S)) ] - nu |k|^2 u_hat

integrated with classical RK4 (as spectralDNS, whose Taylor--Green regression value this
reproduces); an optional ``after_step`` hook (e.g. low-shell energy forcing) acts after each step.

Both keep only the modes of the 2/3 rule (intersected with a sharp cutoff ``|n| <= cutoff`` when
one is given, so an LES evolves exactly the modes of its filtered DNS). Each interval between output
times is split into ``ceil(interval / dt)`` equal steps, so snapshots land exactly. Everything runs
in the dtype and on the device of the initial state.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from pdesolve.data.grid import Grid
from pdesolve.errors import NonFiniteError, UserError
from pdesolve.numerics.filters import cutoff_mask
from pdesolve.numerics.sgs import EddyViscosityModel, eddy_viscosity_force
from pdesolve.numerics.spectral import dealias_mask, irfft, laplacian_symbol, rfft, wavenumbers
from pdesolve.numerics.time_steppers import if_rk4_step, rk4_step


# ------------------------------------------------------------------------------ helpers
def check_periodic_grid(grid: Grid, ndim: int, who: str) -> None:
    """Raise a `UserError` unless ``grid`` is periodic and ``ndim``-dimensional."""
    if grid.ndim != ndim or not grid.periodic:
        raise UserError(f"{who} needs a periodic {ndim}-D grid, got {grid.ndim}-D layouts "
                        f"{[a.layout for a in grid.axes]}")


def resolved_mask(grid: Grid, cutoff: float | None = None, device=None) -> torch.Tensor:
    """Modes an integration keeps: the 2/3 rule, and ``|n| <= cutoff`` when a cutoff is given."""
    mask = dealias_mask(grid, device)
    return mask if cutoff is None else mask & cutoff_mask(grid, cutoff, device)


def inverse_laplacian(grid: Grid, device=None, dtype=torch.float64) -> torch.Tensor:
    """``1/|k|^2`` on the half-spectrum, 0 for the mean mode."""
    k2 = laplacian_symbol(grid, device, dtype)
    return torch.where(k2 > 0, 1.0 / torch.where(k2 > 0, k2, 1.0), 0.0)


def velocity_hat_2d(omega_hat: torch.Tensor, grid: Grid) -> torch.Tensor:
    """Fourier velocity ``(i k_y psi_hat, -i k_x psi_hat)`` of a Fourier vorticity ``(..., *half)``
    -> ``(..., 2, *half)``."""
    kx, ky = wavenumbers(grid, omega_hat.device, omega_hat.real.dtype)
    psi_hat = omega_hat * inverse_laplacian(grid, omega_hat.device, omega_hat.real.dtype)
    return torch.stack((1j * ky * psi_hat, -1j * kx * psi_hat), dim=-3)


def velocity_from_vorticity(omega: torch.Tensor, grid: Grid) -> torch.Tensor:
    """Velocity ``(u, v)`` of a 2-D vorticity ``(..., Nx, Ny)`` -> ``(..., 2, Nx, Ny)`` (zero mean)."""
    check_periodic_grid(grid, 2, "the 2-D vorticity form")
    return irfft(velocity_hat_2d(rfft(omega, 2), grid), grid)


def vorticity_3d(u: torch.Tensor, grid: Grid) -> torch.Tensor:
    """Curl of a 3-D velocity ``(..., 3, *s)`` -> ``(..., 3, *s)`` (spectral derivatives)."""
    return irfft(curl_hat(rfft(u, 3), grid), grid)


def cross(a: torch.Tensor, b: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """``a x b`` along ``dim`` (of size 3); several times faster than `torch.linalg.cross` on fields."""
    (a1, a2, a3), (b1, b2, b3) = a.unbind(dim), b.unbind(dim)
    return torch.stack((a2 * b3 - a3 * b2, a3 * b1 - a1 * b3, a1 * b2 - a2 * b1), dim=dim)


def curl_hat(u_hat: torch.Tensor, grid: Grid, ks: tuple[torch.Tensor, ...] | None = None) -> torch.Tensor:
    """``i k x u_hat`` for ``u_hat`` of shape ``(..., 3, *half)`` (``ks``: `wavenumbers`, if at hand)."""
    ks = ks or wavenumbers(grid, u_hat.device, u_hat.real.dtype)
    return 1j * cross(torch.stack(torch.broadcast_tensors(*ks)), u_hat, dim=-4)


def project_hat(u_hat: torch.Tensor, grid: Grid, ks: tuple[torch.Tensor, ...] | None = None,
                inv_k2: torch.Tensor | None = None) -> torch.Tensor:
    """Leray projection ``(I - k k^T/|k|^2) u_hat`` onto divergence-free fields, ``(..., d, *half)``
    (``ks``, ``inv_k2``: `wavenumbers` and `inverse_laplacian`, if at hand)."""
    ks = ks or wavenumbers(grid, u_hat.device, u_hat.real.dtype)
    inv_k2 = inverse_laplacian(grid, u_hat.device, u_hat.real.dtype) if inv_k2 is None else inv_k2
    phi = sum(k * u_hat.select(-grid.ndim - 1, i) for i, k in enumerate(ks)) * inv_k2
    return u_hat - torch.stack([k * phi for k in ks], dim=-grid.ndim - 1)


def divergence(u: torch.Tensor, grid: Grid) -> torch.Tensor:
    """Spectral divergence of a velocity ``(..., d, *s)`` -> ``(..., *s)``."""
    u_hat = rfft(u, grid.ndim)
    ks = wavenumbers(grid, u.device, u.dtype)
    return irfft(sum(1j * k * u_hat.select(-grid.ndim - 1, i) for i, k in enumerate(ks)), grid)


def advective_cfl(u: torch.Tensor, grid: Grid, dt: float) -> torch.Tensor:
    """``dt max_x sum_i |u_i| / dx_i`` per sample of a velocity ``(n, d, *s)`` -> ``(n,)``."""
    rate = sum(u[:, i].abs() / h for i, h in enumerate(grid.spacing))
    return dt * rate.flatten(1).amax(1)


def _check_times(times: Sequence[float], t0: float) -> list[float]:
    times = [float(t) for t in times]
    if any(b < a for a, b in zip([t0, *times], times, strict=False)):
        raise UserError(f"output times must be non-decreasing and >= t0 = {t0}, got {times}")
    return times


def march(state_hat: torch.Tensor, step: Callable[[torch.Tensor, float], torch.Tensor],
          times: Sequence[float], *, t0: float, dt: float, first: torch.Tensor,
          to_physical: Callable[[torch.Tensor], torch.Tensor], blowup: Callable[[float, float, float], str]
          ) -> torch.Tensor:
    """Advance a Fourier state with ``step(state, h)`` and collect physical snapshots at ``times``.

    A time equal to ``t0`` returns ``first`` (the caller's input) itself; each interval is split into
    ``ceil(interval / dt)`` equal steps. ``blowup(t_start, t_end, h)`` words the `NonFiniteError`
    raised when the state stops being finite. Returns ``(n, len(times), ...)``.
    """
    out, t = [], t0
    for target in times:
        if target == t0:
            out.append(first)
            continue
        if target > t:
            steps = math.ceil((target - t) / dt - 1e-9)
            h = (target - t) / steps
            for _ in range(steps):
                state_hat = step(state_hat, h)
            if not torch.isfinite(state_hat).all():
                raise NonFiniteError(blowup(t, target, h))
            t = target
        out.append(to_physical(state_hat))
    return torch.stack(out, dim=1) if out else first.new_zeros((first.shape[0], 0, *first.shape[1:]))


# ------------------------------------------------------------------------------- 2-D
def integrate_vorticity_2d(
    omega0: torch.Tensor, grid: Grid, times: Sequence[float], *, viscosity: float, dt: float,
    t0: float = 0.0, forcing: torch.Tensor | None = None, drag: float = 0.0, cutoff: float | None = None,
    closure: EddyViscosityModel | None = None, who: str = "2-D Navier-Stokes",
) -> torch.Tensor:
    """Solve the 2-D vorticity equation from ``omega0`` at ``t0`` (IF-RK4, see module docstring).

    Args:
        omega0: initial vorticity, ``(n, Nx, Ny)`` on the periodic 2-D ``grid``.
        times: output times, non-decreasing and ``>= t0``.
        viscosity: ``nu >= 0``.
        forcing: vorticity source ``f_omega``, ``(Nx, Ny)`` (``None``: unforced).
        drag: linear drag coefficient ``alpha >= 0``.
        cutoff: keep only modes ``|n| <= cutoff`` besides the 2/3 rule (LES on a filtered grid).
        closure: eddy-viscosity model of the subgrid stress (``None``: no model).
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
    times = _check_times(times, t0)
    device, real = omega0.device, omega0.dtype
    kx, ky = wavenumbers(grid, device, real)
    mask = resolved_mask(grid, cutoff, device).to(real)
    linear = -viscosity * (kx**2 + ky**2) - drag
    f_hat = rfft(forcing.to(device, real), 2) * mask if forcing is not None else 0.0
    inv_k2 = inverse_laplacian(grid, device, real)
    u_of_w, v_of_w = 1j * ky * inv_k2, -1j * kx * inv_k2
    # u . grad omega = (d_xx - d_yy)(u v) + d_xy (v^2 - u^2) for divergence-free u (Basdevant):
    # two inverse and two forward transforms per evaluation instead of five
    d_uv, d_vv_uu = -(kx**2 - ky**2) * mask, -(kx * ky) * mask

    def rhs(w_hat: torch.Tensor) -> torch.Tensor:
        """``f - u . grad omega (+ curl of the SGS force)`` in Fourier space, dealiased."""
        u, v = irfft(torch.stack((u_of_w * w_hat, v_of_w * w_hat)), grid).unbind(0)
        uv, vv_uu = rfft(torch.stack((u * v, v * v - u * u)), 2).unbind(0)
        out = f_hat - d_uv * uv - d_vv_uu * vv_uu
        if closure is not None:
            force = eddy_viscosity_force(closure, velocity_hat_2d(w_hat, grid), grid, viscosity) * mask
            out = out + 1j * (kx * force[:, 1] - ky * force[:, 0])
        return out

    def blowup(t: float, target: float, h: float) -> str:
        u = velocity_from_vorticity(irfft(rfft(omega0, 2) * mask, grid), grid)
        return (f"{who}: vorticity stopped being finite between t = {t:g} and {target:g} (step {h:.3g}, "
                f"initial CFL {advective_cfl(u, grid, h).max().item():.2f}); lower problem.dt")

    return march(rfft(omega0, 2) * mask, lambda w, h: if_rk4_step(linear, rhs, w, h), times, t0=t0, dt=dt,
                 first=omega0, to_physical=lambda w: irfft(w, grid), blowup=blowup)


# ------------------------------------------------------------------------------- 3-D
def integrate_velocity_3d(
    u0: torch.Tensor, grid: Grid, times: Sequence[float], *, viscosity: float, dt: float, t0: float = 0.0,
    cutoff: float | None = None, closure: EddyViscosityModel | None = None,
    after_step: Callable[[torch.Tensor], torch.Tensor] | None = None, who: str = "3-D Navier-Stokes",
) -> torch.Tensor:
    """Solve the 3-D incompressible Navier--Stokes equations from ``u0`` at ``t0`` (RK4).

    The initial velocity is dealiased and projected onto divergence-free fields first.

    Args:
        u0: initial velocity, ``(n, 3, Nx, Ny, Nz)`` on the periodic 3-D ``grid``.
        times: output times, non-decreasing and ``>= t0``.
        viscosity: ``nu >= 0``.
        cutoff: keep only modes ``|n| <= cutoff`` besides the 2/3 rule (LES on a filtered grid).
        closure: eddy-viscosity model of the subgrid stress (``None``: no model).
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
    times = _check_times(times, t0)
    device, real = u0.device, u0.dtype
    mask = resolved_mask(grid, cutoff, device).to(real)
    damping = -viscosity * laplacian_symbol(grid, device, real)
    ks, inv_k2 = wavenumbers(grid, device, real), inverse_laplacian(grid, device, real)

    def rhs(u_hat: torch.Tensor) -> torch.Tensor:
        """``P F(u x omega [+ div 2 nu_t S]) - nu k^2 u_hat``, dealiased (9 FFTs without a closure)."""
        u, omega = irfft(torch.cat((u_hat, curl_hat(u_hat, grid, ks)), dim=1), grid).split(3, dim=1)
        nonlinear = rfft(cross(u, omega), 3)
        if closure is not None:
            nonlinear = nonlinear + eddy_viscosity_force(closure, u_hat, grid, viscosity)
        return project_hat(nonlinear * mask, grid, ks, inv_k2) + damping * u_hat

    def step(u_hat: torch.Tensor, h: float) -> torch.Tensor:
        u_hat = rk4_step(rhs, u_hat, h)
        return after_step(u_hat) if after_step is not None else u_hat

    def blowup(t: float, target: float, h: float) -> str:
        return (f"{who}: velocity stopped being finite between t = {t:g} and {target:g} (step {h:.3g}, "
                f"initial CFL {advective_cfl(u0, grid, h).max().item():.2f}); lower problem.dt")

    u_hat0 = project_hat(rfft(u0, 3) * mask, grid)
    return march(u_hat0, step, times, t0=t0, dt=dt, first=u0, to_physical=lambda u: irfft(u, grid),
                 blowup=blowup)
