"""Finite elements on `pdesolve.data.Mesh` triangle meshes with scikit-fem.

* `to_skfem` -- a `Mesh` as a ``skfem.MeshTri``;
* `facets_where` -- boundary facets selected by a predicate on their midpoints;
* `plane_strain_elasticity` -- small-strain linear elasticity, P2 displacement, roller, pinned
  and traction boundaries, von Mises stress L2-projected onto the mesh nodes (P1);
* `stokes_channel` -- steady Stokes flow (Taylor--Hood P2/P1) with an inflow profile, a
  do-nothing outflow and no-slip walls;
* P1 (numpy, closed-form element matrices): `p1_space` (geometry, stiffness, mass, loads),
  `ReactionDiffusion` (Dirichlet solves), `gradient_matrices` (L2-projected gradient),
  `HessianRecovery` (weak Hessian, full or tangential boundary term), `probe_matrix` (P1
  evaluation at points, e.g. a coarse solution on a fine reference mesh).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import skfem
from scipy.sparse import bmat, coo_matrix, csr_matrix
from scipy.sparse.linalg import splu
from scipy.spatial import cKDTree
from skfem.helpers import ddot, sym_grad, trace
from skfem.models.elasticity import lame_parameters, linear_elasticity
from skfem.models.general import divergence
from skfem.models.poisson import vector_laplace

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


@dataclass
class StokesSolution:
    """Velocity ``(n_nodes, 2)`` and pressure ``(n_nodes,)`` at the mesh nodes."""

    velocity: np.ndarray
    pressure: np.ndarray


def stokes_channel(mesh: Mesh, inflow: Callable[[np.ndarray], np.ndarray],
                   inflow_profile: Callable[[np.ndarray], np.ndarray],
                   outflow: Callable[[np.ndarray], np.ndarray], viscosity: float = 1.0) -> StokesSolution:
    """Steady Stokes flow ``-nu lap u + grad p = 0``, ``div u = 0`` (Taylor--Hood P2/P1).

    Args:
        mesh: the domain.
        inflow: predicate on boundary-facet midpoints ``(2, k)``: ``u = (inflow_profile(y), 0)`` there.
        inflow_profile: the inflow's x-velocity as a function of the points ``(2, m)``.
        outflow: predicate: the natural (do-nothing) condition there; every other boundary is a
            no-slip wall.
        viscosity: ``nu``.
    """
    m = to_skfem(mesh)
    velocity = skfem.Basis(m, skfem.ElementVector(skfem.ElementTriP2()), intorder=4)
    pressure = skfem.Basis(m, skfem.ElementTriP1(), intorder=4)
    A = viscosity * skfem.asm(vector_laplace, velocity)
    B = skfem.asm(divergence, velocity, pressure)
    K = bmat([[A, -B.T], [-B, None]], "csr")
    walls = np.setdiff1d(m.boundary_facets(), facets_where(m, outflow))
    fixed = velocity.get_dofs(walls).all()
    inlet = velocity.get_dofs(facets_where(m, inflow)).all(["u^1"])
    x = np.zeros(K.shape[0])
    x[inlet] = inflow_profile(velocity.doflocs[:, inlet])
    sol = skfem.solve(*skfem.condense(K, np.zeros(K.shape[0]), x=x, D=fixed))
    u, p = sol[:velocity.N], sol[velocity.N:]
    return StokesSolution(u[velocity.nodal_dofs].T, p[pressure.nodal_dofs[0]])


# ------------------------------------------------------------------------------------- P1
# P1 operators are assembled here in closed form with numpy (constant gradients per triangle,
# a 3-point degree-2 rule for loads -- the rule scikit-fem uses for P1): the same matrices as
# scikit-fem's (tested), at a fraction of its per-call overhead, which matters for mesh movement
# (thousands of re-assemblies on moved meshes per dataset).
QUADRATURE = np.array([[2 / 3, 1 / 6, 1 / 6], [1 / 6, 2 / 3, 1 / 6], [1 / 6, 1 / 6, 2 / 3]])  # barycentric


@dataclass
class P1Space:
    """Continuous piecewise-linear (P1) functions on a triangle `Mesh`, nodal dofs in node order.

    Attributes:
        mesh: the mesh.
        areas: cell areas ``(C,)`` (absolute values).
        grads: gradients of the cells' barycentric functions ``(C, 3, 2)``.
        stiffness: ``K_ij = int grad psi_i . grad psi_j``, CSR ``(n, n)``.
        mass: ``M_ij = int psi_i psi_j``, CSR ``(n, n)``.
        facets: boundary edges ``(F, 2)``; ``facet_cells (F,)`` the cell of each,
            ``normals (F, 2)`` outward unit normals, ``lengths (F,)``.
    """

    mesh: Mesh
    areas: np.ndarray
    grads: np.ndarray
    stiffness: csr_matrix
    mass: csr_matrix
    facets: np.ndarray
    facet_cells: np.ndarray
    normals: np.ndarray
    lengths: np.ndarray

    @property
    def area(self) -> float:
        """The domain's area."""
        return float(self.areas.sum())

    def l2_norm(self, u: np.ndarray) -> float:
        """``||u||_L2`` of nodal values ``u (n,)``."""
        return float(np.sqrt(max(u @ (self.mass @ u), 0.0)))

    def quadrature_points(self) -> np.ndarray:
        """The quadrature points ``(C, 3, 2)``."""
        return np.einsum("qk,ckd->cqd", QUADRATURE, self.mesh.nodes[self.mesh.cells])

    def at_quadrature(self, u: np.ndarray) -> np.ndarray:
        """Nodal values ``u (n,)`` at the quadrature points, ``(C, 3)``."""
        return u[self.mesh.cells] @ QUADRATURE.T

    def load(self, values: np.ndarray) -> np.ndarray:
        """``b_i = int f psi_i`` for ``f`` given at the quadrature points ``(C, 3)``."""
        local = (values * self.areas[:, None] / 3.0) @ QUADRATURE  # (C, 3 nodes)
        return np.bincount(self.mesh.cells.ravel(), local.ravel(), minlength=self.mesh.n_nodes)

    def cell_gradients(self, u: np.ndarray) -> np.ndarray:
        """``grad u`` on each cell ``(C, 2)``."""
        return np.einsum("ck,ckd->cd", u[self.mesh.cells], self.grads)

    def _matrix(self, local: np.ndarray) -> csr_matrix:
        """Assemble per-cell ``(C, 3, 3)`` blocks (rows: test node)."""
        cells = self.mesh.cells
        rows = np.repeat(cells, 3, axis=1).ravel()
        cols = np.tile(cells, (1, 3)).ravel()
        n = self.mesh.n_nodes
        return coo_matrix((local.ravel(), (rows, cols)), shape=(n, n)).tocsr()


