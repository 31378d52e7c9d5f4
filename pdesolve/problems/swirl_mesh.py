"""A ring advected by a reversing swirl on the unit square, with Monge--Ampere meshes per time: the
time-dependent test of UM2N (Zhang et al., NeurIPS 2024, "swirl"), where the mesh must follow a
moving feature.

The field (UM2N's swirl set-up) is a ring ``u0 = exp(-(r - r0)^2 / (2 sigma^2))`` around
``center``, transported by ``v = alpha s(t) (sin^2(pi x) sin(2 pi y), -sin^2(pi y) sin(2 pi x))``
with ``s = 1`` before ``t_end / 2`` and ``-1`` after (the ring winds into a spiral, then unwinds
back onto itself at ``t_end``). ``v`` is tangential on the boundary, so the square maps onto itself.

Here the solution at time ``t`` is exact: ``u(x, t) = u0(X(0))`` with ``X`` the characteristic
through ``x`` traced back to ``t = 0`` by RK4 (steps of at most ``characteristic_step``, exact at
the reversal). UM2N instead advects with DG1 on the moving mesh; here the error of a mesh is the
L2 error of the P1 interpolant of ``u(., t)`` against the exact field on a fine mesh
(``reference_mesh_size``), so a mesh is judged by how well it resolves the moving ring.

A sample is one time ``t ~ U(0, t_end)`` (per index and seed). Monitor, Monge--Ampere targets
(the monitor re-computed from the exact field on every iterate), held-out sets and the data layout
are those of `pdesolve.problems.helmholtz_mesh` (the monitor ``1 + alpha |H|^2 / max`` from the
weak Hessian of the nodal field, UM2N's Helmholtz monitor, so a Helmholtz-trained network reads the
same kind of inputs; UM2N's swirl monitor also takes the gradient and smooths -- see
docs/problems/swirl_mesh.md). Per-sample variables: ``time``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from pydantic import Field, model_validator

from pdesolve.data.fields import FieldSpec
from pdesolve.data.mesh import Mesh
from pdesolve.numerics.fem import P1Space, p1_space, probe_matrix
from pdesolve.numerics.meshing import mesh_with_holes
from pdesolve.numerics.random_fields import sample_seed
from pdesolve.problems.helmholtz_mesh import HelmholtzMesh, MeshMovementParams, SampleProblem


class SwirlMeshParams(MeshMovementParams):
    mesh_sizes: list[float] = Field([0.045], min_length=1, description="mesh edge lengths, used in turn "
                                    "(UM2N's swirl: lc 0.045)")
    ring_radius: float = Field(0.2, gt=0, lt=0.5, description="r0 of the initial ring")
    ring_width: float = Field(0.05, gt=0, description="sigma of the ring (UM2N: 0.05 / 3 with DG1 at lc 0.045)")
    center: tuple[float, float] = Field((0.25, 0.25), description="centre of the initial ring (UM2N's swirl solver; "
                                        "centred at (0.5, 0.5) the ring lies along the streamlines and barely moves)")
    swirl_alpha: float = Field(1.5, gt=0, description="velocity magnitude alpha")
    t_end: float = Field(1.0, gt=0, description="period: the swirl reverses at t_end / 2")
    characteristic_step: float = Field(0.005, gt=0, description="largest RK4 step of the characteristics")

    @model_validator(mode="after")
    def _square(self):
        if self.domain != "square":
            raise ValueError("the swirl is defined on the unit square: domain must be 'square'")
        if not all(0 < c < 1 for c in self.center):
            raise ValueError("center must lie inside the unit square")
        return self


@dataclass(frozen=True)
class SwirlSnapshot:
    """The advected ring at ``time``; evaluated by tracing characteristics back to ``t = 0``."""

    time: float
    params: SwirlMeshParams

    def velocity(self, x: np.ndarray) -> np.ndarray:
        """``v / (alpha s)`` at ``x (k, 2)``."""
        sx, sy = np.sin(np.pi * x[:, 0]), np.sin(np.pi * x[:, 1])
        return np.stack([sx**2 * np.sin(2 * np.pi * x[:, 1]), -(sy**2) * np.sin(2 * np.pi * x[:, 0])], 1)

    def departure(self, x: np.ndarray) -> np.ndarray:
        """Where the characteristic through ``x (k, 2)`` at ``time`` started at ``t = 0``."""
        p = self.params
        half = p.t_end / 2
        x = np.array(x, np.float64)
        # backwards in time: on (half, t] the velocity is -alpha v, on [0, min(t, half)] +alpha v
        for duration, sign in ((max(self.time - half, 0.0), 1.0), (min(self.time, half), -1.0)):
            steps = int(np.ceil(duration / p.characteristic_step))
            if not steps:
                continue
            dt = sign * p.swirl_alpha * duration / steps
            for _ in range(steps):
                k1 = self.velocity(x)
                k2 = self.velocity(x + 0.5 * dt * k1)
                k3 = self.velocity(x + 0.5 * dt * k2)
                k4 = self.velocity(x + dt * k3)
                x = x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        return x

    def solution(self, x: np.ndarray) -> np.ndarray:
        """``u(x, time)`` at ``x (k, 2)``."""
        p = self.params
        x0 = self.departure(x)
        r = np.hypot(x0[:, 0] - p.center[0], x0[:, 1] - p.center[1])
        return np.exp(-((r - p.ring_radius) ** 2) / (2 * p.ring_width**2))


class ExactReference:
    """The exact field on a fine mesh, against which a mesh's nodal field is measured."""

    def __init__(self, fine: P1Space, snapshot: SwirlSnapshot):
        self.fine = fine
        self.u = snapshot.solution(fine.mesh.nodes)

    def error(self, mesh: Mesh, u: np.ndarray) -> float:
        """``|| I_h u - u ||_L2`` with the P1 function ``u`` on ``mesh`` evaluated at the fine nodes."""
        return self.fine.l2_norm(probe_matrix(mesh, self.fine.mesh.nodes) @ u - self.u)


