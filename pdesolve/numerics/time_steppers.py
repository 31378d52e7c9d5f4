"""Equations, time steppers and the one time loop, as separate pieces (jax-cfd's split).

An *equation* is a semi-discrete PDE ``d state/dt = N(state, t) + L state`` in the representation it
chooses (Fourier coefficients, grid values, ...); it knows nothing about how it is stepped. A
*stepper* advances any equation of the protocol it needs by one step; it knows nothing about the
PDE. `march` is the one loop that drives a stepper to a list of output times. The PDEs themselves
live with their problems (`pdesolve.problems`).

A state is a tensor ``(batch, ...)`` or a tuple of such tensors (e.g. velocity components on
staggered grids); steppers combine tuple states component by component.

Steppers:

* `RungeKutta4` -- classical RK4 on the whole right-hand side ``N + L`` (any `Equation`).
* `IntegratingFactorRK4` -- Lawson's integrating-factor RK4 for a diagonal ``L``: the linear part
  exact, fourth order overall (`DiagonalLinearEquation`).
* `LowStorageIMEXRK3` -- the three-stage, two-register Runge--Kutta / Crank--Nicolson scheme of
  Spalart, Moser & Rogers (1991): ``N`` explicit (third order alone), ``L`` implicit by a
  Crank--Nicolson-type split per stage; second order overall, A-stable in ``L``
  (`SemiImplicitEquation`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

import torch

from pdesolve.errors import NonFiniteError, UserError

State = torch.Tensor | tuple[torch.Tensor, ...]


# ------------------------------------------------------------------------------ protocols
@runtime_checkable
class Equation(Protocol):
    """A semi-discrete PDE ``d state/dt = explicit_terms(state, t) [+ L state]``."""

    def explicit_terms(self, state: State, t: float) -> State:
        """``N(state, t)``: advection, forcing, subgrid stresses, ... (same structure as ``state``)."""
        ...


@runtime_checkable
class SemiImplicitEquation(Equation, Protocol):
    """An equation with a linear part ``L`` that a stepper may treat implicitly."""

    def implicit_terms(self, state: State) -> State:
        """``L state``."""
        ...

    def implicit_solve(self, state: State, coefficient: float) -> State:
        """``(I - coefficient L)^{-1} state``."""
        ...


@runtime_checkable
class DiagonalLinearEquation(Equation, Protocol):
    """An equation whose ``L`` is diagonal in its representation (for integrating-factor steppers)."""

    linear_symbol: State  # L as a (broadcastable) diagonal, e.g. -nu |k|^2 - alpha; one per state component


class TimeStepper(Protocol):
    """Advances an equation's state by one step."""

    def step(self, equation: Equation, state: State, t: float, dt: float) -> State:
        """The state at ``t + dt`` from the state at ``t``."""
        ...


# ------------------------------------------------------------------------------ helpers
def leafwise(fn: Callable[..., torch.Tensor], *states: State) -> State:
    """``fn`` applied to matching components of states (tensors, or tuples of tensors)."""
    if isinstance(states[0], tuple):
        return tuple(fn(*parts) for parts in zip(*states, strict=True))
    return fn(*states)


def all_finite(state: State) -> bool:
    """Whether every component of ``state`` is finite."""
    parts = state if isinstance(state, tuple) else (state,)
    return all(bool(torch.isfinite(p).all()) for p in parts)


class DiagonalImplicitTerms:
    """Mixin giving an equation with a diagonal ``linear_symbol`` the `SemiImplicitEquation` methods,
    so that it can be driven by every stepper here."""

    linear_symbol: State

    def implicit_terms(self, state: State) -> State:
        return leafwise(lambda s, symbol: symbol * s, state, self.linear_symbol)

    def implicit_solve(self, state: State, coefficient: float) -> State:
        return leafwise(lambda s, symbol: s / (1 - coefficient * symbol), state, self.linear_symbol)


def full_rate(equation: Equation, state: State, t: float) -> State:
    """``N(state, t) + L state`` (just ``N`` for an equation without implicit terms)."""
    explicit = equation.explicit_terms(state, t)
    if isinstance(equation, SemiImplicitEquation):
        return leafwise(lambda a, b: a + b, explicit, equation.implicit_terms(state))
    return explicit


# ------------------------------------------------------------------------------ steppers
@dataclass(frozen=True)
class RungeKutta4:
    """Classical fourth-order Runge--Kutta on ``N + L`` (explicit in both)."""

    def step(self, equation: Equation, state: State, t: float, dt: float) -> State:
        k1 = full_rate(equation, state, t)
        k2 = full_rate(equation, leafwise(lambda y, k: y + 0.5 * dt * k, state, k1), t + 0.5 * dt)
        k3 = full_rate(equation, leafwise(lambda y, k: y + 0.5 * dt * k, state, k2), t + 0.5 * dt)
        k4 = full_rate(equation, leafwise(lambda y, k: y + dt * k, state, k3), t + dt)
        return leafwise(lambda y, a, b, c, d: y + (dt / 6.0) * (a + 2 * b + 2 * c + d), state, k1, k2, k3, k4)


@dataclass(frozen=True)
class IntegratingFactorRK4:
    """Lawson's integrating-factor RK4 for ``d state/dt = N(state, t) + L state`` with diagonal ``L``:
    exact for the linear part (no stiffness limit from it), fourth order overall."""

    def step(self, equation: DiagonalLinearEquation, state: State, t: float, dt: float) -> State:
        e_half = leafwise(lambda symbol: torch.exp(0.5 * dt * symbol), equation.linear_symbol)
        e_full = leafwise(lambda e: e * e, e_half)
        n = equation.explicit_terms
        k1 = n(state, t)
        k2 = n(leafwise(lambda y, k, e: e * (y + 0.5 * dt * k), state, k1, e_half), t + 0.5 * dt)
        k3 = n(leafwise(lambda y, k, e: e * y + 0.5 * dt * k, state, k2, e_half), t + 0.5 * dt)
        k4 = n(leafwise(lambda y, k, e, f: f * y + dt * e * k, state, k3, e_half, e_full), t + dt)
        return leafwise(lambda y, a, b, c, d, e, f: f * y + (dt / 6.0) * (f * a + 2 * e * (b + c) + d),
                        state, k1, k2, k3, k4, e_half, e_full)


