"""Helmholtz problems on triangle meshes with Monge--Ampere moved meshes: UM2N's training data.

Each sample (Zhang et al., "Towards Universal Mesh Movement Networks", NeurIPS 2024, the
"anisotropic, full" Helmholtz set) is:

* a solution ``u = sum_i z_i exp(-(x - mx_i)^2 / sx_i^2 - (y - my_i)^2 / sy_i^2)`` with
  ``1 <= k <= max_gaussians`` Gaussians, ``z ~ U(0, 1)``, centres ``~ U(0, 1)^2``, widths
  ``~ max(N(width_mean, width_std), width_min)`` per axis, all rounded to 3 decimals;
* the P1 finite-element solution ``u_h`` (`pdesolve.numerics.fem`: numpy assembly, equal to
  scikit-fem's) of ``-lap u + u = f`` with ``f``
  manufactured from ``u`` and ``u_h = u`` on the boundary;
* the monitor ``m = 1 + monitor_alpha * q / max q``, ``q = |H(u_h)|_F^hessian_power`` with ``H``
  the weak P1 Hessian (boundary term with the full gradient), as in UM2N's data (``q / max q`` is
  stored as ``hessian_norm``);
* the Monge--Ampere moved mesh (`pdesolve.numerics.monge_ampere`, relaxation, re-solving the PDE
  on every iterate as UM2N's generator does) -- the training target and the classical baseline --
  with its iteration count, wall time, and the L2 errors of ``u_h`` on the original and on the
  moved mesh against a fine-mesh solution (``reference_mesh_size``) of the same problem.

Domains: the unit square, or UM2N's random polygons inscribed in it
(`pdesolve.numerics.meshing.random_square_polygon`), meshed by
`pdesolve.numerics.meshing.mesh_with_holes` (Delaunay, boundary edges on the polygon). Sample
``i`` uses ``mesh_sizes[i % len(mesh_sizes)]`` (UM2N: two gmsh sizes, 0.05 and 0.055).

Data layout: samples on their own meshes (`pdesolve.data.mesh_samples`, padded per sample),
node fields ``solution``, ``hessian_norm``, ``monitor``, ``target_x``, ``target_y`` (the MA mesh),
per-sample statistics, the Gaussians (``source_*(sample, gaussian)``, NaN-padded) and the domain
polygon (``polygon_x/y(sample, polygon_vertex)``), so every sample can be re-solved on any mesh
(`HelmholtzMesh.sample_problem`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import xarray as xr
from pydantic import Field, model_validator

from pdesolve.data.fields import FieldSpec
from pdesolve.data.mesh import Mesh
from pdesolve.data.mesh_samples import padded_dataset, sample_mesh
from pdesolve.errors import UserError
from pdesolve.numerics.fem import HessianRecovery, P1Space, ReactionDiffusion, p1_space, probe_matrix
from pdesolve.numerics.meshing import mesh_with_holes, random_square_polygon, rectangle
from pdesolve.numerics.monge_ampere import MongeAmpereMover, MongeAmpereResult, tangled_cells
from pdesolve.numerics.random_fields import sample_seed
from pdesolve.problems.base import Problem, ProblemParams
from pdesolve.progress import make_progress

Domain = Literal["square", "polygon"]
SOURCE_PARAMS = ("amplitude", "center_x", "center_y", "width_x", "width_y")


class MeshMovementParams(ProblemParams):
    """What every Monge--Ampere mesh-movement problem shares: meshes, monitor, mover, held-out sets."""

    domain: Domain = Field("square", description="training domain: the unit square or random polygons")
    mesh_sizes: list[float] = Field(
        [0.05, 0.055],
        min_length=1,
        description="mesh edge lengths, used in turn (data.resolution = 1/h overrides)",
    )
    reference_mesh_size: float = Field(0.01, gt=0.002, description="edge length of the fine reference mesh")
    monitor_alpha: float = Field(5.0, ge=0, description="monitor = 1 + alpha q / max q")
    hessian_power: Literal[1, 2] = Field(2, description="q = |H|_F^power (UM2N: 2)")
    pseudo_timestep: float = Field(0.1, gt=0, description="Monge-Ampere relaxation pseudo-timestep")
    rtol: float = Field(1e-3, gt=0, description="Monge-Ampere relative residual tolerance")
    maxiter: int = Field(500, ge=1, description="Monge-Ampere iteration cap")
    unseen_mesh_size: float = Field(0.04, gt=0, description="held-out resolution (not in mesh_sizes)")
    polygon_mesh_size: float | None = Field(
        None, gt=0, description="held-out polygons' edge length; null = mesh_sizes[0]"
    )

    @model_validator(mode="after")
    def _sizes(self):
        if any(not 0.005 <= h <= 0.5 for h in self.mesh_sizes):
            raise ValueError("mesh_sizes must lie in [0.005, 0.5]")
        if self.reference_mesh_size >= min(self.mesh_sizes + [self.unseen_mesh_size]):
            raise ValueError("reference_mesh_size must be finer than every mesh size")
        return self


class HelmholtzMeshParams(MeshMovementParams):
    max_gaussians: int = Field(6, ge=1, description="Gaussians per solution: uniform in 1 .. max_gaussians")
    width_mean: float = Field(0.25, gt=0)
    width_std: float = Field(1 / 6, ge=0)
    width_min: float = Field(0.125, gt=0, description="widths ~ max(N(width_mean, width_std), width_min)")


@dataclass(frozen=True)
class GaussianSum:
    """``u = sum_i amplitude_i exp(-(x - cx_i)^2 / wx_i^2 - (y - cy_i)^2 / wy_i^2)``; arrays ``(k,)``."""

    amplitude: np.ndarray
    center: np.ndarray  # (k, 2)
    width: np.ndarray  # (k, 2)

    def _terms(self, x, y):
        x, y = np.asarray(x)[..., None], np.asarray(y)[..., None]
        dx, dy = x - self.center[:, 0], y - self.center[:, 1]
        wx2, wy2 = self.width[:, 0] ** 2, self.width[:, 1] ** 2
        return self.amplitude * np.exp(-(dx**2) / wx2 - dy**2 / wy2), dx, dy, wx2, wy2

    def solution(self, x, y) -> np.ndarray:
        return self._terms(x, y)[0].sum(-1)

    def forcing(self, x, y) -> np.ndarray:
        """``-lap u + u``."""
        g, dx, dy, wx2, wy2 = self._terms(x, y)
        lap = g * (4 * dx**2 / wx2**2 - 2 / wx2 + 4 * dy**2 / wy2**2 - 2 / wy2)
        return (g - lap).sum(-1)


@dataclass
class SampleProblem:
    """One sample's PDE on its domain, solvable on any mesh of the domain."""

    source: GaussianSum
    polygon: np.ndarray


