"""Physics-informed neural network (Raissi, Perdikaris, Karniadakis, "Physics-informed neural
networks", J. Comput. Phys. 378, 2019) on the collocation grid of a stationary PDE.

A plain PINN as the GP-HM paper's baseline: an MLP ``u(x)`` (tanh, float64) of the coordinates
mapped to ``[-1, 1]`` (`pdesolve.models.pinn.CoordinateMLP`); the loss is ``mean |L[u] - f|^2``
over the collocation points plus ``boundary_weight * mean |u - g|^2`` over the boundary points,
derivatives by autograd. Adam
steps through the engine's `Trainer` (see `pdesolve.backends.collocation`). On the same grid as
GP-HM it is the "neural network" point of comparison; it is known to fail on high frequencies
(spectral bias).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn

from pdesolve.backends.collocation import DTYPE, CollocationOptions, CollocationPDE, CollocationSolver
from pdesolve.data.grid import Grid
from pdesolve.models.pinn import CoordinateMLP
from pdesolve.numerics.autodiff import partial_derivatives


class PINNOptions(CollocationOptions):
    width: int = Field(100, gt=0, description="units per hidden layer")
    depth: int = Field(4, gt=0, description="hidden layers")
    activation: Literal["tanh", "gelu", "silu", "relu"] = "tanh"
    boundary_weight: float = Field(1.0, gt=0, description="weight of the boundary loss")
    batch_points: int | None = Field(
        None, gt=0, description="collocation points drawn per step (null: all grid points)")


class PINNSolver(CollocationSolver, name="pinn"):
    """A plain PINN on the collocation grid (field kind)."""

    Options = PINNOptions
    description = "physics-informed MLP (tanh, float64) on the collocation grid"
    paper = "Raissi, Perdikaris, Karniadakis, Physics-informed neural networks, J. Comput. Phys. 2019"
    model: CoordinateMLP

    def setup_for(self, problem, grid: Grid) -> dict[str, Any]:
        return {**super().setup_for(problem, grid), "lengths": list(grid.lengths)}

    def modules(self) -> nn.Module:
        return self.model

    def build(self, setup: dict[str, Any]) -> None:
        o = self.options
        self.model = CoordinateMLP(setup["lengths"], o.width, o.depth, o.activation, dtype=DTYPE)

    def objective(self, pde: CollocationPDE, generator: torch.Generator) -> torch.Tensor:
        points = torch.stack([c.reshape(-1) for c in pde.coords], dim=-1)
        source = pde.source.reshape(-1)
        n = self.options.batch_points
        if n is not None and n < points.shape[0]:
            pick = torch.randperm(points.shape[0], generator=generator)[:n].to(points.device)
            points, source = points[pick], source[pick]
        coords = [points[:, j].clone().requires_grad_(True) for j in range(points.shape[1])]
        u = self.model(torch.stack(coords, dim=-1))
        derivs = partial_derivatives(u, coords, pde.terms, create_graph=True)
        residual = pde.operator(u, derivs) - source
        boundary = torch.stack([c[pde.boundary] for c in pde.coords], dim=-1)
        gap = self.model(boundary) - pde.boundary_values
        return residual.square().mean() + self.options.boundary_weight * gap.square().mean()

    @torch.no_grad()
    def predict(self, grid: Grid, chunk: int = 65536) -> torch.Tensor:
        device = self.device
        axes = [torch.as_tensor(a.coords(), dtype=DTYPE, device=device) for a in grid.axes]
        points = torch.stack([c.reshape(-1) for c in torch.meshgrid(*axes, indexing="ij")], dim=-1)
        u = torch.cat([self.model(points[i:i + chunk]) for i in range(0, points.shape[0], chunk)])
        return u.reshape(grid.shape)
