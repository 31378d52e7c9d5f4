"""Spatial derivatives of pointwise fields at sample points, by automatic differentiation.

A field evaluated at points ``x`` of shape ``(N, d)`` (with ``requires_grad=True``) gives values
``y`` of shape ``(N, c)``; since row ``n`` of ``y`` depends on row ``n`` of ``x`` only, the gradient
of ``y[:, i].sum()`` with respect to ``x`` is the pointwise gradient of component ``i``. Every
function keeps the graph (``create_graph=True``) so the result can enter a training loss; detach
what must stay fixed.
"""

from __future__ import annotations

import torch


def gradient(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Gradient of a scalar field: ``y (N, 1)`` -> ``(N, d)``."""
    (g,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    return g


def jacobian(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``dy_i/dx_j``: ``y (N, c)`` -> ``(N, c, d)``."""
    return torch.stack([gradient(y[:, i], x) for i in range(y.shape[1])], dim=1)


def divergence(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``sum_i dy_i/dx_i``: ``y (N, d)`` -> ``(N, 1)``."""
    return sum(gradient(y[:, i], x)[:, i : i + 1] for i in range(y.shape[1]))


def laplacian(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``div grad y`` of a scalar field: ``y (N, 1)`` -> ``(N, 1)``."""
    return divergence(gradient(y, x), x)
