"""Equivariant neural fields (ENF) with translation bi-invariants (Wessels, Knigge et al. 2024, as
used by enf2enf, Catalani et al. 2025).

A field is a latent point cloud ``z = {(p_j, c_j)}``: poses ``p_j`` (positions) and context
vectors ``c_j``. It is decoded at query points ``x_i`` by cross-attention conditioned only on the
bi-invariant ``a_ij = x_i - p_j`` (optionally with translation-invariant query channels such as
the signed distance appended), so translating every query point and every pose together leaves
the output unchanged. Per head (hidden size ``H``)::

    q_ij  = W_q RFF_q(a_ij)                        k_j = W_k c_j
    v_ij  = Mix(W_v c_j * (1 + gamma_ij) + beta_ij),  (gamma, beta)_ij = FFN(RFF_v(a_ij))
    att   = softmax_j(q_ij . k_j / sqrt(H) - |x_i - p_j|^2 / sigma^2)     (Gaussian locality window)
    y_i   = concat_heads(sum_j att_ij v_ij)

``RFF(a) = Linear(GELU(Linear([sin 2 pi a B, cos 2 pi a B])))`` with a fixed ``B ~ N(0, s^2)``.
Shapes: queries ``x (b, n, d)``, extra invariants ``(b, n, e)``, poses ``(b, L, d)``, contexts
``(b, L, c)``; coordinates in normalised units (the window ``sigma`` in the same units).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def latent_grid(per_axis: int, bounds: list[tuple[float, float]]) -> torch.Tensor:
    """``per_axis ** d`` poses on a regular grid over the box ``bounds = [(lo, hi)] * d`` (ends
    included), ``(L, d)``."""
    axes = [torch.linspace(lo, hi, per_axis) for lo, hi in bounds]
    mesh = torch.meshgrid(*axes, indexing="ij")
    return torch.stack(mesh, dim=-1).reshape(-1, len(bounds))


class RandomFourierNet(nn.Module):
    """``(..., d) -> (..., out)``: random Fourier features of frequency scale ``freq`` and a 2-layer MLP."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int, n_freq: int = 64, freq: float = 1.0):
        super().__init__()
        self.register_buffer("B", torch.randn(in_dim, n_freq) * freq)
        self.mlp = nn.Sequential(nn.Linear(2 * n_freq, hidden), nn.GELU(), nn.Linear(hidden, out_dim))

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        phase = 2 * math.pi * (a @ self.B)
        return self.mlp(torch.cat([phase.sin(), phase.cos()], dim=-1))


class PointwiseFFN(nn.Sequential):
    """Linear -> GELU -> LayerNorm -> Linear."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int):
        super().__init__(nn.Linear(in_dim, hidden), nn.GELU(), nn.LayerNorm(hidden),
                         nn.Linear(hidden, out_dim))


class EquivariantCrossAttention(nn.Module):
    """Queries attend to latents through the bi-invariant ``x - p`` (see the module docstring).

    Args:
        coord_dim: spatial dimension ``d`` of queries and poses.
        extra_dim: translation-invariant channels appended to ``x - p`` (e.g. the query's SDF).
        context_dim: size of the latent contexts it receives.
        hidden: per-head size ``H``; the output has ``heads * H`` channels.
        freq_q, freq_v: frequency scales of the query and value Fourier features.
    """

    def __init__(self, coord_dim: int, extra_dim: int, context_dim: int, hidden: int, heads: int,
                 n_freq: int = 64, freq_q: float = 1.0, freq_v: float = 1.0):
        super().__init__()
        self.heads, self.hidden = heads, hidden
        width = heads * hidden
        inv = coord_dim + extra_dim
        self.query = nn.Sequential(RandomFourierNet(inv, hidden, hidden, n_freq, freq_q),
                                   nn.Linear(hidden, width))
        self.key = nn.Linear(context_dim, width)
        self.value = nn.Linear(context_dim, width)
        self.value_condition = nn.Sequential(RandomFourierNet(inv, hidden, hidden, n_freq, freq_v),
                                             PointwiseFFN(hidden, hidden, 2 * width))
        self.value_mix = PointwiseFFN(width, width, width)

    def forward(self, x: torch.Tensor, poses: torch.Tensor, contexts: torch.Tensor, window: float,
                extra: torch.Tensor | None = None) -> torch.Tensor:
        """``(b, n, d), (b, L, d), (b, L, c) -> (b, n, heads * H)``."""
        b, n, _ = x.shape
        L = poses.shape[1]
        rel = x[:, :, None, :] - poses[:, None, :, :]                       # (b, n, L, d)
        a = rel if extra is None else torch.cat([rel, extra[:, :, None, :].expand(b, n, L, -1)], dim=-1)
        q = self.query(a).view(b, n, L, self.heads, self.hidden)
        k = self.key(contexts).view(b, 1, L, self.heads, self.hidden)
        logits = (q * k).sum(-1) / math.sqrt(self.hidden)                   # (b, n, L, heads)
        logits = logits - (rel.square().sum(-1) / window**2)[..., None]
        att = logits.softmax(dim=2)
        gamma, beta = self.value_condition(a).chunk(2, dim=-1)              # (b, n, L, width) each
        v = self.value_mix(self.value(contexts)[:, None] * (1 + gamma) + beta)
        v = v.view(b, n, L, self.heads, self.hidden)
        return (att[..., None] * v).sum(dim=2).reshape(b, n, -1)


class LatentSelfAttention(nn.Module):
    """Pre-norm multi-head self-attention and FFN over the latents, both residual: ``(b, L, c)``."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ffn = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        h = self.norm1(c)
        c = c + self.attn(h, h, h, need_weights=False)[0]
        return c + self.ffn(self.norm2(c))


class EquivariantNeuralField(nn.Module):
    """Decode a latent point cloud at query points: ``(b, n, d) -> (b, n, out_dim)``.

    Network (``EquivariantCrossAttentionNeF`` of the enf2enf code): latent stem (Linear to the
    hidden size) -> ``self_attention_layers`` latent self-attention blocks (the latent-to-latent
    processor) -> one `EquivariantCrossAttention` -> GELU -> MLP ``heads H -> H -> H -> out_dim``.
    """

    def __init__(self, out_dim: int, latent_dim: int, hidden: int = 128, heads: int = 2,
                 self_attention_layers: int = 0, coord_dim: int = 2, extra_dim: int = 0,
                 n_freq: int = 64, freq_q: float = 1.0, freq_v: float = 1.0):
        super().__init__()
        self.stem = nn.Linear(latent_dim, hidden)
        self.processor = nn.Sequential(
            *(LatentSelfAttention(hidden, heads) for _ in range(self_attention_layers)))
        self.cross = EquivariantCrossAttention(coord_dim, extra_dim, hidden, hidden, heads, n_freq,
                                               freq_q, freq_v)
        self.head = nn.Sequential(nn.GELU(), nn.Linear(heads * hidden, hidden), nn.GELU(),
                                  nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, out_dim))

    def forward(self, x: torch.Tensor, poses: torch.Tensor, contexts: torch.Tensor, window: float,
                extra: torch.Tensor | None = None) -> torch.Tensor:
        c = self.processor(self.stem(contexts))
        return self.head(self.cross(x, poses, c, window, extra))
