"""2-D hyperelastic elastodynamics by incremental potential (the INSR paper's 2-D elastic examples).

The body is the square ``[-1, 1]^2`` at rest; the unknown is the deformation ``q(X) = X + d(X)``.
Implicit Euler is written as the minimisation of an incremental potential over ``q`` at each step
(Chen et al., ICML 2023; terms and weights of the authors' ``elasticity2Dstretch.sh`` and
``elasticity2Dcollide.sh``), with ``qdot = (q - q_n) / dt`` and ``qdot_n = (q_n - q_{n-1}) / dt``::

    kinematics   w_kin   sum_X |qdot - qdot_n|^2
    ARAP-like    w_arap  sum_X sum_i (s_i(grad q) - 1)^2          s_i: singular values of grad q
    volume       w_vol   sum_X (prod_i s_i - 1)^2
    external     -dt sum_X qdot . f_ext                           (only while step <= T_ext)
    constraints  w_fix   sum_{X on an edge} |d(X) - target|^2
    contact      -dt sum_{q(X) inside the disc} qdot . (w_col |q - c| (q - c) / |q - c|)

The terms are *sums* over the sample points (as in the authors' code), so their balance depends
on the sample count: keep the scene's sample count (100^2 random + 100^2 grid points) with its
weights. The contact "force" grows with the distance from the disc centre, as in the code.

Reference (`reference`): the same incremental potential and ``dt`` minimised over the nodes of the
evaluation grid, P1 triangles (two per cell, `pdesolve.numerics.p1_grid`), every term evaluated per
triangle (singular values of its constant ``grad q``, its centroid for the point terms) and scaled
to the paper's sample measure (`REFERENCE_POINTS` points, `REFERENCE_EDGE_POINTS` per edge), by
L-BFGS at every step from the previous motion extrapolated. It is the time-discrete solution of the
scheme INSR integrates, with a mesh in place of the network: the rollout error is against it.

Scenes (`SCENES`): ``stretch`` -- left edge fixed, right edge pulled 2 to the right, one
quasi-static step; ``collide`` -- the square falls under a body force (first 2 steps) onto a rigid
disc of radius 1 centred at ``(0, -2)``, ``dt = 0.1``, 20 steps. There is no closed-form solution;
the dataset holds the FEM reference above, and `evaluate` reports the mean and worst area ratio
``det(grad q)``, the contact penetration and the edge constraint error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import xarray as xr
from pydantic import Field

from pdesolve.data.fields import FieldSpec
from pdesolve.data.grid import Axis, Grid
from pdesolve.numerics.p1_grid import centroids, deformation_gradient, grid_triangles, reference_inverse
from pdesolve.problems.evolution import EvolutionParams, EvolutionProblem, check_points, single_sample


@dataclass(frozen=True)
class Scene:
    """Weights and loads of one scene (the authors' script settings).

    Attributes:
        weights: energy term -> weight (terms absent are off): ``arap``, ``volume``, ``kinematics``,
            ``fix_left``, ``fix_right``, ``contact``.
        right_offset: target displacement of the right edge (``fix_right``).
        force: body force density ``f_ext`` and the last step it acts (``external``).
        disc: centre and radius of the rigid disc (``contact``).
        lr: the Adam learning rate of the authors' script (INSR's default for the scene).
    """

    weights: dict[str, float]
    lr: float
    right_offset: tuple[float, float] = (0.0, 0.0)
    force: tuple[float, float] = (0.0, 0.0)
    force_steps: int = 0
    disc: tuple[float, float, float] = (0.0, -2.0, 1.0)


SCENES: dict[str, Scene] = {
    "stretch": Scene(
        {"arap": 1.0, "volume": 1e3, "fix_left": 1e4, "fix_right": 1e4}, lr=1e-4, right_offset=(2.0, 0.0)
    ),
    "collide": Scene(
        {"arap": 20.0, "volume": 1e3, "kinematics": 10.0, "contact": 1e4},
        lr=1e-5,
        force=(0.0, -200.0),
        force_steps=2,
    ),
}


REFERENCE_POINTS = 2 * 100**2  # the paper's points per iteration (100^2 random + 100^2 grid): the weights' measure
REFERENCE_EDGE_POINTS = 2 * 100  # and per constrained edge
REFERENCE_ITERATIONS = 500  # L-BFGS iterations per step of the FEM reference, at most


class Elastodynamics2DParams(EvolutionParams):
    scene: Literal["stretch", "collide"] = Field("collide", description="stretch (quasi-static) or collide")
    dt: float = Field(0.1, gt=0, description="time step (collide: 0.1; irrelevant for stretch)")
    steps: int = Field(20, ge=0, description="time steps (collide: 20, stretch: 1)")


class Elastodynamics2D(EvolutionProblem, name="elastodynamics_2d"):
    """A hyperelastic square under constraints, gravity and contact (INSR 2-D elastic scenes)."""

    Params = Elastodynamics2DParams
    description = "2-D hyperelastic square by incremental potential: stretch and collide scenes (INSR)"
    fields = {
        "displacement_x": FieldSpec("displacement_x", "1", "displacement x component"),
        "displacement_y": FieldSpec("displacement_y", "1", "displacement y component"),
    }
    outputs = ("displacement_x", "displacement_y")
    default_resolution = 64
    source = "P1 FEM minimisation of the same incremental potential and dt (no closed-form solution)"
    solver_version = 2  # 2: FEM reference at every step (1: the rest state only)

    @property
    def scene(self) -> Scene:
        return SCENES[self.params.scene]

    def grid(self, points) -> Grid:
        nx, ny = check_points(points, 2)
        return Grid((Axis("x", nx, 2.0, -1.0, "nodes"), Axis("y", ny, 2.0, -1.0, "nodes")))

    def reference(self, grid):
        """The FEM solution of the incremental potential on the nodes of ``grid`` at every step
        (module docstring): displacements ``(steps + 1, nx, ny)``."""
        nx, ny = grid.shape
        x, y = (torch.as_tensor(c, dtype=torch.float64) for c in grid.mesh())
        nodes = torch.stack([x.ravel(), y.ravel()], -1)
        triangles = grid_triangles(nx, ny)
        inverse, _ = reference_inverse(nodes, triangles)
        point_weight, edge_weight = REFERENCE_POINTS / len(triangles), REFERENCE_EDGE_POINTS / ny
        left, right = torch.arange(ny), torch.arange((nx - 1) * ny, nx * ny)
        history = [torch.zeros_like(nodes)]
        for k in range(1, self.params.steps + 1):
            prev, prev2 = history[-1], history[max(len(history) - 2, 0)]
            c_prev, c_prev2 = centroids(nodes + prev, triangles), centroids(nodes + prev2, triangles)
            d = (2 * prev - prev2).clone().requires_grad_(True)
            optimizer = torch.optim.LBFGS([d], max_iter=REFERENCE_ITERATIONS, history_size=50,
                                          tolerance_grad=1e-10, tolerance_change=1e-14, line_search_fn="strong_wolfe")

            def energy(k=k, d=d, c_prev=c_prev, c_prev2=c_prev2, optimizer=optimizer):
                optimizer.zero_grad()
                q = nodes + d
                s = torch.linalg.svdvals(deformation_gradient(q, triangles, inverse))
                e = self.potential(k, centroids(q, triangles), c_prev, c_prev2, s, d[left], d[right],
                                   point_weight=point_weight, edge_weight=edge_weight)
                e.backward()
                return e

            optimizer.step(energy)
            history.append(d.detach())
        fields = torch.stack(history).reshape(len(history), nx, ny, 2)
        return self.times, {name: fields[..., i] for i, name in enumerate(self.outputs)}

    # -------------------------------------------------------------------- the potential
    def potential(
        self,
        step: int,
        q: torch.Tensor,
        q_prev: torch.Tensor,
        q_prev2: torch.Tensor,
        singular_values: torch.Tensor,
        fixed_left: torch.Tensor,
        fixed_right: torch.Tensor,
        *,
        point_weight: float = 1.0,
        edge_weight: float = 1.0,
    ) -> torch.Tensor:
        """The incremental potential of step ``step`` (>= 1), summed over the sample points, each
        point counted ``point_weight`` times (an edge point ``edge_weight`` times).

        Args:
            q, q_prev, q_prev2: deformed positions ``q``, ``q_n``, ``q_{n-1}`` at the samples, ``(N, 2)``.
            singular_values: of ``grad q`` at the samples, ``(N, 2)``.
            fixed_left, fixed_right: displacements ``d`` at samples of the left/right edge, ``(M, 2)``.
        """
        scene, dt = self.scene, self.params.dt
        w = scene.weights
        qdot = (q - q_prev) / dt
        terms = {
            "arap": lambda: ((singular_values - 1) ** 2).sum(),
            "volume": lambda: ((singular_values.prod(dim=-1) - 1) ** 2).sum(),
            "kinematics": lambda: ((qdot - (q_prev - q_prev2) / dt) ** 2).sum(),
            "fix_left": lambda: (fixed_left**2).sum(),
            "fix_right": lambda: ((fixed_right - fixed_right.new_tensor(scene.right_offset)) ** 2).sum(),
            "contact": lambda: self.contact_work(q, qdot),
        }
        edges = ("fix_left", "fix_right")
        energy = sum(weight * (edge_weight if name in edges else point_weight) * terms[name]()
                     for name, weight in w.items())
        if step <= scene.force_steps:
            energy = energy - point_weight * dt * (qdot * qdot.new_tensor(scene.force)).sum()
        return energy

    def contact_work(self, q: torch.Tensor, qdot: torch.Tensor) -> torch.Tensor:
        """``-dt sum qdot . f`` over points inside the disc, ``f = |q - c| (q - c)/|q - c|`` (weight
        applied by the caller)."""
        cx, cy, radius = self.scene.disc
        offset = q - q.new_tensor([cx, cy])
        dist = offset.norm(dim=-1, keepdim=True)
        inside = (dist < radius).squeeze(-1)
        force = offset  # |q - c| times the unit direction
        return -self.params.dt * (qdot[inside] * force[inside]).sum()

    # --------------------------------------------------------------------------- scoring
    def evaluate(self, prediction: xr.Dataset, reference: xr.Dataset) -> dict[str, float]:
        """Area ratios ``det(grad q)`` (mean and worst), penetration into the disc and, for
        ``stretch``, the mean error of the right edge's displacement, at the last predicted time."""
        pred = single_sample(prediction).isel(time=-1)
        x, y = np.meshgrid(pred["x"].values, pred["y"].values, indexing="ij")
        dx, dy = pred["displacement_x"].values, pred["displacement_y"].values
        h = (float(pred["x"][1] - pred["x"][0]), float(pred["y"][1] - pred["y"][0]))
        qx, qy = x + dx, y + dy
        det = np.gradient(qx, h[0], axis=0, edge_order=2) * np.gradient(
            qy, h[1], axis=1, edge_order=2
        ) - np.gradient(qx, h[1], axis=1, edge_order=2) * np.gradient(qy, h[0], axis=0, edge_order=2)
        cx, cy, radius = self.scene.disc
        depth = np.clip(radius - np.hypot(qx - cx, qy - cy), 0, None)
        out = {
            "final_mean_area_ratio": float(det.mean()),
            "final_min_area_ratio": float(det.min()),
            "final_max_area_ratio": float(det.max()),
            "final_time": float(pred["time"]),
        }
        if "contact" in self.scene.weights:
            out["final_penetration"] = float(depth.max())
            out["final_centroid_y"] = float(qy.mean())
        if "fix_right" in self.scene.weights:
            target = np.asarray(self.scene.right_offset)
            right = np.stack([dx[-1], dy[-1]], -1)
            out["final_right_edge_error"] = float(np.linalg.norm(right - target, axis=-1).mean())
        return out
