"""Eddy-viscosity subgrid-scale models for LES on periodic grids, and the force they exert.

Notation: ``u`` resolved (filtered) velocity, ``g_ij = du_i/dx_j``, ``S = (g + g^T)/2``,
``|S| = sqrt(2 S_ij S_ij)``, ``Delta`` the filter width, ``^`` the test filter. Every model gives an
eddy viscosity ``nu_t(x)``; the subgrid stress is ``tau^d = -2 nu_t S`` and the force on the
resolved momentum ``-div tau = div(2 nu_t S)``.

* `Smagorinsky` (1963): ``nu_t = (C_s Delta)^2 |S|``.
* `DynamicSmagorinsky` (Germano et al. 1991, Lilly 1992): ``nu_t = C Delta^2 |S|`` with
  ``C = <L_ij M_ij> / <M_ij M_ij>``, ``L_ij = (u_i u_j)^ - u^_i u^_j``,
  ``M_ij = 2 Delta^2 [ (|S| S_ij)^ - alpha^2 |S^| S^_ij ]``, test filter of width ``alpha Delta``
  (a sharp cutoff at ``k_c / alpha``, ``alpha = 2``), ``< >`` the average over the periodic box of
  each sample (all directions are homogeneous), clipped so that ``nu + nu_t >= 0`` everywhere.
* `WALE` (Nicoud & Ducros 1999): ``nu_t = (C_w Delta)^2 (Sd:Sd)^(3/2) / ((S:S)^(5/2) + (Sd:Sd)^(5/4))``,
  ``Sd = (g^2 + (g^2)^T)/2 - tr(g^2) I / 3``; a 2-D flow is treated as a 3-D flow with ``w = d/dz = 0``.
* `Leith` (1968, 1996; 2-D): ``nu_t = (C_L Delta)^3 |grad omega|``.

Shapes: velocities ``(n, d, *s)``, tensors ``(n, d, d, *s)``, scalar fields ``(n, *s)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import torch

from pdesolve.data.grid import Grid
from pdesolve.errors import UserError
from pdesolve.numerics.filters import cutoff_mask
from pdesolve.numerics.spectral import irfft, rfft, wavenumbers


# ----------------------------------------------------------------------- tensor algebra
def velocity_gradient(u_hat: torch.Tensor, grid: Grid) -> torch.Tensor:
    """``g_ij = du_i/dx_j`` in physical space of a Fourier velocity ``(n, d, *half)`` -> ``(n, d, d, *s)``."""
    ks = wavenumbers(grid, u_hat.device, u_hat.real.dtype)
    return irfft(torch.stack([1j * k * u_hat for k in ks], dim=2), grid)


def symmetric_part(g: torch.Tensor) -> torch.Tensor:
    """``(g + g^T) / 2`` of ``(n, d, d, *s)``."""
    return 0.5 * (g + g.transpose(1, 2))


def contract(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a_ij b_ij`` of two ``(n, d, d, *s)`` tensors -> ``(n, *s)``."""
    return (a * b).sum(dim=(1, 2))


def pack_symmetric(t: torch.Tensor) -> torch.Tensor:
    """The ``d(d+1)/2`` independent components ``t_ij, i <= j`` of symmetric ``(n, d, d, *s)`` tensors."""
    d = t.shape[1]
    return torch.stack([t[:, i, j] for i in range(d) for j in range(i, d)], dim=1)


def unpack_symmetric(c: torch.Tensor, d: int) -> torch.Tensor:
    """Inverse of `pack_symmetric`: ``(n, d(d+1)/2, *s)`` -> ``(n, d, d, *s)``."""
    pairs = [(i, j) for i in range(d) for j in range(i, d)]
    slot = {**{p: n for n, p in enumerate(pairs)}, **{(j, i): n for n, (i, j) in enumerate(pairs)}}
    return torch.stack([torch.stack([c[:, slot[i, j]] for j in range(d)], 1) for i in range(d)], 1)


def strain_magnitude(s: torch.Tensor) -> torch.Tensor:
    """``|S| = sqrt(2 S_ij S_ij)`` -> ``(n, *s)``."""
    return torch.sqrt(2.0 * contract(s, s))


@dataclass
class ResolvedFlow:
    """The resolved velocity an eddy-viscosity model sees at one instant, with its derived tensors.

    Attributes:
        u_hat: Fourier velocity ``(n, d, *half)``.
        grid: the (LES) grid.
        viscosity: molecular viscosity ``nu`` (for clipping).
    """

    u_hat: torch.Tensor
    grid: Grid
    viscosity: float

    @cached_property
    def gradient(self) -> torch.Tensor:
        return velocity_gradient(self.u_hat, self.grid)

    @cached_property
    def strain(self) -> torch.Tensor:
        return symmetric_part(self.gradient)

    @cached_property
    def strain_magnitude(self) -> torch.Tensor:
        return strain_magnitude(self.strain)


class EddyViscosityModel(Protocol):
    """A subgrid model: ``eddy_viscosity(flow) -> nu_t``, ``(n, *s)``."""

    def eddy_viscosity(self, flow: ResolvedFlow) -> torch.Tensor: ...


