"""GP-HM (gp-spectral): kernel derivatives, Kronecker algebra, factor gradients, the GP derivative
operator, a low-frequency solve to 1e-4 (slow), persistence, netCDF output and the train path."""

import math

import pytest
import torch

from pdesolve.backends import Solver, get_backend
from pdesolve.backends.collocation import CollocationPDE
from pdesolve.config import TrainConfig, load_case
from pdesolve.data.netcdf import read_netcdf, write_netcdf
from pdesolve.data.samples import add_splits, select_split
from pdesolve.engines.rollout import rollout_run
from pdesolve.engines.train import Trainer, train_case
from pdesolve.errors import UserError
from pdesolve.nn.gp_kernels import KERNELS
from pdesolve.numerics.kronecker import (
    SymmetricFactor,
    kron_logdet,
    kron_matvec,
    kron_quad,
    kron_solve,
    mode_product,
)
from pdesolve.problems.manufactured import Poisson
from tests.helpers import write_case

GP_CASES = ["poisson_1d_gp", "poisson_1d_sin_cos_gp", "allen_cahn_1d_gp", "poisson_2d_gp", "poisson_2d_sin_cos_gp",
            "advection_gp", "poisson_1d_pinn", "gp_quick"]


def random_kernel(name, seed=0, components=4):
    torch.manual_seed(seed)
    kernel = KERNELS[name](components=components, freq_scale=3.0)
    with torch.no_grad():
        for p in kernel.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return kernel


# ------------------------------------------------------------------------------ kernels
@pytest.mark.parametrize("name", sorted(KERNELS))
@pytest.mark.parametrize("order", [1, 2])
def test_kernel_lag_derivatives_match_finite_differences(name, order):
    """d^k/dr^k in closed form against central differences of order k-1, at r = 0 too (where autograd
    through |r| would give 0 for the first derivative's slope)."""
    kernel = random_kernel(name)
    r = torch.tensor([-1.3, -0.4, -1e-3, 0.0, 1e-3, 0.2, 0.9], dtype=torch.float64)
    h = 1e-5
    with torch.no_grad():
        fd = (kernel(r + h, order - 1) - kernel(r - h, order - 1)) / (2 * h)
        exact = kernel(r, order)
    assert torch.allclose(exact, fd, rtol=1e-6, atol=1e-6 * float(exact.abs().max()))


def test_kernel_second_derivative_at_zero_is_the_analytic_value():
    """Matérn-5/2 x cos at r = 0: k''(0) = -w (a^2/3 + omega^2), which autograd through |r| misses."""
    kernel = KERNELS["stm"](components=1, freq_scale=2.0)
    with torch.no_grad():
        kernel.frequency.fill_(2.0)
    a2, omega2 = 5.0, (2 * math.pi * 2.0) ** 2
    with torch.no_grad():
        value = kernel(torch.zeros(1, dtype=torch.float64), 2)
    assert float(value) == pytest.approx(-(a2 / 3 + omega2), rel=1e-12)


def test_kernel_matrices_are_symmetric_positive_definite():
    x = torch.linspace(0, 1, 30, dtype=torch.float64)
    for name in KERNELS:
        k = random_kernel(name)(x[:, None] - x[None, :]).detach()
        assert torch.allclose(k, k.T)
        assert torch.linalg.eigvalsh(k + 1e-8 * torch.eye(30, dtype=torch.float64)).min() > 0


# ---------------------------------------------------------------------- Kronecker algebra
def spd(n, seed):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, n, generator=g, dtype=torch.float64)
    return a @ a.T + n * torch.eye(n, dtype=torch.float64)


def test_kronecker_identities_match_dense_matrices():
    sizes = (4, 3, 5)
    mats = [spd(n, i) for i, n in enumerate(sizes)]
    dense = torch.kron(torch.kron(mats[0], mats[1]), mats[2])
    u = torch.randn(*sizes, dtype=torch.float64)
    factors = [SymmetricFactor(m) for m in mats]
    assert torch.allclose(kron_matvec(mats, u).reshape(-1), dense @ u.reshape(-1))
    assert torch.allclose(kron_solve(factors, u).reshape(-1), torch.linalg.solve(dense, u.reshape(-1)))
    assert torch.allclose(kron_logdet([f.logdet() for f in factors], sizes), torch.linalg.slogdet(dense)[1])
    quad = u.reshape(-1) @ torch.linalg.solve(dense, u.reshape(-1))
    assert torch.allclose(kron_quad(factors, u), quad)
    for d in (1, 2):
        sub = [SymmetricFactor(m) for m in mats[:d]]
        v = torch.randn(*sizes[:d], dtype=torch.float64)
        dense_d = mats[0] if d == 1 else torch.kron(mats[0], mats[1])
        assert torch.allclose(kron_quad(sub, v), v.reshape(-1) @ torch.linalg.solve(dense_d, v.reshape(-1)))


