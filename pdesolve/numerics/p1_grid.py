"""Linear (P1) triangles on a rectilinear node grid: connectivity, deformation gradients and
centroid values, in torch (differentiable), for energy-minimisation FEM references."""

from __future__ import annotations

import torch


def grid_triangles(nx: int, ny: int) -> torch.Tensor:
    """Two triangles per cell of an ``nx x ny`` node grid (nodes numbered ``i * ny + j``, ``i``
    along x): ``(2 (nx - 1) (ny - 1), 3)`` node indices, counter-clockwise for increasing x, y."""
    i, j = torch.meshgrid(torch.arange(nx - 1), torch.arange(ny - 1), indexing="ij")
    a, b = (i * ny + j).ravel(), ((i + 1) * ny + j).ravel()
    c, d = b + 1, a + 1
    return torch.cat([torch.stack([a, b, c], -1), torch.stack([a, c, d], -1)])


def reference_inverse(nodes: torch.Tensor, triangles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse edge matrices ``(T, 2, 2)`` and areas ``(T,)`` of the rest triangles (``nodes`` ``(n, 2)``)."""
    p = nodes[triangles]
    edges = torch.stack([p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]], -1)  # columns: the two edges
    return torch.linalg.inv(edges), 0.5 * torch.linalg.det(edges).abs()


def deformation_gradient(q: torch.Tensor, triangles: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
    """``grad q`` per triangle ``(T, 2, 2)`` of the deformed node positions ``q`` ``(n, 2)``."""
    p = q[triangles]
    edges = torch.stack([p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]], -1)
    return edges @ inverse


def centroids(values: torch.Tensor, triangles: torch.Tensor) -> torch.Tensor:
    """Mean of nodal ``values`` ``(n, c)`` over each triangle: ``(T, c)``."""
    return values[triangles].mean(1)
