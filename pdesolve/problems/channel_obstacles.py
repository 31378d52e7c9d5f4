"""Stokes flow past a random smooth obstacle in a channel: signed distance -> velocity and pressure.

The channel ``[0, length] x [0, 1]`` holds one star-shaped obstacle (the same random family as
`elasticity_voids`: ``r(t) = r0 (1 + sum_k a_k cos kt + b_k sin kt)``, k = 2 .. modes + 1, centre
jittered about ``center``), meshed with `pdesolve.numerics.meshing.mesh_with_holes`. Reference
solver: steady Stokes flow (Taylor--Hood P2/P1, scikit-fem) with a parabolic inflow of peak 1 on
the left edge, a do-nothing outflow on the right, no-slip on the walls and the obstacle.
Lengths are in channel widths, velocities in the peak inflow ``U``, pressure in ``nu U / H``.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from pdesolve.data.fields import FieldSpec
from pdesolve.numerics.fem import stokes_channel
from pdesolve.numerics.meshing import mesh_with_holes, random_star_coefficients, rectangle, star_polygon
from pdesolve.numerics.random_fields import sample_seed
from pdesolve.problems.base import ProblemParams
from pdesolve.problems.mesh_map import Geometry, MeshMapProblem

EDGE_TOL = 1e-9


class ChannelObstaclesParams(ProblemParams):
    length: float = Field(2.0, ge=1.0, description="channel length (channel widths)")
    mesh_size: float = Field(0.05, gt=0.005, le=0.2,
                             description="mesh edge length (channel widths) when data.resolution is null")
    center: tuple[float, float] = Field((0.6, 0.5), description="mean obstacle centre")
    center_jitter: float = Field(0.08, ge=0, description="centre uniform in center +- this, per axis")
    radius: tuple[float, float] = Field((0.1, 0.2), description="min and max mean obstacle radius")
    modes: int = Field(3, ge=0, le=12, description="Fourier modes of the radius (k = 2 .. modes + 1)")
    amplitude: float = Field(0.2, ge=0, lt=0.6, description="mode k perturbation: +-amplitude/(k-1)")
    gap: float = Field(0.1, gt=0, description="smallest distance from the obstacle to the walls and ends")
    polygon_vertices: int = Field(64, ge=16)

    @model_validator(mode="after")
    def _fits(self):
        lo, hi = self.radius
        if not 0 < lo <= hi:
            raise ValueError("radius must be (min, max) with 0 < min <= max")
        cx, cy = self.center
        room = min(cx, self.length - cx, cy, 1 - cy) - self.center_jitter - self.gap
        if hi >= room:
            raise ValueError("radius[1] must leave the gap to the walls and ends around the jittered centre")
        return self


class ChannelObstacles(MeshMapProblem, name="channel_obstacles"):
    """Stokes flow past random smooth obstacles (varying geometry, one mesh each)."""

    Params = ChannelObstaclesParams
    description = "channel with a random smooth obstacle, Stokes flow: signed distance -> velocity, pressure"
    solver_name = "scikit-fem Taylor-Hood P2/P1 Stokes on Delaunay meshes"
    inputs = ("sdf",)
    outputs = ("u", "v", "pressure")
    fields = {
        "sdf": FieldSpec("sdf", "1", "signed distance to the obstacle boundary (positive in the fluid)"),
        "u": FieldSpec("u", "1", "x velocity in units of the peak inflow velocity"),
        "v": FieldSpec("v", "1", "y velocity in units of the peak inflow velocity"),
        "pressure": FieldSpec("pressure", "1", "pressure in units of viscosity * U / channel width"),
    }
    params: ChannelObstaclesParams

    def obstacle(self, seed: int, index: int) -> np.ndarray:
        """The obstacle polygon of sample ``index``, ``(polygon_vertices, 2)``."""
        p = self.params
        rng = np.random.default_rng(sample_seed(seed, index, "channel_obstacles"))
        r0, a, b = random_star_coefficients(rng, p.radius, p.modes, p.amplitude)
        center = np.asarray(p.center) + rng.uniform(-p.center_jitter, p.center_jitter, 2)
        poly = star_polygon((center[0], center[1]), r0, a, b, p.polygon_vertices)
        reach = np.abs(poly - center).max(0)
        room = np.minimum(center, np.array([p.length, 1.0]) - center) - p.gap
        return center + (poly - center) * min(1.0, float((room / reach).min()))

    def geometry(self, seed, index, h):
        obstacle = self.obstacle(seed, index)
        return Geometry(obstacle, mesh_with_holes(rectangle(0, 0, self.params.length, 1), [obstacle], h))

    def solve(self, geometry):
        length = self.params.length
        sol = stokes_channel(geometry.mesh, inflow=lambda x: x[0] < EDGE_TOL,
                             inflow_profile=lambda x: 4 * x[1] * (1 - x[1]),
                             outflow=lambda x: x[0] > length - EDGE_TOL)
        return {"u": sol.velocity[:, 0], "v": sol.velocity[:, 1], "pressure": sol.pressure}