def test_mode_product_with_a_rectangular_matrix():
    a = torch.randn(7, 3, dtype=torch.float64)
    u = torch.randn(2, 3, 4, dtype=torch.float64)
    dense = torch.kron(torch.kron(torch.eye(2, dtype=torch.float64), a), torch.eye(4, dtype=torch.float64))
    assert torch.allclose(mode_product(a, u, 1).reshape(-1), dense @ u.reshape(-1))


@pytest.mark.parametrize("indefinite", [False, True])
def test_factor_gradients_match_autograd_through_dense_algebra(indefinite):
    """Hand-written gradients of solve and log-determinant (Cholesky, and the LU fallback)."""
    k0 = spd(6, 3)
    if indefinite:  # symmetric but not positive definite: Cholesky fails, LU takes over
        k0 = k0 - 12 * torch.eye(6, dtype=torch.float64)
    b0 = torch.randn(6, 2, dtype=torch.float64)
    weights = torch.randn(6, 2, dtype=torch.float64)

    def loss(k, b, ours):
        if ours:
            f = SymmetricFactor(k)
            assert f.cholesky != indefinite
            return (f.solve(b) * weights).sum() + 0.7 * f.logdet()
        return (torch.linalg.solve(k, b) * weights).sum() + 0.7 * torch.linalg.slogdet(k)[1]

    grads = []
    for ours in (True, False):
        k, b = k0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
        loss(k, b, ours).backward()
        grads.append((k.grad, b.grad))
    assert torch.allclose(grads[0][0], grads[1][0], atol=1e-10)
    assert torch.allclose(grads[0][1], grads[1][1], atol=1e-10)


# -------------------------------------------------------------------------- the GP model
def built_solver(problem, **options):
    solver = get_backend("gp-spectral", **options)
    grid = problem.grid(solver.options.collocation)
    solver.setup = solver.setup_for(problem, grid)
    solver.build(solver.setup)
    return solver, CollocationPDE.sample(problem, grid, "cpu")


def test_toeplitz_assembly_equals_dense_lag_assembly():
    problem = Poisson({"solution": "sin6x_sin6y"})
    a, _ = built_solver(problem, collocation=[9, 7], components=3, toeplitz=True)
    b, _ = built_solver(problem, collocation=[9, 7], components=3, toeplitz=False)
    for axis in (0, 1):
        for order in (0, 1, 2):
            assert torch.allclose(a.model.kernel_matrix(axis, order), b.model.kernel_matrix(axis, order),
                                  atol=1e-12)


def test_gp_derivative_operator_differentiates_smooth_fields():
    """K'' K^-1 U with a fixed smooth kernel reproduces u_xx + u_yy of a smooth field in the interior."""
    problem = Poisson({"solution": "sin6x_sin6y"})
    solver, pde = built_solver(problem, kernel="se", collocation=48)
    with torch.no_grad():
        for k in solver.model.kernels:
            k.log_scale.fill_(math.log(4.0))  # exp(-4 r^2): correlation length ~ 0.5 on [0, 2 pi]
        x, y = pde.coords
        solver.model.u.copy_(torch.sin(x) * torch.cos(0.5 * y))
        factors = solver.factors()
        solved = [torch.linalg.solve(f.matrix, solver.model.u) if j == 0 else
                  torch.linalg.solve(f.matrix, solver.model.u.T).T for j, f in enumerate(factors)]
        derivs = solver.derivatives(factors, solved, pde.terms)
    laplacian = derivs[(2, 0)] + derivs[(0, 2)]
    exact = -1.25 * torch.sin(x) * torch.cos(0.5 * y)
    inner = (slice(8, -8), slice(8, -8))
    assert (laplacian - exact)[inner].abs().max() < 1e-2  # jitter 1e-6 limits the accuracy


def test_negative_log_joint_matches_dense_gaussian_densities():
    """The Kronecker objective equals the one written with the dense covariance."""
    problem = Poisson({"solution": "sin6x_sin6y"})
    solver, pde = built_solver(problem, collocation=[6, 5], components=2, boundary_weight=3.0)
    torch.manual_seed(1)
    with torch.no_grad():
        solver.model.u.copy_(torch.randn(6, 5, dtype=torch.float64))
        solver.model.log_tau_boundary.fill_(0.4)
        solver.model.log_tau_equation.fill_(-0.2)
        ours = solver.negative_log_joint(pde)
        k1, k2 = (f.matrix for f in solver.factors())
        cov = torch.kron(k1, k2)
        u = solver.model.u.reshape(-1)
        eye = lambda n: torch.eye(n, dtype=torch.float64)  # noqa: E731
        d_xx = solver.model.kernel_matrix(0, 2) @ torch.linalg.inv(k1)
        d_yy = solver.model.kernel_matrix(1, 2) @ torch.linalg.inv(k2)
        d2 = torch.kron(d_xx, eye(5)) + torch.kron(eye(6), d_yy)
        residual = d2 @ u - pde.source.reshape(-1)
        gap_b = (solver.model.u[pde.boundary] - pde.boundary_values).square().sum()
        nb = int(pde.boundary.sum())
        dense = (0.5 * torch.linalg.slogdet(cov)[1] + 0.5 * u @ torch.linalg.solve(cov, u)
                 - 3.0 * (0.5 * nb * 0.4 - 0.5 * math.exp(0.4) * gap_b)
                 - (0.5 * 30 * -0.2 - 0.5 * math.exp(-0.2) * residual.square().sum()))
    assert float(ours) == pytest.approx(float(dense), rel=1e-9)


