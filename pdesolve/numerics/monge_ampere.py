"""Monge--Ampere mesh movement by pseudo-time relaxation (McRae et al. 2018; the `movement`
library's ``MongeAmpereMover(method="relaxation")``, which generated UM2N's training targets),
with P1 finite elements (`pdesolve.numerics.fem`).

The physical mesh is ``x = xi + grad phi(xi)`` for a potential ``phi`` on the computational
(input) mesh ``xi``; equidistribution of the monitor ``m`` means
``m(x) det(I + H(phi)) = theta``, ``theta = int m det(I + H) / |Omega|``. Each iteration:

1. ``g`` = L2 projection of ``grad phi`` onto P1 vectors with no motion normal to the boundary:
   a node on a straight boundary segment moves along it, a corner (or any other boundary node)
   is fixed. The projection is the Galerkin one on that constrained space.
2. ``x = xi + g``; the monitor is re-evaluated at ``x`` (for UM2N's data: re-solving the PDE on
   the moved mesh).
3. ``R_i = int psi_i (m det(I + H) - theta)``; stop when ``||R|| / ||int psi theta|| < rtol``;
   give up when it exceeds ``dtol`` times its first value.
4. ``int grad psi . grad phi_new = int grad psi . grad phi + dtau R`` (pure Neumann, one node
   pinned), and ``H`` = the weak Hessian of ``phi_new`` with the tangential boundary term.

Defaults are UM2N's (``rtol = 1e-3``, ``maxiter = 500``) and movement's (``dtau = 0.1``,
``dtol = 2``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import block_diag, csr_matrix
from scipy.sparse.linalg import splu

from pdesolve.data.mesh import Mesh
from pdesolve.numerics.fem import HessianRecovery, gradient_matrices, p1_space

Monitor = Callable[[np.ndarray], np.ndarray]  # moved node coordinates (n, 2) -> monitor at the nodes (n,)


def boundary_tangents(mesh: Mesh, tol: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """How each node may move along the boundary.

    Returns ``(sliding, tangent)``: ``sliding (n,)`` is true for boundary nodes inside a straight
    boundary segment (exactly two boundary edges at the node, collinear), ``tangent (n, 2)`` their
    unit direction (zero elsewhere). Other boundary nodes (corners) are fixed.
    """
    facets = Mesh._facets(mesh.cells)
    uniq, counts = np.unique(facets, axis=0, return_counts=True)
    neighbours: dict[int, list[int]] = {}
    for a, b in uniq[counts == 1]:
        neighbours.setdefault(int(a), []).append(int(b))
        neighbours.setdefault(int(b), []).append(int(a))
    x = mesh.nodes
    sliding = np.zeros(mesh.n_nodes, bool)
    tangent = np.zeros_like(x)
    for i, nb in neighbours.items():
        if len(nb) != 2:
            continue
        d1, d2 = x[nb[0]] - x[i], x[nb[1]] - x[i]
        if abs(d1[0] * d2[1] - d1[1] * d2[0]) <= tol * np.linalg.norm(d1) * np.linalg.norm(d2):
            sliding[i] = True
            tangent[i] = d1 / np.linalg.norm(d1)
    return sliding, tangent


def constrained_displacements(mesh: Mesh) -> csr_matrix:
    """``T (2n, r)`` mapping the free parameters of a boundary-respecting displacement to its
    ``[g_x; g_y]`` nodal values: two per interior node, one (along the tangent) per sliding
    boundary node, none for fixed ones."""
    n = mesh.n_nodes
    sliding, tangent = boundary_tangents(mesh)
    interior = mesh.boundary == 0
    rows, cols, vals = [], [], []
    col = 0
    for i in range(n):
        if interior[i]:
            rows += [i, n + i]
            cols += [col, col + 1]
            vals += [1.0, 1.0]
            col += 2
        elif sliding[i]:
            rows += [i, n + i]
            cols += [col, col]
            vals += [tangent[i, 0], tangent[i, 1]]
            col += 1
    return csr_matrix((vals, (rows, cols)), shape=(2 * n, col))


@dataclass
class MongeAmpereResult:
    """A finished relaxation.

    Attributes:
        nodes: moved node coordinates ``(n, 2)`` (the last iterate when not converged).
        iterations: relaxation iterations taken.
        converged: whether the residual fell below ``rtol`` (false: diverged or hit ``maxiter``).
        residuals: relative residual per iteration.
        monitor: the monitor at the moved nodes ``(n,)``.
        seconds: wall time, monitor evaluations included; ``cpu_seconds``: this process's CPU time.
    """

    nodes: np.ndarray
    iterations: int
    converged: bool
    residuals: list[float] = field(default_factory=list)
    monitor: np.ndarray | None = None
    seconds: float = 0.0
    cpu_seconds: float = 0.0


class MongeAmpereMover:
    """The relaxation mover on one computational mesh (operators assembled once, reusable for
    any number of monitors).

    Args:
        mesh: the computational mesh ``xi`` (its boundary made of straight segments).
        pseudo_timestep: ``dtau``.
        rtol: relative residual to stop at.
        maxiter: iteration cap.
        dtol: divergence factor on the residual.
    """

    def __init__(
        self,
        mesh: Mesh,
        *,
        pseudo_timestep: float = 0.1,
        rtol: float = 1e-3,
        maxiter: int = 500,
        dtol: float = 2.0,
    ):
        self.mesh = mesh
        self.dtau, self.rtol, self.maxiter, self.dtol = pseudo_timestep, rtol, maxiter, dtol
        space = p1_space(mesh)
        self.space = space
        n = mesh.n_nodes
        self._grad = gradient_matrices(space)
        self._t = constrained_displacements(mesh)
        block = block_diag([space.mass, space.mass], format="csr")
        self._projection = splu((self._t.T @ block @ self._t).tocsc())
        stiffness = space.stiffness.tolil()
        stiffness[0, :] = 0.0  # pin phi at node 0: the pure-Neumann problem's constant null space
        stiffness[:, 0] = 0.0
        stiffness[0, 0] = 1.0
        self._stiffness = space.stiffness
        self._poisson = splu(stiffness.tocsc())
        self._hessian = HessianRecovery(space, boundary="tangential")
        self._lumped = np.asarray(space.mass.sum(axis=1)).ravel()
        self._n = n

    def displacement(self, phi: np.ndarray) -> np.ndarray:
        """The boundary-respecting L2 projection of ``grad phi``, ``(n, 2)``."""
        rhs = np.concatenate([self._grad[0] @ phi, self._grad[1] @ phi])
        g = self._t @ self._projection.solve(self._t.T @ rhs)
        return g.reshape(2, self._n).T

    def _weighted_density(self, m: np.ndarray, hess: np.ndarray) -> np.ndarray:
        """``int psi_i m det(I + H)`` (P1 ``m`` and ``H``, at the quadrature points)."""
        q = [[self.space.at_quadrature(hess[:, a, c]) for c in range(2)] for a in range(2)]
        det = (1 + q[0][0]) * (1 + q[1][1]) - q[0][1] * q[1][0]
        return self.space.load(self.space.at_quadrature(m) * det)

    def move(self, monitor: Monitor) -> MongeAmpereResult:
        """Relax towards equidistribution of ``monitor`` (evaluated at the moved nodes)."""
        t0, c0 = time.perf_counter(), time.process_time()
        xi = self.mesh.nodes
        phi = np.zeros(self._n)
        hess = np.zeros((self._n, 2, 2))
        residuals: list[float] = []
        converged = False
        x, m = xi, None
        for _ in range(self.maxiter):
            x = xi + self.displacement(phi)
            m = np.asarray(monitor(x), np.float64)
            q = self._weighted_density(m, hess)
            theta = q.sum() / self.space.area
            r = q - theta * self._lumped
            residual = float(np.linalg.norm(r) / (abs(theta) * np.linalg.norm(self._lumped)))
            residuals.append(residual)
            if residual < self.rtol:
                converged = True
                break
            if residual > self.dtol * residuals[0]:
                break
            rhs = self._stiffness @ phi + self.dtau * r
            rhs[0] = 0.0
            phi = self._poisson.solve(rhs)
            hess = self._hessian(phi)
        return MongeAmpereResult(
            x, len(residuals), converged, residuals, m, time.perf_counter() - t0, time.process_time() - c0
        )


def tangled_cells(mesh: Mesh, nodes: np.ndarray) -> int:
    """Cells of ``mesh`` whose signed area changes sign (or vanishes) when its nodes move to
    ``nodes (n, 2)``: inverted (tangled) elements."""
    return int((np.sign(mesh.signed_volumes()) * mesh.signed_volumes(nodes) <= 0).sum())
