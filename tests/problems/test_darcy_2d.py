"""Verification of the 2-D Darcy reference solver (matrix, manufactured solution, known solutions)."""

import math

import numpy as np
import pytest
import torch

from pdesolve.data.grid import Grid
from pdesolve.errors import UserError
from pdesolve.numerics.random_fields import cosine_random_field, sample_seed
from pdesolve.problems import Problem
from pdesolve.problems.darcy_2d import Darcy2D, darcy_matrix, solve_darcy

PI = math.pi


def nodes(nx, ny=None):
    return Grid.uniform(2, (nx, ny or nx), layout="nodes")


def manufactured(x, y):
    """Coefficient, solution and forcing of ``-div(a grad u) = f`` with
    ``a = 1.5 + sin(2 pi x + 0.3) cos(pi y)``, ``u = sin(pi x) sin(2 pi y)``."""
    a = 1.5 + np.sin(2 * PI * x + 0.3) * np.cos(PI * y)
    a_x = 2 * PI * np.cos(2 * PI * x + 0.3) * np.cos(PI * y)
    a_y = -PI * np.sin(2 * PI * x + 0.3) * np.sin(PI * y)
    u = np.sin(PI * x) * np.sin(2 * PI * y)
    u_x = PI * np.cos(PI * x) * np.sin(2 * PI * y)
    u_y = 2 * PI * np.sin(PI * x) * np.cos(2 * PI * y)
    f = 5 * PI**2 * a * u - a_x * u_x - a_y * u_y  # Laplacian u = -5 pi^2 u
    return a, u, f


def square_centre_value(n_terms=4000):
    """``u(1/2, 1/2)`` for ``-Laplacian u = 1`` on the unit square (double sine series)."""
    m = np.arange(1, n_terms, 2)
    mm, nn = np.meshgrid(m, m, indexing="ij")
    signs = np.sin(mm * PI / 2) * np.sin(nn * PI / 2)
    return 16 / PI**4 * np.sum(signs / (mm * nn * (mm**2 + nn**2)))


def random_coefficient(n=2, resolution=33):
    return Darcy2D({"resolution": resolution}).sample_inputs(n, 0, 0, "cpu")


# ------------------------------------------------------------------------------ the matrix
def test_matrix_matches_an_explicit_five_point_assembly():
    grid = Grid.uniform(2, (6, 8), layout="nodes")
    hx, hy = grid.spacing
    a = np.random.default_rng(0).uniform(1.0, 10.0, grid.shape)
    hm = lambda p, q: 2 * p * q / (p + q)  # noqa: E731
    nx, ny = 4, 6
    dense = np.zeros((nx * ny, nx * ny))
    for i in range(1, 5):
        for j in range(1, 7):
            row = (i - 1) * ny + (j - 1)
            for di, dj, h in ((1, 0, hx), (-1, 0, hx), (0, 1, hy), (0, -1, hy)):
                c = hm(a[i, j], a[i + di, j + dj]) / h**2
                dense[row, row] += c
                if 1 <= i + di <= 4 and 1 <= j + dj <= 6:
                    dense[row, (i + di - 1) * ny + (j + dj - 1)] -= c
    assert np.allclose(darcy_matrix(a, grid).toarray(), dense, rtol=1e-14, atol=0)


def test_matrix_is_symmetric_positive_definite():
    grid = nodes(17)
    a = random_coefficient(1, 17)[0, 0].numpy()
    assert set(np.unique(a)) == {3.0, 12.0}
    matrix = darcy_matrix(a, grid)
    assert abs(matrix - matrix.T).max() == 0
    eigenvalues = np.linalg.eigvalsh(matrix.toarray())
    assert eigenvalues.min() > 0
    # bounded below by the Laplacian's smallest eigenvalue times min(a) (Rayleigh quotient)
    lambda_h = 2 * 4 * 16**2 * math.sin(PI / 32) ** 2
    assert eigenvalues.min() >= 3.0 * lambda_h * (1 - 1e-12)


# ---------------------------------------------------------------------------- verification
def test_manufactured_solution_converges_at_second_order():
    """Variable smooth coefficient on non-square grids (h_y = h_x / 2), through `solve_darcy`."""
    errors = []
    for n in (17, 33, 65, 129):
        grid = nodes(n, 2 * n - 1)
        a, u, f = manufactured(*grid.mesh())
        uh = solve_darcy(torch.from_numpy(a)[None], grid, torch.from_numpy(f))[0].numpy()
        errors.append(np.abs(uh - u).max())
    orders = [math.log2(errors[i] / errors[i + 1]) for i in range(len(errors) - 1)]
    assert all(1.95 < q < 2.05 for q in orders), (errors, orders)
    assert errors[-1] < 1e-4