# ------------------------------------------------------------------------------- solving
QUICK = {"kernel": "stm", "components": 10, "freq_scale": 2.0, "collocation": 40, "steps_per_epoch": 100}
PAPER_ADAM = dict(optimizer="adam", lr=0.01, weight_decay=0.0, schedule="constant", grad_clip=None, seed=0)


def field_data(problem, resolution=300):
    return add_splits(problem.generate(3, 0, resolution=resolution), 1, 1, 1)


@pytest.mark.slow  # a long verification: pytest -m slow
def test_low_frequency_poisson_solved_to_1e_4():
    """sin(6x) on [0, 2 pi], 40 collocation points, the paper's protocol (constant Adam lr 0.01, 4000
    steps, 40 checkpoints): GP-HM-StM finds the frequency 6, its best checkpoint is below 1e-4 (the
    paper's statistic; 3.6e-5 here), and not by one lucky dip between Adam's spikes: at least a quarter
    of the checkpoints of the second half are below 1e-4 too (11 of 20 here; smooth decaying schedules
    plateau at 1.3e-4). Deterministic: one thread, fixed seed. Time per step: benchmarks/gp_spectral.py."""
    problem = Poisson({"solution": "sin6x"})
    data = field_data(problem)
    solver = get_backend("gp-spectral", **QUICK)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        report = solver.fit(problem, data, Trainer(TrainConfig(epochs=40, **PAPER_ADAM), "cpu"))
    finally:
        torch.set_num_threads(threads)
    assert report.best_val < 1e-4
    second_half = [h["val_rel_l2"] for h in report.history[20:]]
    assert sum(err < 1e-4 for err in second_half) >= len(second_half) // 4, second_half
    top = solver.dominant_frequencies(top=1)[0][0]
    assert top == pytest.approx(6.0, abs=0.1)


def test_persistence_prediction_and_netcdf_spectrum(tmp_path):
    problem = Poisson({"solution": "sin6x"})
    data = field_data(problem, resolution=50)
    solver = get_backend("gp-spectral", **{**QUICK, "steps_per_epoch": 5})
    solver.fit(problem, data, Trainer(TrainConfig(epochs=1, **PAPER_ADAM), "cpu"))
    path = solver.save(tmp_path / "gp.pt")
    again = Solver.load(path)
    grid = problem.grid(77)
    assert torch.equal(solver.predict(grid), again.predict(grid))
    out = again.solve(problem, select_split(data, "test"))
    assert out["u"].dims == ("sample", "x")
    assert out["spectrum_angular_frequency"].dims == ("axis", "component")
    back = read_netcdf(write_netcdf(out, tmp_path / "u.nc"))
    assert list(back["axis"].values) == ["x"]
    assert "dominant_angular_frequencies" in back.attrs


def test_options_are_checked_against_the_problem():
    problem = Poisson({"solution": "sin100x"})
    solver_cls = type(get_backend("gp-spectral"))
    with pytest.raises(UserError, match="collocation"):
        solver_cls.check_problem(problem, get_backend("gp-spectral", collocation=[10, 10]).options)
    with pytest.raises(UserError, match="freq_scale"):
        solver_cls.check_problem(problem, get_backend("gp-spectral", freq_scale=[1.0, 2.0]).options)


def test_train_path_writes_rollout_with_reference_and_spectrum(tmp_path):
    case = {
        "name": "tiny_gp", "problem": {"name": "poisson", "solution": "sin6x"},
        "data": {"n_train": 1, "n_val": 1, "n_test": 1, "resolution": 64},
        "backend": {"name": "gp-spectral", **{**QUICK, "steps_per_epoch": 20}},
        "train": {"epochs": 2, **PAPER_ADAM}, "compare": {"baselines": ["fd"]}, "output": {"figures": True},
    }
    summary = train_case(load_case(write_case(tmp_path, case)), run_dir=tmp_path / "run", device="cpu")
    assert summary.fit.epochs == 2 and summary.fit.best_epoch >= 0
    rollout = read_netcdf(summary.rollout["path"])
    assert {"u", "u_reference", "rel_l2_error", "spectrum_weight"} <= set(rollout.variables)
    assert rollout["rel_l2_error"].values[0] == pytest.approx(summary.test["test_rel_l2"], rel=1e-5)
    state = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    assert state["solver"]["backend"] == "gp-spectral"
    fine = rollout_run(tmp_path / "run", resolution=97, out=tmp_path / "fine.nc")  # any requested grid
    assert fine.dataset.sizes["x"] == 97 and "spectrum_frequency" in fine.dataset


@pytest.mark.parametrize("name", GP_CASES)
def test_shipped_cases_validate(name):
    case = load_case(name, ["train.epochs=0"])
    assert case.problem.task == "field"
