"""Stationary 1-D covariance kernels with learnable parameters and closed-form lag derivatives.

Each kernel is a function of the lag ``r = x - x'`` on one axis; ``kernel(r, order)`` returns
``d^order k / dr^order``, which is ``cov(d^order u(x) / dx^order, u(x'))``. Derivatives are written
in closed form in ``r``: differentiating an expression in ``|x - x'|`` by autograd gets the
diagonal wrong in torch (``d|r|/dr = 0`` at ``r = 0``), see docs/backends/gp-spectral.md.

Kernels (Fang et al., "Solving High Frequency and Multi-Scale PDEs with Gaussian Processes",
ICLR 2024; names follow the paper, parameters the authors' code):

* ``stm`` -- GP-HM-StM, the Student-t mixture: ``sum_q w_q m_{5/2}(r; a_q) cos(2 pi mu_q r)``, the
  Matérn-5/2 envelope being the Fourier transform of a Student-t spectral density (the authors'
  code fixes nu = 5/2, which also makes ``k`` twice differentiable as second-order PDEs need).
* ``gm`` -- GP-HM-GM, the Gaussian (spectral) mixture: ``sum_q w_q exp(-b_q r^2) cos(2 pi mu_q r)``.
* ``se`` -- GP-SE baseline: ``w exp(-b r^2)``.
* ``matern`` -- GP-Matérn baseline: ``w m_{5/2}(r; a)``.

with ``m_{5/2}(r; a) = (1 + a|r| + a^2 r^2 / 3) exp(-a|r|)``, ``a = sqrt(5) exp(log_scale)``,
``b = exp(log_scale)``, weights ``w = exp(log_weight)`` (the log domain is the paper's Jeffreys
prior) and frequencies ``mu`` in cycles per unit length (angular frequency ``2 pi mu``).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn

MAX_ORDER = 2


def _binomial_product(f: list[torch.Tensor], g: list[torch.Tensor], order: int) -> torch.Tensor:
    """``(f g)^(order)`` by Leibniz' rule from the derivative lists ``f[k] = f^(k)``, ``g[k] = g^(k)``."""
    return sum(math.comb(order, k) * f[k] * g[order - k] for k in range(order + 1))


def matern52(r: torch.Tensor, a: torch.Tensor, order: int) -> list[torch.Tensor]:
    """``m(r) = (1 + a|r| + a^2 r^2/3) e^{-a|r|}`` and its ``r``-derivatives up to ``order``.

    ``m' = -(a^2 r / 3)(1 + a|r|) e^{-a|r|}`` and ``m'' = -(a^2/3)(1 + a|r| - a^2 r^2) e^{-a|r|}``
    are smooth at ``r = 0`` (``m'(0) = 0``, ``m''(0) = -a^2/3``).
    """
    s = r.abs()
    e = torch.exp(-a * s)
    out = [(1 + a * s + a * a * r * r / 3) * e]
    if order >= 1:
        out.append(-(a * a * r / 3) * (1 + a * s) * e)
    if order >= 2:
        out.append(-(a * a / 3) * (1 + a * s - a * a * r * r) * e)
    return out


def gaussian(r: torch.Tensor, b: torch.Tensor, order: int) -> list[torch.Tensor]:
    """``g(r) = exp(-b r^2)`` and its ``r``-derivatives up to ``order``."""
    g = torch.exp(-b * r * r)
    out = [g]
    if order >= 1:
        out.append(-2 * b * r * g)
    if order >= 2:
        out.append((4 * b * b * r * r - 2 * b) * g)
    return out


def cosine(r: torch.Tensor, omega: torch.Tensor, order: int) -> list[torch.Tensor]:
    """``cos(omega r)`` and its ``r``-derivatives up to ``order``."""
    phase = omega * r
    c, s = torch.cos(phase), torch.sin(phase)
    return [c, -omega * s, -omega * omega * c][: order + 1]


ENVELOPES = {"matern52": matern52, "gaussian": gaussian}


class StationaryKernel(nn.Module):
    """A sum of ``components`` weighted envelopes, optionally times a cosine at a learned frequency.

    Parameters (each of shape ``(components,)``): ``log_weight``, ``log_scale`` (envelope inverse
    length scale, see module docstring) and, for mixtures, ``frequency`` (cycles per unit length).

    Class attributes:
        envelope: ``"matern52"`` or ``"gaussian"``.
        mixture: whether each component carries a cosine (a spectral mixture).
        label: the method's name in the paper.
    """

    envelope: ClassVar[str]
    mixture: ClassVar[bool]
    label: ClassVar[str]

    def __init__(self, components: int = 30, freq_scale: float = 20.0):
        super().__init__()
        q = components if self.mixture else 1
        # the authors' initialisation: equal weights summing to one, unit scales, and frequencies
        # spread evenly over [0, freq_scale]
        self.log_weight = nn.Parameter(torch.full((q,), -math.log(q), dtype=torch.float64))
        self.log_scale = nn.Parameter(torch.zeros(q, dtype=torch.float64))
        if self.mixture:
            self.frequency = nn.Parameter(torch.linspace(0, 1, q, dtype=torch.float64) * freq_scale)

    @property
    def components(self) -> int:
        return self.log_weight.shape[0]

    def envelope_scale(self) -> torch.Tensor:
        """``a = sqrt(5) exp(log_scale)`` (Matérn) or ``b = exp(log_scale)`` (Gaussian)."""
        scale = self.log_scale.exp()
        return math.sqrt(5) * scale if self.envelope == "matern52" else scale

    def forward(self, r: torch.Tensor, order: int = 0) -> torch.Tensor:
        """``d^order k / dr^order`` at the lags ``r`` (any shape, float64); ``order`` in 0..2."""
        if not 0 <= order <= MAX_ORDER:
            raise ValueError(f"kernel derivatives of order {order} are not available (0..{MAX_ORDER})")
        r = r.unsqueeze(-1)
        env = ENVELOPES[self.envelope](r, self.envelope_scale(), order)
        if self.mixture:
            value = _binomial_product(env, cosine(r, 2 * math.pi * self.frequency, order), order)
        else:
            value = env[order]
        return value @ self.log_weight.exp()

    @torch.no_grad()
    def spectrum(self) -> dict[str, torch.Tensor]:
        """The learned components: ``weight``, ``frequency`` (cycles per unit length; 0 without a
        cosine), ``angular_frequency`` (``2 pi frequency``) and ``log_scale``, each ``(components,)``."""
        freq = self.frequency.detach() if self.mixture else torch.zeros_like(self.log_weight)
        return {"weight": self.log_weight.exp(), "frequency": freq, "angular_frequency": 2 * math.pi * freq,
                "log_scale": self.log_scale.detach().clone()}


class StudentTMixture(StationaryKernel):
    envelope, mixture, label = "matern52", True, "GP-HM-StM"


class GaussianMixture(StationaryKernel):
    envelope, mixture, label = "gaussian", True, "GP-HM-GM"


class SquaredExponential(StationaryKernel):
    envelope, mixture, label = "gaussian", False, "GP-SE"


class Matern52(StationaryKernel):
    envelope, mixture, label = "matern52", False, "GP-Matern"


KERNELS: dict[str, type[StationaryKernel]] = {
    "stm": StudentTMixture, "gm": GaussianMixture, "se": SquaredExponential, "matern": Matern52,
}
