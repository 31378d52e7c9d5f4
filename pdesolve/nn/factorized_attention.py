"""Factorized attention (FactFormer, Li, Shu, Barati Farimani, NeurIPS 2023) and its parallel form
(IFactFormer-m, Yang, Wang, Wang): a kernel integral over a d-dimensional grid approximated by one
learned ``n_a x n_a`` kernel per axis ``a``, each computed from an axis-pooled projection.

For ``u`` of shape ``(b, *s, dim)`` (channels last) one `FactorizedAttention` block does:

1. ``u <- LayerNorm(u)``; value ``V = u W_v`` (``heads`` x ``dim_head``); ``u' = u W_in``;
2. per axis ``a``: ``phi_a = MLP(LayerNorm(mean_{other axes}(u' W_a)))``, ``(b, n_a, dim)``
   (`AxisPooling`);
3. per axis ``a``: ``kappa_a = rot(phi_a W_q) rot(phi_a W_k)^T * scale``, ``(b, heads, n_a, n_a)``,
   with rotary position encoding of the axis coordinates, **no softmax and no 1/n** (`AxialKernel`);
4. the axial integral transforms ``kappa_a x_a V`` (contraction along axis ``a``), either

   * ``chained`` (FactFormer, IFactFormer-o): ``z = kappa_d x_d ( ... kappa_1 x_1 V)``, ``heads dim_head``
     channels, or
   * ``parallel`` (IFactFormer-m): ``z = concat_a (kappa_a x_a V)``, ``d heads dim_head`` channels;

5. output: instance norm of ``z`` over the grid (per sample and channel; it keeps the scale of the
   un-normalised kernels in check), ``Linear -> GELU -> Linear`` back to ``dim``.

Cost: ``O(prod(s) (n_1 + ... + n_d) heads dim_head)`` instead of ``O(prod(s)^2)`` for full attention.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

Mode = Literal["parallel", "chained"]


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """``[x1, x2] -> [-x2, x1]`` on the halves of the last axis."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class RotaryEncoding(nn.Module):
    """Rotary position encoding of 1-D coordinates (RoFormer; FactFormer's ``RotaryEmbedding``).

    ``forward(x, coords)``: ``x (..., n, dim)`` rotated pairwise by angles ``coords * freq_j``, with
    ``freq_j = 10000^(-2j/dim) / min_freq``, so ``<rot(q_i), rot(k_j)>`` depends on ``coords_i - coords_j``.
    """

    def __init__(self, dim: int, min_freq: float = 1 / 64):
        super().__init__()
        if dim % 2:
            raise ValueError(f"rotary encoding needs an even width, got {dim}")
        self.register_buffer("inv_freq", 1.0 / (10000 ** (torch.arange(0, dim, 2).float() / dim)) / min_freq,
                             persistent=False)

    def forward(self, x: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        angles = coords.to(x.dtype)[:, None] * self.inv_freq.to(x.dtype)
        angles = torch.cat((angles, angles), dim=-1)  # (n, dim)
        return x * angles.cos() + rotate_half(x) * angles.sin()


class AxisPooling(nn.Module):
    """``(b, *s, dim) -> (b, n_axis, latent)``: a linear map, the mean over every other axis, then a
    pre-normed gated-GELU MLP ``dim -> 2 dim -> (GELU(first half) * second half) -> latent``
    (FactFormer's ``PoolingReducer``)."""

    def __init__(self, dim: int, latent: int, axis: int):
        super().__init__()
        self.axis = axis
        self.project = nn.Linear(dim, dim, bias=False)
        self.norm = nn.LayerNorm(dim)
        self.gate = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, latent)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        ndim = u.ndim - 2
        others = tuple(1 + a for a in range(ndim) if a != self.axis)
        x = self.project(u).mean(dim=others) if others else self.project(u)
        a, b = self.gate(self.norm(x)).chunk(2, dim=-1)
        return self.out(nn.functional.gelu(a) * b)


