"""Gaussian random fields on periodic boxes, as used by the FNO benchmark generators.

A field with covariance operator ``sigma^2 (-Laplacian + tau^2 I)^(-alpha)`` on a periodic box
is sampled in Fourier space: mode ``k`` gets variance ``sigma^2 (|k|^2 + tau^2)^(-alpha)``
(angular wavenumbers), the mean mode is set to zero.
"""

from __future__ import annotations

import hashlib
import math

import torch

from pdesolve.data.grid import Grid


def sample_seed(seed: int, index: int, salt: str = "") -> int:
    """A 63-bit seed for sample ``index`` of a dataset seeded with ``seed``.

    Each sample has its own stream, so a dataset can grow without changing the samples it has.
    """
    digest = hashlib.sha256(f"{seed}/{index}/{salt}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def gaussian_random_field(
    grid: Grid,
    n: int,
    *,
    alpha: float,
    tau: float,
    sigma: float,
    seed: int,
    first_index: int = 0,
    device=None,
    dtype=torch.float64,
) -> torch.Tensor:
    """``n`` independent samples, shape ``(n, *grid.shape)``.

    Sample ``i`` is drawn from its own generator seeded by ``sample_seed(seed, first_index + i)``.
    The eigenfunctions are normalised on the unit box (``e^{2 pi i n.x}``), so for a box of
    length 1 the covariance is exactly ``sigma^2 (-Laplacian + tau^2)^(-alpha)``; on other boxes the
    wavenumbers are the box's angular wavenumbers.
    """
    shape = grid.shape
    ks = []
    for d, axis in enumerate(grid.axes):
        idx = torch.fft.fftfreq(axis.size, d=1.0 / axis.size, dtype=dtype)
        s = [1] * grid.ndim
        s[d] = -1
        ks.append(((2 * math.pi / axis.length) * idx).reshape(s))
    k2 = sum(k**2 for k in ks)
    sqrt_eig = sigma * (k2 + tau**2) ** (-alpha / 2.0)
    sqrt_eig = sqrt_eig * torch.ones(shape, dtype=dtype)
    sqrt_eig.reshape(-1)[0] = 0.0
    out = torch.empty((n, *shape), dtype=dtype)
    for i in range(n):
        g = torch.Generator().manual_seed(sample_seed(seed, first_index + i, "grf"))
        xi = torch.randn(shape, generator=g, dtype=dtype) + 1j * torch.randn(shape, generator=g, dtype=dtype)
        coeff = sqrt_eig * xi
        out[i] = torch.fft.ifftn(coeff, dim=tuple(range(grid.ndim))).real * math.prod(shape)
    return out.to(device)
