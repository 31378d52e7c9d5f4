"""Incompressible channel flow by the Kim--Moin--Moser (1987) velocity--vorticity formulation:
Fourier in x and z (2/3 dealiasing), Chebyshev--Gauss--Lobatto collocation in y, as an equation object
for `pdesolve.numerics.time_steppers` (implicit wall-normal viscosity, e.g. `LowStorageIMEXRK3`).

Walls at ``y = -1, 1`` (half-height ``h = 1``). For every Fourier mode ``k = (k_x, k_z) != 0`` the
unknowns are the wall-normal velocity ``v`` and vorticity ``eta = du/dz - dw/dx``::

    d/dt (D^2 - k^2) v = h_v + nu (D^2 - k^2)^2 v,      v = v' = 0 at the walls
    d/dt eta           = h_g + nu (D^2 - k^2) eta,      eta = 0 at the walls

with ``H = u x omega`` (+ the SGS force), ``h_v = -D(i k_x H_1 + i k_z H_3) - k^2 H_2``,
``h_g = i k_z H_1 - i k_x H_3``; the mean (``k = 0``) profiles ``U, W`` obey
``dU/dt = <H_1> + nu U'' + Pi``, ``dW/dt = <H_3> + nu W''``, ``Pi = -dP/dx`` the driving pressure
gradient. ``u, w`` of the other modes follow from continuity and ``eta``:
``u = i (k_x v' - k_z eta) / k^2``, ``w = i (k_z v' + k_x eta) / k^2``.

``v`` lives on the interior points with the clamped interpolant ``(1 - y^2) q(y)``
(`pdesolve.numerics.chebyshev.clamped_operators`), so both wall conditions hold exactly and the
equation per mode is a dense ``(N-1) x (N-1)`` system, pre-factored (inverted once per time-step
coefficient). The state is ``(v_hat, eta_hat, mean)``: ``(n, N_x, N-1, N_z/2+1)`` complex twice
(Fourier amplitudes, ``norm="forward"``) and ``(n, 2, N-1)`` real (``U, W`` at interior points).
Physical fields are ``(n, N_x, N+1, N_z)`` with ``y_j = cos(pi j / N)`` (``j = 0`` the upper wall).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from pdesolve.numerics import chebyshev
from pdesolve.numerics.channel_spectral import SpectralChannel

State = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def _apply(matrices: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Per-mode real matrices ``(nx, nzh, m, m)`` applied along ``y`` of complex ``(n, nx, m, nzh)``."""
    parts = torch.view_as_real(f.permute(0, 1, 3, 2).contiguous())  # (n, nx, nzh, m, 2)
    return torch.view_as_complex((matrices @ parts).contiguous()).permute(0, 1, 3, 2)


