"""Fourier-space operators on periodic grids (real FFTs over the trailing ``ndim`` axes).

Conventions: fields have shape ``(..., *grid.shape)``; their transforms come from ``rfftn`` over
the grid axes, so the last grid axis holds only non-negative wavenumbers. Wavenumbers are
angular, ``2 pi n / L``.
"""

from __future__ import annotations

import math

import torch

from pdesolve.data.grid import Grid


def wavenumbers(grid: Grid, device=None, dtype=torch.float64) -> tuple[torch.Tensor, ...]:
    """Angular wavenumbers per axis, each shaped to broadcast over the rfft half-spectrum."""
    ks = []
    nd = grid.ndim
    for d, axis in enumerate(grid.axes):
        n = axis.size
        if d == nd - 1:
            idx = torch.fft.rfftfreq(n, d=1.0 / n, device=device, dtype=dtype)
        else:
            idx = torch.fft.fftfreq(n, d=1.0 / n, device=device, dtype=dtype)
        shape = [1] * nd
        shape[d] = -1
        ks.append((2 * math.pi / axis.length) * idx.reshape(shape))
    return tuple(ks)


def integer_wavenumbers(grid: Grid, device=None, dtype=torch.float64) -> tuple[torch.Tensor, ...]:
    """Integer mode indices per axis (``n`` with ``k = 2 pi n / L``), broadcastable like `wavenumbers`."""
    return tuple(
        k * (axis.length / (2 * math.pi)) for k, axis in zip(wavenumbers(grid, device, dtype), grid.axes, strict=True)
    )


def laplacian_symbol(grid: Grid, device=None, dtype=torch.float64) -> torch.Tensor:
    """``|k|^2`` on the half-spectrum (the Laplacian is multiplication by ``-|k|^2``)."""
    return sum(k**2 for k in wavenumbers(grid, device, dtype))


def dealias_mask(grid: Grid, device=None, fraction: float = 2.0 / 3.0) -> torch.Tensor:
    """Boolean mask of the modes kept by the 2/3 rule: ``|n_i| < fraction * N_i / 2`` on every axis."""
    mask = None
    for n, axis in zip(integer_wavenumbers(grid, device), grid.axes, strict=True):
        keep = n.abs() < fraction * axis.size / 2
        mask = keep if mask is None else mask & keep
    return mask


def dealias(u: torch.Tensor, grid: Grid) -> torch.Tensor:
    """``u`` (``(..., *grid.shape)``) with the modes outside the 2/3-rule band of `dealias_mask` removed."""
    return irfft(rfft(u, grid.ndim) * dealias_mask(grid, u.device), grid)


def rfft(u: torch.Tensor, ndim: int) -> torch.Tensor:
    """Forward real FFT over the last ``ndim`` axes."""
    return torch.fft.rfftn(u, dim=tuple(range(-ndim, 0)))


def irfft(u_hat: torch.Tensor, grid: Grid) -> torch.Tensor:
    """Inverse of `rfft` back to ``grid.shape``."""
    return torch.fft.irfftn(u_hat, s=grid.shape, dim=tuple(range(-grid.ndim, 0)))


def spectral_resample(u: torch.Tensor, grid: Grid, target: Grid) -> torch.Tensor:
    """Resample a periodic field to ``target`` by Fourier truncation or zero padding.

    Keeps the modes both grids resolve (the smaller grid's Nyquist mode is dropped), so it is exact
    for fields band-limited below that, and a sharp spectral filter when ``target`` is coarser.
    """
    nd = grid.ndim
    u_hat = rfft(u, nd)
    out_shape = list(u_hat.shape[:-nd]) + [n for n in target.shape[:-1]] + [target.shape[-1] // 2 + 1]
    out = torch.zeros(out_shape, dtype=u_hat.dtype, device=u.device)
    # copy the common low-frequency block axis by axis (positive and negative halves)
    blocks = [[]]
    for d in range(nd):
        n_in, n_out = grid.shape[d], target.shape[d]
        if d == nd - 1:
            m = (min(n_in, n_out) + 1) // 2  # Nyquist of the smaller grid dropped
            blocks = [b + [(slice(0, m), slice(0, m))] for b in blocks]
        else:
            m = min(n_in, n_out)
            pos, neg = (m + 1) // 2, (m - 1) // 2  # Nyquist of the smaller grid dropped
            new = []
            for b in blocks:
                new.append(b + [(slice(0, pos), slice(0, pos))])
                if neg:
                    new.append(b + [(slice(n_in - neg, n_in), slice(n_out - neg, n_out))])
            blocks = new
    for b in blocks:
        out[(..., *[s[1] for s in b])] = u_hat[(..., *[s[0] for s in b])]
    scale = math.prod(target.shape) / math.prod(grid.shape)
    return irfft(out * scale, target)