@dataclass(frozen=True)
class LowStorageIMEXRK3:
    """Spalart--Moser--Rogers (1991) low-storage RK3 / Crank--Nicolson: per stage ``k``::

        (I - beta_k dt L) y' = y + dt [gamma_k N(y) + zeta_k N(y_prev) + alpha_k L y]

    with ``alpha_k + beta_k = gamma_k + zeta_k`` (stage times ``0, 8/15, 2/3`` of the step).
    """

    gamma: ClassVar[tuple[float, ...]] = (8 / 15, 5 / 12, 3 / 4)
    zeta: ClassVar[tuple[float, ...]] = (0.0, -17 / 60, -5 / 12)
    alpha: ClassVar[tuple[float, ...]] = (29 / 96, -3 / 40, 1 / 6)
    beta: ClassVar[tuple[float, ...]] = (37 / 160, 5 / 24, 1 / 6)

    def step(self, equation: SemiImplicitEquation, state: State, t: float, dt: float) -> State:
        previous, tau = None, t
        for gamma, zeta, alpha, beta in zip(self.gamma, self.zeta, self.alpha, self.beta, strict=True):
            explicit = equation.explicit_terms(state, tau)
            known = (state, explicit, equation.implicit_terms(state)) + (() if previous is None else (previous,))
            state = equation.implicit_solve(leafwise(_imex_stage(dt, gamma, zeta, alpha), *known), beta * dt)
            previous, tau = explicit, tau + (gamma + zeta) * dt
        return state


def _imex_stage(dt: float, gamma: float, zeta: float, alpha: float) -> Callable[..., torch.Tensor]:
    """The known right-hand side ``y + dt (gamma N + zeta N_prev + alpha L y)`` of one IMEX stage."""

    def rhs(y, explicit, linear, previous=None):
        if previous is None:
            return y + dt * (gamma * explicit + alpha * linear)
        return y + dt * (gamma * explicit + zeta * previous + alpha * linear)

    return rhs


# ------------------------------------------------------------------------------ the time loop
Check = Callable[[State, float, float, float], None]


def finite_check(message: Callable[[float, float, float], str] | None = None) -> Check:
    """A `march` check that raises `NonFiniteError` when the state is no longer finite, worded by
    ``message(t_start, t_end, dt)`` (a generic sentence by default)."""

    def check(state: State, t_start: float, t_end: float, dt: float) -> None:
        if not all_finite(state):
            raise NonFiniteError(message(t_start, t_end, dt) if message else (
                f"the state stopped being finite between t = {t_start:g} and {t_end:g} (step {dt:.3g}); "
                f"lower the time step"))

    return check


def check_output_times(times: Sequence[float], t0: float) -> list[float]:
    """``times`` as floats; raises a `UserError` unless they are non-decreasing and ``>= t0``."""
    times = [float(t) for t in times]
    if any(b < a for a, b in zip([t0, *times], times, strict=False)):
        raise UserError(f"output times must be non-decreasing and >= t0 = {t0}, got {times}")
    return times


def march(
    equation: Equation, stepper: TimeStepper, state: State, *, t0: float, times: Sequence[float], dt: float,
    after_step: Callable[[State, float], State] | None = None, check: Check | None = None,
    observe: Callable[[State], State] | None = None, initial: State | None = None,
) -> State:
    """The one time loop: advance ``state`` from ``t0`` with ``stepper`` and collect snapshots at ``times``.

    Each interval between output times is split into ``ceil(interval / dt)`` equal steps, so
    snapshots land exactly.

    Args:
        equation, stepper: what is integrated, and how.
        state: the state at ``t0``, ``(n, ...)`` (or a tuple of such tensors).
        times: output times, non-decreasing and ``>= t0``.
        dt: the largest step.
        after_step: ``(state, t) -> state`` applied after every step (projection, forcing by
            rescaling, statistics), ``t`` the time after the step.
        check: ``(state, t_start, t_end, dt)`` called after each output interval; raises when the state
            is unusable (default `finite_check()`).
        observe: the snapshot of a state (e.g. back to physical space; default the state itself).
        initial: the snapshot at a time equal to ``t0`` (default ``observe(state)``), e.g. the caller's
            own input.
    Returns:
        snapshots stacked along dim 1, ``(n, len(times), ...)``.
    Raises:
        UserError: bad output times.
        NonFiniteError: from the default check, when the state stops being finite.
    """
    times = check_output_times(times, t0)
    observe = observe or (lambda s: s)
    check = check or finite_check()
    snapshots, t = [], t0
    for target in times:
        if target == t0:
            snapshots.append(observe(state) if initial is None else initial)
            continue
        if target > t:
            steps = math.ceil((target - t) / dt - 1e-9)
            h = (target - t) / steps
            for i in range(steps):
                state = stepper.step(equation, state, t + i * h, h)
                if after_step is not None:
                    state = after_step(state, t + (i + 1) * h)
            check(state, t, target, h)
            t = target
        snapshots.append(observe(state))
    if not snapshots:
        like = observe(state) if initial is None else initial
        return leafwise(lambda s: s.new_zeros((s.shape[0], 0, *s.shape[1:])), like)
    return leafwise(lambda *s: torch.stack(s, dim=1), *snapshots)
