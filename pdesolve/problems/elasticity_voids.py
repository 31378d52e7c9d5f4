"""Unit cells with a random smooth void under tension: signed distance -> von Mises stress.

A stand-in for the Geo-FNO / enf2enf "Elasticity" benchmark that can be generated offline. The
domain is the unit square minus a star-shaped void ``r(t) = r0 (1 + sum_k a_k cos kt + b_k sin kt)``
(k = 2 .. modes + 1, coefficients uniform in ``+-amplitude / (k - 1)``, centre jittered), meshed
with `pdesolve.numerics.meshing.mesh_with_holes`. Reference solver: plane-strain small-strain
linear elasticity (P2, scikit-fem), ``E = 1``, ``nu = 0.3``; the bottom edge on rollers
(``u_y = 0``, the bottom-left corner pinned), a uniform tension ``sigma n = (0, load)`` on the top
edge, sides and void free. Output: von Mises stress (in units of ``load``) projected onto the mesh
nodes. Input: the signed distance to the void boundary (positive in the material).

With ``mesh: deformed`` every sample's mesh is one reference mesh (a circular void of the mean
radius at the cell's centre) with its nodes moved (`morph_hole`), as in the Geo-FNO elasticity
data: every sample has the same nodes in the same order (corresponding nodes), which is what the
node-coordinate geometry code of enf2enf needs; ``remeshed`` (default) meshes each geometry anew.

Differences from the paper's data, on purpose: linear instead of incompressible hyper-elastic
material, and rollers instead of a clamped bottom (no corner singularities, so the reference
converges under mesh refinement; tested). Lengths are in cell sizes (units ``"1"``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from pdesolve.data.fields import FieldSpec
from pdesolve.data.mesh import Mesh
from pdesolve.errors import UserError
from pdesolve.numerics.fem import plane_strain_elasticity
from pdesolve.numerics.meshing import mesh_with_holes, random_star_coefficients, rectangle, star_polygon
from pdesolve.numerics.random_fields import sample_seed
from pdesolve.problems.base import ProblemParams
from pdesolve.problems.mesh_map import Geometry, MeshMapProblem

EDGE_TOL = 1e-9


class ElasticityVoidsParams(ProblemParams):
    mesh_size: float = Field(0.035, gt=0.005, le=0.2,
                             description="mesh edge length (cell sizes) when data.resolution is null")
    radius: tuple[float, float] = Field((0.14, 0.26), description="min and max mean void radius")
    modes: int = Field(4, ge=0, le=12, description="Fourier modes of the void's radius (k = 2 .. modes + 1)")
    amplitude: float = Field(0.25, ge=0, lt=0.6, description="mode k perturbation: +-amplitude/(k-1)")
    center_jitter: float = Field(0.08, ge=0, description="void centre uniform in 0.5 +- this, per axis")
    margin: float = Field(0.06, gt=0, description="smallest distance from the void to the cell's edges")
    polygon_vertices: int = Field(64, ge=16, description="vertices of the void polygon")
    poisson_ratio: float = Field(0.3, gt=0, lt=0.5)
    load: float = Field(1.0, gt=0, description="tension on the top edge (stress units; E = 1)")
    mesh: Literal["remeshed", "deformed"] = Field(
        "remeshed", description="mesh each geometry anew, or move the nodes of one reference mesh "
                                "(corresponding nodes, same count in every sample)")

    @model_validator(mode="after")
    def _fits(self):
        lo, hi = self.radius
        if not 0 < lo <= hi:
            raise ValueError("radius must be (min, max) with 0 < min <= max")
        if hi + self.center_jitter + self.margin >= 0.5:
            raise ValueError("radius[1] + center_jitter + margin must be below 0.5 (the void must fit "
                             "inside the unit cell)")
        return self


def _square_exit(center: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Distance from ``center`` (inside the unit square) along unit ``direction (n, 2)`` to the
    square's boundary, ``(n,)``."""
    with np.errstate(divide="ignore"):
        t = np.where(direction > 0, (1 - center) / direction, np.where(direction < 0, -center / direction, np.inf))
    return t.min(1)


