"""UM2N's network (Zhang et al., "Towards Universal Mesh Movement Networks", NeurIPS 2024): the
released ``M2N_T`` model, mesh graph -> moved node coordinates, from the layers of
`pdesolve.nn.graph`.

* a graph-transformer encoder over all nodes of a mesh (dense attention, coordinates the only
  positional information) -> ``global_features`` per node;
* a local edge-MLP extractor summed over mesh neighbours -> ``local_features`` per node;
* a deformation decoder of `DeformGAT` layers: every layer moves each node to an attention-
  weighted average of its neighbours; boundary nodes keep their positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pdesolve.models.presets import Preset, PresetTable
from pdesolve.nn.graph import DeformationDecoder, GraphBatch, GraphTransformer, LocalFeatures

RELEASED_DECODER_WIDTHS = (254, 508, 250, 120, 20)


@dataclass(frozen=True)
class UM2NSize:
    """Size fields of a `UM2NNetwork` (``decoder_widths``: the decoder's input projection, then each
    `DeformGAT` layer's width per head)."""

    encoder_dim: int
    encoder_heads: int
    encoder_layers: int
    global_features: int
    local_features: int
    decoder_widths: tuple[int, ...]
    decoder_heads: int


PRESETS = PresetTable("um2n", UM2NSize, [
    Preset("um2n-small", UM2NSize(64, 4, 1, 16, 16, (62, 124, 58, 28, 20), 4),
           "CPU-sized decoder (0.14 M parameters with 3 node inputs): the shipped Helmholtz case"),
    Preset("um2n-paper", UM2NSize(64, 4, 1, 16, 16, RELEASED_DECODER_WIDTHS, 6),
           "the released M2N_T model (1.84 M parameters)"),
])


class UM2NNetwork(nn.Module):
    """Mesh graph -> moved node coordinates ``(N, 2)``.

    Args:
        n_features: node fields besides coordinates (the encoders' inputs).
    """

    def __init__(self, n_features: int, *, encoder_dim: int = 64, encoder_heads: int = 4, encoder_layers: int = 1,
                 dropout: float = 0.1, global_features: int = 16, local_features: int = 16,
                 decoder_widths: tuple[int, ...] = RELEASED_DECODER_WIDTHS, decoder_heads: int = 6):
        super().__init__()
        self.encoder = GraphTransformer(
            2 + n_features, encoder_dim, global_features, encoder_heads, encoder_layers, dropout
        )
        self.local = LocalFeatures(n_features, local_features)
        self.decoder = DeformationDecoder(
            3 + global_features + local_features, tuple(decoder_widths), decoder_heads
        )

    def forward(self, g: GraphBatch) -> torch.Tensor:
        mesh_features = torch.cat([g.coords, g.features], 1)
        dense, mask = g.to_dense(mesh_features)
        global_ = g.from_dense(self.encoder(dense, mask))
        local = self.local(g.coords, g.features, g.edges)
        x = torch.cat([g.coords, g.fixed[:, None].to(g.coords.dtype), local, global_], 1)
        return self.decoder(g.coords, x, g.edges, g.fixed)