class Reference:
    """The fine-mesh solution of a sample, against which a mesh's ``u_h`` is measured."""

    def __init__(self, fine: P1Space, solver: ReactionDiffusion, source: GaussianSum):
        self.fine = fine
        nodes = fine.mesh.nodes
        self.u = solver.solve(source.forcing, source.solution(nodes[:, 0], nodes[:, 1]))

    def error(self, mesh: Mesh, u: np.ndarray) -> float:
        """``|| u_h - u_fine ||_L2`` with the P1 function ``u`` on ``mesh`` evaluated at the fine nodes."""
        return self.fine.l2_norm(probe_matrix(mesh, self.fine.mesh.nodes) @ u - self.u)


def is_tangled(mesh: Mesh) -> bool:
    """Whether ``mesh`` has degenerate cells or cells of both orientations (some inverted)."""
    v = mesh.signed_volumes()
    return bool((v == 0).any() or ((v > 0).any() and (v < 0).any()))


class MongeAmpereBaseline:
    """The classical mover: Monge--Ampere relaxation, re-solving the PDE on every iterate."""

    name = "monge_ampere"
    description = "Monge-Ampere mesh movement (relaxation, P1), the monitor re-computed on every iterate"

    def move(self, problem: HelmholtzMesh, mesh: Mesh, sample: SampleProblem) -> MongeAmpereResult:
        return problem.monge_ampere(mesh, sample.source)


