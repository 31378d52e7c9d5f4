"""Gaussian random fields on boxes, as used by the FNO benchmark generators.

A field with covariance operator ``sigma^2 (-Laplacian + tau^2 I)^(-alpha)`` is sampled from its
Karhunen--Loeve expansion: mode ``k`` gets variance ``sigma^2 (|k|^2 + tau^2)^(-alpha)`` (angular
wavenumbers), the mean mode is set to zero. `gaussian_random_field` uses the periodic (Fourier)
eigenfunctions, `cosine_random_field` the Neumann (cosine) ones on a ``nodes`` grid.
"""

from __future__ import annotations

import hashlib
import math

import torch

from pdesolve.data.grid import Grid
from pdesolve.errors import UserError


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


def _cosine_series(coeffs: torch.Tensor, dim: int) -> torch.Tensor:
    """``sum_k c_k cos(pi j k / (N - 1))``, ``j = 0..N-1``, along ``dim`` (``N >= 2``; an unnormalised DCT-I).

    Evaluated with one FFT of the even extension
    ``c_0, c_1/2, ..., c_{N-2}/2, c_{N-1}, c_{N-2}/2, ..., c_1/2``.
    """
    c = coeffs.movedim(dim, -1)
    n = c.shape[-1]
    inner = 0.5 * c[..., 1:-1]
    extension = torch.cat((c[..., :1], inner, c[..., -1:], inner.flip(-1)), dim=-1)
    return torch.fft.fft(extension, dim=-1).real[..., :n].movedim(-1, dim)


def cosine_random_field(
    grid: Grid,
    n: int,
    *,
    alpha: float,
    tau: float,
    sigma: float = 1.0,
    seed: int,
    first_index: int = 0,
    modes: int | tuple[int, ...] | None = None,
    device=None,
    dtype=torch.float64,
) -> torch.Tensor:
    """``n`` samples of a Gaussian random field with Neumann (cosine) eigenfunctions on a box.

    The field with covariance ``sigma^2 (-Laplacian + tau^2 I)^(-alpha)``, the Laplacian with zero
    Neumann conditions, as in the FNO Darcy generator (``GRF.m``: Karhunen--Loeve expansion in
    ``prod_d sqrt(2 - delta_{k_d 0}) cos(pi k_d x_d / L_d)``, ``k_d = 0..N_d-1``, standard-normal
    weights, mean mode zero; FNO uses ``sigma = tau^(alpha - 1)``). Unlike ``GRF.m``, which
    evaluates the series at cell centres with an inverse DCT-II, the series is evaluated at the grid
    points ``x_d = origin + j L_d / (N_d - 1)`` (a ``nodes`` grid, both walls included).

    Sample ``i`` is drawn from its own generator seeded by
    ``sample_seed(seed, first_index + i, "cosine-grf")``. With ``modes`` fixed, a sample is the same
    function on every grid that has at least that many points.

    Args:
        modes: cosines kept per axis (one number for all axes, or one per axis); default: as many
            as grid points (``GRF.m``).
    Returns:
        ``(n, *grid.shape)``.
    Raises:
        UserError: an axis of ``grid`` is not laid out as ``nodes``, has fewer than 2 points or fewer
            points than ``modes``.
    """
    if any(a.layout != "nodes" or a.size < 2 for a in grid.axes):
        layouts = [a.layout for a in grid.axes]
        raise UserError(f"cosine_random_field needs a nodes grid with 2 or more points per axis, got "
                        f"shape {grid.shape} with layouts {layouts}")
    shape = grid.shape
    modes = shape if modes is None else (modes,) * grid.ndim if isinstance(modes, int) else tuple(modes)
    if len(modes) != grid.ndim or any(m < 1 or m > size for m, size in zip(modes, shape, strict=True)):
        raise UserError(f"cosine_random_field: modes {modes} must lie between 1 and the grid shape {shape}")
    sqrt_eig = torch.zeros((), dtype=dtype)
    for d, axis in enumerate(grid.axes):
        s = [1] * grid.ndim
        s[d] = -1
        wavenumber = (math.pi / axis.length) * torch.arange(modes[d], dtype=dtype)
        sqrt_eig = sqrt_eig + wavenumber.reshape(s) ** 2
    sqrt_eig = sigma * (sqrt_eig + tau**2) ** (-alpha / 2.0)
    for d in range(grid.ndim):
        s = [1] * grid.ndim
        s[d] = -1
        norm = torch.full((modes[d],), math.sqrt(2.0), dtype=dtype)
        norm[0] = 1.0
        sqrt_eig = sqrt_eig * norm.reshape(s)
    sqrt_eig.reshape(-1)[0] = 0.0
    pad = [p for d in reversed(range(grid.ndim)) for p in (0, shape[d] - modes[d])]
    out = torch.empty((n, *shape), dtype=dtype)
    for i in range(n):
        g = torch.Generator().manual_seed(sample_seed(seed, first_index + i, "cosine-grf"))
        field = torch.nn.functional.pad(sqrt_eig * torch.randn(modes, generator=g, dtype=dtype), pad)
        for d in range(grid.ndim):
            field = _cosine_series(field, d)
        out[i] = field
    return out.to(device)
