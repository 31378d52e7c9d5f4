"""Graph layers for mesh movement, in plain torch (scatter by ``index_add_``): UM2N's building
blocks (Zhang et al., NeurIPS 2024) and M2N's deformation GAT (Song et al., NeurIPS 2022).

Graphs are batched as one disjoint union (`GraphBatch`): node tensors ``(N, c)``, directed edges
``(2, E)`` as (source j, target i) with both directions of every mesh edge, messages aggregated at
the target. The transformer runs on the same nodes padded per graph, ``(B, n_max, c)`` with a
key-padding mask. No layer has positional encodings, so every output is equivariant to the
order of the nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class GraphBatch:
    """Meshes batched as one graph.

    Attributes:
        coords: node coordinates ``(N, 2)``.
        features: node features besides coordinates ``(N, c)`` (monitor, ...).
        fixed: nodes whose coordinates never move ``(N,)`` bool (the boundary).
        edges: ``(2, E)`` int64 (source, target), both directions of each mesh edge.
        cells: triangles ``(C, 3)`` int64, node indices into the batch.
        graph: the graph of each node ``(N,)``; ``cell_graph``: of each cell ``(C,)``.
        position: each node's index inside its graph ``(N,)``.
        sizes: nodes per graph ``(B,)``.
    """

    coords: torch.Tensor
    features: torch.Tensor
    fixed: torch.Tensor
    edges: torch.Tensor
    cells: torch.Tensor
    graph: torch.Tensor
    cell_graph: torch.Tensor
    position: torch.Tensor
    sizes: torch.Tensor

    @property
    def n_graphs(self) -> int:
        return int(self.sizes.shape[0])

    def to_dense(self, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``values (N, c)`` -> ``(B, n_max, c)`` zero-padded, and the valid-node mask ``(B, n_max)``."""
        n_max = int(self.sizes.max())
        out = values.new_zeros(self.n_graphs, n_max, values.shape[-1])
        out[self.graph, self.position] = values
        mask = torch.zeros(self.n_graphs, n_max, dtype=torch.bool, device=values.device)
        mask[self.graph, self.position] = True
        return out, mask

    def from_dense(self, values: torch.Tensor) -> torch.Tensor:
        """Inverse of `to_dense`: ``(B, n_max, c)`` -> ``(N, c)``."""
        return values[self.graph, self.position]


def segment_softmax(logits: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    """Softmax of ``logits (E, H)`` over the edges sharing a target ``index (E,)`` (``n`` targets)."""
    idx = index[:, None].expand_as(logits)
    top = logits.new_full((n, logits.shape[1]), float("-inf")).scatter_reduce(0, idx, logits, "amax")
    e = torch.exp(logits - top[index])
    return e / e.new_zeros(n, logits.shape[1]).index_add_(0, index, e)[index]


class MLP(nn.Sequential):
    """``Linear -> act`` for every layer, the last included (UM2N's ``MLP_model`` with GELU)."""

    def __init__(self, sizes: list[int], act: type[nn.Module] = nn.GELU):
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(a, b), act()]
        super().__init__(*layers)