def morph_hole(mesh: Mesh, center: np.ndarray, radius: float, void: np.ndarray, void_center: np.ndarray) -> Mesh:
    """Move the nodes of ``mesh`` (unit square minus the circle ``(center, radius)``) so that the
    circle becomes the star-shaped polygon ``void`` (about ``void_center``) and the square stays.

    A node at angle ``t`` and distance ``rho`` from ``center`` keeps its fraction
    ``s = (rho - radius) / (R(t) - radius)`` of the way from the void to the square (``R(t)``: the
    square's boundary along ``t``) and goes to ``(1 - s) v(t) + s b(t)``, ``v(t)`` the void's point
    in direction ``t`` from ``void_center`` and ``b(t)`` the square's point; cells keep their nodes.
    """
    d = mesh.nodes - center
    rho = np.linalg.norm(d, axis=1)
    t = np.arctan2(d[:, 1], d[:, 0])
    direction = np.stack([np.cos(t), np.sin(t)], axis=1)
    outer = _square_exit(center, direction)
    s = np.clip((rho - radius) / (outer - radius), 0.0, 1.0)
    rel = void - void_center
    angle = np.arctan2(rel[:, 1], rel[:, 0])
    order = np.argsort(angle)
    r_void = np.interp(t, angle[order], np.linalg.norm(rel, axis=1)[order], period=2 * np.pi)
    v = void_center + r_void[:, None] * direction
    b = center + outer[:, None] * direction
    moved = mesh.with_nodes((1 - s)[:, None] * v + s[:, None] * b)
    if (np.sign(moved.signed_volumes()) != np.sign(mesh.signed_volumes())).any():
        raise UserError("the void is too far from the reference circle for the mesh to follow: a cell "
                        "turned over (lower amplitude or center_jitter, or use mesh: remeshed)")
    return moved


@lru_cache(maxsize=4)
def _reference_mesh(radius: float, vertices: int, h: float) -> tuple[Mesh, np.ndarray]:
    """The reference mesh (circular void at the centre) and its void nodes' indices in order."""
    t = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    circle = 0.5 + radius * np.stack([np.cos(t), np.sin(t)], axis=1)
    mesh = mesh_with_holes(rectangle(0, 0, 1, 1), [circle], h)
    hole = np.flatnonzero(mesh.boundary == 2)
    d = mesh.nodes[hole] - 0.5
    return mesh, hole[np.argsort(np.arctan2(d[:, 1], d[:, 0]))]


class ElasticityVoids(MeshMapProblem, name="elasticity_voids"):
    """Von Mises stress in unit cells with random smooth voids (varying geometry, one mesh each)."""

    Params = ElasticityVoidsParams
    description = "unit cell with a random smooth void under tension: signed distance -> von Mises stress"
    solver_name = "scikit-fem P2 plane-strain linear elasticity on Delaunay meshes"
    inputs = ("sdf",)
    outputs = ("von_mises",)
    fields = {
        "sdf": FieldSpec("sdf", "1", "signed distance to the void boundary (positive in the material)"),
        "von_mises": FieldSpec("von_mises", "1", "von Mises stress in units of the applied tension"),
    }
    params: ElasticityVoidsParams

    def void(self, seed: int, index: int) -> np.ndarray:
        """The void polygon of sample ``index``, ``(polygon_vertices, 2)``."""
        return self.void_and_center(seed, index)[0]

    def void_and_center(self, seed: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The void polygon of sample ``index`` and the centre it is star-shaped about."""
        p = self.params
        rng = np.random.default_rng(sample_seed(seed, index, "elasticity_voids"))
        r0, a, b = random_star_coefficients(rng, p.radius, p.modes, p.amplitude)
        center = 0.5 + rng.uniform(-p.center_jitter, p.center_jitter, 2)
        # the radius stays above 0.4 r0: damp the perturbation where it would dig deeper
        t = np.linspace(0, 2 * np.pi, p.polygon_vertices, endpoint=False)
        kk = np.arange(1, len(a) + 1)[:, None]
        dip = -float((a[:, None] * np.cos(kk * t) + b[:, None] * np.sin(kk * t)).sum(0).min())
        damp = min(1.0, 0.6 * r0 / dip) if dip > 0 else 1.0
        poly = star_polygon((center[0], center[1]), r0, a * damp, b * damp, p.polygon_vertices)
        # keep the void inside the cell with the margin: shrink about its centre if needed
        reach = np.abs(poly - center).max(0)
        room = np.minimum(center, 1 - center) - p.margin
        scale = min(1.0, float((room / reach).min()))
        return center + (poly - center) * scale, center

    def geometry(self, seed, index, h):
        void, center = self.void_and_center(seed, index)
        if self.params.mesh == "remeshed":
            return Geometry(void, mesh_with_holes(rectangle(0, 0, 1, 1), [void], h))
        reference, hole = _reference_mesh(float(np.mean(self.params.radius)), self.params.polygon_vertices, h)
        mesh = morph_hole(reference, np.array([0.5, 0.5]), float(np.mean(self.params.radius)), void, center)
        return Geometry(mesh.nodes[hole], mesh)

    def solve(self, geometry):
        mesh = geometry.mesh
        corner = int(np.argmin((mesh.nodes ** 2).sum(1)))
        sol = plane_strain_elasticity(
            mesh, roller=lambda x: x[1] < EDGE_TOL, pinned=corner,
            traction=lambda x: x[1] > 1 - EDGE_TOL, load=(0.0, self.params.load),
            poisson_ratio=self.params.poisson_ratio)
        return {"von_mises": sol.von_mises / self.params.load}
