"""Sparse symmetric systems whose unknowns are the cells of a grid (pressure-Poisson-like).

A user's system is a matrix over the *whole* grid, ``n = prod(shape)`` rows in C order of the
grid indices (x slowest), in which cells that are not unknowns (solids, air) have empty rows and
columns. `GridSystem` keeps the compressed matrix over the active cells (rows with a non-zero
diagonal), maps vectors between the grid and the active cells, and knows the null space:

* a connected component of the matrix graph whose rows all sum to zero (a graph-Laplacian block:
  Neumann everywhere, no Dirichlet face) is *floating*; its null vector is the constant on it;
* `project` removes those constants (the per-component mean), which is how right-hand sides are
  made consistent and how search directions are kept in the range.
"""

from __future__ import annotations

import io
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch
from scipy.sparse.csgraph import connected_components

from pdesolve.data.netcdf import atomic_replace
from pdesolve.errors import UserError
from pdesolve.numerics.krylov import KrylovResult, Operator, conjugate_directions

ZERO_ROW_SUM = 1e-10  # relative to the largest diagonal entry


@dataclass
class GridSystem:
    """A symmetric sparse system on the active cells of a grid.

    Attributes:
        matrix: ``(m, m)`` CSR float64 over the active cells.
        shape: the grid shape; ``prod(shape)`` is the size of full-grid vectors.
        active: ``(m,)`` flat C-order grid indices of the active cells.
        floating: ``(m,)`` index of the floating component each active cell belongs to, -1 for
            cells coupled to a Dirichlet boundary.
    """

    matrix: sp.csr_matrix
    shape: tuple[int, ...]
    active: np.ndarray
    floating: np.ndarray

    @classmethod
    def from_matrix(cls, matrix, shape: tuple[int, ...] | list[int], *,
                    check_symmetry: bool = True) -> GridSystem:
        """Build from a full-grid matrix ``(prod(shape), prod(shape))``.

        Raises:
            UserError: wrong size, non-finite entries, a negative diagonal, no unknowns, not
                symmetric, or an empty row with non-empty column.
        """
        shape = tuple(int(s) for s in shape)
        n = int(np.prod(shape))
        a = sp.csr_matrix(matrix, dtype=np.float64)
        if a.shape != (n, n):
            raise UserError(f"matrix is {a.shape[0]}x{a.shape[1]}; expected {n}x{n} for a grid of "
                            f"shape {shape}")
        check_matrix_entries(a)
        if check_symmetry and abs(a - a.T).max() > 1e-12 * max(abs(a).max(), 1.0):
            raise UserError("matrix is not symmetric (expected an SPD or symmetric semi-definite system)")
        active = np.flatnonzero(a.diagonal() != 0.0)
        compressed = a[active][:, active].tocsr()
        if compressed.nnz != a.nnz:
            raise UserError("matrix couples cells that have a zero diagonal (expected empty rows and "
                            "columns for cells that are not unknowns)")
        compressed.sort_indices()
        return cls(compressed, shape, active, floating_components(compressed))

    @property
    def size(self) -> int:
        """Number of unknowns (active cells)."""
        return int(self.active.size)

    @property
    def singular(self) -> bool:
        return bool((self.floating >= 0).any())

    @property
    def mask(self) -> np.ndarray:
        """Boolean grid of the active cells, ``shape``."""
        m = np.zeros(int(np.prod(self.shape)), bool)
        m[self.active] = True
        return m.reshape(self.shape)

    # ------------------------------------------------------------------------ vectors
    def gather(self, grid_values: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Active-cell vector ``(m,)`` of a full-grid array ``(*shape)`` (or ``(..., *shape)``)."""
        lead = grid_values.shape[: grid_values.ndim - len(self.shape)]
        flat = grid_values.reshape(*lead, -1)
        if isinstance(flat, np.ndarray):
            return flat[..., self.active]
        index = torch.as_tensor(self.active, device=flat.device)
        return flat[..., index]

    def scatter(self, values: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Full-grid array ``(*shape)`` with ``values`` ``(m,)`` on the active cells and 0 elsewhere."""
        n = int(np.prod(self.shape))
        if isinstance(values, np.ndarray):
            out = np.zeros(n, values.dtype)
            out[self.active] = values
            return out.reshape(self.shape)
        out = values.new_zeros(n)
        out[torch.as_tensor(self.active, device=values.device)] = values
        return out.reshape(self.shape)

    def project(self, v: torch.Tensor) -> torch.Tensor:
        """``v`` minus its mean on each floating component (the orthogonal projection onto the range)."""
        if not self.singular:
            return v
        labels = torch.as_tensor(self.floating, device=v.device)
        inside = labels >= 0
        groups = labels[inside]
        count = torch.bincount(groups).to(v.dtype)
        mean = torch.zeros_like(count).index_add_(0, groups, v[inside]) / count
        out = v.clone()
        out[inside] -= mean[groups]
        return out

    # ---------------------------------------------------------------------- operators
    def operator(self, device: torch.device | str = "cpu") -> Operator:
        """``v -> A v`` for float64 vectors on ``device`` (SciPy on the CPU, torch CSR elsewhere)."""
        device = torch.device(device)
        if device.type == "cpu":
            a = self.matrix
            return lambda v: torch.from_numpy(a @ v.numpy())
        a = torch.sparse_csr_tensor(
            torch.as_tensor(self.matrix.indptr, dtype=torch.int64),
            torch.as_tensor(self.matrix.indices, dtype=torch.int64),
            torch.as_tensor(self.matrix.data), size=self.matrix.shape, device=device)
        return lambda v: a @ v


def floating_components(a: sp.csr_matrix) -> np.ndarray:
    """Per row of ``a``: its component index if the component's rows all sum to 0, else -1."""
    n_comp, labels = connected_components(a, directed=False)
    row_sums = np.abs(np.asarray(a.sum(axis=1)).ravel())
    scale = max(float(np.abs(a.diagonal()).max(initial=0.0)), 1e-300)
    worst = np.zeros(n_comp)
    np.maximum.at(worst, labels, row_sums)
    is_floating = worst <= ZERO_ROW_SUM * scale
    renumber = np.full(n_comp, -1)
    renumber[is_floating] = np.arange(int(is_floating.sum()))
    return renumber[labels]


def direct_solve(system: GridSystem, b: np.ndarray) -> np.ndarray:
    """SuperLU solution on the active cells; on singular systems that of the projected ``b`` with
    zero mean on each floating component (one cell per component pinned to 0, then the mean removed)."""
    a = system.matrix
    rhs = system.project(torch.as_tensor(b, dtype=torch.float64)).numpy().copy()
    if system.singular:
        first = np.unique(system.floating[system.floating >= 0], return_index=True)[1]
        pinned = np.flatnonzero(system.floating >= 0)[first]
        keep = np.ones(system.size)
        keep[pinned] = 0.0
        a = sp.diags(keep) @ a @ sp.diags(keep) + sp.diags(1.0 - keep)
        rhs[pinned] = 0.0
    x = spla.spsolve(a.tocsc(), rhs)
    return system.project(torch.from_numpy(x)).numpy()


# --------------------------------------------------------------------------- solving
class LinearMethod(Protocol):
    """A conjugate-direction method: DCDM or a classical baseline.

    ``prepare(system)`` is its setup (factorisation, hierarchy, moving a network); it returns the
    direction generator used with ``orthogonalize`` previous directions, on vectors on ``device``.
    """

    name: str
    orthogonalize: int

    @property
    def device(self) -> torch.device: ...

    def prepare(self, system: GridSystem) -> Operator: ...


@dataclass
class SolveReport:
    """One method on one system: the iteration, the setup time and the full-grid solution.

    Attributes:
        method: the method's name.
        result: the `KrylovResult` (residual history, counts, times; ``x`` on the active cells).
        setup_seconds: time of ``prepare`` plus building the matrix operator.
        x: the solution on the full grid, ``(*shape)`` float64, 0 on inactive cells.
        rhs_removed: ``||b - P b|| / ||b||`` removed by the projection onto the range.
    """

    method: str
    result: KrylovResult
    setup_seconds: float
    x: np.ndarray
    rhs_removed: float

    @property
    def residuals(self) -> np.ndarray:
        return self.result.residuals


def solve_with(method: LinearMethod, system: GridSystem, b: np.ndarray | torch.Tensor, *,
               rtol: float, max_iter: int) -> SolveReport:
    """Run ``method`` on ``system`` for the right-hand side ``b`` (active cells, ``(m,)``).

    On singular systems ``b`` is first projected onto the range of ``A`` (the amount removed is
    reported) and every direction is projected too.
    """
    device = method.device
    t0 = time.perf_counter()
    matvec = system.operator(device)
    direction = method.prepare(system)
    setup = time.perf_counter() - t0
    b = torch.as_tensor(b, dtype=torch.float64).to(device)
    if b.shape != (system.size,):
        raise UserError(f"right-hand side has shape {tuple(b.shape)}; expected ({system.size},)")
    projected = system.project(b)
    norm_b = float(torch.linalg.vector_norm(b))
    removed = float(torch.linalg.vector_norm(b - projected)) / norm_b if norm_b else 0.0
    result = conjugate_directions(matvec, projected, direction, k=method.orthogonalize, rtol=rtol,
                                  max_iter=max_iter, project=system.project if system.singular else None)
    x = system.scatter(result.x.cpu().numpy())
    return SolveReport(method.name, result, setup, x, removed)


# ------------------------------------------------------------------------------- files
def save_system(path: str | Path, matrix, b: np.ndarray, shape: tuple[int, ...]) -> Path:
    """Write a system file: `scipy.sparse.save_npz` arrays plus ``b`` and ``grid_shape``."""
    buffer = io.BytesIO()
    sp.save_npz(buffer, sp.csr_matrix(matrix), compressed=True)
    buffer.seek(0)
    with np.load(buffer) as arrays:
        content = dict(arrays)
    content.update(b=np.asarray(b, np.float64).ravel(), grid_shape=np.asarray(shape, np.int64))

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: numpy would append ".npz" to a path
            np.savez_compressed(f, **content)

    return atomic_replace(Path(path), write)


SPARSE_KEYS = ("format", "shape", "data", "indices", "indptr")


def _matrix_from_arrays(arrays: dict[str, np.ndarray], source: str):
    """The matrix of a system file: `scipy.sparse.save_npz` arrays (CSR/CSC/COO...) or a dense 2-D ``A``."""
    if "A" in arrays:
        a = arrays["A"]
        if a.ndim != 2 or a.dtype.kind not in "biuf":
            raise UserError(f"'A' must be a 2-D array of real numbers (got {a.ndim}-D {a.dtype})", source=source)
        return sp.csr_matrix(a.astype(np.float64))
    if all(k in arrays for k in SPARSE_KEYS) or ("format" in arrays and "shape" in arrays):
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        buffer.seek(0)
        try:
            return sp.load_npz(buffer)
        except (ValueError, KeyError, TypeError) as err:
            raise UserError(f"the sparse matrix arrays do not form a matrix ({err})", source=source) from None
    raise UserError("no matrix in the file (expected scipy.sparse.save_npz arrays, or a dense 2-D array 'A', "
                    "plus 'b' and 'grid_shape')", source=source)


def _grid_shape(arrays: dict[str, np.ndarray], source: str) -> tuple[int, ...]:
    shape = np.asarray(arrays["grid_shape"])
    if shape.ndim != 1 or shape.size == 0 or shape.dtype.kind not in "iu":
        raise UserError(f"grid_shape must be a list of integers, one per axis (got {shape.tolist()!r})",
                        source=source)
    if (shape < 1).any():
        raise UserError(f"grid_shape must have at least 1 cell per axis (got {shape.tolist()})", source=source)
    return tuple(int(s) for s in shape)


def check_matrix_entries(a: sp.csr_matrix, *, source: str | None = None) -> None:
    """Raise a `UserError` unless the matrix has finite entries, a non-negative diagonal (positive
    on the unknowns; zero on cells that are not unknowns) and at least one unknown."""
    if not np.isfinite(a.data).all():
        raise UserError("matrix has non-finite entries (NaN or inf)", source=source)
    diagonal = a.diagonal()
    if (diagonal < 0).any():
        raise UserError(f"matrix has {int((diagonal < 0).sum())} negative diagonal entries (expected a symmetric "
                        "positive (semi-)definite system: positive diagonal on the unknowns)", source=source)
    if not (diagonal > 0).any():
        raise UserError("matrix has no unknowns (every diagonal entry is zero)", source=source)


def load_system(path: str | Path) -> tuple[GridSystem, np.ndarray]:
    """Read a system file written by `save_system` (or any ``save_npz`` file, or a dense 2-D array
    ``A``, with ``b`` and ``grid_shape`` added). Returns the system and ``b`` on its active cells.

    Raises:
        UserError: the file is missing, unreadable or lacks a part; the grid shape is not positive
            integers; the matrix is not square for the grid, not finite, not symmetric, has a negative
            diagonal or no unknowns; ``b`` is not finite or non-zero on an empty row.
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise UserError("file not found (expected a .npz system file)", source=source)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        reason = "it holds pickled objects, which are never loaded" if "pickle" in str(err) else type(err).__name__
        raise UserError(f"not a readable .npz system file ({reason})", source=source) from None
    missing = [k for k in ("b", "grid_shape") if k not in arrays]
    if missing:
        raise UserError(f"system file lacks {', '.join(map(repr, missing))} (expected save_npz arrays or 'A', "
                        "plus 'b' and 'grid_shape')", source=source)
    shape = _grid_shape(arrays, source)
    matrix = _matrix_from_arrays(arrays, source)
    if arrays["b"].dtype.kind not in "biuf":
        raise UserError(f"b must hold real numbers (got {arrays['b'].dtype})", source=source)
    b = np.asarray(arrays["b"], np.float64).ravel()
    if not np.isfinite(b).all():
        raise UserError("b has non-finite entries (NaN or inf)", source=source)
    n = int(np.prod(shape))
    if b.size != n:
        raise UserError(f"b has {b.size} entries; expected {n} (one per grid cell)", source=source)
    try:
        system = GridSystem.from_matrix(matrix, shape)
    except UserError as err:
        raise err.located(source) from None
    outside = np.delete(b, system.active)
    if np.abs(outside).max(initial=0.0) > 0.0:
        raise UserError("b is non-zero on cells whose matrix row is empty", source=source)
    return system, b[system.active]