class HelmholtzMesh(Problem, name="helmholtz_mesh"):
    """Helmholtz solutions on triangle meshes, their Hessian monitors and Monge--Ampere meshes."""

    Params = HelmholtzMeshParams
    task = "mesh"
    description = (
        "Helmholtz -lap u + u = f with anisotropic Gaussian solutions on unstructured meshes: "
        "Hessian monitor and Monge-Ampere moved meshes (UM2N data)"
    )
    solver_name = "P1 FEM (numpy assembly, checked against scikit-fem); Monge-Ampere relaxation mover"
    inputs: ClassVar[tuple[str, ...]] = ("monitor", "hessian_norm", "solution")
    targets: ClassVar[tuple[str, str]] = ("target_x", "target_y")
    fields = {
        "solution": FieldSpec("solution", "1", "P1 finite-element solution u_h on the original mesh"),
        "hessian_norm": FieldSpec("hessian_norm", "1", "|H(u_h)|_F^p / max |H(u_h)|_F^p (weak P1 Hessian)"),
        "monitor": FieldSpec("monitor", "1", "monitor 1 + alpha hessian_norm"),
        "target_x": FieldSpec("target_x", "1", "x of the node on the Monge-Ampere moved mesh"),
        "target_y": FieldSpec("target_y", "1", "y of the node on the Monge-Ampere moved mesh"),
    }
    statistics = {
        "mesh_size": FieldSpec("mesh_size", "1", "target edge length of the sample's mesh"),
        "error_original": FieldSpec(
            "error_original", "1", "L2 error of u_h on the original mesh vs the fine mesh"
        ),
        "error_monge_ampere": FieldSpec(
            "error_monge_ampere", "1", "L2 error of u_h on the Monge-Ampere mesh"
        ),
        "ma_iterations": FieldSpec("ma_iterations", "1", "Monge-Ampere relaxation iterations"),
        "ma_seconds": FieldSpec("ma_seconds", "s", "Monge-Ampere wall time (monitor re-solves included)"),
        "ma_converged": FieldSpec("ma_converged", "1", "1 if the Monge-Ampere residual reached rtol"),
        "ma_tangled": FieldSpec("ma_tangled", "1", "inverted cells of the Monge-Ampere mesh"),
    }
    params: HelmholtzMeshParams

    def __init__(self, params=None, *, source=None):
        super().__init__(params, source=source)
        self._meshes: dict[tuple, Mesh] = {}
        self._fine: dict[bytes, tuple[P1Space, ReactionDiffusion]] = {}

    # ---------------------------------------------------------------------- one sample
    def mesh_sizes(self, resolution: int | Sequence[int] | None) -> list[float]:
        if resolution is None:
            return list(self.params.mesh_sizes)
        if not isinstance(resolution, int) or resolution < 2:
            raise UserError(
                "expected one integer >= 2: mesh cells per unit length (h = 1/resolution)",
                field="data.resolution",
            )
        return [1.0 / resolution]

    def source(self, seed: int, index: int, salt: str = "") -> GaussianSum:
        """The Gaussians of sample ``index`` (depends only on ``seed``, ``index`` and ``salt``)."""
        p = self.params
        rng = np.random.default_rng(sample_seed(seed, index, f"helmholtz_mesh/source{salt}"))
        k = int(rng.integers(1, p.max_gaussians + 1))
        amplitude = np.round(rng.uniform(0, 1, k), 3)
        center = np.round(rng.uniform(0, 1, (k, 2)), 3)
        width = np.round(np.maximum(rng.normal(p.width_mean, p.width_std, (k, 2)), p.width_min), 3)
        return GaussianSum(amplitude, center, width)

    def domain_polygon(self, domain: Domain, seed: int, index: int, salt: str = "") -> np.ndarray:
        if domain == "square":
            return rectangle(0.0, 0.0, 1.0, 1.0)
        rng = np.random.default_rng(sample_seed(seed, index, f"helmholtz_mesh/polygon{salt}"))
        return random_square_polygon(rng)

    def mesh(self, polygon: np.ndarray, h: float) -> Mesh:
        """The mesh of ``polygon`` at edge length ``h`` (memoised: samples share meshes)."""
        key = (np.asarray(polygon, np.float64).tobytes(), float(h))
        if key not in self._meshes:
            self._meshes[key] = mesh_with_holes(polygon, [], h)
        return self._meshes[key]

    def solve(self, mesh: Mesh, source: GaussianSum) -> np.ndarray:
        """``u_h`` on ``mesh`` (nodal values)."""
        return ReactionDiffusion(p1_space(mesh)).solve(source.forcing, source.solution(*mesh.nodes.T))

    def monitor_fields(self, mesh: Mesh, source: GaussianSum) -> dict[str, np.ndarray]:
        """``solution``, ``hessian_norm`` and ``monitor`` at the nodes of ``mesh``."""
        space = p1_space(mesh)
        u = self.solve(mesh, source)
        q = (HessianRecovery(space, "full")(u) ** 2).sum(axis=(1, 2)) ** (self.params.hessian_power / 2)
        norm = q / max(float(q.max()), 1e-300)
        return {"solution": u, "hessian_norm": norm, "monitor": 1.0 + self.params.monitor_alpha * norm}

    def monge_ampere(self, mesh: Mesh, source: GaussianSum) -> MongeAmpereResult:
        """The Monge--Ampere moved mesh; the monitor is recomputed (PDE re-solved) on every iterate."""
        p = self.params
        mover = MongeAmpereMover(mesh, pseudo_timestep=p.pseudo_timestep, rtol=p.rtol, maxiter=p.maxiter)
        return mover.move(lambda x: self.monitor_fields(mesh.with_nodes(x), source)["monitor"])

    def reference(self, sample: SampleProblem) -> Reference:
        """The fine-mesh solution of ``sample`` (fine meshes and factorisations memoised per domain)."""
        key = np.asarray(sample.polygon, np.float64).tobytes()
        if key not in self._fine:
            space = p1_space(mesh_with_holes(sample.polygon, [], self.params.reference_mesh_size))
            self._fine = {key: (space, ReactionDiffusion(space))}  # keep one: polygons rarely repeat
        return Reference(*self._fine[key], sample.source)

    def errors(self, sample: SampleProblem, meshes: dict[str, Mesh]) -> dict[str, float]:
        """L2 error of ``u_h`` on each of ``meshes`` (of the sample's domain) against the fine-mesh
        solution, by name; NaN for a tangled mesh (cells of both orientations: no valid P1 space)."""
        reference = self.reference(sample)
        return {
            k: reference.error(m, self.solve(m, sample.source)) if not is_tangled(m) else float("nan")
            for k, m in meshes.items()
        }

    def mesh_errors(self, ds: xr.Dataset, i: int, moved: dict[str, Mesh]) -> dict[str, float]:
        """`errors` of sample ``i`` of ``ds`` on its original mesh (``"original"``) and on ``moved``."""
        return self.errors(self.sample_problem(ds, i), {"original": sample_mesh(ds, i), **moved})

    # -------------------------------------------------------------------------- datasets
    def samples(
        self,
        indices: Sequence[int],
        seed: int,
        *,
        mesh_sizes: Sequence[float],
        domain: Domain,
        salt: str = "",
        targets: bool = True,
        description: str = "generate",
    ) -> xr.Dataset:
        """Samples ``indices`` (no splits). ``targets``: also run the Monge--Ampere mover and store
        its mesh, statistics and the errors; without, only meshes, inputs and sources."""
        meshes, polygons, sources = [], [], []
        names = [*self.inputs, *(self.targets if targets else ())]
        fields: dict[str, list[np.ndarray]] = {n: [] for n in names}
        stats: dict[str, list[float]] = {n: [] for n in (self.statistics if targets else ("mesh_size",))}
        with make_progress() as bar:
            task = bar.add_task(f"{description} {self.name}", total=len(indices), status="")
            for j, i in enumerate(indices):
                h = float(mesh_sizes[j % len(mesh_sizes)])
                polygon = self.domain_polygon(domain, seed, int(i), salt)
                mesh, source = self.mesh(polygon, h), self.source(seed, int(i), salt)
                values = self.monitor_fields(mesh, source)
                stats["mesh_size"].append(h)
                if targets:
                    values.update(self._targets(mesh, SampleProblem(source, polygon), stats))
                for n in names:
                    fields[n].append(values[n])
                meshes.append(mesh)
                polygons.append(polygon)
                sources.append(source)
                bar.advance(task)
        attrs = self.dataset_attrs(source=self.solver_name, seed=seed, domain=domain)
        ds = padded_dataset(meshes, fields, self.fields, attrs)
        for n, values in stats.items():
            ds[n] = xr.Variable(("sample",), np.asarray(values), self.statistics[n].attrs())
        ds["sample_index"] = xr.Variable(
            ("sample",),
            np.asarray(indices, np.int64),
            {"long_name": "index of the sample in its seeded family", "units": "1"},
        )
        return ds.merge(self.sources_dataset(sources)).merge(_polygons_dataset(polygons))

    def sources_dataset(self, sources: list[GaussianSum]) -> xr.Dataset:
        """The samples' PDE parameters as per-sample variables (read back by `stored_source`)."""
        return _sources_dataset(sources, self.params.max_gaussians)

    def stored_source(self, ds: xr.Dataset, i: int) -> GaussianSum:
        """The Gaussians of sample ``i`` of a dataset made by `samples`."""
        k = int(np.isfinite(ds["source_amplitude"].values[i]).sum())
        v = {n: ds[f"source_{n}"].values[i, :k] for n in SOURCE_PARAMS}
        return GaussianSum(
            v["amplitude"],
            np.stack([v["center_x"], v["center_y"]], 1),
            np.stack([v["width_x"], v["width_y"]], 1),
        )

    def _targets(self, mesh: Mesh, sample: SampleProblem, stats: dict) -> dict[str, np.ndarray]:
        result = self.monge_ampere(mesh, sample.source)
        errors = self.errors(sample, {"original": mesh, "monge_ampere": mesh.with_nodes(result.nodes)})
        stats["error_original"].append(errors["original"])
        stats["error_monge_ampere"].append(errors["monge_ampere"])
        stats["ma_iterations"].append(result.iterations)
        stats["ma_seconds"].append(result.seconds)
        stats["ma_converged"].append(int(result.converged))
        stats["ma_tangled"].append(tangled_cells(mesh, result.nodes))
        return {"target_x": result.nodes[:, 0], "target_y": result.nodes[:, 1]}

    def recipe(self, n, seed, resolution):
        return {**super().recipe(n, seed, resolution), "mesh_sizes": self.mesh_sizes(resolution)}

    def generate(self, n, seed, *, resolution=None, device="cpu", batch_size=32):
        """``n`` samples on the training domain with Monge--Ampere targets (``device`` and
        ``batch_size`` do not apply: the FEM and the mover run on the CPU, one sample at a time)."""
        ds = self.samples(range(n), seed, mesh_sizes=self.mesh_sizes(resolution), domain=self.params.domain)
        recipe = self.recipe(n, seed, resolution)
        ds.attrs.update(self.recipe_attrs(recipe))
        return ds

    def held_out(self, n: int, seed: int, *, targets: bool = False) -> dict[str, xr.Dataset]:
        """Generalisation sets of ``n`` samples each, with their own random streams: the square at
        ``unseen_mesh_size`` (``"unseen_resolution"``) and random polygons (``"polygon"``)."""
        p = self.params
        return {
            "unseen_resolution": self.samples(
                range(n),
                seed,
                mesh_sizes=[p.unseen_mesh_size],
                domain="square",
                salt="/unseen",
                targets=targets,
                description="held-out",
            ),
            "polygon": self.samples(
                range(n),
                seed,
                mesh_sizes=[p.polygon_mesh_size or p.mesh_sizes[0]],
                domain="polygon",
                salt="/polygon",
                targets=targets,
                description="held-out",
            ),
        }

    def sample_problem(self, ds: xr.Dataset, i: int) -> SampleProblem:
        """The PDE of sample ``i`` of a dataset made by `samples` (its Gaussians and domain)."""
        source = self.stored_source(ds, i)
        m = int(ds["polygon_count"].values[i])
        polygon = np.stack([ds["polygon_x"].values[i, :m], ds["polygon_y"].values[i, :m]], axis=1)
        return SampleProblem(source, polygon)

    def baselines(self):
        return {MongeAmpereBaseline.name: MongeAmpereBaseline()}