class TransformerBlock(nn.Module):
    """UM2N's transformer block: pre-LN multi-head self-attention with a learnable per-head
    output scale and an extra post-attention LayerNorm, then a pre-LN GELU feed-forward
    (``dense_ratio`` x wider, LayerNorm inside) with a learnable per-channel residual weight."""

    def __init__(self, dim: int, heads: int, dense_ratio: int = 4, dropout: float = 0.1):
        super().__init__()
        self.heads = heads
        self.pre_attn_norm = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.post_attn_norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        self.pre_dense_norm = nn.LayerNorm(dim)
        self.dense_1 = nn.Linear(dim, dense_ratio * dim)
        self.act_dropout = nn.Dropout(dropout)
        self.post_dense_norm = nn.LayerNorm(dense_ratio * dim)
        self.dense_2 = nn.Linear(dense_ratio * dim, dim)
        self.head_scale = nn.Parameter(torch.ones(heads))
        self.residual_weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor, padding: torch.Tensor | None = None) -> torch.Tensor:
        """``x (B, n, d)``; ``padding (B, n)`` true where a token is padding."""
        b, n, d = x.shape
        residual = x
        h = self.pre_attn_norm(x)
        h = self.attn(h, h, h, key_padding_mask=padding, need_weights=False)[0]
        # the released code scales channel groups of the projected output and stores them
        # interleaved ("b n h d, h -> b n d h"); kept as is (a fixed channel permutation)
        h = (
            (h.view(b, n, self.heads, d // self.heads) * self.head_scale[:, None])
            .transpose(2, 3)
            .reshape(b, n, d)
        )
        x = self.dropout(self.post_attn_norm(h)) + residual
        residual = x
        h = self.act_dropout(F.gelu(self.dense_1(self.pre_dense_norm(x))))
        h = self.dropout(self.dense_2(self.post_dense_norm(h)))
        return h + self.residual_weight * residual


class GraphTransformer(nn.Module):
    """UM2N's global encoder: every node of a mesh is a token; ``MLP in -> blocks -> MLP out -> SELU``.

    Args:
        in_dim: node input channels (coordinates and features).
        dim: embedding width; heads: attention heads; layers: transformer blocks.
        out_dim: global features per node.
    """

    def __init__(
        self, in_dim: int, dim: int, out_dim: int, heads: int = 4, layers: int = 1, dropout: float = 0.1
    ):
        super().__init__()
        self.mlp_in = MLP([in_dim, dim, dim])
        self.blocks = nn.ModuleList(TransformerBlock(dim, heads, dropout=dropout) for _ in range(layers))
        self.mlp_out = MLP([dim, dim, out_dim])

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``x (B, n, in_dim)``, ``mask (B, n)`` true on real nodes -> ``(B, n, out_dim)``."""
        h = self.mlp_in(x)
        padding = None if bool(mask.all()) else ~mask  # no padding (one mesh, equal sizes): no masked softmax
        for block in self.blocks:
            h = block(h, padding)
        return F.selu(self.mlp_out(h))


class LocalFeatures(nn.Module):
    """UM2N's local extractor: per edge ``[x_j - x_i, |x_j - x_i|, f_i, f_j]`` through a SELU MLP
    (64, 64, ``out - 1``), the edge length appended, summed at the target node -> ``(N, out)``."""

    def __init__(self, n_features: int, out: int = 16, hidden: int = 64):
        super().__init__()
        self.mlp = MLP([3 + 2 * n_features, hidden, hidden, out - 1], act=nn.SELU)

    def forward(self, coords: torch.Tensor, features: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
        j, i = edges
        diff = coords[j] - coords[i]
        dist = diff.norm(dim=1, keepdim=True)
        msg = torch.cat([self.mlp(torch.cat([diff, dist, features[i], features[j]], 1)), dist], 1)
        return msg.new_zeros(coords.shape[0], msg.shape[1]).index_add_(0, i, msg)


class DeformGAT(nn.Module):
    """M2N's deformation GAT layer (no self-loops, heads averaged).

    Per edge ``j -> i`` and head: ``e_ij = a_l . W h_j + a_r . W h_i``. New coordinates
    ``x_i' = mean_heads sum_j softmax_j(SELU(0.2 e_ij)) x_j`` (a convex combination of the
    neighbours), new features ``SELU(mean_heads sum_j softmax_j(SELU(e_ij)) W h_j)``; ``fixed``
    nodes keep their input coordinates.
    """

    def __init__(self, in_dim: int, out_dim: int, heads: int = 6):
        super().__init__()
        self.heads, self.out_dim = heads, out_dim
        self.lin = nn.Linear(in_dim, heads * out_dim)
        self.att_l = nn.Parameter(torch.empty(1, heads, out_dim))
        self.att_r = nn.Parameter(torch.empty(1, heads, out_dim))
        for p in (self.lin.weight, self.att_l, self.att_r):
            nn.init.xavier_uniform_(p.view(-1, p.shape[-1]))

    def forward(
        self, coords: torch.Tensor, features: torch.Tensor, edges: torch.Tensor, fixed: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n = coords.shape[0]
        j, i = edges
        h = self.lin(features).view(n, self.heads, self.out_dim)
        e = (h * self.att_l).sum(-1)[j] + (h * self.att_r).sum(-1)[i]  # (E, H)
        w_coord = segment_softmax(F.selu(0.2 * e), i, n)
        w_feat = segment_softmax(F.selu(e), i, n)
        moved = coords.new_zeros(n, self.heads, 2).index_add_(0, i, w_coord[..., None] * coords[j][:, None])
        moved = torch.where(fixed[:, None], coords, moved.mean(1))
        out = h.new_zeros(n, self.heads, self.out_dim).index_add_(0, i, w_feat[..., None] * h[j])
        return moved, F.selu(out.mean(1))


class DeformationDecoder(nn.Module):
    """UM2N's decoder: ``Linear + SELU`` to ``widths[0] - ...``, then ``len(widths) - 1`` `DeformGAT`
    layers; layer ``k`` reads the coordinates of every earlier layer, the input coordinates and
    the previous layer's features. Released widths: ``(254, 508, 250, 120, 20)``, 6 heads.
    """

    def __init__(self, in_dim: int, widths: tuple[int, ...], heads: int):
        super().__init__()
        self.lin = nn.Linear(in_dim, widths[0])
        self.layers = nn.ModuleList(
            DeformGAT(2 * (k + 1) + widths[k], widths[k + 1], heads) for k in range(len(widths) - 1)
        )

    def forward(
        self, coords: torch.Tensor, features: torch.Tensor, edges: torch.Tensor, fixed: torch.Tensor
    ) -> torch.Tensor:
        history = [coords]
        h = F.selu(self.lin(features))
        for layer in self.layers:
            moved, h = layer(history[-1], torch.cat([*reversed(history), h], 1), edges, fixed)
            history.append(moved)
        return history[-1]
