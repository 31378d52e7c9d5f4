"""Poisson systems with obstacles: the matrices, their null spaces, the generated data, the
classical baselines and the system files."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from pdesolve.errors import UserError
from pdesolve.numerics.grid_systems import GridSystem, direct_solve, load_system, save_system, solve_with
from pdesolve.numerics.preconditioners import IncompleteCholesky
from pdesolve.numerics.random_fields import sample_seed
from pdesolve.problems.poisson_obstacles import PoissonObstacles, ritz_vectors


def obstacles(**kw):
    return PoissonObstacles({"resolution": 16, "lanczos_steps": 30, "rhs_per_system": 4, **kw})


@pytest.mark.parametrize("ndim", [2, 3])
def test_symmetric_positive_definite_on_fluid_cells(ndim):
    p = obstacles(ndim=ndim, resolution=8 if ndim == 3 else 16, obstacles=(2, 3), obstacle_size=(0.15, 0.25))
    mask = p.fluid_mask(0, 1)
    assert 0 < mask.sum() < mask.size  # there are solids
    s = p.system(mask)
    a = s.matrix.toarray()
    assert np.allclose(a, a.T) and s.size == mask.sum()
    assert not s.singular
    assert np.linalg.eigvalsh(a).min() > 1e-8
    offdiag = a - np.diag(np.diag(a))
    assert set(np.unique(offdiag)) <= {-1.0, 0.0}  # 5/7-point stencil


def test_closed_container_is_singular_with_constant_null_vectors():
    p = obstacles(open_top=False, obstacles=(3, 3), obstacle_size=(0.15, 0.25))
    s = p.system(p.fluid_mask(0, 2))
    assert s.singular
    a = s.matrix.toarray()
    eig = np.linalg.eigvalsh(a)
    n_null = int(s.floating.max()) + 1
    assert np.sum(np.abs(eig) < 1e-9) == n_null and eig.min() > -1e-9
    for c in range(n_null):
        ones = (s.floating == c).astype(float)
        assert np.abs(a @ ones).max() < 1e-12
    b = torch.randn(s.size, dtype=torch.float64)
    pb = s.project(b)
    for c in range(n_null):
        assert abs(float(pb[torch.as_tensor(s.floating == c)].sum())) < 1e-10


def _max_error(n, geometry, exact, source, **kw):
    p = PoissonObstacles({"resolution": n, "geometry": geometry, **kw})
    s = p.system(np.ones((n, n), bool))
    x, y = p.grid().mesh()
    u = spla.spsolve(s.matrix.tocsc(), s.gather(source(x, y) / n**2))
    return np.abs(u - s.gather(exact(x, y))).max()


@pytest.mark.parametrize("geometry, exact, source, kw", [
    ("box", lambda x, y: np.sin(math.pi * x) * np.sin(math.pi * y),
     lambda x, y: 2 * math.pi**2 * np.sin(math.pi * x) * np.sin(math.pi * y), {}),
    # Neumann on three walls, Dirichlet on the top: cos(pi x) cos(pi y / 2)
    ("obstacles", lambda x, y: np.cos(math.pi * x) * np.cos(math.pi * y / 2),
     lambda x, y: 1.25 * math.pi**2 * np.cos(math.pi * x) * np.cos(math.pi * y / 2), {"obstacles": (0, 0)}),
])
def test_manufactured_solutions_converge_second_order(geometry, exact, source, kw):
    e16, e32 = (_max_error(n, geometry, exact, source, **kw) for n in (16, 32))
    assert e32 < 5e-3
    assert math.log2(e16 / e32) > 1.8


def test_stencil_equals_matrix():
    p = obstacles(obstacles=(2, 4))
    masks = np.stack([p.fluid_mask(3, i) for i in range(3)])
    st = p.stencil(masks).to("cpu", torch.float64)
    u = torch.randn(3, 16, 16, dtype=torch.float64)
    au = st.matvec(u)
    for i, m in enumerate(masks):
        s = p.system(m)
        assert np.allclose(s.gather(au[i].numpy()), s.matrix @ s.gather(u[i].numpy()), atol=1e-12)
        assert np.abs(au[i].numpy()[~m]).max() == 0.0


def test_generate_layout_determinism_and_rhs():
    p = obstacles(open_top=False)
    ds = p.generate(3, seed=5)
    assert ds["fluid"].dims == ("sample", "x", "y") and ds["fluid"].dtype == np.int8
    assert ds["training_rhs"].dims == ("sample", "vector", "x", "y") and ds.sizes["vector"] == 4
    assert ds["x"].attrs["layout"] == "cells" and ds.attrs["content_hash"]
    again = p.generate(2, seed=5)  # sample i depends only on (seed, i)
    assert np.array_equal(again["fluid"].values, ds["fluid"].values[:2])
    assert np.array_equal(again["rhs"].values, ds["rhs"].values[:2])
    systems = p.systems(ds)
    for s, b, v, m in zip(systems, p.right_hand_sides(ds, systems), ds["training_rhs"].values,
                          ds["fluid"].values.astype(bool), strict=True):
        assert np.allclose(np.linalg.norm(b), 1.0, atol=1e-5)
        assert np.abs(b - s.project(torch.from_numpy(b)).numpy()).max() < 1e-6  # in the range
        assert np.allclose(np.linalg.norm(v.reshape(4, -1), axis=1), 1.0, atol=1e-5)
        assert np.abs(v[:, ~m]).max() == 0.0


def test_training_vectors_weight_low_modes():
    p = obstacles()
    s = p.system(p.fluid_mask(0, 0))
    weighted = p.training_vectors(s, 64, np.random.default_rng(0))
    plain = obstacles(low_mode_weight=1.0).training_vectors(s, 64, np.random.default_rng(0))
    rayleigh = lambda w: np.mean(np.einsum("ij,ij->i", w, (s.matrix @ w.T).T))  # noqa: E731
    assert rayleigh(weighted) < 0.5 * rayleigh(plain)  # the low modes dominate


def test_ic0_matches_matrix_on_its_pattern():
    p = obstacles(obstacles=(2, 2))
    a = p.system(p.fluid_mask(0, 0)).matrix
    ic = IncompleteCholesky(a)
    lower = sp.tril(a, -1) + sp.diags(ic.pivots)
    m = (lower @ sp.diags(1 / ic.pivots) @ lower.T).toarray()
    pattern = a.toarray() != 0
    assert np.allclose(m[pattern], a.toarray()[pattern])
    r = np.random.default_rng(0).standard_normal(a.shape[0])
    assert np.allclose(m @ ic(r), r)


@pytest.mark.parametrize("open_top", [True, False])
def test_baselines_converge_to_the_direct_solution(open_top):
    p = obstacles(open_top=open_top, obstacles=(3, 3), obstacle_size=(0.15, 0.25))
    s = p.system(p.fluid_mask(0, 2))
    assert s.singular or open_top
    b = np.random.default_rng(0).standard_normal(s.size)
    x = direct_solve(s, b)
    iterations = {}
    for name, method in p.baselines().items():
        r = solve_with(method, s, b, rtol=1e-10, max_iter=2000)
        assert r.result.converged, name
        assert np.linalg.norm(s.gather(r.x) - x) / np.linalg.norm(x) < 1e-7
        assert r.result.matvecs == r.result.iterations + 1 and r.result.direction_calls == r.result.iterations
        iterations[name] = r.result.iterations
        assert (r.rhs_removed > 0) == s.singular  # a random b is inconsistent when singular
    assert iterations["amg_pcg"] < iterations["ic_pcg"] < iterations["cg"]


def test_system_file_roundtrip_and_errors(tmp_path):
    p = obstacles()
    mask = p.fluid_mask(0, 0)
    full = p.system(mask)
    from pdesolve.problems.poisson_obstacles import assemble, face_coefficients

    a = assemble(*face_coefficients(mask, p.dirichlet_faces))
    b = np.where(mask, 1.0, 0.0).ravel()
    path = save_system(tmp_path / "sys.npz", a, b, mask.shape)
    s, rhs = load_system(path)
    assert s.shape == (16, 16) and np.array_equal(s.active, full.active) and np.allclose(rhs, 1.0)
    save_system(tmp_path / "bad.npz", a, np.ones(a.shape[0]), mask.shape)
    with pytest.raises(UserError, match="non-zero on cells"):
        load_system(tmp_path / "bad.npz")
    with pytest.raises(UserError, match="expected"):
        GridSystem.from_matrix(a, (8, 8))
    with pytest.raises(UserError, match="not symmetric"):
        GridSystem.from_matrix(sp.triu(a).tocsr(), mask.shape)


# ------------------------------------------------------------------------------ protocol: paper
def paper(**kw):
    return PoissonObstacles({"resolution": 16, "protocol": "paper", "lanczos_steps": 30, "rhs_per_system": 4,
                             **kw})


@pytest.mark.parametrize("ndim", [2, 3])
def test_paper_protocol_has_one_matrix_for_every_sample(ndim):
    n = 8 if ndim == 3 else 16
    p = paper(ndim=ndim, resolution=n, paper_obstacle="sphere", paper_sphere_radius=0.25)
    assert p.dirichlet_faces == [(ndim - 1, 1)]  # the open top; Neumann walls
    ds = p.generate(3, 0)
    masks = ds["fluid"].values.astype(bool)
    assert all(np.array_equal(m, masks[0]) for m in masks)
    assert not masks[0][(n // 2,) * ndim] and masks[0][(0,) * ndim]  # the centred sphere is solid, corners fluid
    a = [s.matrix for s in p.systems(ds)]
    assert all((m != a[0]).nnz == 0 for m in a[1:])
    assert np.array_equal(p.fluid_mask(5, 9), masks[0])  # seed and index do not matter
    assert not p.system(masks[0]).singular
    v = ds["training_rhs"].values  # (sample, vector, *grid): other vectors per sample, all unit norm
    assert not np.allclose(v[0], v[1])
    assert np.allclose(np.linalg.norm(v.reshape(12, -1), axis=1), 1.0, atol=1e-5)
    assert np.abs(v[:, :, ~masks[0]]).max() == 0.0
    empty = paper(ndim=ndim, resolution=8).fluid_mask(0, 0)
    assert empty.all()


def test_paper_training_vectors_combine_the_ritz_vectors_of_the_one_matrix():
    p = paper(resolution=8, lanczos_steps=10, rhs_per_system=6)
    ds = p.generate(2, 0)
    s = p.system(ds["fluid"].values[0].astype(bool))
    ritz = ritz_vectors(s, 10, np.random.default_rng(sample_seed(0, 0, "ritz")))
    basis = ritz.vectors.numpy()  # (10, 64): orthonormal, and the Ritz pairs of the matrix
    assert np.allclose(basis @ basis.T, np.eye(10), atol=1e-10)
    assert np.allclose(basis @ (s.matrix @ basis.T), np.diag(ritz.values), atol=1e-8)
    for sample in range(2):
        v = np.stack([s.gather(x.astype(np.float64)) for x in ds["training_rhs"].values[sample]])
        inside = (v @ basis.T) @ basis
        assert np.allclose(inside, v, atol=1e-6)  # in the span of the one matrix's 10 Ritz vectors


def test_combine_ritz_drops_null_modes_and_weights_the_lowest():
    p = obstacles(open_top=False, obstacles=(0, 0), resolution=8)  # closed box: constants are null
    s = p.system(p.fluid_mask(0, 0))
    ritz = ritz_vectors(s, 64, np.random.default_rng(0))
    b = p.combine_ritz(ritz._replace(values=np.concatenate([[0.0], ritz.values[1:]])), 200,
                       np.random.default_rng(1))
    assert np.abs(b.sum(1)).max() < 1e-10  # orthogonal to the constant null vector
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0)
    share = lambda w: np.mean(np.sum((w @ ritz.vectors.numpy().T)[:, :35] ** 2, 1))  # noqa: E731
    plain = obstacles(open_top=False, obstacles=(0, 0), resolution=8, low_mode_weight=1.0)
    assert share(b) > 0.95 > share(plain.combine_ritz(ritz, 200, np.random.default_rng(1)))


@pytest.mark.parametrize("protocol, field, value", [
    ("paper", "geometry", "box"), ("paper", "open_top", False), ("paper", "obstacles", (0, 1)),
    ("paper", "obstacle_size", (0.1, 0.2)), ("geometries", "paper_obstacle", "sphere"),
    ("geometries", "paper_sphere_radius", 0.2), (None, "paper_obstacle", "none")])
def test_fields_of_the_other_protocol_are_rejected(protocol, field, value):
    params = {"protocol": protocol, field: value} if protocol else {field: value}
    with pytest.raises(UserError) as err:
        PoissonObstacles(params)
    owner = "paper" if field.startswith("paper") else "geometries"
    assert err.value.field == f"problem.{field}" and f"only with protocol: {owner}" in str(err.value)
    assert "\n" not in str(err.value)


def test_sphere_radius_only_with_the_sphere():
    with pytest.raises(UserError, match="only with paper_obstacle: sphere") as err:
        PoissonObstacles({"protocol": "paper", "paper_obstacle": "none", "paper_sphere_radius": 0.2})
    assert err.value.field == "problem.paper_sphere_radius"
    filled = PoissonObstacles({"protocol": "paper", "paper_obstacle": "sphere"}).params
    assert filled.paper_sphere_radius == 0.2 and filled.geometry is None
    assert PoissonObstacles(filled.model_dump()).params == filled  # the resolved parameters round-trip
    plain = PoissonObstacles({}).params
    assert (plain.protocol, plain.geometry, plain.open_top, plain.paper_obstacle) == \
        ("geometries", "obstacles", True, None)


def test_containers_hold_the_smaller_problems_systems_on_one_grid():
    sized = obstacles(container_sizes=[8, 16], obstacles=(1, 2), obstacle_size=(0.15, 0.25))
    small, full = obstacles(resolution=8, obstacles=(1, 2), obstacle_size=(0.15, 0.25)), \
        obstacles(obstacles=(1, 2), obstacle_size=(0.15, 0.25))
    embedded = sized.fluid_mask(5, 0)  # container of 8 cells: x < 8, y >= 8 (against the open top)
    assert not embedded[8:].any() and not embedded[:, :8].any()
    np.testing.assert_array_equal(embedded[:8, 8:], small.fluid_mask(5, 0))
    a, b = sized.system(embedded).matrix, small.system(small.fluid_mask(5, 0)).matrix
    assert a.shape == b.shape and abs(a - b).max() == 0  # the same matrix, unknowns in the same order
    assert not sized.system(embedded).singular
    np.testing.assert_array_equal(sized.fluid_mask(5, 1), full.fluid_mask(5, 1))  # 16: the whole grid
    data = sized.generate(2, 5)
    assert not data["training_rhs"].values[0][:, 8:].any()  # training vectors live in the container


@pytest.mark.parametrize("kw", [{"container_sizes": [7]}, {"container_sizes": [20]}, {"container_sizes": []},
                                {"container_sizes": [8], "geometry": "box"},
                                {"container_sizes": [8], "open_top": False},
                                {"container_sizes": [8], "protocol": "paper"}])
def test_container_sizes_that_cannot_be_are_refused(kw):
    with pytest.raises(UserError, match="container_sizes"):
        obstacles(**kw)
