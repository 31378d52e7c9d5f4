"""The neural spectral block of Latent Spectral Models (Wu et al., "Solving High-Dimensional PDEs
with Latent Spectral Models", ICML 2023), in 1-D, 2-D and 3-D.

A feature map is cut into non-overlapping patches; every patch is processed independently:

1. **patch -> latent tokens**: ``M`` learned tokens ``T0`` (``heads x M x C/heads``) attend to the
   patch's points, ``T = softmax(T0 K^T) V + T0`` with ``K, V`` a pointwise projection of the points;
2. **latent transition** (the learned trigonometric basis operator): per channel ``c``,
   ``T' = T + sum_{k<K} a_ck sin(pi k T / K) + b_ck cos(pi k T / K)``, applied element-wise to
   the token *values* (not to spatial coordinates), weights shared over tokens;
3. **latent tokens -> patch**: each point queries the tokens, ``y = softmax(Q T'^T) T' + x``.

As in the authors' code the attention logits are not scaled by ``1/sqrt(d)``; the encoder softmax
runs over the patch's points, the decoder softmax over the tokens. Cost is linear in the points.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


# ------------------------------------------------------------------------------ patches
def patchify(x: torch.Tensor, patch: tuple[int, ...]) -> torch.Tensor:
    """Cut ``(b, c, *s)`` into patches of ``patch`` points: ``(b * n_patches, prod(patch), c)``.

    Every ``s_d`` must be a multiple of ``patch_d``. Patches are ordered batch-major, then by patch
    index along each axis; points within a patch in C order.
    """
    b, c, *shape = x.shape
    nd = len(shape)
    grid = [n // p for n, p in zip(shape, patch, strict=True)]
    split = [v for g, p in zip(grid, patch, strict=True) for v in (g, p)]
    x = x.reshape(b, c, *split)
    # (b, c, g1, p1, ..., gd, pd) -> (b, g1..gd, p1..pd, c)
    order = [0, *range(2, 2 + 2 * nd, 2), *range(3, 3 + 2 * nd, 2), 1]
    return x.permute(order).reshape(b * math.prod(grid), math.prod(patch), c)


def unpatchify(tokens: torch.Tensor, patch: tuple[int, ...], shape: tuple[int, ...]) -> torch.Tensor:
    """Inverse of `patchify`: ``(b * n_patches, prod(patch), c) -> (b, c, *shape)``."""
    nd = len(shape)
    grid = [n // p for n, p in zip(shape, patch, strict=True)]
    c = tokens.shape[-1]
    x = tokens.reshape(-1, *grid, *patch, c)
    # (b, g1..gd, p1..pd, c) -> (b, c, g1, p1, ..., gd, pd)
    order = [0, 2 * nd + 1, *[i for d in range(nd) for i in (1 + d, 1 + nd + d)]]
    return x.permute(order).reshape(x.shape[0], c, *shape)


def patch_and_padded_size(size: int, factor: int, patch: int | None = None) -> tuple[int, int]:
    """Patch size and padded size of an axis of ``size`` points for a network that downsamples it
    by ``factor`` and patches every scale with the same patch.

    The padded size is the smallest multiple of ``factor * patch`` that holds ``size``. Without a
    given ``patch`` it is ``ceil(size / factor)``: one patch at the coarsest scale, the rule behind
    the paper's settings (85 -> pad 96 = 16 x 6; 64 = 16 x 4; 221 -> 224 = 16 x 14).
    """
    patch = patch or math.ceil(size / factor)
    block = factor * patch
    return patch, block * math.ceil(size / block)


def pad_high(x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Zero-pad the high end of each spatial axis of ``(b, c, *s)`` up to ``shape``."""
    spec: list[int] = []
    for n, target in zip(reversed(x.shape[2:]), reversed(shape), strict=True):  # F.pad: last axis first
        spec += [0, target - n]
    return F.pad(x, spec) if any(spec) else x