#: an SGS closure: (Fourier velocity ``(n, 3, nx, ny, nzh)``, Fourier gradient ``(n, 3, 3, nx, ny, nzh)``) ->
#: Fourier SGS force ``div(2 nu_t S)``, ``(n, 3, nx, ny, nzh)``
Closure = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class ChannelKMM:
    """The KMM channel equation (see module docstring) as a `SemiImplicitEquation`.

    Args:
        space: the grid's transforms.
        viscosity: ``nu`` (``1 / Re_tau`` in wall units of the nominal ``u_tau = 1``).
        pressure_gradient: ``Pi = -dP/dx`` (``u_tau^2 / h`` = 1 for a fixed ``Re_tau``; 0 at constant flow rate).
        closure: SGS force of the resolved velocity, or ``None`` (DNS / no model).
    """

    def __init__(self, space: SpectralChannel, viscosity: float, pressure_gradient: float = 1.0,
                 closure: Closure | None = None):
        self.space, self.nu, self.pi, self.closure = space, float(viscosity), float(pressure_gradient), closure
        n = space.grid.n
        d = chebyshev.differentiation_matrix(n)
        self._d2 = (d @ d)[1:n, 1:n]  # Dirichlet second derivative on interior points
        self._c2, self._c4 = chebyshev.clamped_operators(n)
        self._c1 = self._clamped_first(n)
        k2 = space.k2[:, 0, :].cpu().double().numpy()[..., None, None]  # (nx, nzh, 1, 1)
        eye = np.eye(n - 1)
        self._k2 = k2
        self._m = self._c2 - k2 * eye  # (nx, nzh, m, m) Laplacian of v
        self._l4 = self._c4 - 2 * k2 * self._c2 + k2**2 * eye
        self._m[0, 0] = eye  # the (0, 0) mode has no v or eta: keep the systems regular
        self._m_inv = self._t(np.linalg.inv(self._m))
        self._lv = self._t(self.nu * np.linalg.inv(self._m) @ self._l4)
        self._leta = self._t(self.nu * (self._d2 - k2 * eye))
        self._lmean = self._t(self.nu * self._d2)
        self._solves: dict[float, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        self.modes = (space.mask[:, 0, :] * (space.k2[:, 0, :] > 0)).to(space.dtype)[:, None, :]  # (nx, 1, nzh)

    def _t(self, a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(a), dtype=self.space.dtype, device=self.space.device)

    @staticmethod
    def _clamped_first(n: int) -> np.ndarray:
        """``d/dy`` on interior points of the clamped interpolant ``(1 - y^2) q``, ``(n-1, n-1)``."""
        y, d = chebyshev.points(n), chebyshev.differentiation_matrix(n)
        s, inner = 1.0 - y**2, slice(1, n)
        return (np.diag(s[inner]) @ d[inner, inner] - 2 * np.diag(y[inner])) @ np.diag(1.0 / s[inner])

    # --------------------------------------------------------------------------- fields
    def velocity_hat(self, state: State) -> torch.Tensor:
        """Fourier velocity on all ``ny`` points, ``(n, 3, nx, ny, nzh)``."""
        v, eta, mean = state
        sp = self.space
        c1 = torch.as_tensor(self._c1, dtype=sp.dtype, device=sp.device).to(v.dtype)
        dv = torch.einsum("ij,...jk->...ik", c1, v)
        k2 = torch.where(sp.k2 > 0, sp.k2, torch.ones_like(sp.k2))
        u = 1j * (sp.kx * dv - sp.kz * eta) / k2 * self.modes
        w = 1j * (sp.kz * dv + sp.kx * eta) / k2 * self.modes
        u[:, 0, :, 0] = mean[:, 0].to(u.dtype)
        w[:, 0, :, 0] = mean[:, 1].to(w.dtype)
        pad = lambda f: torch.nn.functional.pad(f, (0, 0, 1, 1))  # noqa: E731  (zero at the walls)
        return torch.stack((pad(u), pad(v), pad(w)), dim=1)

    def gradient_hat(self, state: State) -> torch.Tensor:
        """Fourier velocity gradient ``g_ij = du_i/dx_j`` on all points, ``(n, 3, 3, nx, ny, nzh)``; ``dv/dy``
        from the clamped interpolant of ``v`` (so ``g_ii = 0`` to round-off)."""
        sp, u_hat = self.space, self.velocity_hat(state)
        g = torch.stack((1j * sp.kx * u_hat, sp.dy(u_hat), 1j * sp.kz * u_hat), dim=2)
        c1 = torch.as_tensor(self._c1, dtype=sp.dtype, device=sp.device).to(u_hat.dtype)
        g[:, 1, 1, :, 1:sp.grid.n] = torch.einsum("ij,...jk->...ik", c1, state[0])
        g[:, 1, 1, :, [0, -1]] = 0
        return g

    def velocity(self, state: State) -> torch.Tensor:
        """Physical velocity ``(n, 3, nx, ny, nz)``."""
        return self.space.inverse(self.velocity_hat(state))

    def state_from_velocity(self, u: torch.Tensor) -> State:
        """The state of a physical velocity ``(n, 3, nx, ny, nz)`` (divergence-free, zero at the walls)."""
        sp = self.space
        u_hat = sp.forward(u.to(sp.dtype))
        inner = slice(1, sp.grid.n)
        v = u_hat[:, 1, :, inner] * self.modes
        eta = (1j * sp.kz * u_hat[:, 0] - 1j * sp.kx * u_hat[:, 2])[:, :, inner] * self.modes
        mean = torch.stack((u_hat[:, 0, 0, inner, 0].real, u_hat[:, 2, 0, inner, 0].real), dim=1)
        return v, eta, mean

    # --------------------------------------------------------------------------- equation protocol
    def explicit_terms(self, state: State, t: float) -> State:
        sp = self.space
        u_hat = self.velocity_hat(state)
        du_dy = sp.dy(u_hat)
        omega_hat = torch.stack((du_dy[:, 2] - 1j * sp.kz * u_hat[:, 1],
                                 1j * sp.kz * u_hat[:, 0] - 1j * sp.kx * u_hat[:, 2],
                                 1j * sp.kx * u_hat[:, 1] - du_dy[:, 0]), dim=1)
        u, omega = sp.inverse(u_hat), sp.inverse(omega_hat)
        h = sp.forward(torch.linalg.cross(u, omega, dim=1))
        if self.closure is not None:
            h = h + self.closure(u_hat, self.gradient_hat(state))
        inner = slice(1, sp.grid.n)
        h_v = (-sp.dy(1j * sp.kx * h[:, 0] + 1j * sp.kz * h[:, 2]) - sp.k2 * h[:, 1])[:, :, inner]
        h_g = (1j * sp.kz * h[:, 0] - 1j * sp.kx * h[:, 2])[:, :, inner]
        mean = torch.stack((h[:, 0, 0, inner, 0].real + self.pi, h[:, 2, 0, inner, 0].real), dim=1)
        return _apply(self._m_inv, h_v) * self.modes, h_g * self.modes, mean

    def implicit_terms(self, state: State) -> State:
        v, eta, mean = state
        return _apply(self._lv, v), _apply(self._leta, eta), mean @ self._lmean.T

    def implicit_solve(self, state: State, coefficient: float) -> State:
        key = round(float(coefficient), 15)
        if key not in self._solves:
            c, eye = float(coefficient), np.eye(self.space.grid.n - 1)
            sv = np.linalg.solve(self._m - c * self.nu * self._l4, self._m)
            se = np.linalg.inv(eye - c * self.nu * (self._d2 - self._k2 * eye))
            sm = np.linalg.inv(eye - c * self.nu * self._d2)
            self._solves[key] = (self._t(sv), self._t(se), self._t(sm))
        sv, se, sm = self._solves[key]
        v, eta, mean = state
        return _apply(sv, v), _apply(se, eta), mean @ sm.T

    # --------------------------------------------------------------------------- flow rate
    def bulk_velocity(self, state: State) -> torch.Tensor:
        """``U_b = (1/2) int U dy`` per sample, ``(n,)``."""
        w = self.space.weights[1:self.space.grid.n]
        return 0.5 * state[2][:, 0] @ w


@dataclass
class ConstantFlowRate:
    """`march` ``after_step``: add the multiple of ``1 - y^2`` to ``U`` that restores the bulk velocity ``u_bulk``;
    ``pressure_gradient`` holds the implied ``Pi`` of the last step (the uniform ``-dP/dx`` adding the same
    bulk momentum), ``(n,)``."""

    equation: ChannelKMM
    u_bulk: float
    dt: float

    @cached_property
    def shape(self) -> torch.Tensor:
        y = self.equation.space.y[1:self.equation.space.grid.n]
        return 1.0 - y**2  # bulk 2/3

    def __call__(self, state: State, t: float) -> State:
        v, eta, mean = state
        gain = (self.u_bulk - self.equation.bulk_velocity(state)) / (2.0 / 3.0)
        self.pressure_gradient = self.equation.pi + gain * (2.0 / 3.0) / self.dt
        mean = mean.clone()
        mean[:, 0] += gain[:, None] * self.shape
        return v, eta, mean
