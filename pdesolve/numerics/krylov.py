"""The conjugate-direction iteration shared by DCDM and the classical Krylov baselines.

One loop, with the direction generator passed in (Kaneda et al., ICML 2023, Algorithm 1)::

    x0 = 0, r0 = b
    for i = 0, 1, ...:
        q  = direction(r)                                  # network, preconditioner or identity
        q -= sum_{j in last k} (q.A p_j / p_j.A p_j) p_j   # A-orthogonalise against k directions
        a  = q.r / q.A q                                   # exact line search
        x += a q ;  r -= a A q
        stop when ||r|| <= rtol ||b||

With ``direction = identity`` and ``k = 1`` this is CG; with a fixed SPD preconditioner ``M^-1``
and ``k = 1`` it is preconditioned CG (same iterates in exact arithmetic); DCDM uses a network and
``k = 2``. Every method compared therefore pays the same per-iteration bookkeeping: one matrix-vector
product, one direction call and ``k + 3`` dot products.

Vectors are 1-D tensors of the active unknowns, float64 on any device.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

Operator = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class KrylovResult:
    """What one conjugate-direction solve did.

    Attributes:
        x: the solution, ``(n,)`` float64.
        residuals: relative residual ``||r_i|| / ||b||`` after each iteration, ``(iterations + 1,)``
            (entry 0 is 1).
        seconds: wall time since the start of the iteration at each entry of ``residuals``.
        iterations: iterations done.
        matvecs: products with the matrix (one per iteration plus one final true-residual check).
        direction_calls: calls of the direction generator (network or preconditioner).
        stopped: ``"converged"``, ``"max_iter"`` or ``"breakdown"`` (a direction with ``q.A q <= 0``).
        true_residual: ``||b - A x|| / ||b||`` recomputed at the end.
    """

    x: torch.Tensor
    residuals: np.ndarray
    seconds: np.ndarray
    iterations: int
    matvecs: int
    direction_calls: int
    stopped: str
    true_residual: float

    @property
    def converged(self) -> bool:
        return self.stopped == "converged"

    def iterations_to(self, rtol: float) -> int | None:
        """The first iteration whose relative residual is at most ``rtol`` (``None`` if never)."""
        hit = np.flatnonzero(self.residuals <= rtol)
        return int(hit[0]) if hit.size else None

    def seconds_to(self, rtol: float) -> float | None:
        """Wall time until the relative residual first reached ``rtol`` (``None`` if never)."""
        i = self.iterations_to(rtol)
        return float(self.seconds[i]) if i is not None else None


def conjugate_directions(
    matvec: Operator,
    b: torch.Tensor,
    direction: Operator,
    *,
    k: int = 2,
    rtol: float = 1e-6,
    max_iter: int = 1000,
    project: Operator | None = None,
    on_step: Callable[[torch.Tensor, torch.Tensor], None] | None = None,
) -> KrylovResult:
    """Solve ``A x = b`` by conjugate directions from ``x0 = 0`` (see module docstring).

    Args:
        matvec: ``v -> A v`` for 1-D float64 tensors.
        b: right-hand side ``(n,)``; for singular systems it must lie in the range of ``A``.
        direction: ``r -> q``, the search direction before A-orthogonalisation.
        k: number of previous directions each new one is A-orthogonalised against.
        rtol: stop when ``||r|| <= rtol ||b||``.
        max_iter: iteration cap.
        project: removes null-space components from each direction (singular systems).
        on_step: called with ``(q, A q)`` of every accepted direction (tests, diagnostics).
    """
    b = b.to(torch.float64)
    x = torch.zeros_like(b)
    r = b.clone()
    norm_b = float(torch.linalg.vector_norm(b))
    residuals, seconds = [1.0], [0.0]
    kept: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (p, A p, p.A p)
    matvecs = calls = 0
    stopped = "max_iter"
    t0 = time.perf_counter()
    if norm_b == 0.0:
        return KrylovResult(x, np.array([0.0]), np.array([0.0]), 0, 0, 0, "converged", 0.0)
    for _ in range(max_iter):
        q = direction(r).to(torch.float64)
        calls += 1
        if project is not None:
            q = project(q)
        if kept:
            coeffs = [torch.dot(q, ap) / pap for _, ap, pap in kept]
            for c, (p, _, _) in zip(coeffs, kept, strict=True):
                q = q - c * p
        aq = matvec(q)
        matvecs += 1
        qaq = torch.dot(q, aq)
        if not bool(torch.isfinite(qaq)) or float(qaq) <= 0.0:
            stopped = "breakdown"
            break
        alpha = torch.dot(q, r) / qaq
        x = x + alpha * q
        r = r - alpha * aq
        if on_step is not None:
            on_step(q, aq)
        kept.append((q, aq, qaq))
        if len(kept) > k:
            kept.pop(0)
        residuals.append(float(torch.linalg.vector_norm(r)) / norm_b)
        seconds.append(time.perf_counter() - t0)
        if residuals[-1] <= rtol:
            stopped = "converged"
            break
    true_residual = float(torch.linalg.vector_norm(b - matvec(x))) / norm_b
    return KrylovResult(x, np.asarray(residuals), np.asarray(seconds), len(residuals) - 1,
                        matvecs + 1, calls, stopped, true_residual)
