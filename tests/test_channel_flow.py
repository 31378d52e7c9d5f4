"""Verification of the KMM channel solver: Poiseuille flow, the Orr--Sommerfeld TS mode at Re = 7500,
the scheme's time order, divergence at round-off; channel statistics and wall-bounded SGS closures."""

import numpy as np
import pytest
import scipy.linalg
import torch

from pdesolve.numerics import chebyshev
from pdesolve.numerics.time_steppers import LowStorageIMEXRK3, march
from pdesolve.problems.channel_equations import ChannelGrid, ChannelKMM, ConstantFlowRate, SpectralChannel

ORSZAG_C = 0.24989154 + 0.00223497j  # Orszag (1971), Re = 7500, alpha = 1


def orr_sommerfeld(n: int, re: float, alpha: float):
    """Least-stable OS eigenvalue ``lambda = -i alpha c`` and its ``v`` on interior points (same clamped operators)."""
    y = chebyshev.points(n)
    c2, c4 = chebyshev.clamped_operators(n)
    eye = np.eye(n - 1)
    m = c2 - alpha**2 * eye
    a = (c4 - 2 * alpha**2 * c2 + alpha**4 * eye) / re - 1j * alpha * (np.diag(1 - y[1:n] ** 2) @ m + 2 * eye)
    lam, vec = scipy.linalg.eig(a, m)
    i = np.argmax(lam.real)
    return lam[i], vec[:, i]


def laminar_state(grid, amplitude_v=None):
    n = grid.n
    mean = torch.zeros(1, 2, n - 1, dtype=torch.float64)
    mean[0, 0] = torch.as_tensor(1 - grid.y[1:n] ** 2)
    v = torch.zeros(1, grid.nx, n - 1, grid.nz // 2 + 1, dtype=torch.complex128)
    return v, torch.zeros_like(v), mean


def test_os_eigenvalue_matches_orszag():
    lam, _ = orr_sommerfeld(64, 7500.0, 1.0)
    assert abs(1j * lam - ORSZAG_C) < 1e-8


def test_poiseuille_is_exact_and_reached():
    grid = ChannelGrid(4, 17, 4, lx=2 * np.pi, lz=np.pi)
    eq = ChannelKMM(SpectralChannel(grid), viscosity=0.01, pressure_gradient=0.02)
    state = laminar_state(grid)
    out = march(eq, LowStorageIMEXRK3(), state, t0=0.0, times=[1.0], dt=0.1, observe=lambda s: s[2])
    assert torch.allclose(out[0, -1], state[2][0], atol=1e-14, rtol=0)
    # from rest, the implicit viscous solve converges to the same parabola
    eq = ChannelKMM(SpectralChannel(grid), viscosity=0.1, pressure_gradient=0.2)
    rest = (state[0], state[1], torch.zeros_like(state[2]))
    out = march(eq, LowStorageIMEXRK3(), rest, t0=0.0, times=[400.0], dt=2.0, observe=lambda s: s[2])
    assert torch.allclose(out[0, -1], state[2][0], atol=1e-12, rtol=0)


def test_constant_flow_rate_holds_bulk():
    grid = ChannelGrid(4, 17, 4, lx=2 * np.pi, lz=np.pi)
    eq = ChannelKMM(SpectralChannel(grid), viscosity=0.01, pressure_gradient=0.0)
    hold = ConstantFlowRate(eq, u_bulk=2 / 3, dt=0.1)
    state = laminar_state(grid)
    out = march(eq, LowStorageIMEXRK3(), state, t0=0.0, times=[2.0], dt=0.1, after_step=hold,
                observe=lambda s: s[2])
    assert abs(float(eq.bulk_velocity((None, None, out[:, -1]))) - 2 / 3) < 1e-13
    assert abs(float(hold.pressure_gradient) - 0.02) < 0.003  # laminar: Pi = 2 nu U_c, to O(nu dt)


@pytest.mark.parametrize("n", [48])
def test_tollmien_schlichting_growth_and_time_order(n):
    torch.set_num_threads(1)
    lam, vec = orr_sommerfeld(n, 7500.0, 1.0)
    assert abs(1j * lam - ORSZAG_C) < 2e-6
    grid = ChannelGrid(4, n + 1, 1, lx=2 * np.pi, lz=1.0)
    eq = ChannelKMM(SpectralChannel(grid), viscosity=1 / 7500, pressure_gradient=2 / 7500)
    v, eta, mean = laminar_state(grid)
    mode = torch.as_tensor(vec / np.abs(vec).max() * 1e-6)
    v[0, 1, :, 0], v[0, 3, :, 0] = mode, mode.conj()
    errors, t_end = [], 2.0
    for dt in (0.1, 0.05):
        out = march(eq, LowStorageIMEXRK3(), (v, eta, mean), t0=0.0, times=[t_end], dt=dt,
                    observe=lambda s: s[0])[0, -1, 1, :, 0]
        rate = np.log(complex((out @ mode.conj()) / (mode @ mode.conj()))) / t_end
        growth, speed = rate.real, -rate.imag  # alpha = 1: omega_i = c_i, phase speed c_r
        assert abs(growth - ORSZAG_C.imag) < 1e-3 * ORSZAG_C.imag
        assert abs(speed - ORSZAG_C.real) < 1e-6
        errors.append(abs(rate - lam))
    order = np.log2(errors[0] / errors[1])
    assert 1.8 < order < 3.3, order  # SMR RK3/CN: second order (the explicit part third)


def test_divergence_free_at_round_off():
    torch.manual_seed(0)
    grid = ChannelGrid(12, 17, 12, lx=2 * np.pi, lz=np.pi)
    sp = SpectralChannel(grid)
    eq = ChannelKMM(sp, viscosity=0.02, pressure_gradient=1.0)
    n = grid.n
    shape = (1, grid.nx, n - 1, grid.nz // 2 + 1)
    v = sp.forward(torch.randn(1, grid.nx, n - 1, grid.nz, dtype=torch.float64)) * eq.modes
    eta = sp.forward(torch.randn(1, grid.nx, n - 1, grid.nz, dtype=torch.float64)) * eq.modes
    mean = torch.randn(1, 2, n - 1, dtype=torch.float64)
    assert v.shape == shape
    state = march(eq, LowStorageIMEXRK3(), (v, eta, mean), t0=0.0, times=[0.02], dt=0.01,
                  observe=lambda s: s)
    state = tuple(s[:, -1] for s in state)
    u_hat, g_hat = eq.velocity_hat(state), eq.gradient_hat(state)
    divergence = g_hat[:, 0, 0] + g_hat[:, 1, 1] + g_hat[:, 2, 2]
    assert float(divergence.abs().max()) < 1e-12 * float(g_hat[:, 1, 1].abs().max())
    u = sp.inverse(u_hat)
    assert float(u[:, :, :, [0, -1]].abs().max()) < 1e-13  # no slip
    back = eq.state_from_velocity(u)
    assert all(torch.allclose(a, b, atol=1e-12) for a, b in zip(back, state, strict=True))
