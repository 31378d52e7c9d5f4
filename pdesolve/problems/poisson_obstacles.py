"""Pressure-projection-like Poisson systems on 2-D/3-D cell grids with solid obstacles.

The PDE is ``-lap p = f`` on the unit box ``[0, 1]^d`` with ``N`` cells per side (``h = 1/N``),
discretised by the cell-centred 5-point (2-D) or 7-point (3-D) stencil and scaled by ``h^2``::

    (A p)_i = sum over the 2d faces of cell i of  w_f p_i  -  sum over fluid neighbours j of  p_j

with face weight ``w_f`` = 1 towards a fluid neighbour, 0 at a solid cell or a Neumann wall (no
flux), and 2 at a Dirichlet face (``p = 0`` on the face, ghost value ``-p_i``). Two protocols:

``protocol: geometries`` (the default) -- every sample its own geometry (``geometry``):

* ``obstacles`` -- random solid balls and boxes; Neumann at the solids and on every wall except
  the top face (last axis, high end), which is Dirichlet (an open boundary). With
  ``open_top = false`` the container is closed and every fluid component is singular.
* ``box`` -- no obstacles, Dirichlet on every face (the textbook SPD system).

With ``container_sizes`` (obstacles only) the samples hold systems of several sizes on one grid:
sample ``i``'s fluid is a box of ``container_sizes[i % len]`` cells per side at the low end of the
first axes and against the open top, the rest of the grid solid, with the obstacles of that size's
own geometry inside. Its matrix is exactly that smaller problem's (the stencil is scaled by
``h^2``), so a network trained on such data (with ``geometry_input`` it sees the container in the
mask) has been trained across sizes.

``protocol: paper`` -- Kaneda et al.'s: ONE geometry, one matrix shared by every sample: the
open-top box (Neumann walls, Dirichlet top face), empty or with a centred solid sphere/disc
(``paper_obstacle``, ``paper_sphere_radius``); the training vectors of every sample are
combinations of the Ritz vectors of that one matrix. Fields of one protocol given with the other
are rejected.

**The matrix is rebuilt from the fluid mask alone** (plus the parameters above): `system` turns a
mask into a `GridSystem`, `stencil` into a batched matrix-free torch operator with the same
entries. Fluid cells with no fluid neighbour and no Dirichlet face would have empty rows; the
generator turns them into solids, so the mask is exactly the set of unknowns. Components of
fluid that touch no Dirichlet face are singular (null vector: constant on the component);
right-hand sides are projected onto the range (per-component mean removed).

Generated data per sample (see docs/backends/dcdm.md): the mask ``fluid``, a test right-hand side
``rhs`` (minus the discrete divergence of a smooth random velocity field with no flux through
solids and walls, projected, unit norm) and ``training_rhs``, DCDM's training vectors: random
combinations of Lanczos Ritz vectors of the sample's matrix (`ritz_vectors`), the lowest modes
weighted up (`combine_ritz`; Kaneda et al. 2023, ``datasetcreate.py``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal, NamedTuple

import numpy as np
import scipy.sparse as sp
import torch
import xarray as xr
from pydantic import Field, ValidationInfo, field_validator, model_validator
from scipy.linalg import eigh_tridiagonal

from pdesolve.data.fields import FieldSpec
from pdesolve.data.grid import Grid
from pdesolve.data.tensors import grid_coords
from pdesolve.errors import UserError
from pdesolve.limits import MemoryEstimate, Size
from pdesolve.numerics.grid_systems import GridSystem, SolveReport
from pdesolve.numerics.krylov import Operator
from pdesolve.numerics.preconditioners import IncompleteCholesky, SmoothedAggregationAMG
from pdesolve.numerics.random_fields import sample_seed
from pdesolve.problems.base import Problem, ProblemParams
from pdesolve.progress import make_progress

RITZ_NULL = 1e-8  # Ritz values below this (relative to the largest) are null-space modes


GEOMETRIES_FIELDS = ("geometry", "open_top", "obstacles", "obstacle_size", "container_sizes")  # geometries only
PAPER_FIELDS = ("paper_obstacle", "paper_sphere_radius")                   # protocol: paper only
GEOMETRIES_DEFAULTS = {"geometry": "obstacles", "open_top": True, "obstacles": (1, 4), "obstacle_size": (0.06, 0.18)}
PAPER_DEFAULTS = {"paper_obstacle": "none"}


def container_region(shape: tuple[int, ...], inner: int) -> tuple[slice, ...]:
    """Where a container of ``inner`` cells per side sits in a grid of ``shape`` (``container_sizes``):
    the low end of the first axes and the top (the open face) of the last."""
    return (slice(0, inner),) * (len(shape) - 1) + (slice(shape[-1] - inner, None),)


class PoissonObstaclesParams(ProblemParams):
    ndim: Literal[2, 3] = Field(2, description="2-D (5-point) or 3-D (7-point) grid")
    resolution: int = Field(64, ge=4, description="cells per side of the unit box")
    protocol: Literal["geometries", "paper"] = Field(
        "geometries", description="geometries: a random geometry per sample; paper: Kaneda et al.'s one "
                                  "geometry (one matrix, Ritz-vector right-hand sides of it)")
    geometry: Literal["obstacles", "box"] | None = Field(
        None, description="geometries: random solids with an open top, or a plain all-Dirichlet box "
                          "(default obstacles)")
    open_top: bool | None = Field(None, description="geometries, obstacles: Dirichlet top face (false: closed, "
                                                    "singular; default true)")
    obstacles: tuple[int, int] | None = Field(
        None, description="geometries: min and max number of solid obstacles (default [1, 4])")
    obstacle_size: tuple[float, float] | None = Field(
        None, description="geometries: min and max obstacle radius / half-width, in box lengths "
                          "(default [0.06, 0.18])")
    container_sizes: list[int] | None = Field(
        None, description="geometries, obstacles: sample i's fluid is a box of container_sizes[i % len] cells "
                          "per side against the open top, the rest solid (systems of several sizes on one "
                          "grid); null: the whole grid")
    paper_obstacle: Literal["none", "sphere"] | None = Field(
        None, description="paper: the open-top box empty, or with a centred solid sphere (disc in 2-D); "
                          "default none")
    paper_sphere_radius: float | None = Field(
        None, gt=0, lt=0.5, description="paper, sphere: its radius in box lengths (default 0.2)")
    lanczos_steps: int = Field(200, ge=4, description="Lanczos steps (Ritz vectors) per system")
    rhs_per_system: int = Field(16, ge=1, description="training right-hand sides per system")
    low_mode_fraction: float = Field(
        0.55, gt=0, le=1, description="fraction of Ritz vectors (lowest first) weighted up; "
                                      "reference: (m/2 + 500)/m with m = 10,000")
    low_mode_weight: float = Field(9.0, ge=1, description="weight of the low modes' coefficients")

    @field_validator(*GEOMETRIES_FIELDS, *PAPER_FIELDS)
    @classmethod
    def _of_the_protocol(cls, value, info: ValidationInfo):
        protocol = info.data.get("protocol", "geometries")
        owner = "paper" if info.field_name in PAPER_FIELDS else "geometries"
        if value is not None and protocol != owner:
            raise ValueError(f"only with protocol: {owner} (this case has protocol: {protocol})")
        if info.field_name == "paper_sphere_radius" and value is not None \
                and info.data.get("paper_obstacle") != "sphere":
            raise ValueError("only with paper_obstacle: sphere")
        return value

    @model_validator(mode="after")
    def _ranges(self):
        """The protocol's defaults filled in, then the geometries' ranges checked."""
        own = GEOMETRIES_DEFAULTS if self.protocol == "geometries" else PAPER_DEFAULTS
        for name, value in own.items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        if self.protocol == "paper":
            if self.paper_obstacle == "sphere" and self.paper_sphere_radius is None:
                self.paper_sphere_radius = 0.2
            return self
        if not 0 <= self.obstacles[0] <= self.obstacles[1]:
            raise ValueError("obstacles must be (min, max) with 0 <= min <= max")
        if not 0 < self.obstacle_size[0] <= self.obstacle_size[1] < 0.5:
            raise ValueError("obstacle_size must be (min, max) with 0 < min <= max < 0.5")
        if self.container_sizes is not None:
            if self.geometry != "obstacles" or not self.open_top:
                raise ValueError("container_sizes needs geometry: obstacles with open_top: true (the container "
                                 "is open at the top face)")
            bad = [n for n in self.container_sizes if not 4 <= n <= self.resolution or (self.resolution - n) % 2]
            if not self.container_sizes or bad:
                raise ValueError(f"container_sizes must be a non-empty list of cells per side from 4 to the "
                                 f"resolution ({self.resolution}), each differing from it by an even number "
                                 f"(the pooling's 2-cell alignment); got {self.container_sizes}")
        return self


FLUID = FieldSpec("fluid", "1", "fluid cell flag (1 fluid unknown, 0 solid)")
RHS = FieldSpec("rhs", "1", "test right-hand side: -h^2 times the divergence of a random velocity, unit norm")
TRAINING_RHS = FieldSpec("training_rhs", "1",
                         "DCDM training right-hand side (Ritz-vector combination, unit norm)")
SOLUTION = FieldSpec("solution", "1", "solution x of A x = rhs")
RESIDUAL = FieldSpec("residual", "1", "relative residual ||b - A x_i|| / ||b|| after iteration i")


# ------------------------------------------------------------------------------ the stencil
def face_coefficients(fluid: np.ndarray, dirichlet: Sequence[tuple[int, int]]
                      ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Diagonal and neighbour links of the scaled cell-centred Laplacian on a mask.

    Args:
        fluid: boolean grid ``(*shape)``.
        dirichlet: Dirichlet faces of the box as ``(axis, side)``, side 0 = low, 1 = high end.

    Returns:
        ``diagonal (*shape)`` (0 on solids) and, per axis ``d``, ``links[d]`` of shape ``shape``
        with ``shape[d] - 1`` along ``d``: 1.0 between two fluid cells, else 0.
    """
    f = fluid.astype(np.float64)
    diagonal = np.zeros_like(f)
    links = []
    for d in range(fluid.ndim):
        lo = [slice(None)] * fluid.ndim
        hi = [slice(None)] * fluid.ndim
        lo[d], hi[d] = slice(None, -1), slice(1, None)
        link = f[tuple(lo)] * f[tuple(hi)]
        diagonal[tuple(lo)] += link
        diagonal[tuple(hi)] += link
        links.append(link)
    for d, side in dirichlet:
        edge = [slice(None)] * fluid.ndim
        edge[d] = -1 if side else 0
        diagonal[tuple(edge)] += 2.0 * f[tuple(edge)]
    return diagonal, links