def test_constant_coefficient_reproduces_a_discrete_eigenfunction():
    """``sin(pi x) sin(pi y)`` is an eigenvector of the five-point Laplacian: the solution for
    ``f = that`` is the same function divided by ``a`` times the discrete eigenvalue, to round-off."""
    grid = nodes(21, 13)
    hx, hy = grid.spacing
    x, y = grid.mesh()
    phi = torch.from_numpy(np.sin(PI * x) * np.sin(PI * y))
    eigenvalue = 4 / hx**2 * math.sin(PI * hx / 2) ** 2 + 4 / hy**2 * math.sin(PI * hy / 2) ** 2
    u = solve_darcy(torch.full((1, *grid.shape), 2.5, dtype=torch.float64), grid, phi)[0]
    assert torch.allclose(u, phi / (2.5 * eigenvalue), rtol=0, atol=1e-14)


def test_unit_forcing_matches_the_series_solution():
    """The generator's path (`Darcy2D.simulate`, ``f = 1``) with ``a = 3``: centre value against the
    double sine series, error O(h^2)."""
    exact = square_centre_value() / 3.0
    errors = []
    for n in (33, 65, 129):
        problem = Darcy2D({"resolution": n})
        u = problem.simulate(torch.full((1, 1, n, n), 3.0, dtype=torch.float64), problem.solver_grid)
        errors.append(abs(u[0, 0, n // 2, n // 2].item() - exact))
    assert errors[-1] < 2e-6
    assert all(1.95 < math.log2(errors[i] / errors[i + 1]) < 2.05 for i in range(2)), errors


def test_solution_is_positive_and_respects_the_symmetries_of_the_square():
    problem = Darcy2D({"resolution": 33})
    a = random_coefficient(1)
    grid = problem.solver_grid
    u = problem.simulate(a, grid)
    assert (u[0, 0, 1:-1, 1:-1] > 0).all()  # maximum principle, f = 1
    assert u[0, 0, [0, -1]].abs().max() == 0 and u[0, 0, :, [0, -1]].abs().max() == 0
    assert torch.allclose(problem.simulate(a.flip(-1), grid), u.flip(-1), rtol=1e-12, atol=0)
    transposed = problem.simulate(a.transpose(-1, -2), grid)
    assert torch.allclose(transposed, u.transpose(-1, -2), rtol=1e-12, atol=0)


# ---------------------------------------------------------------------------- random fields
def test_cosine_field_is_its_karhunen_loeve_series():
    grid = nodes(9, 12)
    alpha, tau, sigma = 2.0, 3.0, 3.0
    field = cosine_random_field(grid, 2, alpha=alpha, tau=tau, sigma=sigma, seed=5, first_index=3)
    x, y = grid.coords()["x"], grid.coords()["y"]
    for i in range(2):
        g = torch.Generator().manual_seed(sample_seed(5, 3 + i, "cosine-grf"))
        xi = torch.randn(grid.shape, generator=g, dtype=torch.float64).numpy()
        k1, k2 = np.meshgrid(np.arange(9), np.arange(12), indexing="ij")
        weight = sigma * (PI**2 * (k1**2 + k2**2) + tau**2) ** (-alpha / 2)
        weight *= np.where(k1 > 0, math.sqrt(2), 1) * np.where(k2 > 0, math.sqrt(2), 1)
        weight[0, 0] = 0
        cx, cy = np.cos(PI * np.outer(x, np.arange(9))), np.cos(PI * np.outer(y, np.arange(12)))
        assert np.allclose(field[i].numpy(), cx @ (weight * xi) @ cy.T, rtol=0, atol=1e-13)


def test_fixed_modes_give_the_same_function_at_every_resolution():
    coarse = Darcy2D({"resolution": 17, "modes": 9}).sample_inputs(2, 1, 0, "cpu")
    fine = Darcy2D({"resolution": 65, "modes": 9}).sample_inputs(2, 1, 0, "cpu")
    assert torch.equal(fine[..., ::4, ::4], coarse)


def test_samples_are_thresholded_fields_and_depend_only_on_seed_and_index():
    problem = Darcy2D({"resolution": 33})
    four = problem.sample_inputs(4, 7, 0, "cpu")
    assert four.shape == (4, 1, 33, 33) and four.dtype == torch.float64
    psi = cosine_random_field(problem.solver_grid, 4, alpha=2.0, tau=3.0, seed=7)
    assert torch.equal(four[:, 0] == 12.0, psi >= 0) and torch.equal(four[:, 0] == 3.0, psi < 0)
    assert 0.2 < (four == 12.0).double().mean() < 0.8
    assert torch.equal(problem.sample_inputs(1, 7, 3, "cpu"), four[3:])
    assert torch.equal(problem.sample_inputs(4, 7, 0, "cpu"), four)
    assert not torch.equal(problem.sample_inputs(1, 8, 0, "cpu"), four[:1])


# --------------------------------------------------------------------- problem plumbing
def test_registered_with_fno_defaults_and_strides():
    problem = Problem.from_config({"name": "darcy_2d"})
    assert isinstance(problem, Darcy2D)
    p = problem.params
    assert (p.resolution, p.forcing, p.high, p.low, p.alpha, p.tau) == (253, 1.0, 12.0, 3.0, 2.0, 3.0)
    assert problem.solver_grid.shape == (253, 253) and problem.solver_grid.axes[0].layout == "nodes"
    for size in (127, 85, 64, 43, 22):
        assert problem.data_grid(size).shape == (size, size)
    with pytest.raises(UserError, match="subsample"):
        problem.data_grid(100)


@pytest.mark.parametrize("bad", [
    {"resolution": 4}, {"high": 0.0}, {"low": -3.0}, {"alpha": 1.0}, {"tau": 0.0}, {"modes": 0},
    {"resolution": 33, "modes": 34}, {"forcing": float("nan")}, {"permeability": 1},
])
def test_bad_parameters_are_user_errors(bad):
    with pytest.raises(UserError):
        Darcy2D(bad)


def test_bad_grids_shapes_and_coefficients_are_user_errors():
    problem = Darcy2D({"resolution": 17})
    a = random_coefficient(1, 17)
    with pytest.raises(UserError, match="nodes grid"):
        problem.simulate(a, Grid.uniform(2, 17))
    with pytest.raises(UserError, match="nodes grid"):
        solve_darcy(a[:, 0], Grid.uniform(1, 17, layout="nodes"))
    with pytest.raises(UserError, match="shape"):
        problem.simulate(a, nodes(9))
    with pytest.raises(UserError, match="shape"):
        problem.simulate(a[:, 0], nodes(17))
    with pytest.raises(UserError, match="positive"):
        problem.simulate(a - 5.0, nodes(17))
    with pytest.raises(UserError, match="broadcast"):
        solve_darcy(a[:, 0], nodes(17), torch.ones(5, 5))


def test_output_follows_input_dtype():
    problem = Darcy2D({"resolution": 17})
    a = random_coefficient(2, 17)
    ref = problem.simulate(a, problem.solver_grid)
    single = problem.simulate(a.float(), problem.solver_grid)
    assert single.dtype == torch.float32 and single.shape == (2, 1, 17, 17)
    assert torch.allclose(single.double(), ref, rtol=1e-6)


def test_coarse_baseline_runs_on_the_data_grid():
    problem = Darcy2D({"resolution": 65})
    fine_grid, coarse = problem.solver_grid, problem.data_grid(33)
    a = random_coefficient(2, 65)
    reference = problem.restrict(problem.simulate(a, fine_grid), fine_grid, coarse)
    out = problem.baselines()["coarse"].run(problem, problem.restrict(a, fine_grid, coarse), coarse, 0.0, [])
    assert out.shape == (2, 1, 33, 33)
    error = ((out - reference).norm() / reference.norm()).item()
    assert 1e-4 < error < 0.05  # under-resolved interfaces, same solution to a few per cent


def test_generated_dataset():
    problem = Darcy2D({"resolution": 33})
    ds = problem.generate(n=3, seed=0, resolution=17)
    assert ds["permeability"].dims == ("sample", "x", "y") and ds["pressure"].dims == ("sample", "x", "y")
    assert ds["pressure"].shape == (3, 17, 17)
    assert "time" not in ds.coords
    assert ds["permeability"].attrs == {"units": "1", "long_name": "diffusion coefficient a"}
    assert ds["pressure"].attrs == {"units": "1", "long_name": "solution u"}
    assert ds["x"].attrs["layout"] == "nodes" and ds["x"].values[[0, -1]].tolist() == [0.0, 1.0]
    assert ds.attrs["problem"] == "darcy_2d" and ds.attrs["high"] == 12.0 and ds.attrs["low"] == 3.0
    assert ds.attrs["content_hash"] == problem.recipe_hash(problem.recipe(3, 0, 17))
    assert set(np.unique(ds["permeability"].values)) <= {3.0, 12.0}
    assert np.abs(ds["pressure"].values[:, [0, -1], :]).max() == 0
    assert (ds["pressure"].values[:, 1:-1, 1:-1] > 0).all()
    fewer = problem.generate(n=2, seed=0, resolution=17, batch_size=1)
    assert np.array_equal(fewer["pressure"].values, ds["pressure"].values[:2])
