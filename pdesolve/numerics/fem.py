"""Finite elements on `pdesolve.data.Mesh` triangle meshes with scikit-fem.

* `to_skfem` -- a `Mesh` as a ``skfem.MeshTri``;
* `facets_where` -- boundary facets selected by a predicate on their midpoints;
* `plane_strain_elasticity` -- small-strain linear elasticity, P2 displacement, roller, pinned
  and traction boundaries, von Mises stress L2-projected onto the mesh nodes (P1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import skfem
from skfem.helpers import ddot, sym_grad, trace
from skfem.models.elasticity import lame_parameters, linear_elasticity

from pdesolve.data.mesh import Mesh
from pdesolve.errors import UserError


def to_skfem(mesh: Mesh) -> skfem.MeshTri:
    """The 2-D triangle `Mesh` as a ``skfem.MeshTri`` (same node order)."""
    if mesh.ndim != 2:
        raise UserError(f"expected a 2-D triangle mesh, got a {mesh.ndim}-D mesh")
    return skfem.MeshTri(mesh.nodes.T.copy(), mesh.cells.T.copy())


def facets_where(mesh: skfem.MeshTri, predicate: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Indices of boundary facets whose midpoints ``(2, k)`` satisfy ``predicate``."""
    facets = mesh.boundary_facets()
    mid = mesh.p[:, mesh.facets[:, facets]].mean(axis=1)
    return facets[np.asarray(predicate(mid), bool)]


@dataclass
class ElasticSolution:
    """Displacement ``(n_nodes, 2)`` and von Mises stress ``(n_nodes,)`` at the mesh nodes."""

    displacement: np.ndarray
    von_mises: np.ndarray


def plane_strain_elasticity(mesh: Mesh, roller: Callable[[np.ndarray], np.ndarray], pinned: int,
                            traction: Callable[[np.ndarray], np.ndarray], load: tuple[float, float],
                            youngs_modulus: float = 1.0, poisson_ratio: float = 0.3) -> ElasticSolution:
    """Solve ``-div sigma(u) = 0`` in plane strain.

    Args:
        mesh: the domain.
        roller: predicate on boundary-facet midpoints ``(2, k)``: ``u_y = 0`` there (a horizontal
            roller support).
        pinned: a node index where also ``u_x = 0`` (removes the rigid sliding mode).
        traction: predicate on facet midpoints: ``sigma n = load`` there; other boundaries are free.
        load: the traction vector (stress units).
        youngs_modulus, poisson_ratio: the isotropic material.

    Returns:
        the P2 displacement at the vertices and the von Mises stress (with the plane-strain
        ``sigma_zz = nu (sigma_xx + sigma_yy)``) L2-projected onto P1.
    """
    m = to_skfem(mesh)
    lam, mu = lame_parameters(youngs_modulus, poisson_ratio)
    basis = skfem.Basis(m, skfem.ElementVector(skfem.ElementTriP2()))
    stiffness = skfem.asm(linear_elasticity(lam, mu), basis)
    loaded = skfem.FacetBasis(m, basis.elem, facets=facets_where(m, traction))
    load_vec = np.asarray(load, np.float64)

    @skfem.LinearForm
    def surface_load(v, w):
        return load_vec[0] * v[0] + load_vec[1] * v[1]

    rhs = skfem.asm(surface_load, loaded)
    rollers = facets_where(m, roller)
    if rollers.size == 0:
        raise UserError("no roller boundary facets: the elasticity problem is singular")
    fixed = np.concatenate([basis.get_dofs(rollers).all(["u^2"]),
                            basis.get_dofs(nodes=np.array([pinned])).all(["u^1"])])
    u = skfem.solve(*skfem.condense(stiffness, rhs, D=fixed))

    # von Mises at the quadrature points, projected onto P1
    eps = sym_grad(basis.interpolate(u))
    sigma = 2.0 * mu * eps + lam * trace(eps) * np.eye(2)[:, :, None, None]
    szz = poisson_ratio * (sigma[0, 0] + sigma[1, 1])
    dev = ddot(sigma, sigma) + szz**2 - (sigma[0, 0] + sigma[1, 1] + szz) ** 2 / 3.0
    vm = np.sqrt(1.5 * np.maximum(dev, 0.0))
    p1 = basis.with_element(skfem.ElementTriP1())
    von_mises = p1.project(vm)
    disp = u[basis.nodal_dofs].T
    return ElasticSolution(disp, von_mises)