def crop(x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """The leading ``shape`` points of each spatial axis of ``(b, c, *s)`` (undoes `pad_high`)."""
    return x[(..., *(slice(0, n) for n in shape))]


# -------------------------------------------------------------------------------- block
def unscaled_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``softmax(q k^T) v`` over the last two axes (no ``1/sqrt(d)``): ``(..., l, d) -> (..., l, d_v)``."""
    return F.scaled_dot_product_attention(q, k, v, scale=1.0)


class TrigonometricBasisOperator(nn.Module):
    """The latent transition ``T + sum_k a_ck sin(pi k T / K) + b_ck cos(pi k T / K)``.

    ``(n, c, m) -> (n, c, m)``; ``k = 0 .. K-1`` (``K = num_basis``), weights ``(c, 2K)`` with
    sine coefficients first, initialised uniform in ``[0, 1/c)`` as in the authors' code.
    """

    def __init__(self, channels: int, num_basis: int = 12):
        super().__init__()
        self.num_basis = num_basis
        self.weight = nn.Parameter(torch.rand(channels, 2 * num_basis) / channels)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        k = torch.arange(self.num_basis, device=tokens.device, dtype=tokens.dtype) / self.num_basis
        phase = math.pi * tokens.unsqueeze(-1) * k  # (n, c, m, K)
        basis = torch.cat([torch.sin(phase), torch.cos(phase)], dim=-1)
        return tokens + torch.einsum("ncmk,ck->ncm", basis, self.weight.to(tokens.dtype))

    def extra_repr(self) -> str:
        return f"channels={self.weight.shape[0]}, num_basis={self.num_basis}"


class LatentSpectralBlock(nn.Module):
    """Neural spectral block: ``(b, c, *s) -> (b, c, *s)``, patches of ``patch`` points.

    Args:
        channels: feature channels ``c`` (a multiple of ``heads``).
        num_basis: terms ``K`` of the trigonometric basis operator.
        num_tokens: latent tokens ``M`` per patch.
        heads: attention heads (8 in the paper).
    """

    def __init__(self, channels: int, num_basis: int = 12, num_tokens: int = 4, heads: int = 8):
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels ({channels}) must be a multiple of heads ({heads})")
        self.channels, self.heads, self.num_tokens = channels, heads, num_tokens
        self.latent = nn.Parameter(torch.rand(heads, num_tokens, channels // heads) / channels)
        self.key_value = nn.Linear(channels, 2 * channels)
        self.query = nn.Linear(channels, channels)
        self.transition = TrigonometricBasisOperator(channels, num_basis)

    def split_heads(self, points: torch.Tensor) -> torch.Tensor:
        """``(n, l, c) -> (n, heads, l, c / heads)``."""
        n, length, _ = points.shape
        return points.reshape(n, length, self.heads, -1).transpose(1, 2)

    def encode(self, points: torch.Tensor) -> torch.Tensor:
        """Patch points ``(n, l, c)`` -> latent tokens ``(n, c, m)`` (channels head-major)."""
        key, value = self.key_value(points).chunk(2, dim=-1)
        latent = self.latent.to(points.dtype).expand(points.shape[0], -1, -1, -1)
        tokens = unscaled_attention(latent, self.split_heads(key), self.split_heads(value)) + latent
        return tokens.transpose(2, 3).reshape(points.shape[0], self.channels, self.num_tokens)

    def decode(self, points: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Patch points ``(n, l, c)`` query the tokens ``(n, c, m)``: ``(n, l, c)``."""
        n, length, c = points.shape
        tokens = tokens.reshape(n, self.heads, c // self.heads, self.num_tokens).transpose(2, 3)
        out = unscaled_attention(self.split_heads(self.query(points)), tokens, tokens)
        return out.transpose(1, 2).reshape(n, length, c) + points

    def forward(self, x: torch.Tensor, patch: tuple[int, ...]) -> torch.Tensor:
        points = patchify(x, patch)
        tokens = self.transition(self.encode(points))
        return unpatchify(self.decode(points, tokens), patch, tuple(x.shape[2:]))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, heads={self.heads}, num_tokens={self.num_tokens}"
