"""Verification of the KMM channel solver: Poiseuille flow, the Orr--Sommerfeld TS mode at Re = 7500,
the scheme's time order, divergence at round-off; channel statistics and wall-bounded SGS closures."""

import numpy as np
import pytest
import scipy.linalg
import torch

from pdesolve.numerics import chebyshev
from pdesolve.numerics.channel_spectral import ChannelGrid, SpectralChannel
from pdesolve.numerics.time_steppers import LowStorageIMEXRK3, march
from pdesolve.problems.channel_equations import ChannelKMM, ConstantFlowRate

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


# ------------------------------------------------------------------------------ statistics
def synthetic_channel(nx=12, ny=33, nz=8, lx=8.0, lz=4.0, a=0.3, b=0.2):
    """``u = U(y) + a f(y) cos(k x)``, ``v = b g(y) cos(k x)``, ``w = a f(y) sin(2 pi z / lz)``, ``(1, 3, nx, ny, nz)``,
    ``f = 4 y^2 (1 - y^2)``, ``g = y (1 - y^2)``."""
    y = torch.as_tensor(chebyshev.points(ny - 1))[None, :, None]
    x = torch.arange(nx, dtype=torch.float64)[:, None, None] * lx / nx
    z = torch.arange(nz, dtype=torch.float64)[None, None, :] * lz / nz
    k = 2 * np.pi * 3 / lx
    f, g = 4 * y**2 * (1 - y**2), y * (1 - y**2)
    u = (1 - y**2) + a * f * torch.cos(k * x) + 0 * z
    v = b * g * torch.cos(k * x) + 0 * z
    w = a * f * torch.sin(2 * np.pi * z / lz) + 0 * x
    return torch.stack((u, v, w))[None], y.flatten().numpy()


def test_wall_profiles_of_known_fields():
    from pdesolve.numerics.channel_statistics import fold, landmarks, wall_profiles

    nu, a, b = 0.005, 0.3, 0.2
    u, y = synthetic_channel(a=a, b=b)
    p = wall_profiles(u, nu)
    u_tau = np.sqrt(2 * nu)  # laminar wall shear dU/dy = 2
    assert abs(p.u_tau - u_tau) < 1e-12 and abs(p.re_tau - u_tau / nu) < 1e-9
    assert np.allclose(p.y_plus, fold(1 - np.abs(y)) * u_tau / nu)
    assert np.allclose(p.u_plus, fold(1 - y**2) / u_tau, atol=1e-12)
    f, g = 4 * y**2 * (1 - y**2), y * (1 - y**2)
    assert np.allclose(p.rms_plus[0], fold(np.abs(a * f) / np.sqrt(2)) / u_tau, atol=1e-12)
    assert np.allclose(p.rms_plus[1], fold(np.abs(b * g) / np.sqrt(2)) / u_tau, atol=1e-12)
    assert np.allclose(p.uv_plus, fold(-a * b * f * g / 2, -1.0) / u_tau**2, atol=1e-12)
    marks = landmarks(p)
    assert abs(marks["urms_peak"] - a / np.sqrt(2) / u_tau) < 1e-6  # peak of f at y = -1/sqrt 2
    assert abs(marks["urms_peak_y_plus"] - (1 - 1 / np.sqrt(2)) * p.re_tau) < 0.3
    # -<u'v'> = 2 a b (-y)^3 (1 - y^2)^2, largest at y^2 = 3/7
    assert abs(marks["uv_peak"] - 2 * a * b * (3 / 7) ** 1.5 * (4 / 7) ** 2 / u_tau**2) < 1e-5
    assert abs(marks["uv_peak_y_plus"] - (1 - np.sqrt(3 / 7)) * p.re_tau) < 0.3


def test_one_d_spectra_of_known_fields():
    from pdesolve.numerics.channel_statistics import one_d_spectra

    a = 0.3
    u, y = synthetic_channel(a=a)
    nu, u_tau = 0.005, 0.1
    s = one_d_spectra(u, nu, u_tau, y_plus=10.0, lx=8.0, lz=4.0)
    j = int(np.argmin(np.abs((1 - np.abs(y[:17])) * u_tau / nu - 10.0)))
    assert float(s["y_plus"]) == pytest.approx((1 - abs(y[j])) * u_tau / nu)
    f = 4 * y[j] ** 2 * (1 - y[j] ** 2)
    assert s["E_x"][0, 3] == pytest.approx((a * f) ** 2 / 2) and s["E_x"][0].sum() == pytest.approx((a * f) ** 2 / 2)
    assert s["E_z"][2, 1] == pytest.approx((a * f) ** 2 / 2) and s["E_z"][0, 0] == pytest.approx((a * f) ** 2 / 2)
    assert np.allclose(s["kx"][:4], 2 * np.pi / 8.0 * np.arange(4))


