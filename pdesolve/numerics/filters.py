"""Spectral filters on periodic grids, and filtering a DNS field onto an LES grid.

Conventions: fields ``(..., *grid.shape)``; a cutoff is an integer mode radius ``k_c`` (modes
``n`` with ``|n| <= k_c`` are kept, ``k = 2 pi n / L``), which on the ``(2 pi)^d`` boxes of the
turbulence problems is the angular wavenumber itself. The filter width of a sharp cutoff is
``Delta = L / (2 k_c)`` (``pi / k_c`` on a ``2 pi`` box).
"""

from __future__ import annotations

import torch

from pdesolve.data.grid import Grid
from pdesolve.numerics.spectral import dealias_mask, integer_wavenumbers, irfft, rfft, spectral_resample


def les_cutoff(grid: Grid) -> int:
    """The default sharp-filter cutoff of an LES grid: ``floor(N / 3)`` of its smallest axis.

    It is the largest radius inside the grid's 2/3-rule band (``k_c = 10`` on a 32-point axis, the
    forced-HIT convention of the Wang group's neural-operator LES papers).
    """
    return min(grid.shape) // 3


def filter_width(grid: Grid, cutoff: float) -> float:
    """Width ``Delta = L / (2 k_c)`` of a sharp cutoff at mode radius ``cutoff`` (first axis' length)."""
    return grid.lengths[0] / (2.0 * cutoff)


def cutoff_mask(grid: Grid, cutoff: float, device=None) -> torch.Tensor:
    """Boolean mask of the rfft half-spectrum modes with ``|n| <= cutoff`` (a sphere/disc of modes)."""
    radius2 = sum(n**2 for n in integer_wavenumbers(grid, device))
    return radius2 <= cutoff**2 + 1e-9


def sharp_filter(u: torch.Tensor, grid: Grid, cutoff: float) -> torch.Tensor:
    """``u`` with every mode ``|n| > cutoff`` removed (a sharp spectral filter), same grid."""
    return irfft(rfft(u, grid.ndim) * cutoff_mask(grid, cutoff, u.device), grid)


def filter_to_grid(u: torch.Tensor, grid: Grid, target: Grid, cutoff: float | None = None) -> torch.Tensor:
    """Filtered DNS on an LES grid: sharp cutoff at ``cutoff`` (default `les_cutoff` of ``target``),
    then Fourier truncation from ``grid`` to ``target`` (exact: no retained mode reaches the
    target's Nyquist). ``u``: ``(..., *grid.shape)`` -> ``(..., *target.shape)``."""
    cutoff = les_cutoff(target) if cutoff is None else cutoff
    return spectral_resample(sharp_filter(u, grid, cutoff), grid, target)


def resolved_mask(grid: Grid, cutoff: float | None = None, device=None) -> torch.Tensor:
    """Modes a pseudo-spectral integration keeps: the 2/3 rule, and ``|n| <= cutoff`` when a cutoff is
    given (so an LES evolves exactly the modes of its filtered DNS)."""
    mask = dealias_mask(grid, device)
    return mask if cutoff is None else mask & cutoff_mask(grid, cutoff, device)