def assemble(diagonal: np.ndarray, links: list[np.ndarray]) -> sp.csr_matrix:
    """The full-grid CSR matrix (``prod(shape)`` rows, C order) of `face_coefficients`."""
    shape = diagonal.shape
    index = np.arange(diagonal.size).reshape(shape)
    rows, cols, vals = [index.ravel()], [index.ravel()], [diagonal.ravel()]
    for d, link in enumerate(links):
        lo = [slice(None)] * diagonal.ndim
        hi = [slice(None)] * diagonal.ndim
        lo[d], hi[d] = slice(None, -1), slice(1, None)
        on = link.ravel() != 0
        i, j = index[tuple(lo)].ravel()[on], index[tuple(hi)].ravel()[on]
        rows += [i, j]
        cols += [j, i]
        vals += [-link.ravel()[on], -link.ravel()[on]]
    a = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(diagonal.size, diagonal.size)).tocsr()
    a.eliminate_zeros()
    return a


@dataclass
class PoissonStencil:
    """Matrix-free, batched form of the same operator (torch, any device).

    Attributes:
        diagonal: ``(b, *shape)``.
        links: per axis ``d``: ``(b, *shape)`` with ``shape[d] - 1`` along ``d``.
    """

    diagonal: torch.Tensor
    links: tuple[torch.Tensor, ...]

    def matvec(self, u: torch.Tensor) -> torch.Tensor:
        """``A u`` for ``u`` of shape ``(b, *shape)`` or ``(b, 1, *shape)`` (same shape out)."""
        squeeze = u.ndim == self.diagonal.ndim + 1
        v = u[:, 0] if squeeze else u
        out = self.diagonal * v
        for d, link in enumerate(self.links):
            axis = d + 1
            n = v.shape[axis]
            lo, hi = v.narrow(axis, 0, n - 1), v.narrow(axis, 1, n - 1)
            out.narrow(axis, 0, n - 1).sub_(link * hi)
            out.narrow(axis, 1, n - 1).sub_(link * lo)
        return out.unsqueeze(1) if squeeze else out

    def select(self, index: torch.Tensor) -> PoissonStencil:
        """The stencils of a subset of the batch."""
        return PoissonStencil(self.diagonal[index], tuple(link[index] for link in self.links))

    def to(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> PoissonStencil:
        return PoissonStencil(self.diagonal.to(device, dtype), tuple(x.to(device, dtype) for x in self.links))


# ------------------------------------------------------------------------------ Ritz vectors
class Ritz(NamedTuple):
    """Ritz pairs of a symmetric matrix, ascending: ``values (k,)`` and ``vectors (k, m)`` (float64,
    orthonormal rows on the system's active cells)."""

    values: np.ndarray
    vectors: torch.Tensor


def ritz_vectors(system: GridSystem, steps: int, rng: np.random.Generator) -> Ritz:
    """The Ritz pairs of ``steps`` Lanczos steps on ``system``'s matrix (fewer if an invariant
    subspace is found), started from ``A g`` with ``g`` Gaussian, projected onto the range; full
    reorthogonalisation (twice per step) against the whole basis."""
    a = system.matrix
    steps = min(steps, system.size)
    basis = torch.zeros((steps, system.size), dtype=torch.float64)  # torch: its BLAS threads behave
    alpha, beta = np.zeros(steps), np.zeros(steps)                  # on a shared CPU, NumPy's spin
    v = system.project(torch.from_numpy(a @ rng.standard_normal(system.size)))
    basis[0] = v / torch.linalg.vector_norm(v)
    m = steps
    for j in range(steps):
        w = torch.from_numpy(a @ basis[j].numpy())
        alpha[j] = float(basis[j] @ w)
        for _ in range(2):
            w = w - basis[: j + 1].T @ (basis[: j + 1] @ w)
        if j + 1 == steps:
            break
        beta[j] = float(torch.linalg.vector_norm(w))
        if beta[j] <= 1e-10 * abs(alpha[j]):  # invariant subspace found
            m = j + 1
            break
        basis[j + 1] = w / beta[j]
    values, vectors = eigh_tridiagonal(alpha[:m], beta[: m - 1])
    return Ritz(values, torch.from_numpy(vectors.T.copy()) @ basis[:m])


# ------------------------------------------------------------------------ classical baselines
class LinearBaseline:
    """A classical Krylov method for `pdesolve compare` on ``linear`` problems.

    It follows the protocol of `pdesolve.numerics.grid_systems.solve_with`: ``prepare(system)``
    (the timed setup) returns the direction generator ``r -> z``, used with ``orthogonalize = 1``
    (preconditioned CG). Vectors live on the CPU.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    orthogonalize: ClassVar[int] = 1
    device = torch.device("cpu")

    def prepare(self, system: GridSystem) -> Operator:
        raise NotImplementedError


class ConjugateGradient(LinearBaseline):
    name = "cg"
    description = "conjugate gradients (no preconditioner)"

    def prepare(self, system):
        return lambda r: r


class IncompleteCholeskyPCG(LinearBaseline):
    name = "ic_pcg"
    description = "CG preconditioned by incomplete Cholesky IC(0)"

    def prepare(self, system):
        factor = IncompleteCholesky(system.matrix)
        return lambda r: torch.from_numpy(factor(r.numpy()))


class AlgebraicMultigridPCG(LinearBaseline):
    name = "amg_pcg"
    description = "CG preconditioned by one smoothed-aggregation AMG V-cycle (PyAMG)"

    def prepare(self, system):
        amg = SmoothedAggregationAMG(system.matrix)
        return lambda r: torch.from_numpy(amg(r.numpy()))


LINEAR_BASELINES: dict[str, type[LinearBaseline]] = {
    cls.name: cls for cls in (ConjugateGradient, IncompleteCholeskyPCG, AlgebraicMultigridPCG)}


# ---------------------------------------------------------------------------- the problem
class PoissonObstacles(Problem, name="poisson_obstacles"):
    """Families of pressure-Poisson systems on random obstacle geometries (task ``linear``)."""

    Params = PoissonObstaclesParams
    params: PoissonObstaclesParams
    task = "linear"
    description = "cell-centred 5/7-point Poisson systems with random solid obstacles (pressure projection)"
    fields = {s.name: s for s in (FLUID, RHS, TRAINING_RHS, SOLUTION)}

    # ------------------------------------------------------------------- geometry and systems
    def grid(self, resolution: int | None = None) -> Grid:
        """The unit box with ``resolution`` (default: the parameter) cells per side."""
        return Grid.uniform(self.params.ndim, resolution or self.params.resolution, layout="cells")

    def memory_estimates(self, n, resolution, batch_size):
        """The stored data (per sample: fluid mask, test right-hand side and training vectors, float64
        while generating) and one system's Lanczos basis (``lanczos_steps`` vectors on the grid)."""
        side = resolution if isinstance(resolution, int) else self.params.resolution
        cells = Size("data.resolution" if isinstance(resolution, int) else "problem.resolution", "grid cells",
                     side ** self.params.ndim)
        return [
            MemoryEstimate("the reference data", [
                Size("data.n_train", "samples (n_train + n_val + n_test)", n),
                Size("problem.rhs_per_system", "vectors (training + test + mask)", self.params.rhs_per_system + 2),
                cells], 8),
            MemoryEstimate("one system's Lanczos vectors", [
                Size("problem.lanczos_steps", "vectors", self.params.lanczos_steps), cells], 8),
        ]

    @property
    def dirichlet_faces(self) -> list[tuple[int, int]]:
        """Dirichlet faces as ``(axis, side)``."""
        d = self.params.ndim
        if self.params.geometry == "box":
            return [(axis, side) for axis in range(d) for side in (0, 1)]
        return [(d - 1, 1)] if self.params.protocol == "paper" or self.params.open_top else []

    def fluid_mask(self, seed: int, index: int, resolution: int | None = None) -> np.ndarray:
        """The boolean fluid mask of sample ``index`` (depends only on ``seed`` and ``index``; under
        ``protocol: paper`` on neither: the one geometry). With ``container_sizes``: the geometry of
        ``index`` at its container's size, embedded at the low end of the first axes and the top of
        the last, the rest solid."""
        grid = self.grid(resolution)
        sizes = self.params.container_sizes
        if sizes is not None:
            inner = sizes[index % len(sizes)]
            if inner > grid.shape[0] or (grid.shape[0] - inner) % 2:
                raise UserError(f"container size {inner} does not fit a {grid.shape[0]}-cell grid with an even "
                                "margin", field="data.resolution")
            fluid = np.zeros(grid.shape, bool)
            fluid[container_region(grid.shape, inner)] = self._geometry(seed, index, self.grid(inner))
        else:
            fluid = self._geometry(seed, index, grid)
        diagonal, _ = face_coefficients(fluid, self.dirichlet_faces)
        return fluid & (diagonal > 0)

    def _geometry(self, seed: int, index: int, grid: Grid) -> np.ndarray:
        """The fluid of sample ``index`` on ``grid`` before empty rows are removed."""
        fluid = np.ones(grid.shape, bool)
        if self.params.protocol == "paper":
            if self.params.paper_obstacle == "sphere":
                fluid &= sum((x - 0.5) ** 2 for x in grid.mesh()) > self.params.paper_sphere_radius ** 2
        elif self.params.geometry == "obstacles":
            rng = np.random.default_rng(sample_seed(seed, index, "geometry"))
            centres = grid.mesh()
            lo, hi = self.params.obstacles
            for _ in range(int(rng.integers(lo, hi + 1))):
                c = rng.uniform(0.0, 1.0, grid.ndim)
                size = rng.uniform(*self.params.obstacle_size)
                offsets = [x - ci for x, ci in zip(centres, c, strict=True)]
                if rng.random() < 0.5:
                    solid = sum(o**2 for o in offsets) <= size**2
                else:
                    half = size * rng.uniform(0.5, 1.5, grid.ndim)
                    inside = [np.abs(o) <= w for o, w in zip(offsets, half, strict=True)]
                    solid = np.logical_and.reduce(inside)
                fluid &= ~solid
        return fluid

    def system(self, fluid: np.ndarray) -> GridSystem:
        """The `GridSystem` of a fluid mask."""
        diagonal, links = face_coefficients(np.asarray(fluid, bool), self.dirichlet_faces)
        return GridSystem.from_matrix(assemble(diagonal, links), diagonal.shape, check_symmetry=False)

    def stencil(self, fluid: np.ndarray) -> PoissonStencil:
        """The batched torch operator of masks ``(b, *shape)`` (float32, CPU)."""
        parts = [face_coefficients(np.asarray(m, bool), self.dirichlet_faces) for m in fluid]
        diagonal = torch.as_tensor(np.stack([p[0] for p in parts]), dtype=torch.float32)
        links = tuple(torch.as_tensor(np.stack([p[1][d] for p in parts]), dtype=torch.float32)
                      for d in range(fluid.ndim - 1))
        return PoissonStencil(diagonal, links)

    def systems(self, ds: xr.Dataset) -> list[GridSystem]:
        """The systems of every sample of a dataset made by `generate`."""
        return [self.system(m) for m in ds[FLUID.name].values.astype(bool)]

    def right_hand_sides(self, ds: xr.Dataset, systems: list[GridSystem]) -> list[np.ndarray]:
        """The test right-hand side of every sample, on its active cells (float64)."""
        return [s.gather(np.asarray(b, np.float64))
                for s, b in zip(systems, ds[RHS.name].values, strict=True)]

    # ------------------------------------------------------------------------ right-hand sides
    def divergence_rhs(self, system: GridSystem, rng: np.random.Generator) -> np.ndarray:
        """``-h^2 div u`` on the active cells for a smooth random cell-centred velocity ``u``
        (face values averaged; zero flux through solids and Neumann walls), projected, unit norm."""
        fluid = system.mask
        shape = fluid.shape
        k2 = sum(np.meshgrid(*[np.fft.fftfreq(n, 1.0 / n) ** 2 for n in shape], indexing="ij"))
        spectrum = (k2 + 4.0) ** -1.5
        open_faces = set(self.dirichlet_faces)
        div = np.zeros(shape)
        for d in range(len(shape)):
            u = np.real(np.fft.ifftn(spectrum * np.fft.fftn(rng.standard_normal(shape))))
            flux_shape = list(shape)
            flux_shape[d] += 1
            flux = np.zeros(flux_shape)
            lo = [slice(None)] * len(shape)
            hi = [slice(None)] * len(shape)
            lo[d], hi[d] = slice(None, -1), slice(1, None)
            inner = [slice(None)] * len(shape)
            inner[d] = slice(1, -1)
            both = fluid[tuple(lo)] & fluid[tuple(hi)]
            flux[tuple(inner)] = np.where(both, 0.5 * (u[tuple(lo)] + u[tuple(hi)]), 0.0)
            for side in (0, 1):
                if (d, side) in open_faces:
                    edge = [slice(None)] * len(shape)
                    edge[d] = -1 if side else 0
                    flux[tuple(edge)] = np.where(fluid[tuple(edge)], u[tuple(edge)], 0.0)
            div += flux[tuple(hi)] - flux[tuple(lo)]
        b = system.project(torch.from_numpy(system.gather(-div))).numpy()
        return b / np.linalg.norm(b)

    def training_vectors(self, system: GridSystem, count: int, rng: np.random.Generator) -> np.ndarray:
        """``count`` unit-norm training right-hand sides of one system, ``(count, m)``:
        `combine_ritz` of its `ritz_vectors` (`lanczos_steps` steps)."""
        return self.combine_ritz(ritz_vectors(system, self.params.lanczos_steps, rng), count, rng)

    def combine_ritz(self, ritz: Ritz, count: int, rng: np.random.Generator) -> np.ndarray:
        """``count`` unit-norm random combinations of Ritz vectors, ``(count, m)``: null-space modes
        (Ritz values below `RITZ_NULL` times the largest) dropped, coefficients N(0, 1), times
        `low_mode_weight` for the lowest `low_mode_fraction` of all the Ritz vectors (the reference's
        ``m/2 + theta`` of ``m``, counted from the lowest non-null one)."""
        keep = ritz.values > RITZ_NULL * ritz.values.max()
        vectors = ritz.vectors[torch.from_numpy(keep)]
        coeffs = torch.from_numpy(rng.standard_normal((count, vectors.shape[0])))
        coeffs[:, : int(round(self.params.low_mode_fraction * len(ritz.values)))] *= self.params.low_mode_weight
        b = (coeffs @ vectors).numpy()
        return b / np.linalg.norm(b, axis=1, keepdims=True)

    # ------------------------------------------------------------------------------ data
    def recipe(self, n, seed, resolution):
        return super().recipe(n, seed, resolution or self.params.resolution)

    def generate(self, n, seed, *, resolution=None, device="cpu", batch_size=32):
        """``n`` samples (geometry, test right-hand side, training vectors); CPU/NumPy, float64.
        Under ``protocol: paper`` every sample has the one geometry, and its training vectors combine
        the Ritz vectors of that one matrix (one Lanczos run for all samples).

        ``resolution`` (an int) overrides the parameter; ``device`` and ``batch_size`` are unused.
        """
        if resolution is not None and not isinstance(resolution, int):
            raise UserError("expected one integer (cells per side) for this problem", field="data.resolution")
        grid = self.grid(resolution)
        masks, rhs, vectors = [], [], []
        shared = None  # protocol paper: the one geometry's system and Ritz pairs
        if self.params.protocol == "paper":
            mask = self.fluid_mask(seed, 0, resolution)
            system = self.system(mask)
            shared = ritz_vectors(system, self.params.lanczos_steps,
                                  np.random.default_rng(sample_seed(seed, 0, "ritz")))
        with make_progress() as bar:
            task = bar.add_task(f"generate {self.name}", total=n, status="")
            for i in range(n):
                if shared is None:
                    mask = self.fluid_mask(seed, i, resolution)
                    system = self.system(mask)
                rng = np.random.default_rng(sample_seed(seed, i, "rhs"))
                masks.append(mask)
                rhs.append(system.scatter(self.divergence_rhs(system, rng)))
                count = self.params.rhs_per_system
                own = self.training_vectors(system, count, rng) if shared is None \
                    else self.combine_ritz(shared, count, rng)
                vectors.append(np.stack([system.scatter(v) for v in own]))
                bar.advance(task)
        return self.to_dataset(np.stack(masks), np.stack(rhs), np.stack(vectors), grid,
                               seed=seed, recipe=self.recipe(n, seed, resolution))

    def to_dataset(self, fluid: np.ndarray, rhs: np.ndarray, vectors: np.ndarray, grid: Grid, *,
                   seed: int, recipe: dict) -> xr.Dataset:
        dims = ("sample", *grid.names)
        data = {
            FLUID.name: xr.Variable(dims, fluid.astype(np.int8), {
                **FLUID.attrs(), "flag_values": np.array([0, 1], np.int8), "flag_meanings": "solid fluid"}),
            RHS.name: xr.Variable(dims, rhs.astype(np.float32), RHS.attrs()),
            TRAINING_RHS.name: xr.Variable(("sample", "vector", *grid.names), vectors.astype(np.float32),
                                           TRAINING_RHS.attrs()),
        }
        coords = {**grid_coords(grid), "vector": xr.Variable(("vector",), np.arange(vectors.shape[1]),
                                                             {"long_name": "training vector index"})}
        attrs = self.dataset_attrs(
            source="cell-centred Laplacian assembled from the fluid mask; Lanczos Ritz vectors",
            title=f"{self.name} systems", recipe=recipe, seed=seed,
            matrix=("A p = sum_faces w_f p_i - sum_fluid_neighbours p_j, w_f = 1 (fluid neighbour), "
                    "0 (solid or Neumann wall), 2 (Dirichlet face); rebuilt from `fluid` and the "
                    "protocol/geometry/open_top parameters"),
            dirichlet_faces=json.dumps(self.dirichlet_faces))
        return xr.Dataset(data, coords=coords, attrs=attrs)

    def baselines(self) -> dict[str, LinearBaseline]:
        return {name: cls() for name, cls in LINEAR_BASELINES.items()}


def reports_dataset(reports: list[SolveReport], grid: Grid) -> xr.Dataset:
    """Solves of a list of samples as a dataset.

    Variables: ``solution(sample, x, y[, z])`` (x of A x = b) float64 (0 on solids);
    ``residual(sample, iteration)``
    (NaN after the last iteration); per sample ``iterations``, ``converged`` (0/1), ``matvecs``,
    ``direction_calls`` (network or preconditioner applications), ``setup_seconds``,
    ``solve_seconds`` and ``true_residual`` (recomputed ``||b - A x|| / ||b||``).
    """
    length = max(len(r.residuals) for r in reports)
    history = np.full((len(reports), length), np.nan)
    for i, r in enumerate(reports):
        history[i, : len(r.residuals)] = r.residuals
    per_sample = {
        "iterations": ([r.result.iterations for r in reports], "iterations done"),
        "converged": ([int(r.result.converged) for r in reports], "reached the tolerance (1) or not (0)"),
        "matvecs": ([r.result.matvecs for r in reports], "matrix-vector products"),
        "direction_calls": ([r.result.direction_calls for r in reports],
                            "network or preconditioner applications"),
        "setup_seconds": ([r.setup_seconds for r in reports], "setup wall time"),
        "solve_seconds": ([float(r.result.seconds[-1]) for r in reports], "iteration wall time"),
        "true_residual": ([r.result.true_residual for r in reports], "final ||b - A x|| / ||b||"),
    }
    data = {
        SOLUTION.name: xr.Variable(("sample", *grid.names), np.stack([r.x for r in reports]),
                                   SOLUTION.attrs()),
        RESIDUAL.name: xr.Variable(("sample", "iteration"), history, RESIDUAL.attrs()),
        **{k: xr.Variable(("sample",), np.asarray(v),
                          {"units": "s" if "seconds" in k else "1", "long_name": text})
           for k, (v, text) in per_sample.items()},
    }
    coords = {**grid_coords(grid), "iteration": xr.Variable(("iteration",), np.arange(length),
                                                            {"long_name": "iteration", "units": "1"})}
    return xr.Dataset(data, coords=coords, attrs={"method": reports[0].method})
