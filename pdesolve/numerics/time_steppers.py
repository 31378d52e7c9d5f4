"""Explicit time steppers for ``dy/dt = f(y)`` and for ``dy/dt = L y + N(y)`` with diagonal ``L``.

Steppers take the state (any tensor), the step ``dt`` and callables; they know nothing about the
PDE. The integrating-factor variant treats the stiff linear part exactly (Lawson's IF-RK4).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Rhs = Callable[[torch.Tensor], torch.Tensor]


def rk4_step(f: Rhs, y: torch.Tensor, dt: float) -> torch.Tensor:
    """One classical fourth-order Runge--Kutta step."""
    k1 = f(y)
    k2 = f(y + 0.5 * dt * k1)
    k3 = f(y + 0.5 * dt * k2)
    k4 = f(y + dt * k3)
    return y + (dt / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)


def if_rk4_step(linear: torch.Tensor, nonlinear: Rhs, y: torch.Tensor, dt: float) -> torch.Tensor:
    """One integrating-factor RK4 step for ``dy/dt = linear * y + nonlinear(y)``.

    ``linear`` is a (broadcastable) diagonal operator, e.g. ``-nu |k|^2`` in Fourier space; the
    scheme is exact for the linear part and fourth-order overall.
    """
    e_half = torch.exp(0.5 * dt * linear)
    e_full = e_half * e_half
    k1 = nonlinear(y)
    k2 = nonlinear(e_half * (y + 0.5 * dt * k1))
    k3 = nonlinear(e_half * y + 0.5 * dt * k2)
    k4 = nonlinear(e_full * y + dt * e_half * k3)
    return e_full * y + (dt / 6.0) * (e_full * k1 + 2 * e_half * (k2 + k3) + k4)
