"""Helmholtz mesh problem, P1 helpers and the Monge--Ampere mover."""

import numpy as np
import pytest

from pdesolve.data.mesh import Mesh
from pdesolve.data.mesh_samples import sample_mesh, sample_values
from pdesolve.errors import UserError
from pdesolve.numerics.fem import HessianRecovery, p1_space, probe_matrix
from pdesolve.numerics.meshing import distance_to_polygon, mesh_with_holes, random_square_polygon, rectangle
from pdesolve.numerics.monge_ampere import MongeAmpereMover, boundary_tangents, tangled_cells
from pdesolve.problems.helmholtz_mesh import HelmholtzMesh, SampleProblem

SQUARE = rectangle(0, 0, 1, 1)


@pytest.fixture(scope="module")
def problem():
    return HelmholtzMesh({"mesh_sizes": [0.1, 0.11], "reference_mesh_size": 0.025, "unseen_mesh_size": 0.08})


@pytest.fixture(scope="module")
def data(problem):
    return problem.generate(3, seed=0)


def peak(x):
    """An analytic monitor the mesh resolves: 1 + 4 exp(-|x - c|^2 / 0.03)."""
    return 1 + 4 * np.exp(-((x[:, 0] - 0.4) ** 2 + (x[:, 1] - 0.6) ** 2) / 0.03)


def cell_equidistribution(mesh: Mesh, nodes: np.ndarray) -> float:
    """Coefficient of variation of m(centroid) |K| over the cells (0 = perfectly equidistributed)."""
    v = peak(nodes[mesh.cells].mean(1)) * np.abs(mesh.signed_volumes(nodes))
    return float(v.std() / v.mean())


def test_probe_matrix_reproduces_linear_functions():
    mesh = mesh_with_holes(SQUARE, [], 0.2)
    pts = np.random.default_rng(0).uniform(0, 1, (200, 2))
    pts[:4] = SQUARE  # corners, on the boundary
    u = 2 * mesh.nodes[:, 0] - 3 * mesh.nodes[:, 1] + 1
    np.testing.assert_allclose(probe_matrix(mesh, pts) @ u, 2 * pts[:, 0] - 3 * pts[:, 1] + 1, atol=1e-12)


def test_weak_hessian_of_a_quadratic():
    mesh = mesh_with_holes(SQUARE, [], 0.05)
    x, y = mesh.nodes.T
    h = HessianRecovery(p1_space(mesh))(x**2 + 3 * x * y)
    interior = mesh.boundary == 0
    np.testing.assert_allclose(np.median(h[interior], axis=0), [[2, 3], [3, 0]], atol=0.02)


def test_fem_solution_converges(problem):
    source = problem.source(0, 1)
    errors = []
    for h in (0.1, 0.05):
        mesh = problem.mesh(SQUARE, h)
        errors.append(problem.errors(SampleProblem(source, SQUARE), {"m": mesh})["m"])
    assert errors[1] < errors[0] / 2.5


def test_tangled_mesh_has_no_error(problem):
    mesh = problem.mesh(SQUARE, 0.1)
    nodes = mesh.nodes.copy()
    i = int(np.flatnonzero(mesh.boundary == 0)[0])
    neighbour = int(mesh.edges()[(mesh.edges() == i).any(1)][0].sum() - i)
    nodes[i] = nodes[neighbour] + 1.5 * (nodes[neighbour] - nodes[i])  # across its neighbour
    tangled = mesh.with_nodes(nodes)
    assert tangled_cells(mesh, nodes) > 0
    errors = problem.errors(SampleProblem(problem.source(0, 0), SQUARE), {"ok": mesh, "tangled": tangled})
    assert np.isfinite(errors["ok"]) and np.isnan(errors["tangled"])


def test_monitor_is_one_plus_alpha_normalised_hessian(problem):
    f = problem.monitor_fields(problem.mesh(SQUARE, 0.1), problem.source(0, 0))
    assert f["hessian_norm"].min() >= 0 and f["hessian_norm"].max() == pytest.approx(1.0)
    np.testing.assert_allclose(f["monitor"], 1 + problem.params.monitor_alpha * f["hessian_norm"])


def test_uniform_monitor_does_not_move_the_mesh():
    mesh = mesh_with_holes(SQUARE, [], 0.1)
    result = MongeAmpereMover(mesh).move(lambda x: np.ones(len(x)))
    assert result.converged and result.iterations == 1
    np.testing.assert_allclose(result.nodes, mesh.nodes, atol=1e-14)


@pytest.mark.parametrize("domain", ["square", "polygon"])
def test_monge_ampere_equidistributes_keeps_boundary_and_untangled(domain):
    # (a polygon without an obtuse corner near the peak: there nodes sliding towards the fixed
    # corner can pass it and tangle a cell -- a known failure of the method, counted in compare)
    polygon = SQUARE if domain == "square" else random_square_polygon(np.random.default_rng(0))
    mesh = mesh_with_holes(polygon, [], 0.07)
    result = MongeAmpereMover(mesh).move(peak)
    assert result.converged
    assert tangled_cells(mesh, result.nodes) == 0
    assert cell_equidistribution(mesh, result.nodes) < 0.5 * cell_equidistribution(mesh, mesh.nodes)
    b = mesh.boundary_nodes()
    assert distance_to_polygon(result.nodes[b], polygon).max() < 1e-9
    sliding, _ = boundary_tangents(mesh)
    corners = b[~sliding[b]]
    np.testing.assert_allclose(result.nodes[corners], mesh.nodes[corners], atol=1e-12)
    assert np.abs(result.nodes[b] - mesh.nodes[b]).max() > 1e-3  # boundary nodes do slide


