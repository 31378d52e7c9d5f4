"""Kronecker-structured linear algebra on tensor grids, without forming a Kronecker product.

A covariance on a full tensor grid with a product kernel is ``C = C_1 ⊗ C_2 ⊗ ... ⊗ C_d``, with
``C_j`` of size ``n_j x n_j``. A field ``U`` on the grid has shape ``(n_1, ..., n_d)``; its vector is
the row-major flattening ``U.reshape(-1)``, for which ``(A_1 ⊗ ... ⊗ A_d) vec(U)`` is ``U`` multiplied
by ``A_j`` along every axis ``j`` (a "mode product"). So every operation here costs
``O(sum_j n_j^3 + (sum_j n_j) n)`` with ``n = prod_j n_j``, never ``O(n^2)``.

Each ``C_j`` is held as a `SymmetricFactor` (Cholesky, with LU as the fallback the GP-HM authors'
dense ``solve``/``slogdet`` amount to) whose solves and log-determinant carry hand-written gradients.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def mode_product(a: torch.Tensor, u: torch.Tensor, axis: int) -> torch.Tensor:
    """``u`` multiplied by the matrix ``a`` along ``axis``.

    Args:
        a: ``(m, n_axis)``.
        u: ``(..., n_axis, ...)`` with ``u.shape[axis] == n_axis``.

    Returns:
        ``u`` with axis ``axis`` replaced by ``m``: ``out[.., i, ..] = sum_k a[i, k] u[.., k, ..]``.
    """
    moved = u.movedim(axis, 0)
    out = a @ moved.reshape(moved.shape[0], -1)
    return out.reshape(a.shape[0], *moved.shape[1:]).movedim(0, axis)


def kron_matvec(mats: Sequence[torch.Tensor | None], u: torch.Tensor) -> torch.Tensor:
    """``(A_1 ⊗ ... ⊗ A_d) vec(u)`` as a tensor; ``None`` stands for the identity on that axis."""
    for axis, a in enumerate(mats):
        if a is not None:
            u = mode_product(a, u, axis)
    return u


class SymmetricFactor:
    """A factorisation of one symmetric positive-definite factor ``K`` (``n x n``) with
    differentiable solves and log-determinant.

    Cholesky is used, and LU (as in the GP-HM authors' ``solve``/``slogdet``) when rounding makes
    Cholesky fail. Gradients are written by hand so that one factorisation serves the forward and
    the backward pass: for ``X = K^-1 B``, ``dB = K^-1 dX`` and ``dK = -dB X^T``; for
    ``log|K|``, ``dK = K^-1`` (formed only when the log-determinant is differentiated). Autograd
    through a generic LU would instead redo ``O(n^3)`` triangular work on every backward pass.
    Differentiable once (no second derivatives).
    """

    def __init__(self, k: torch.Tensor):
        self.matrix = k
        with torch.no_grad():
            chol, info = torch.linalg.cholesky_ex(k.detach())
            self.cholesky = bool(info == 0)
            if self.cholesky:
                self._factor = (chol,)
            else:
                self._factor = torch.linalg.lu_factor(k.detach())
        self._inverse: torch.Tensor | None = None

    @property
    def size(self) -> int:
        return self.matrix.shape[-1]

    def raw_solve(self, b: torch.Tensor) -> torch.Tensor:
        """``K^-1 b`` without autograd, ``b`` of shape ``(n, k)``."""
        if self.cholesky:
            return torch.cholesky_solve(b, self._factor[0])
        return torch.linalg.lu_solve(*self._factor, b)

    def raw_logdet(self) -> torch.Tensor:
        diag = torch.diagonal(self._factor[0])
        return 2 * diag.log().sum() if self.cholesky else diag.abs().log().sum()

    def inverse(self) -> torch.Tensor:
        """``K^-1`` without autograd (computed once)."""
        if self._inverse is None:
            if self.cholesky:
                self._inverse = torch.cholesky_inverse(self._factor[0])
            else:
                eye = torch.eye(self.size, dtype=self.matrix.dtype, device=self.matrix.device)
                self._inverse = self.raw_solve(eye)
        return self._inverse

    def solve(self, b: torch.Tensor) -> torch.Tensor:
        """``K^-1 b`` for ``b`` of shape ``(n, k)``, differentiable in ``K`` and ``b``."""
        return _Solve.apply(self.matrix, b, self)

    def logdet(self) -> torch.Tensor:
        """``log |K|``, differentiable in ``K``."""
        return _LogDet.apply(self.matrix, self)


class _Solve(torch.autograd.Function):
    @staticmethod
    def forward(ctx, k, b, factor):
        x = factor.raw_solve(b)
        ctx.factor = factor
        ctx.save_for_backward(x)
        return x

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_x):
        (x,) = ctx.saved_tensors
        grad_b = ctx.factor.raw_solve(grad_x)
        grad_k = -grad_b @ x.T if ctx.needs_input_grad[0] else None
        return grad_k, grad_b if ctx.needs_input_grad[1] else None, None


class _LogDet(torch.autograd.Function):
    @staticmethod
    def forward(ctx, k, factor):
        ctx.factor = factor
        return factor.raw_logdet()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        return grad * ctx.factor.inverse(), None


def mode_solve(factor: SymmetricFactor, u: torch.Tensor, axis: int) -> torch.Tensor:
    """``u`` multiplied by ``A^-1`` along ``axis`` (``A`` given by its ``factor``)."""
    moved = u.movedim(axis, 0)
    out = factor.solve(moved.reshape(moved.shape[0], -1))
    return out.reshape(moved.shape).movedim(0, axis)


def kron_solve(factors: Sequence[SymmetricFactor], u: torch.Tensor) -> torch.Tensor:
    """``(A_1 ⊗ ... ⊗ A_d)^-1 vec(u)`` as a tensor: one mode solve per axis."""
    for axis, f in enumerate(factors):
        u = mode_solve(f, u, axis)
    return u


def kron_logdet(logdets: Sequence[torch.Tensor], sizes: Sequence[int]) -> torch.Tensor:
    """``log |A_1 ⊗ ... ⊗ A_d| = sum_j (n / n_j) log |A_j|`` with ``n = prod_j n_j``."""
    n = 1
    for s in sizes:
        n *= s
    return sum((n // s) * ld for ld, s in zip(logdets, sizes, strict=True))


def kron_quad(factors: Sequence[SymmetricFactor], u: torch.Tensor,
              solved: Sequence[torch.Tensor | None] | None = None) -> torch.Tensor:
    """``vec(u)^T (A_1 ⊗ ... ⊗ A_d)^-1 vec(u)`` for symmetric factors.

    With symmetric ``A_j`` the form splits as ``<u x_1 A_1^-1 ... x_{d-1} A_{d-1}^-1, u x_d A_d^-1>``
    (the GP-HM authors' ``sum((K1^-1 U) * (U K2^-1))`` in 2-D), so it costs one mode solve per axis.

    Args:
        solved: optional ``solved[j] = u x_j A_j^-1`` already computed (reused, not recomputed).
    """
    d = len(factors)
    solved = list(solved) if solved is not None else [None] * d
    along = lambda axis: solved[axis] if solved[axis] is not None else mode_solve(factors[axis], u, axis)  # noqa: E731
    right = along(d - 1)
    if d == 1:
        return (u * right).sum()
    left = along(0)
    for axis in range(1, d - 1):
        left = mode_solve(factors[axis], left, axis)
    return (left * right).sum()
