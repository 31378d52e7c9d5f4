"""The PINN's network (Raissi, Perdikaris, Karniadakis, J. Comput. Phys. 378, 2019): an MLP of the
coordinates, ``u(x)``, with inputs mapped to ``[-1, 1]`` (float64 by default, as the collocation
backends compute)."""

from __future__ import annotations

import torch
from torch import nn

from pdesolve.nn.layers import ACTIVATIONS


class CoordinateMLP(nn.Module):
    """``u(x)``: ``(points, ndim)`` coordinates -> ``(points,)``, inputs scaled to ``[-1, 1]``.

    Args:
        lengths: domain length per axis (coordinates run over ``[0, length]``).
        width, depth: units per hidden layer and hidden layers.
        activation: ``"tanh"``, ``"gelu"``, ``"silu"`` or ``"relu"``.
    """

    def __init__(self, lengths: list[float], width: int, depth: int, activation: str,
                 dtype: torch.dtype = torch.float64):
        super().__init__()
        self.register_buffer("lengths", torch.tensor(lengths, dtype=dtype), persistent=False)
        sizes = [len(lengths), *[width] * depth]
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(a, b, dtype=dtype), ACTIVATIONS[activation]()]
        layers.append(nn.Linear(width, 1, dtype=dtype))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(2 * x / self.lengths - 1).squeeze(-1)