def _sources_dataset(sources: list[GaussianSum], k_max: int) -> xr.Dataset:
    arr = np.full((len(SOURCE_PARAMS), len(sources), k_max), np.nan)
    for i, s in enumerate(sources):
        k = len(s.amplitude)
        arr[:, i, :k] = np.stack([s.amplitude, s.center[:, 0], s.center[:, 1], s.width[:, 0], s.width[:, 1]])
    return xr.Dataset(
        {
            f"source_{n}": xr.Variable(
                ("sample", "gaussian"),
                arr[j],
                {
                    "units": "1",
                    "long_name": f"{n.replace('_', ' ')} of each Gaussian of the solution (NaN = unused)",
                },
            )
            for j, n in enumerate(SOURCE_PARAMS)
        }
    )


def _polygons_dataset(polygons: list[np.ndarray]) -> xr.Dataset:
    m = max(len(p) for p in polygons)
    arr = np.full((2, len(polygons), m), np.nan)
    for i, p in enumerate(polygons):
        arr[:, i, : len(p)] = p.T
    return xr.Dataset(
        {
            "polygon_x": xr.Variable(
                ("sample", "polygon_vertex"),
                arr[0],
                {"units": "1", "long_name": "x of the domain polygon's vertices"},
            ),
            "polygon_y": xr.Variable(
                ("sample", "polygon_vertex"),
                arr[1],
                {"units": "1", "long_name": "y of the domain polygon's vertices"},
            ),
            "polygon_count": xr.Variable(
                ("sample",),
                np.array([len(p) for p in polygons], np.int32),
                {"units": "1", "long_name": "vertices of the domain polygon"},
            ),
        }
    )
