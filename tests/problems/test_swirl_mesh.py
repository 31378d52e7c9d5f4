"""Swirl mesh problem: the exact advected ring, its Monge--Ampere meshes and stored samples."""

import numpy as np
import pytest

from pdesolve.errors import UserError
from pdesolve.problems import Problem
from pdesolve.problems.swirl_mesh import SwirlMesh, SwirlSnapshot

COARSE = {"mesh_sizes": [0.08], "reference_mesh_size": 0.025, "unseen_mesh_size": 0.07, "ring_width": 0.06}


@pytest.fixture(scope="module")
def problem():
    return SwirlMesh(COARSE)


@pytest.fixture(scope="module")
def data(problem):
    return problem.generate(2, seed=0)


def ring(params, x):
    r = np.hypot(x[:, 0] - params.center[0], x[:, 1] - params.center[1])
    return np.exp(-((r - params.ring_radius) ** 2) / (2 * params.ring_width**2))


def test_registered():
    assert Problem.lookup("swirl_mesh") is SwirlMesh


def test_characteristics_start_at_the_ring_and_return_to_it(problem):
    x = np.random.default_rng(0).uniform(0, 1, (300, 2))
    p = problem.params
    np.testing.assert_allclose(SwirlSnapshot(0.0, p).solution(x), ring(p, x))
    np.testing.assert_allclose(SwirlSnapshot(p.t_end, p).solution(x), ring(p, x), atol=1e-6)  # reversed at T/2
    mid = SwirlSnapshot(p.t_end / 2, p)
    x0 = mid.departure(x)
    assert (x0 >= -1e-9).all() and (x0 <= 1 + 1e-9).all()  # the square maps onto itself
    assert np.abs(mid.solution(x) - ring(p, x)).max() > 0.5  # the ring has moved


def test_characteristics_follow_the_velocity(problem):
    """A short backward trace moves a point by -dt alpha v (first order)."""
    p = problem.params
    x = np.array([[0.3, 0.6], [0.7, 0.2]])
    dt = 1e-4
    s = SwirlSnapshot(dt, p)
    np.testing.assert_allclose(s.departure(x), x - dt * p.swirl_alpha * s.velocity(x), atol=1e-7)


def test_monge_ampere_reduces_the_interpolation_error(problem, data):
    assert (data["ma_converged"].values == 1).all() and (data["ma_tangled"].values == 0).all()
    assert (data["error_monge_ampere"].values < data["error_original"].values).all()
    assert set(data["time"].values) == {problem.source(0, i).time for i in range(2)}


def test_stored_sample_is_re_solved(problem, data):
    from pdesolve.data.mesh_samples import sample_mesh, sample_values

    sample = problem.sample_problem(data, 1)
    assert sample.source.time == float(data["time"].values[1])
    mesh = sample_mesh(data, 1)
    np.testing.assert_allclose(problem.solve(mesh, sample.source), sample_values(data, "solution", 1), atol=1e-7)
    errors = problem.mesh_errors(data, 1, {})
    np.testing.assert_allclose(errors["original"], data["error_original"].values[1], rtol=1e-10)


@pytest.mark.parametrize("bad", [{"domain": "polygon"}, {"center": [1.2, 0.5]}, {"ring_width": 0}])
def test_bad_params(bad):
    with pytest.raises(UserError):
        SwirlMesh({**COARSE, **bad})