def p1_space(mesh: Mesh) -> P1Space:
    """Geometry and the P1 stiffness and mass matrices of the triangle ``mesh``."""
    if mesh.ndim != 2:
        raise UserError(f"expected a 2-D triangle mesh, got a {mesh.ndim}-D mesh")
    p = mesh.nodes[mesh.cells]                                     # (C, 3, 2)
    e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    # grad lambda_k = rot(p_{k+2} - p_{k+1}) / det with rot(a, b) = (-b, a)
    opposite = np.roll(p, -2, axis=1) - np.roll(p, -1, axis=1)    # p_{k+2} - p_{k+1}
    grads = np.stack([-opposite[..., 1], opposite[..., 0]], axis=-1) / det[:, None, None]
    areas = 0.5 * np.abs(det)
    edges = Mesh._facets(mesh.cells)                               # (3C, 2), sorted pairs
    owner = np.tile(np.arange(mesh.n_cells), 3)
    _, index, counts = np.unique(edges[:, 0] * mesh.n_nodes + edges[:, 1], return_index=True,
                                 return_counts=True)
    once = index[counts == 1]
    facets, facet_cells = edges[once], owner[once]
    tangent = mesh.nodes[facets[:, 1]] - mesh.nodes[facets[:, 0]]
    lengths = np.linalg.norm(tangent, axis=1)
    normals = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1) / lengths[:, None]
    inward = mesh.nodes[mesh.cells[facet_cells]].mean(axis=1) - mesh.nodes[facets[:, 0]]
    normals *= np.where((normals * inward).sum(1) > 0, -1.0, 1.0)[:, None]
    space = P1Space(mesh, areas, grads, None, None, facets, facet_cells, normals, lengths)  # type: ignore[arg-type]
    space.stiffness = space._matrix(areas[:, None, None] * np.einsum("cid,cjd->cij", grads, grads))
    space.mass = space._matrix(areas[:, None, None] * (np.ones((3, 3)) + np.eye(3)) / 12.0)
    return space


class ReactionDiffusion:
    """``-lap u + reaction u = source`` in P1 with ``u`` prescribed on every boundary node; the
    interior block is factorised once, so repeated solves on one mesh cost two triangular solves.
    """

    def __init__(self, space: P1Space, reaction: float = 1.0):
        self.space = space
        a = (space.stiffness + reaction * space.mass).tocsr()
        self.fixed = space.mesh.boundary_nodes()
        self.free = np.setdiff1d(np.arange(space.mesh.n_nodes), self.fixed)
        self._coupling = a[self.free][:, self.fixed]
        self._interior = splu(a[self.free][:, self.free].tocsc())

    def solve(self, source: Callable[[np.ndarray, np.ndarray], np.ndarray],
              boundary_values: np.ndarray) -> np.ndarray:
        """Nodal solution; ``source(x, y)`` is evaluated at the quadrature points, only the boundary
        entries of ``boundary_values (n,)`` are used."""
        q = self.space.quadrature_points()
        b = self.space.load(source(q[..., 0], q[..., 1]))
        u = np.array(boundary_values, np.float64)
        u[self.free] = self._interior.solve(b[self.free] - self._coupling @ u[self.fixed])
        return u


