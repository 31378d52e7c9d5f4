"""Shell spectra, low-shell energy forcing and the scales of homogeneous isotropic turbulence.

Conventions (the neural-operator LES papers' and Pope's): plain Fourier coefficients
``u = sum_k u_hat(k) e^{i k.x}`` on a ``(2 pi)^d`` box, shells by ``round(|k|)``, and
``E(k) = 1/2 sum_{round|k'| = k} |u_hat(k')|^2``, so ``sum_k E(k) = K = <u_i u_i> / 2``.
Fourier inputs are ``rfftn`` half-spectra ``(n, d, *half)`` (unnormalised, as
`pdesolve.numerics.spectral.rfft` returns them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from pdesolve.data.grid import Grid
from pdesolve.numerics.spectral import integer_wavenumbers, rfft


def shell_index(grid: Grid, device=None) -> torch.Tensor:
    """``round(|n|)`` of every half-spectrum mode, ``(*half)`` (long)."""
    return torch.round(torch.sqrt(sum(n**2 for n in integer_wavenumbers(grid, device)))).long()


def half_spectrum_weight(grid: Grid, device=None, dtype=torch.float64) -> torch.Tensor:
    """How many times each half-spectrum mode stands for itself in the full spectrum (1 or 2), ``(*half)``."""
    n_last = grid.shape[-1]
    j = torch.arange(n_last // 2 + 1, device=device)
    w = torch.where((j == 0) | ((n_last % 2 == 0) & (j == n_last // 2)), 1.0, 2.0).to(dtype)
    return w.reshape(*[1] * (grid.ndim - 1), -1)


def shell_spectrum(u_hat: torch.Tensor, grid: Grid) -> torch.Tensor:
    """Per-sample energy spectrum ``E(k)``, ``k = 0 .. max shell``, of a Fourier velocity ``(n, d, *half)``
    -> ``(n, k_max + 1)``."""
    scale = 1.0 / math.prod(grid.shape)
    power = 0.5 * (u_hat.abs() * scale) ** 2 * half_spectrum_weight(grid, u_hat.device, u_hat.real.dtype)
    power = power.sum(1).flatten(1)
    shells = shell_index(grid, u_hat.device).flatten()
    out = power.new_zeros(power.shape[0], int(shells.max()) + 1)
    return out.index_add_(1, shells, power)


class ShellForcing:
    """Forcing by holding the energy of the lowest shells fixed (the Wang group's forced HIT):
    after each step the modes of shell ``k`` are multiplied by ``sqrt(E_0(k) / E(k))``.

    Args:
        energies: target ``E_0(k)`` by shell, e.g. ``{1: 1.242477, 2: 0.391356}``.
        grid: the grid of the Fourier states it will rescale.
    """

    def __init__(self, energies: Mapping[int, float], grid: Grid):
        self.energies = dict(energies)
        self.grid = grid
        self.k_max = max(self.energies)
        self._modes: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def forced_modes(self, device) -> tuple[torch.Tensor, torch.Tensor]:
        """Shell (``0`` = not forced) and half-spectrum weight of every mode, ``(*half)`` each (cached)."""
        if device not in self._modes:
            shells = shell_index(self.grid, device)
            shells = torch.where(shells <= self.k_max, shells, 0)
            self._modes[device] = shells, half_spectrum_weight(self.grid, device).expand(shells.shape)
        return self._modes[device]

    def __call__(self, u_hat: torch.Tensor) -> torch.Tensor:
        shells, weight = self.forced_modes(u_hat.device)
        scale = 1.0 / math.prod(self.grid.shape)
        power = (0.5 * (u_hat.abs() * scale) ** 2 * weight.to(u_hat.real.dtype)).sum(1).flatten(1)
        energy = power.new_zeros(power.shape[0], self.k_max + 1).index_add_(1, shells.flatten(), power)
        gain = torch.ones_like(energy)
        for k, target in self.energies.items():
            gain[:, k] = torch.sqrt(target / energy[:, k].clamp_min(1e-300))
        return u_hat * gain[:, shells][:, None]


def isotropic_scales(u: torch.Tensor, grid: Grid, viscosity: float) -> dict[str, torch.Tensor]:
    """Standard scales of 3-D homogeneous isotropic turbulence per sample (Pope 2000, ch. 6).

    Args:
        u: velocity ``(n, 3, *s)`` on a periodic ``(2 pi)^3`` grid.
        viscosity: ``nu``.
    Returns:
        ``(n,)`` tensors: ``kinetic_energy`` K, ``dissipation`` eps = 2 nu sum k^2 E(k),
        ``u_rms`` u' = sqrt(2K/3), ``taylor_microscale`` lambda = sqrt(15 nu u'^2 / eps),
        ``re_lambda`` = u' lambda / nu, ``integral_scale`` L = pi/(2 u'^2) sum E(k)/k,
        ``eddy_turnover_time`` L/u', ``kolmogorov_scale`` eta = (nu^3/eps)^(1/4) and
        ``kmax_eta`` (k_max = N/3, the 2/3-rule cutoff).
    """
    spectrum = shell_spectrum(rfft(u, 3), grid)
    k = torch.arange(spectrum.shape[1], dtype=spectrum.dtype, device=spectrum.device)
    energy = spectrum.sum(1)
    eps = 2.0 * viscosity * (k**2 * spectrum).sum(1)
    u_rms = torch.sqrt(2.0 * energy / 3.0)
    taylor = torch.sqrt(15.0 * viscosity * u_rms**2 / eps)
    integral = math.pi / (2.0 * u_rms**2) * (spectrum[:, 1:] / k[1:]).sum(1)
    eta = (viscosity**3 / eps) ** 0.25
    return {
        "kinetic_energy": energy, "dissipation": eps, "u_rms": u_rms, "taylor_microscale": taylor,
        "re_lambda": u_rms * taylor / viscosity, "integral_scale": integral,
        "eddy_turnover_time": integral / u_rms, "kolmogorov_scale": eta,
        "kmax_eta": (min(grid.shape) // 3) * eta,
    }
