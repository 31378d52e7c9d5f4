"""elasticity_voids: meshes with holes, the elasticity reference solver, the per-sample-mesh data
layout and the classical baselines."""

from __future__ import annotations

import numpy as np
import pytest
import skfem

from pdesolve.data.mesh_samples import padded_tensors, sample_mesh, sample_values, split_union, union_dataset
from pdesolve.data.netcdf import read_netcdf, write_netcdf
from pdesolve.data.samples import add_splits, select_split
from pdesolve.errors import UserError
from pdesolve.metrics import ragged_relative_l2 as relative_errors
from pdesolve.numerics.fem import plane_strain_elasticity, to_skfem
from pdesolve.numerics.meshing import (
    HOLE_TAG,
    OUTER_TAG,
    mesh_with_holes,
    rectangle,
    signed_distance,
    star_polygon,
)
from pdesolve.problems.elasticity_voids import ElasticityVoids


def _polygon_area(p):
    x, y = p[:, 0], p[:, 1]
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


@pytest.fixture(scope="module")
def data():
    return add_splits(ElasticityVoids({"mesh_size": 0.08}).generate(10, seed=1), 7, 0, 3)


def test_mesh_with_a_hole_covers_exactly_the_domain():
    void = star_polygon((0.5, 0.5), 0.2, np.array([0.0, 0.03, -0.02]), np.array([0.0, 0.01, 0.02]))
    mesh = mesh_with_holes(rectangle(0, 0, 1, 1), [void], 0.04)
    area = mesh.signed_volumes()
    assert area.min() > 0  # counter-clockwise, no degenerate cells
    assert area.sum() == pytest.approx(1.0 - _polygon_area(void), rel=1e-10)
    on_void = mesh.boundary == HOLE_TAG
    assert np.abs(signed_distance(mesh.nodes[on_void], [void])).max() < 1e-12
    assert set(np.unique(mesh.boundary)) == {0, OUTER_TAG, HOLE_TAG}
    assert (signed_distance(mesh.nodes, [void]) >= -1e-12).all()  # no node inside the void


def test_signed_distance_is_negative_inside():
    square = rectangle(0, 0, 1, 1)
    d = signed_distance(np.array([[0.5, 0.5], [2.0, 0.5], [0.5, 0.0]]), [square])
    np.testing.assert_allclose(d, [-0.5, 1.0, 0.0])


def test_uniform_tension_gives_the_exact_stress():
    """No void: sigma_yy = load everywhere, sigma_zz = nu load, von Mises exact."""
    mesh = mesh_with_holes(rectangle(0, 0, 1, 1), [], 0.2)
    corner = int(np.argmin((mesh.nodes ** 2).sum(1)))
    sol = plane_strain_elasticity(mesh, lambda x: x[1] < 1e-9, corner, lambda x: x[1] > 1 - 1e-9, (0.0, 2.0))
    nu = 0.3
    exact = 2.0 * np.sqrt(0.5 * (1 + nu**2 + (1 - nu) ** 2))
    np.testing.assert_allclose(sol.von_mises, exact, rtol=1e-9)


def test_reference_converges_under_mesh_refinement():
    """Von Mises at fixed points changes little between edge 0.05 and 0.025."""
    problem = ElasticityVoids()
    probes = np.array([[0.1, 0.5], [0.5, 0.92], [0.85, 0.15], [0.2, 0.8]]).T
    values = []
    for h in (0.05, 0.025):
        geo = problem.geometry(0, 0, h)
        vm = problem.solve(geo)["von_mises"]
        values.append(skfem.Basis(to_skfem(geo.mesh), skfem.ElementTriP1()).probes(probes) @ vm)
    np.testing.assert_allclose(values[0], values[1], rtol=0.02)


def test_samples_depend_only_on_seed_and_index():
    problem = ElasticityVoids()
    np.testing.assert_array_equal(problem.void(4, 7), problem.void(4, 7))
    assert not np.allclose(problem.void(4, 7), problem.void(4, 8))
    for i in range(20):
        void = problem.void(0, i)
        assert void.min() >= problem.params.margin - 1e-12 and void.max() <= 1 - problem.params.margin + 1e-12