class AxialKernel(nn.Module):
    """A low-rank kernel on one axis, ``(b, n, latent) -> (b, heads, n, n)``: ``q k^T * scale`` with
    ``q = rot(phi W_q)``, ``k = rot(phi W_k)`` per head (FactFormer's ``LowRankKernel`` without softmax,
    residual or quadrature weight). ``W_q, W_k`` start small (Xavier, gain 0.02) as in the paper's code."""

    def __init__(self, latent: int, kernel_dim: int, heads: int, rotary: bool = True, scale: float = 1.0):
        super().__init__()
        self.heads, self.kernel_dim, self.scale = heads, kernel_dim, scale
        self.to_q = nn.Linear(latent, heads * kernel_dim, bias=False)
        self.to_k = nn.Linear(latent, heads * kernel_dim, bias=False)
        nn.init.xavier_uniform_(self.to_q.weight, gain=0.02)
        nn.init.xavier_uniform_(self.to_k.weight, gain=0.02)
        self.rotary = RotaryEncoding(kernel_dim) if rotary else None

    def forward(self, phi: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        b, n, _ = phi.shape
        q = self.to_q(phi).view(b, n, self.heads, self.kernel_dim).transpose(1, 2)
        k = self.to_k(phi).view(b, n, self.heads, self.kernel_dim).transpose(1, 2)
        if self.rotary is not None:
            q, k = self.rotary(q, coords), self.rotary(k, coords)
        return q @ k.transpose(-1, -2) * self.scale


def apply_along(kernel: torch.Tensor, v: torch.Tensor, axis: int) -> torch.Tensor:
    """``sum_j kernel[b, h, i, j] v[b, h, ..., j (at spatial axis), ..., c]``.

    ``kernel (b, h, n, n)``, ``v (b, h, *s, c)`` contiguous; returns a contiguous tensor shaped like ``v``
    (the grid is viewed as ``(before, n, after)`` around the axis: no copies of ``v``).
    """
    b, h, *spatial, _ = v.shape
    before = math.prod(spatial[:axis])
    return (kernel.unsqueeze(2) @ v.reshape(b, h, before, spatial[axis], -1)).view(v.shape)


def chained(kernels: list[torch.Tensor], v: torch.Tensor) -> torch.Tensor:
    """FactFormer / IFactFormer-o: the axial transforms one after another, ``(b, h, *s, c)``."""
    for axis, kernel in enumerate(kernels):
        v = apply_along(kernel, v, axis)
    return v


def parallel(kernels: list[torch.Tensor], v: torch.Tensor) -> torch.Tensor:
    """IFactFormer-m: every axial transform on the same ``v``, concatenated, ``(b, h, *s, d c)``."""
    return torch.cat([apply_along(kernel, v, axis) for axis, kernel in enumerate(kernels)], dim=-1)


COMBINE: dict[str, Callable[[list[torch.Tensor], torch.Tensor], torch.Tensor]] = {
    "chained": chained, "parallel": parallel}
BRANCHES: dict[str, Callable[[int], int]] = {"chained": lambda ndim: 1, "parallel": lambda ndim: ndim}


def instance_norm(z: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Normalise ``(b, h, n, c)`` to zero mean and unit variance over the ``n`` grid points, per sample,
    head and channel (``nn.InstanceNorm`` without affine weights)."""
    centred = z - z.mean(dim=2, keepdim=True)
    return centred * torch.rsqrt(centred.square().mean(dim=2, keepdim=True) + eps)


class FactorizedAttention(nn.Module):
    """One factorized-attention block on a ``ndim``-D grid, ``(b, *s, dim) -> (b, *s, dim)``.

    Args:
        ndim: spatial dimensions.
        dim: channels of ``u``.
        heads, dim_head: attention heads and the width of each head's values.
        kernel_multiplier: width of each head's queries/keys is ``kernel_multiplier * dim_head``.
        mode: ``"parallel"`` (IFactFormer-m) or ``"chained"`` (FactFormer, IFactFormer-o).
        rotary: rotary position encoding of the axis coordinates in the kernels.

    ``forward(u, coords)``: ``coords[a]`` are the coordinates of axis ``a`` (``(n_a,)``, radians of
    the domain: ``[0, 2 pi)`` on a periodic axis).
    """

    def __init__(self, ndim: int, dim: int, heads: int, dim_head: int, kernel_multiplier: int = 3,
                 mode: Mode = "parallel", rotary: bool = True):
        super().__init__()
        if mode not in COMBINE:
            raise ValueError(f"mode must be one of {sorted(COMBINE)}, got {mode!r}")
        self.ndim, self.heads, self.dim_head, self.mode = ndim, heads, dim_head, mode
        kernel_dim = dim_head * kernel_multiplier
        scale = 1 / math.sqrt(kernel_dim) if kernel_multiplier > 4 else 1.0  # as in FactFormer
        self.in_norm = nn.LayerNorm(dim)
        self.to_v = nn.Linear(dim, heads * dim_head, bias=False)
        self.to_in = nn.Linear(dim, dim, bias=False)
        self.pool = nn.ModuleList(AxisPooling(dim, dim, a) for a in range(ndim))
        self.kernels = nn.ModuleList(AxialKernel(dim, kernel_dim, heads, rotary, scale) for _ in range(ndim))
        width = BRANCHES[mode](ndim) * heads * dim_head
        self.to_out = nn.Sequential(nn.Linear(width, dim, bias=False), nn.GELU(),
                                    nn.Linear(dim, dim, bias=False))

    def axial_kernels(self, u: torch.Tensor, coords: list[torch.Tensor]) -> list[torch.Tensor]:
        """The kernels ``kappa_a``, each ``(b, heads, n_a, n_a)``, of a normalised input ``u``."""
        projected = self.to_in(u)
        return [kernel(pool(projected), c)
                for pool, kernel, c in zip(self.pool, self.kernels, coords, strict=True)]

    def forward(self, u: torch.Tensor, coords: list[torch.Tensor]) -> torch.Tensor:
        u = self.in_norm(u)
        b, spatial = u.shape[0], u.shape[1:-1]
        v = self.to_v(u).view(b, *spatial, self.heads, self.dim_head).movedim(-2, 1).contiguous()  # b h *s c
        z = COMBINE[self.mode](self.axial_kernels(u, coords), v)  # (b, h, *s, c')
        z = instance_norm(z.view(b, self.heads, -1, z.shape[-1])).view(z.shape)
        return self.to_out(z.movedim(1, -2).reshape(b, *spatial, -1))  # heads-major channels
