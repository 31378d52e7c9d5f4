"""Partial derivatives of a pointwise function of coordinates by automatic differentiation.

A derivative is named by its multi-index: a tuple of orders per coordinate axis, e.g. ``(2, 0)``
for ``d^2/dx^2`` and ``(1, 1)`` for ``d^2/dxdy`` in 2-D. Used to manufacture PDE sources from exact
solutions and for physics-informed losses.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

MultiIndex = tuple[int, ...]


def partial_derivatives(u: torch.Tensor, coords: Sequence[torch.Tensor], orders: Iterable[MultiIndex],
                        *, create_graph: bool = False) -> dict[MultiIndex, torch.Tensor]:
    """``d^|a| u / dx^a`` for every multi-index ``a`` in ``orders``.

    Args:
        u: values ``u(x)`` computed pointwise from ``coords``.
        coords: one tensor per axis, each of the shape of ``u`` (one entry per point, e.g. from
            ``torch.meshgrid``) and with ``requires_grad=True``; since ``u`` at a point depends on that
            point's coordinates only, the gradient of ``u.sum()`` is the pointwise derivative.
        orders: the multi-indices wanted, each of length ``len(coords)``.
        create_graph: keep the graph so the derivatives can themselves be differentiated (training).

    Returns:
        multi-index -> derivative, shaped like ``u`` (zeros where ``u`` does not depend on an axis).
    """
    cache: dict[MultiIndex, torch.Tensor] = {(0,) * len(coords): u}

    def derivative(index: MultiIndex) -> torch.Tensor:
        if index in cache:
            return cache[index]
        axis = next(j for j, o in enumerate(index) if o > 0)
        lower = tuple(o - (j == axis) for j, o in enumerate(index))
        base = derivative(lower)
        (grad,) = torch.autograd.grad(base.sum(), coords[axis], create_graph=True, allow_unused=True)
        grad = torch.zeros_like(base) if grad is None else grad
        cache[index] = grad
        return grad

    out = {tuple(a): derivative(tuple(a)) for a in orders}
    return out if create_graph else {a: d.detach() for a, d in out.items()}