# ------------------------------------------------------------------------------ wall-bounded SGS closures
def test_van_driest_and_widths():
    from pdesolve.numerics.channel_sgs import filter_width, van_driest

    grid = ChannelGrid(32, 33, 16)
    d = van_driest(grid, 180.0)
    assert d[0] == 0 and d[-1] == 0 and d[16] == pytest.approx(1 - np.exp(-180 / 25))
    assert np.all(np.diff(d[:17]) > 0)
    delta = filter_width(grid)
    assert delta[16] == pytest.approx((0.25 * (grid.y[15] - grid.y[17]) / 2 * 0.25) ** (1 / 3))
    assert delta[0] < delta[8] < delta[16]


def _shear_state(grid, sp):
    """A laminar parabola plus a 2-D mode with ``v = eps (1 - y^2)^2 cos(2 pi x / lx)``."""
    eq = ChannelKMM(sp, viscosity=0.01)
    n = grid.n
    mean = torch.zeros(1, 2, n - 1, dtype=torch.float64)
    mean[0, 0] = torch.as_tensor(1 - grid.y[1:n] ** 2)
    v = torch.zeros(1, grid.nx, n - 1, grid.nz // 2 + 1, dtype=torch.complex128)
    return eq, (v, torch.zeros_like(v), mean)


def test_wale_vanishes_in_shear_and_smagorinsky_at_walls():
    from pdesolve.numerics.channel_sgs import WallResolvedFlow, channel_wale, van_driest_smagorinsky

    grid = ChannelGrid(8, 17, 4)
    sp = SpectralChannel(grid)
    eq, state = _shear_state(grid, sp)
    flow = WallResolvedFlow(eq.velocity_hat(state), eq.gradient_hat(state), sp, 0.01)
    assert float(channel_wale(sp).eddy_viscosity(flow).abs().max()) < 1e-14  # pure shear
    smag = van_driest_smagorinsky(sp, re_tau=100.0).eddy_viscosity(flow)
    assert float(smag[:, :, [0, -1]].abs().max()) == 0.0  # damped at the walls, where |S| is largest
    assert float(smag[:, :, 4].min()) > 0


def test_dynamic_smagorinsky_coefficient():
    from pdesolve.numerics.channel_sgs import ChannelDynamicSmagorinsky, WallResolvedFlow

    grid = ChannelGrid(16, 17, 16, lx=2 * np.pi, lz=2 * np.pi)
    sp = SpectralChannel(grid)
    eq, (v, eta, mean) = _shear_state(grid, sp)
    model = ChannelDynamicSmagorinsky(sp)
    # a field the test filter keeps entirely (kx = 1 <= 5 / 2): no Leonard stress, C = 0
    v[0, 1, :, 0] = v[0, -1, :, 0] = torch.as_tensor(0.1 * (1 - grid.y[1:grid.n] ** 2) ** 2)
    state = (v, eta, mean)
    flow = WallResolvedFlow(eq.velocity_hat(state), eq.gradient_hat(state), sp, 0.01)
    assert float(model.coefficient(flow).abs().max()) < 1e-12
    # modes beyond the test filter (kx = 4 > 5/2): a Leonard stress, a finite C per plane, nu_t >= -nu
    v[0, 4, :, 0] = v[0, -4, :, 0] = torch.as_tensor(0.1 * (1 - grid.y[1:grid.n] ** 2) ** 2)
    eta[0, 4, :, 1] = torch.as_tensor(0.2 * (1 - grid.y[1:grid.n] ** 2))
    state = (v, eta, mean)
    flow = WallResolvedFlow(eq.velocity_hat(state), eq.gradient_hat(state), sp, 0.01)
    c = model.coefficient(flow)
    assert c.shape == (1, grid.ny) and torch.isfinite(c).all() and float(c.abs().max()) > 1e-6
    assert float(model.eddy_viscosity(flow).min()) >= -0.01 - 1e-15


def test_constant_eddy_viscosity_force_is_laplacian():
    from pdesolve.numerics.channel_sgs import ChannelClosure

    grid = ChannelGrid(8, 17, 8, lx=2 * np.pi, lz=2 * np.pi)
    sp = SpectralChannel(grid)
    eq, (v, eta, mean) = _shear_state(grid, sp)
    v[0, 1, :, 1] = torch.as_tensor(0.1 * (1 - grid.y[1:grid.n] ** 2) ** 2, dtype=torch.complex128)
    state = (v, eta, mean)

    class Constant:
        def eddy_viscosity(self, flow):
            return torch.full_like(flow.strain_magnitude, 0.3)

    u_hat = eq.velocity_hat(state)
    force = ChannelClosure(Constant(), sp, 0.01)(u_hat, eq.gradient_hat(state))
    laplacian = sp.dy(sp.dy(u_hat)) - sp.k2 * u_hat
    assert torch.allclose(force, 0.3 * laplacian, atol=1e-11)


# ------------------------------------------------------------------------------ the problem
def _problem(**extra):
    from pdesolve.problems.channel_flow import ChannelFlow3D

    return ChannelFlow3D({"resolution": [32, 33, 16], "spin_up": 0.0, "t_end": 0.02, "snapshot_interval": 0.01,
                          **extra})


def test_problem_inputs_restriction_and_les_baselines():
    from pdesolve.problems.base import list_problems

    assert "channel_3d" in list_problems()
    problem = _problem()
    assert {"coarse", "smagorinsky", "dsm", "wale"} <= set(problem.baselines())
    assert problem.recipe(2, 0, None) == _problem(les={"wale_cw": 0.3}).recipe(2, 0, None)  # SGS constants: same data
    x = problem.sample_inputs(1, seed=3, first_index=0, device="cpu")
    assert x.shape == (1, 3, 32, 33, 16) and torch.equal(x, problem.sample_inputs(1, 3, 0, "cpu"))
    assert float(x[:, :, :, [0, -1]].abs().max()) < 1e-12  # no slip
    y = np.asarray(problem.solver_grid.axes[1].points)
    assert np.allclose(y, np.sort(chebyshev.points(32)))
    # restriction onto a decimating grid: a field of kept modes is injected exactly
    problem = _problem(resolution=[64, 65, 32])
    y = np.asarray(problem.solver_grid.axes[1].points)
    coarse = problem.data_grid([32, 33, 16])

    def field(nx, y, nz):
        yy, xx = torch.as_tensor(y)[None, :, None], torch.arange(nx, dtype=torch.float64)[:, None, None] * 8 / nx
        return ((1 - yy**2) * torch.cos(2 * np.pi * 3 * xx / 8) + torch.zeros(1, 1, nz))[None, None]

    expected = field(32, np.sort(chebyshev.points(32)), 16)
    assert torch.allclose(problem.restrict(field(64, y, 32), problem.solver_grid, coarse), expected, atol=1e-13)
    # every LES baseline runs through the same solver on the coarse grid
    grid = coarse
    x = problem.restrict(problem.sample_inputs(1, 0, 0, "cpu"), problem.solver_grid, grid)
    runs = {name: problem.baselines()[name].run(problem, x, grid, 0.0, [0.01]) for name in ("dsm", "wale")}
    for name, out in runs.items():
        assert out.shape == (1, 1, 3, 32, 33, 16) and torch.isfinite(out).all(), name
    assert not torch.allclose(runs["dsm"], runs["wale"])
    assert problem.time_step(grid) <= 0.8 * 0.0088


def test_bad_channel_inputs_are_one_line_errors():
    from pdesolve.errors import UserError

    with pytest.raises(UserError, match=r"y\+ = 3.46"):
        _problem(resolution=[64, 17, 32])
    with pytest.raises(UserError, match="stability limit"):
        _problem(dt=0.05)
    with pytest.raises(UserError, match="not a decimation"):
        _problem().data_grid([24, 33, 16])
    with pytest.raises(UserError, match=r"dz\+ = 90"):
        _problem(resolution=[32, 33, 8])


@pytest.mark.slow
def test_turbulent_statistics_of_the_coarse_wale_les():
    """WALE LES on the papers' 32x33x16 grid, 40 h/u_tau of spin-up, statistics over the next 20 (~25 min on
    2 loaded cores). Tolerances for this coarse grid (les.md §2.2 expects an over-predicted u' peak and a
    shifted log region): Re_tau within 10 % of 180, centre U+ within 30 % of 18.3 (benchmarks/channel.py
    measured +27 %: the coarse LES has too little drag), the u'+ peak within 30 %
    of 2.66 at 8 <= y+ <= 30, the -u'v'+ peak within 25 % of 0.734 at 15 <= y+ <= 60."""
    from pdesolve.numerics.channel_statistics import landmarks, wall_profiles

    problem = _problem(resolution=[64, 65, 32])
    grid = problem.data_grid([32, 33, 16])
    x = problem.restrict(problem.sample_inputs(1, 0, 0, "cpu"), problem.solver_grid, grid)
    spun = problem.simulate(x, grid, times=[40.0], closure="wale")[:, -1]
    out = problem.simulate(spun, grid, t0=40.0, times=list(np.arange(41.0, 60.5, 1.0)), closure="wale")
    marks = landmarks(wall_profiles(problem.to_ascending(out), problem.viscosity))
    assert abs(marks["re_tau"] / 180 - 1) < 0.10, marks
    assert abs(marks["u_plus_centre"] / 18.3 - 1) < 0.30, marks
    assert abs(marks["urms_peak"] / 2.66 - 1) < 0.30 and 8 <= marks["urms_peak_y_plus"] <= 30, marks
    assert abs(marks["uv_peak"] / 0.734 - 1) < 0.25 and 15 <= marks["uv_peak_y_plus"] <= 60, marks