def gradient_matrices(space: P1Space) -> tuple[csr_matrix, csr_matrix]:
    """``C_d[i, j] = int psi_i d(psi_j)/dx_d`` for d = x, y: ``C_d @ u`` is the load of the L2
    projection of ``du/dx_d`` onto P1."""
    local = space.areas[:, None, None] / 3.0 * space.grads         # (C, 3 trial nodes, 2)
    return tuple(space._matrix(np.repeat(local[None, ..., d], 3, 0).transpose(1, 0, 2)) for d in range(2))


class HessianRecovery:
    """The weak (integration-by-parts) P1 Hessian ``H`` of a P1 function ``u``:

    ``int psi H_ab = -int d_b(psi) d_a(u) + int_boundary psi g_a n_b ds`` for every P1 ``psi``,

    with ``g = grad u`` (``boundary="full"``: UM2N's monitor) or its tangential part
    ``g = grad u - (grad u . n) n`` (``boundary="tangential"``: the Monge--Ampere equidistributor of
    the `movement` library). The mass matrix is factorised once per mesh.
    """

    def __init__(self, space: P1Space, boundary: str = "full"):
        if boundary not in ("full", "tangential"):
            raise UserError(f"boundary must be 'full' or 'tangential', got '{boundary}'")
        self.space, self.tangential = space, boundary == "tangential"
        self._mass = splu(space.mass.tocsc())

    def __call__(self, u: np.ndarray) -> np.ndarray:
        """The nodal Hessian of ``u (n,)``, ``(n, 2, 2)``."""
        s, n = self.space, len(u)
        g = s.cell_gradients(u)                                              # (C, 2)
        interior = -np.einsum("c,ckb,ca->ckab", s.areas, s.grads, g)          # (C, 3, 2, 2)
        gb = g[s.facet_cells]
        if self.tangential:
            gb = gb - (gb * s.normals).sum(1, keepdims=True) * s.normals
        edge = 0.5 * s.lengths[:, None, None] * gb[:, :, None] * s.normals[:, None, :]   # (F, 2, 2)
        h = np.empty((n, 2, 2))
        for a in range(2):
            for b in range(2):
                rhs = np.bincount(s.mesh.cells.ravel(), interior[..., a, b].ravel(), minlength=n)
                rhs += np.bincount(s.facets.ravel(), np.repeat(edge[:, a, b], 2), minlength=n)
                h[:, a, b] = self._mass.solve(rhs)
        return h


def probe_matrix(mesh: Mesh, points: np.ndarray) -> csr_matrix:
    """Sparse ``(n_points, n_nodes)`` matrix evaluating P1 nodal values at ``points (k, 2)``.

    Points are located with matplotlib's trapezoid-map finder (the mesh must not be tangled);
    a point the finder misses (on the boundary up to round-off, or just outside) takes the
    nearest cell by centroid, with its barycentric coordinates clipped to the cell."""
    from matplotlib.tri import Triangulation

    points = np.asarray(points, np.float64)
    x, cells = mesh.nodes, mesh.cells
    cell = Triangulation(x[:, 0], x[:, 1], cells).get_trifinder()(points[:, 0], points[:, 1])
    missed = cell < 0
    if missed.any():
        _, nearest = cKDTree(x[cells].mean(axis=1)).query(points[missed])
        cell[missed] = nearest
    p0, p1, p2 = (x[cells[cell, k]] for k in range(3))
    det = (p1[:, 0] - p0[:, 0]) * (p2[:, 1] - p0[:, 1]) - (p1[:, 1] - p0[:, 1]) * (p2[:, 0] - p0[:, 0])
    d = points - p0
    l1 = (d[:, 0] * (p2[:, 1] - p0[:, 1]) - d[:, 1] * (p2[:, 0] - p0[:, 0])) / det
    l2 = (d[:, 1] * (p1[:, 0] - p0[:, 0]) - d[:, 0] * (p1[:, 1] - p0[:, 1])) / det
    lam = np.clip(np.stack([1 - l1 - l2, l1, l2], axis=1), 0.0, None)
    lam /= lam.sum(axis=1, keepdims=True)
    rows = np.repeat(np.arange(len(points)), 3)
    return csr_matrix((lam.ravel(), (rows, cells[cell].ravel())), shape=(len(points), mesh.n_nodes))
