"""SIREN: a coordinate MLP with sine activations (Sitzmann et al., NeurIPS 2020), in the form INSR
uses (Chen et al., ICML 2023).

``Linear(in, W) -> sin(w0 .) -> [Linear(W, W) -> sin(w0 .)] x hidden_layers -> Linear(W, out)``:
``hidden_layers = 3`` means four sine layers. ``w0 = 30`` multiplies the pre-activation of *every*
sine layer. Initialisation (the authors' code):

* first layer weights ``U(-1/fan_in, 1/fan_in)``;
* every later layer, the linear output layer included, ``U(-sqrt(6/fan_in)/w0, +sqrt(6/fan_in)/w0)``;
* biases keep torch's default ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.

With this initialisation each sine layer's pre-activation ``w0 (W h + b)`` is spread over several
periods, so the activations are arcsine-distributed in [-1, 1] whatever the depth.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class SineLayer(nn.Module):
    """``sin(omega * (W x + b))``: ``(..., in) -> (..., out)``."""

    def __init__(self, in_features: int, out_features: int, omega: float):
        super().__init__()
        self.omega = omega
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.omega * self.linear(x))


class Siren(nn.Module):
    """A sine MLP from coordinates to field values: ``(..., in_features) -> (..., out_features)``.

    Args:
        in_features: coordinate dimension.
        out_features: field components.
        hidden_layers: sine layers after the first one.
        width: features of every sine layer.
        omega: the frequency factor ``w0`` of every sine layer.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden_layers: int = 3,
        width: int = 64,
        omega: float = 30.0,
    ):
        super().__init__()
        sizes = [in_features] + [width] * (hidden_layers + 1)
        self.layers = nn.Sequential(
            *(SineLayer(a, b, omega) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        )
        self.output = nn.Linear(width, out_features)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """The paper's initialisation (see module docstring); biases keep torch's default."""
        first = self.layers[0].linear
        first.weight.uniform_(-1.0 / first.in_features, 1.0 / first.in_features)
        later = [layer.linear for layer in self.layers[1:]] + [self.output]
        for linear in later:
            bound = math.sqrt(6.0 / linear.in_features) / self.layers[0].omega
            linear.weight.uniform_(-bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.layers(x))


def siren_parameter_count(in_features: int, out_features: int, hidden_layers: int, width: int) -> int:
    """Weights and biases of a `Siren` (the "memory" INSR is compared at)."""
    return (in_features + 1) * width + hidden_layers * (width + 1) * width + (width + 1) * out_features