def test_monge_ampere_does_not_depend_on_node_order():
    mesh = mesh_with_holes(SQUARE, [], 0.1)
    perm = np.random.default_rng(1).permutation(mesh.n_nodes)
    inverse = np.argsort(perm)
    shuffled = Mesh(mesh.nodes[perm], inverse[mesh.cells], mesh.boundary[perm])
    a = MongeAmpereMover(mesh).move(peak)
    b = MongeAmpereMover(shuffled).move(peak)
    assert a.iterations == b.iterations
    np.testing.assert_allclose(b.nodes[inverse], a.nodes, atol=1e-8)


def test_generated_data(problem, data):
    assert data.attrs["content_hash"] == problem.recipe_hash(problem.recipe(3, 0, None))
    assert list(data["mesh_size"].values) == [0.1, 0.11, 0.1]
    assert (data["ma_converged"].values == 1).all() and (data["ma_tangled"].values == 0).all()
    # Monge-Ampere reduces the error on these meshes (UM2N data: MA error reduction ~ 10-25 %)
    assert np.mean(1 - data["error_monge_ampere"].values / data["error_original"].values) > 0.02
    # the stored sample re-solves to the stored fields (sources and domain round-trip)
    i = 1
    mesh, sample = sample_mesh(data, i), problem.sample_problem(data, i)
    u = problem.solve(mesh, sample.source)
    np.testing.assert_allclose(u, sample_values(data, "solution", i), rtol=1e-5, atol=1e-6)
    target = np.stack([sample_values(data, n, i) for n in ("target_x", "target_y")], 1)
    assert tangled_cells(mesh, target) == 0


def test_samples_depend_only_on_seed_and_index(problem, data):
    again = problem.samples([2], 0, mesh_sizes=[0.1], domain="square", targets=False)
    np.testing.assert_array_equal(again["monitor"].values[0], data["monitor"].values[2])


def test_held_out_sets(problem):
    sets = problem.held_out(2, seed=0)
    assert set(sets) == {"unseen_resolution", "polygon"}
    assert (sets["unseen_resolution"]["mesh_size"].values == 0.08).all()
    poly = sets["polygon"]
    assert (poly["polygon_count"].values >= 4).all()
    assert sample_mesh(poly, 0).n_nodes != sample_mesh(poly, 1).n_nodes or not np.allclose(
        poly["polygon_x"].values[0], poly["polygon_x"].values[1], equal_nan=True
    )


def test_bad_resolution_is_a_user_error(problem):
    with pytest.raises(UserError):
        problem.generate(1, 0, resolution=[4, 4])


def test_p1_operators_match_scikit_fem():
    import skfem
    from scipy.sparse.linalg import spsolve
    from skfem.models.poisson import laplace, mass

    from pdesolve.numerics.fem import gradient_matrices, to_skfem

    mesh = mesh_with_holes(random_square_polygon(np.random.default_rng(2)), [], 0.15)
    space, m = p1_space(mesh), to_skfem(mesh)
    basis, facets = skfem.Basis(m, skfem.ElementTriP1()), skfem.FacetBasis(m, skfem.ElementTriP1())
    ref_mass = skfem.asm(mass, basis)
    assert abs(space.stiffness - skfem.asm(laplace, basis)).max() < 1e-12
    assert abs(space.mass - ref_mass).max() < 1e-12

    def f(x, y):
        return np.sin(3 * x) * np.exp(y)

    q = space.quadrature_points()
    load = skfem.asm(skfem.LinearForm(lambda v, w: f(w.x[0], w.x[1]) * v), basis)
    np.testing.assert_allclose(space.load(f(q[..., 0], q[..., 1])), load, atol=1e-14)
    for d, c in enumerate(gradient_matrices(space)):
        reference = skfem.asm(skfem.BilinearForm(lambda u, v, w, d=d: u.grad[d] * v), basis)
        assert abs(c - reference).max() < 1e-12
    u = f(*mesh.nodes.T)
    projectors = {"full": lambda n, a, c: float(a == c),
                  "tangential": lambda n, a, c: float(a == c) - n[a] * n[c]}
    for mode, proj in projectors.items():
        h = HessianRecovery(space, mode)(u)
        for a in range(2):
            for b in range(2):
                def interior(uu, v, w, a=a, b=b):
                    return v.grad[b] * uu.grad[a]

                def edge(uu, v, w, a=a, b=b, proj=proj):
                    return v * w.n[b] * sum(proj(w.n, a, c) * uu.grad[c] for c in range(2))

                rhs = (skfem.asm(skfem.BilinearForm(edge), facets)
                       - skfem.asm(skfem.BilinearForm(interior), basis)) @ u
                np.testing.assert_allclose(h[:, a, b], spsolve(ref_mass.tocsc(), rhs), atol=1e-9)
