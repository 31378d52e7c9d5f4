"""Classical preconditioners for sparse SPD systems: incomplete Cholesky IC(0) and algebraic
multigrid (PyAMG smoothed aggregation). Each is built once (the setup) and then applied as
``r -> z ~ A^-1 r`` on float64 NumPy vectors.
"""

from __future__ import annotations

import numpy as np
import pyamg
import scipy.sparse as sp
from pyamg import amg_core

PIVOT_FLOOR = 1e-12  # smallest IC(0) pivot, relative to the row's diagonal


class IncompleteCholesky:
    """IC(0): ``M = (D + L) D^-1 (D + L)^T`` with ``L`` the strict lower triangle of ``A``.

    The pivots follow ``d_i = a_ii - sum_{j < i, a_ij != 0} a_ij^2 / d_j``. This is exactly the
    zero-fill incomplete Cholesky factor when the matrix graph has no triangles (every 5- or
    7-point stencil, with or without obstacles); on other graphs it is the symmetric D-ILU(0)
    preconditioner. SciPy has no IC(0) and its ``spilu`` is not symmetric (CG diverges with it).

    The two triangular solves are one forward and one backward Gauss--Seidel sweep from zero on
    ``L + D + L^T`` (PyAMG's compiled kernel), which equal ``(D + L)^-1`` and ``(D + L^T)^-1``.
    """

    def __init__(self, a: sp.csr_matrix):
        a = sp.csr_matrix(a, dtype=np.float64)
        diag = a.diagonal()
        lower = sp.tril(a, k=-1, format="csr")
        indptr, indices, data = lower.indptr.tolist(), lower.indices.tolist(), lower.data.tolist()
        pivots = diag.tolist()
        for i in range(a.shape[0]):
            s = pivots[i]
            for p in range(indptr[i], indptr[i + 1]):
                s -= data[p] * data[p] / pivots[indices[p]]
            pivots[i] = max(s, PIVOT_FLOOR * diag[i])
        self.pivots = np.asarray(pivots)
        sweep = (a - sp.diags(diag) + sp.diags(self.pivots)).tocsr()
        sweep.sort_indices()
        self._sweep = sweep

    def __call__(self, r: np.ndarray) -> np.ndarray:
        s, n = self._sweep, self._sweep.shape[0]
        y = np.zeros(n)
        amg_core.gauss_seidel(s.indptr, s.indices, s.data, y, np.ascontiguousarray(r, np.float64), 0, n, 1)
        z = np.zeros(n)
        amg_core.gauss_seidel(s.indptr, s.indices, s.data, z, self.pivots * y, n - 1, -1, -1)
        return z


class SmoothedAggregationAMG:
    """One V-cycle of PyAMG's smoothed-aggregation hierarchy (symmetric Gauss--Seidel smoothing,
    constant near-null space, pseudo-inverse on the coarsest level so singular blocks work)."""

    def __init__(self, a: sp.csr_matrix):
        self.hierarchy = pyamg.smoothed_aggregation_solver(sp.csr_matrix(a, dtype=np.float64),
                                                           B=np.ones((a.shape[0], 1)))
        self._apply = self.hierarchy.aspreconditioner(cycle="V")

    @property
    def levels(self) -> int:
        return len(self.hierarchy.levels)

    def __call__(self, r: np.ndarray) -> np.ndarray:
        return self._apply @ r
