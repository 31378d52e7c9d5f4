"""Time steppers and `march`: orders of accuracy on ODEs with exact solutions, stiffness, the loop's
contract (exact landing, initial snapshot, hooks, checks, tuple states), and one PDE under every stepper."""

import math

import pytest
import torch

from pdesolve.data.grid import Grid
from pdesolve.errors import NonFiniteError, UserError
from pdesolve.numerics.time_steppers import (
    DiagonalImplicitTerms,
    IntegratingFactorRK4,
    LowStorageIMEXRK3,
    RungeKutta4,
    march,
)
from pdesolve.problems.burgers_1d import BurgersEquation1D, cole_hopf, project_resolved

LAMBDA = -2.0


class ForcedDecay(DiagonalImplicitTerms):
    """``y' = lambda y + cos t`` with ``N = cos t`` (time-dependent, tests stage times), ``L = lambda``."""

    def __init__(self, rate: float = LAMBDA):
        self.linear_symbol = torch.tensor(rate, dtype=torch.float64)

    def explicit_terms(self, y, t):
        return torch.full_like(y, math.cos(t))

    @staticmethod
    def exact(t: float, rate: float = LAMBDA) -> float:  # y(0) = 0
        return (-rate * math.cos(t) + math.sin(t) + rate * math.exp(rate * t)) / (1 + rate**2)


class Logistic(DiagonalImplicitTerms):
    """``y' = y (1 - y)`` all explicit (``L = 0``); ``y(t) = 1 / (1 + (1/y0 - 1) e^-t)``."""

    linear_symbol = torch.tensor(0.0, dtype=torch.float64)

    def explicit_terms(self, y, t):
        return y * (1 - y)


class Oscillator:
    """``x' = v, v' = -x`` as a tuple state (no implicit terms)."""

    def explicit_terms(self, state, t):
        x, v = state
        return v, -x


def final_error(equation, stepper, dt, exact, y0=0.0, t_end=1.0):
    y = march(equation, stepper, torch.tensor([y0], dtype=torch.float64), t0=0.0, times=[t_end], dt=dt)
    return abs(y[0, -1].item() - exact)


def observed_order(equation, stepper, exact, dts, y0=0.0):
    e1, e2 = (final_error(equation, stepper, dt, exact, y0) for dt in dts)
    return math.log2(e1 / e2)


@pytest.mark.parametrize("stepper, order", [(RungeKutta4(), 4), (IntegratingFactorRK4(), 4),
                                            (LowStorageIMEXRK3(), 2)])
def test_order_with_a_time_dependent_explicit_term_and_a_linear_part(stepper, order):
    measured = observed_order(ForcedDecay(), stepper, ForcedDecay.exact(1.0), (0.1, 0.05))
    assert measured == pytest.approx(order, abs=0.25)


def test_imex_rk3_is_third_order_on_its_explicit_part():
    exact = 1 / (1 + (1 / 0.1 - 1) * math.exp(-1.0))
    assert observed_order(Logistic(), LowStorageIMEXRK3(), exact, (0.1, 0.05), y0=0.1) == pytest.approx(3, abs=0.2)


def test_integrating_factor_is_exact_for_the_linear_part_and_imex_is_stable_when_stiff():
    class PureDecay(DiagonalImplicitTerms):
        linear_symbol = torch.tensor(-1e4, dtype=torch.float64)

        def explicit_terms(self, y, t):
            return torch.zeros_like(y)

    y0 = torch.tensor([1.0], dtype=torch.float64)
    exact = march(PureDecay(), IntegratingFactorRK4(), y0, t0=0.0, times=[1e-3], dt=5e-4)
    assert exact[0, 0].item() == pytest.approx(math.exp(-10.0), rel=1e-13)
    stiff = march(PureDecay(), LowStorageIMEXRK3(), y0, t0=0.0, times=[0.5, 1.0], dt=0.1)  # lambda dt = -1000
    assert torch.all(stiff.abs() < 1.0)  # A-stable: decays instead of blowing up
    with pytest.raises(NonFiniteError, match="stopped being finite between t = 0 and 10"):
        march(PureDecay(), RungeKutta4(), y0, t0=0.0, times=[10.0], dt=0.1)  # explicit: unstable


def test_march_lands_on_every_output_time_and_returns_the_initial_snapshot():
    class Counting:
        def __init__(self):
            self.steps = []

        def step(self, equation, state, t, dt):
            self.steps.append((t, dt))
            return state + dt

    stepper, hooks = Counting(), []
    start = torch.zeros(2, 1, dtype=torch.float64)
    given = torch.full((2, 1), -1.0, dtype=torch.float64)
    out = march(None, stepper, start, t0=0.5, times=[0.5, 0.8, 0.8, 1.3], dt=0.2, initial=given,
                after_step=lambda s, t: hooks.append(t) or s)
    assert out.shape == (2, 4, 1)
    assert torch.equal(out[:, 0], given)  # the caller's own snapshot at t0
    assert out[0, 1:, 0].tolist() == pytest.approx([0.3, 0.3, 0.8])  # state = elapsed time
    assert [dt for _, dt in stepper.steps] == pytest.approx([0.15] * 2 + [0.5 / 3] * 3)  # ceil, equal steps
    assert hooks == pytest.approx([0.65, 0.8, 0.8 + 1 / 6, 0.8 + 2 / 6, 1.3])
    assert march(None, stepper, start, t0=0.0, times=[], dt=0.1).shape == (2, 0, 1)
    with pytest.raises(UserError, match="non-decreasing"):
        march(None, stepper, start, t0=0.0, times=[0.2, 0.1], dt=0.1)


def test_tuple_states_step_component_by_component():
    x0, v0 = torch.ones(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    x, v = march(Oscillator(), RungeKutta4(), (x0, v0), t0=0.0, times=[1.0, 2.0], dt=0.01)
    assert x.shape == v.shape == (1, 2)
    assert torch.allclose(x[0], torch.cos(torch.tensor([1.0, 2.0], dtype=torch.float64)), atol=1e-9)
    assert torch.allclose(v[0], -torch.sin(torch.tensor([1.0, 2.0], dtype=torch.float64)), atol=1e-9)


@pytest.mark.parametrize("stepper", [RungeKutta4(), IntegratingFactorRK4(), LowStorageIMEXRK3()])
def test_one_equation_under_every_stepper_matches_cole_hopf(stepper):
    """Burgers' equation object, unchanged, driven by each stepper, against the exact solution."""
    grid = Grid.uniform(1, 128, length=1.0, layout="periodic")
    x = torch.as_tensor(grid.mesh()[0])
    u0 = project_resolved(torch.sin(2 * math.pi * x)[None], grid)
    equation = BurgersEquation1D(grid, 0.1)
    u = march(equation, stepper, equation.to_state(u0), t0=0.0, times=[0.2], dt=2e-4,
              observe=equation.to_physical)[:, -1]
    exact = cole_hopf(u0, grid, [0.2], viscosity=0.1)[:, -1]
    assert ((u - exact).norm() / exact.norm()).item() < 1e-6