def eddy_viscosity_force(model: EddyViscosityModel, u_hat: torch.Tensor, grid: Grid,
                         viscosity: float) -> torch.Tensor:
    """Fourier transform of the SGS force ``div(2 nu_t S)`` of a Fourier velocity ``(n, d, *half)``
    -> ``(n, d, *half)`` (not dealiased: the caller masks it)."""
    flow = ResolvedFlow(u_hat, grid, viscosity)
    nu_t = model.eddy_viscosity(flow)[:, None]
    stress_hat = unpack_symmetric(rfft(2.0 * nu_t * pack_symmetric(flow.strain), grid.ndim), grid.ndim)
    ks = wavenumbers(grid, u_hat.device, u_hat.real.dtype)
    return sum(1j * k * stress_hat[:, :, j] for j, k in enumerate(ks))


# ------------------------------------------------------------------------------ models
@dataclass(frozen=True)
class Smagorinsky:
    """Constant-coefficient Smagorinsky; ``delta`` filter width, ``c_s`` the constant."""

    delta: float
    c_s: float = 0.17

    def eddy_viscosity(self, flow: ResolvedFlow) -> torch.Tensor:
        return (self.c_s * self.delta) ** 2 * flow.strain_magnitude


@dataclass(frozen=True)
class DynamicSmagorinsky:
    """Germano--Lilly dynamic Smagorinsky with a sharp test filter at ``test_cutoff`` (= ``k_c / ratio``).

    ``delta`` is the grid-filter width, ``ratio`` the test-to-grid filter width ratio ``alpha``.
    """

    delta: float
    test_cutoff: float
    ratio: float = 2.0

    def coefficient(self, flow: ResolvedFlow) -> torch.Tensor:
        """``C = <L_ij M_ij> / <M_ij M_ij>`` per sample, ``(n,)`` (may be negative before clipping)."""
        grid, d = flow.grid, flow.grid.ndim
        u = irfft(flow.u_hat, grid)
        s, mag = flow.strain, flow.strain_magnitude
        mask = cutoff_mask(grid, self.test_cutoff, u.device)
        test = lambda f: irfft(rfft(f, d) * mask, grid)  # noqa: E731  (the test filter)
        tensors = torch.cat((u, pack_symmetric(s), pack_symmetric(u[:, :, None] * u[:, None]),
                             pack_symmetric(mag[:, None, None] * s)), dim=1)
        u_t, s_t, uu_t, mag_s_t = test(tensors).split([d, *(3 * [d * (d + 1) // 2])], dim=1)
        s_t, uu_t, mag_s_t = (unpack_symmetric(t, d) for t in (s_t, uu_t, mag_s_t))
        mag_t = strain_magnitude(s_t)
        leonard = uu_t - u_t[:, :, None] * u_t[:, None]
        m = 2.0 * self.delta**2 * (mag_s_t - self.ratio**2 * mag_t[:, None, None] * s_t)
        dims = tuple(range(1, d + 1))
        return contract(leonard, m).mean(dims) / contract(m, m).mean(dims).clamp_min(1e-300)

    def eddy_viscosity(self, flow: ResolvedFlow) -> torch.Tensor:
        c = self.coefficient(flow).reshape(-1, *[1] * flow.grid.ndim)
        return torch.clamp_min(c * self.delta**2 * flow.strain_magnitude, -flow.viscosity)


@dataclass(frozen=True)
class WALE:
    """Wall-adapting local eddy viscosity; ``delta`` filter width, ``c_w`` the constant."""

    delta: float
    c_w: float = 0.5

    def eddy_viscosity(self, flow: ResolvedFlow) -> torch.Tensor:
        g = flow.gradient
        if g.shape[1] == 2:  # embed a 2-D flow in 3-D (w = 0, d/dz = 0)
            g = torch.nn.functional.pad(g.movedim((1, 2), (-2, -1)), (0, 1, 0, 1)).movedim((-2, -1), (1, 2))
        g2 = torch.einsum("nik...,nkj...->nij...", g, g)
        eye = torch.eye(3, dtype=g.dtype, device=g.device).reshape(1, 3, 3, *[1] * (g.ndim - 3))
        sd = symmetric_part(g2) - eye * torch.einsum("nii...->n...", g2)[:, None, None] / 3.0
        sd2, s2 = contract(sd, sd), contract(symmetric_part(g), symmetric_part(g))
        denominator = s2**2.5 + sd2**1.25
        return (self.c_w * self.delta) ** 2 * sd2**1.5 / denominator.clamp_min(1e-300)


@dataclass(frozen=True)
class Leith:
    """Leith's 2-D enstrophy-cascade viscosity; ``delta`` filter width, ``c_l`` the constant."""

    delta: float
    c_l: float = 0.2

    def eddy_viscosity(self, flow: ResolvedFlow) -> torch.Tensor:
        if flow.grid.ndim != 2:
            raise UserError(f"the Leith model is 2-D; got a {flow.grid.ndim}-D grid")
        kx, ky = wavenumbers(flow.grid, flow.u_hat.device, flow.u_hat.real.dtype)
        omega_hat = 1j * (kx * flow.u_hat[:, 1] - ky * flow.u_hat[:, 0])
        grad = irfft(torch.stack((1j * kx * omega_hat, 1j * ky * omega_hat), dim=1), flow.grid)
        return (self.c_l * self.delta) ** 3 * grad.norm(dim=1)