class SwirlMesh(HelmholtzMesh, name="swirl_mesh"):
    """A ring in a reversing swirl: Hessian monitors and Monge--Ampere meshes at random times."""

    Params = SwirlMeshParams
    description = ("Ring advected by a reversing swirl on the unit square (exact, by characteristics): "
                   "Hessian monitor and Monge-Ampere moved meshes per time (UM2N's moving-feature test)")
    solver_name = "exact field by RK4 characteristics, P1 interpolation; Monge-Ampere relaxation mover"
    fields = {
        **HelmholtzMesh.fields,
        "solution": FieldSpec("solution", "1", "the advected ring at the nodes (exact)"),
    }
    statistics = {
        **HelmholtzMesh.statistics,
        "error_original": FieldSpec(
            "error_original", "1", "L2 error of the P1 interpolant on the original mesh vs the exact field"),
        "error_monge_ampere": FieldSpec(
            "error_monge_ampere", "1", "L2 error of the P1 interpolant on the Monge-Ampere mesh"),
    }
    params: SwirlMeshParams

    def source(self, seed: int, index: int, salt: str = "") -> SwirlSnapshot:
        """Sample ``index``: the time ``t ~ U(0, t_end)`` (depends only on ``seed``, ``index``, ``salt``)."""
        rng = np.random.default_rng(sample_seed(seed, index, f"swirl_mesh/time{salt}"))
        return SwirlSnapshot(round(float(rng.uniform(0, self.params.t_end)), 4), self.params)

    def solve(self, mesh: Mesh, source: SwirlSnapshot) -> np.ndarray:
        """The exact field at the nodes of ``mesh`` (its P1 interpolant)."""
        return source.solution(mesh.nodes)

    def reference(self, sample: SampleProblem) -> ExactReference:
        key = np.asarray(sample.polygon, np.float64).tobytes()
        if key not in self._fine:
            self._fine = {key: (p1_space(mesh_with_holes(sample.polygon, [], self.params.reference_mesh_size)),)}
        return ExactReference(self._fine[key][0], sample.source)

    def sources_dataset(self, sources: list[SwirlSnapshot]) -> xr.Dataset:
        return xr.Dataset({"time": xr.Variable(("sample",), np.array([s.time for s in sources]), {
            "units": "1", "long_name": "time of the snapshot (the swirl reverses at t_end / 2)"})})

    def stored_source(self, ds: xr.Dataset, i: int) -> SwirlSnapshot:
        return SwirlSnapshot(float(ds["time"].values[i]), self.params)
