"""Eddy-viscosity SGS closures for wall-bounded LES on a Fourier(x, z)--Chebyshev(y) channel grid.

Same models as `pdesolve.numerics.sgs` (which they reuse where the formula is the same), with the
wall-bounded choices (les.md §1.6, §3.5): filter width ``Delta(y) = (dx dy(y) dz)^(1/3)`` with
``dx = lx/nx``, ``dz = lz/nz`` and ``dy(y_j) = (y_{j-1} - y_{j+1}) / 2`` (one-sided at the walls);

* `van_driest_smagorinsky`: ``nu_t = (C_s Delta D(y+))^2 |S|``, ``D = 1 - exp(-y+/A+)``, ``A+ = 25``;
* `ChannelDynamicSmagorinsky`: Germano--Lilly with a sharp test filter in x and z only (at half the
  kept modes), ``C(y) = <L_ij M_ij>_xz / <M_ij M_ij>_xz`` per plane, test-to-grid width ratio
  ``(r_x r_z)^(1/3)`` (``4^(1/3)`` for ``r = 2``), ``nu + nu_t >= 0`` (clipping);
* WALE (`pdesolve.numerics.sgs.WALE`) with ``Delta(y)``: no damping needed, ``nu_t ~ y^3`` at walls.

`ChannelClosure` turns a model into the `ChannelKMM` closure ``div(2 nu_t S)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from pdesolve.numerics.channel_spectral import ChannelGrid, SpectralChannel
from pdesolve.numerics.sgs import WALE, Smagorinsky, contract, pack_symmetric, strain_magnitude, symmetric_part
from pdesolve.numerics.sgs import unpack_symmetric as unpack


def filter_width(grid: ChannelGrid) -> np.ndarray:
    """``Delta(y) = (dx dy(y) dz)^(1/3)`` on the ``ny`` points, ``(ny,)``."""
    y = grid.y
    dy = np.empty_like(y)
    dy[1:-1] = 0.5 * (y[:-2] - y[2:])
    dy[0], dy[-1] = y[0] - y[1], y[-2] - y[-1]
    return (grid.lx / grid.nx * dy * grid.lz / grid.nz) ** (1.0 / 3.0)


def van_driest(grid: ChannelGrid, re_tau: float, a_plus: float = 25.0) -> np.ndarray:
    """Damping ``1 - exp(-y+/A+)``, ``y+ = (1 - |y|) Re_tau``, ``(ny,)`` (0 at the walls, -> 1 away)."""
    return 1.0 - np.exp(-(1.0 - np.abs(grid.y)) * re_tau / a_plus)


@dataclass
class WallResolvedFlow:
    """The resolved channel velocity an eddy-viscosity model sees (the `sgs.ResolvedFlow` attributes).

    ``u_hat`` Fourier velocity ``(n, 3, nx, ny, nzh)``, ``g_hat`` its Fourier gradient ``(n, 3, 3, nx, ny, nzh)``.
    """

    u_hat: torch.Tensor
    g_hat: torch.Tensor
    space: SpectralChannel
    viscosity: float

    @cached_property
    def gradient(self) -> torch.Tensor:
        return self.space.inverse(self.g_hat)

    @cached_property
    def strain(self) -> torch.Tensor:
        return symmetric_part(self.gradient)

    @cached_property
    def strain_magnitude(self) -> torch.Tensor:
        return strain_magnitude(self.strain)


def _profile(values: np.ndarray, space: SpectralChannel) -> torch.Tensor:
    """A ``(ny,)`` profile broadcastable against ``(n, nx, ny, nz)``."""
    return torch.as_tensor(values, dtype=space.dtype, device=space.device)[:, None]


def van_driest_smagorinsky(space: SpectralChannel, re_tau: float, c_s: float = 0.1,
                           a_plus: float = 25.0) -> Smagorinsky:
    """`sgs.Smagorinsky` with the damped width ``Delta(y) (1 - exp(-y+/A+))``."""
    grid = space.grid
    return Smagorinsky(_profile(filter_width(grid) * van_driest(grid, re_tau, a_plus), space), c_s)


def channel_wale(space: SpectralChannel, c_w: float = 0.5) -> WALE:
    """`sgs.WALE` with ``Delta(y)``."""
    return WALE(_profile(filter_width(space.grid), space), c_w)


@dataclass(frozen=True)
class ChannelDynamicSmagorinsky:
    """Dynamic Smagorinsky, test filter in x and z (sharp, ``ratio`` x wider), averaged over x--z planes."""

    space: SpectralChannel
    ratio: float = 2.0

    @cached_property
    def delta(self) -> torch.Tensor:
        return _profile(filter_width(self.space.grid), self.space)

    @cached_property
    def test_mask(self) -> torch.Tensor:
        sp, g = self.space, self.space.grid
        kx_cut = g.kept(g.nx) / self.ratio * 2 * np.pi / g.lx
        kz_cut = g.kept(g.nz) / self.ratio * 2 * np.pi / g.lz
        return ((sp.kx.abs() <= kx_cut + 1e-12) & (sp.kz <= kz_cut + 1e-12)).to(sp.dtype)

    def coefficient(self, flow: WallResolvedFlow) -> torch.Tensor:
        """``C(y) = <L_ij M_ij>_xz / <M_ij M_ij>_xz``, ``(n, ny)`` (before clipping)."""
        sp = self.space
        test = lambda f: sp.inverse(sp.forward(f) * self.test_mask)  # noqa: E731  (the test filter)
        u = sp.inverse(flow.u_hat)
        s, mag = flow.strain, flow.strain_magnitude
        tensors = torch.cat((u, pack_symmetric(s), pack_symmetric(u[:, :, None] * u[:, None]),
                             pack_symmetric(mag[:, None, None] * s)), dim=1)
        u_t, s_t, uu_t, mag_s_t = test(tensors).split([3, 6, 6, 6], dim=1)
        s_t, uu_t, mag_s_t = unpack(s_t, 3), unpack(uu_t, 3), unpack(mag_s_t, 3)
        leonard = uu_t - u_t[:, :, None] * u_t[:, None]
        alpha2 = self.ratio ** (4.0 / 3.0)  # (Delta^ / Delta)^2 with (r_x r_z)^(1/3) = ratio^(2/3)
        m = 2.0 * self.delta**2 * (mag_s_t - alpha2 * strain_magnitude(s_t)[:, None, None] * s_t)
        return contract(leonard, m).mean(dim=(1, 3)) / contract(m, m).mean(dim=(1, 3)).clamp_min(1e-300)

    def eddy_viscosity(self, flow: WallResolvedFlow) -> torch.Tensor:
        c = self.coefficient(flow)[:, None, :, None]
        return torch.clamp_min(c * self.delta**2 * flow.strain_magnitude, -flow.viscosity)


@dataclass(frozen=True)
class ChannelClosure:
    """The `ChannelKMM` closure of an eddy-viscosity model: Fourier ``div(2 nu_t S)``."""

    model: object  # eddy_viscosity(WallResolvedFlow) -> (n, nx, ny, nz)
    space: SpectralChannel
    viscosity: float

    def __call__(self, u_hat: torch.Tensor, g_hat: torch.Tensor) -> torch.Tensor:
        flow = WallResolvedFlow(u_hat, g_hat, self.space, self.viscosity)
        nu_t = self.model.eddy_viscosity(flow)[:, None]
        stress = self.space.forward(2.0 * nu_t * pack_symmetric(flow.strain))
        return self.space.divergence_rows(unpack(stress, 3))