def test_generated_data_layout(data, tmp_path):
    assert data.attrs["mesh_layout"] == "padded_per_sample"
    assert len(data.attrs["content_hash"]) == 64
    assert data["node_count"].values.min() < data.sizes["node"]  # meshes differ per sample
    path = write_netcdf(data, tmp_path / "d.nc")
    back = read_netcdf(path)
    for i in (0, 9):
        a, b = sample_mesh(data, i), sample_mesh(back, i)
        np.testing.assert_array_equal(a.cells, b.cells)
        np.testing.assert_array_equal(a.boundary, b.boundary)
        np.testing.assert_allclose(sample_values(back, "von_mises", i), sample_values(data, "von_mises", i))
        assert np.isfinite(sample_values(back, "sdf", i)).all()
    values, coords, mask = padded_tensors(data, ["sdf", "von_mises"])
    assert values.shape[:2] == (10, 2) and coords.shape[-1] == 2
    assert int(mask[3].sum()) == int(data["node_count"][3])


def test_union_dataset_round_trip(data):
    meshes = [sample_mesh(data, i) for i in range(3)]
    fields = {"von_mises": [sample_values(data, "von_mises", i) for i in range(3)]}
    ds = union_dataset(meshes, fields, ElasticityVoids.fields)
    back_meshes, back_fields = split_union(ds, ["von_mises"])
    for a, b, f, g in zip(meshes, back_meshes, fields["von_mises"], back_fields["von_mises"], strict=True):
        np.testing.assert_array_equal(a.cells, b.cells)
        np.testing.assert_allclose(f, g)


def test_baselines(data):
    problem = ElasticityVoids({"mesh_size": 0.08})
    train, test = select_split(data, "train"), select_split(data, "test")
    ref = [sample_values(test, "von_mises", i)[:, None] for i in range(3)]
    for baseline in problem.baselines().values():
        pred = baseline.predict(train, test, ["von_mises"])
        assert [p.shape for p in pred] == [r.shape for r in ref]
        err = relative_errors(pred, ref)
        assert (err > 0).all() and (err < 1).all()
    # the nearest geometry of a training sample is itself: exact
    nearest = problem.baselines()["nearest_geometry"].predict(train, train.isel(sample=[2]), ["von_mises"])
    np.testing.assert_allclose(nearest[0][:, 0], sample_values(train, "von_mises", 2))


def test_bad_parameters_are_user_errors():
    with pytest.raises(UserError, match="radius"):
        ElasticityVoids({"radius": [0.3, 0.45]})
    with pytest.raises(UserError, match="integer"):
        ElasticityVoids().generate(2, 0, resolution=[10, 10])


def test_deformed_meshes_have_corresponding_nodes():
    from pdesolve.numerics.meshing import signed_distance

    problem = ElasticityVoids({"mesh_size": 0.08, "mesh": "deformed"})
    geos = [problem.geometry(5, i, 0.08) for i in range(6)]
    ref = geos[0].mesh
    for i, g in enumerate(geos):
        m = g.mesh
        np.testing.assert_array_equal(m.cells, ref.cells)
        np.testing.assert_array_equal(m.boundary, ref.boundary)
        assert (m.signed_volumes() > 0).all()  # no cell turned over
        outer = m.boundary == 1
        np.testing.assert_allclose(m.nodes[outer], ref.nodes[outer], atol=1e-12)  # the cell's edges stay put
        void, _ = problem.void_and_center(5, i)
        hole = m.nodes[m.boundary == 2]
        assert np.abs(signed_distance(hole, [void])).max() < 5e-3  # hole nodes on the sample's void
        assert (signed_distance(m.nodes[m.boundary == 0], [void]) > 0).all()  # the rest in the material
    assert not np.allclose(geos[1].mesh.nodes, geos[2].mesh.nodes)
    np.testing.assert_allclose(signed_distance(geos[0].polygon, [geos[0].polygon]), 0.0, atol=1e-12)
