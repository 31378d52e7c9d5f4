"""Manufactured-solution problems (GP-HM benchmarks): sources, boundary data, data sets and the
finite-difference baseline."""

import math

import numpy as np
import pytest
import torch

from pdesolve.errors import UserError
from pdesolve.numerics.autodiff import partial_derivatives
from pdesolve.problems import Problem
from pdesolve.problems.manufactured import EXACT_SOLUTIONS, AdvectionSpaceTime, AllenCahn, Poisson


def points(problem, n=37):
    return problem.mesh(problem.grid(n))


def test_sources_match_closed_forms():
    (x,) = points(Poisson({"solution": "sin100x"}), 101)
    s = torch.sin(100 * x)
    assert torch.allclose(Poisson({"solution": "sin100x"}).source(x), -1e4 * s, atol=1e-8)
    assert torch.allclose(AllenCahn({"solution": "sin100x"}).source(x), -1e4 * s + s * (s * s - 1), atol=1e-8)
    c = torch.cos(100 * x)
    u2 = torch.sin(6 * x) * c
    lap = -36 * u2 - 1200 * torch.cos(6 * x) * torch.sin(100 * x) - 1e4 * u2
    assert torch.allclose(Poisson({"solution": "sin6x_cos100x"}).source(x), lap, atol=1e-7)
    x, y = points(Poisson({"solution": "sin100x_sin100y"}))
    assert torch.allclose(Poisson({"solution": "sin100x_sin100y"}).source(x, y),
                          -2e4 * torch.sin(100 * x) * torch.sin(100 * y), atol=1e-7)


def test_advection_solution_solves_the_homogeneous_equation():
    problem = AdvectionSpaceTime()
    assert problem.source(*points(problem)).abs().max() < 1e-10
    shifted = AdvectionSpaceTime({"beta": 100.0})  # mismatched speed: the source manufactures the rest
    x, t = points(shifted)
    assert torch.allclose(shifted.source(x, t), -100 * torch.cos(x - 200 * t), atol=1e-9)


def test_every_exact_solution_has_its_dimension_and_frequencies():
    for name, sol in EXACT_SOLUTIONS.items():
        coords = [torch.linspace(0, sol.length, 5, dtype=torch.float64)] * sol.ndim
        mesh = torch.meshgrid(*coords, indexing="ij")
        assert sol.function(*mesh).shape == (5,) * sol.ndim, name
        assert len(sol.frequencies) == sol.ndim, name


def test_partial_derivatives_of_mixed_multi_indices():
    axes = (torch.linspace(0, 1, 7, dtype=torch.float64), torch.linspace(0, 1, 5, dtype=torch.float64))
    x, y = (t.clone().requires_grad_(True) for t in torch.meshgrid(*axes, indexing="ij"))
    u = torch.sin(2 * x) * y ** 3
    d = partial_derivatives(u, [x, y], [(1, 0), (0, 2), (1, 1), (2, 0)])
    assert torch.allclose(d[(1, 0)], 2 * torch.cos(2 * x) * y ** 3)
    assert torch.allclose(d[(0, 2)], 6 * torch.sin(2 * x) * y)
    assert torch.allclose(d[(1, 1)], 6 * torch.cos(2 * x) * y ** 2)
    assert torch.allclose(d[(2, 0)], -4 * torch.sin(2 * x) * y ** 3)


def test_boundary_mask_marks_the_faces_of_the_box():
    mask = Poisson.boundary_mask(Poisson({"solution": "sin100x_sin100y"}).grid([5, 4]))
    assert int(mask.sum()) == 5 * 4 - 3 * 2
    assert mask[0].all() and mask[-1].all() and mask[:, 0].all() and mask[:, -1].all()
    assert not mask[1:-1, 1:-1].any()


@pytest.mark.parametrize("problem", [Poisson({"solution": "sin6x"}), AllenCahn({"solution": "sin6x"}),
                                     Poisson({"solution": "sin6x_sin6y"}),
                                     AdvectionSpaceTime({"solution": "sin6x_sin6y", "beta": 2.0})])
def test_finite_differences_converge_at_second_order(problem):
    errors = []
    for n in (34, 66):  # even interior counts: the central first difference is then invertible
        grid = problem.grid(n)
        exact = problem.exact(*problem.mesh(grid))
        errors.append(float((problem.finite_difference(grid) - exact).norm() / exact.norm()))
    assert 3.0 < errors[0] / errors[1] < 5.0


def test_singular_central_scheme_is_reported():
    problem = AdvectionSpaceTime({"solution": "sin6x_sin6y", "beta": 2.0})
    with pytest.raises(UserError, match="singular"):
        problem.finite_difference(problem.grid(33))


def test_generated_dataset_holds_the_exact_solution():
    problem = Problem.from_config({"name": "allen_cahn", "solution": "sin100x"})
    ds = problem.generate(2, 7, resolution=50)
    assert ds["u"].dims == ("sample", "x") and ds["u"].dtype == np.float64
    x = ds["x"].values
    assert np.allclose(ds["u"].values[1], np.sin(100 * x))
    assert x[0] == 0 and x[-1] == pytest.approx(2 * math.pi)
    assert ds.attrs["content_hash"] == problem.recipe_hash(problem.recipe(2, 7, 50))
    assert problem.recipe(2, 7, 50) == problem.recipe(2, 8, 50)  # one deterministic instance: no seed


def test_bad_parameters_are_user_errors():
    with pytest.raises(UserError, match="unknown exact solution"):
        Problem.from_config({"name": "poisson", "solution": "sin7x"})
    with pytest.raises(UserError, match="2-D"):
        Problem.from_config({"name": "advection_spacetime", "solution": "sin100x"})
    with pytest.raises(UserError, match="grid sizes"):
        Poisson().grid([10, 10])
