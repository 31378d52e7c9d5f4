"""The enf2enf model (Catalani et al., "Geometry aware inference of steady state PDEs using
Equivariant Neural Fields representations", 2025): two equivariant neural fields
(`pdesolve.nn.equivariant_fields`) sharing one latent layout, ``L`` latents on a square grid with
frozen poses and Gaussian window.

* the **geometry encoder** field, fitted to a sample's input fields by a few Meta-SGD
  auto-decoding steps from ``c = 1`` (`ENF2ENFModel.autodecode`); the fitted contexts are the
  geometry code;
* the **physics decoder** field: the standardised contexts through a latent stem and latent
  self-attention, then equivariant cross-attention queried at the mesh nodes
  (`ENF2ENFModel.decode`).

The model also holds the normalisation statistics (buffers) the solver fits on the training split.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pdesolve.models.presets import Preset, PresetTable
from pdesolve.nn.equivariant_fields import EquivariantNeuralField, latent_grid

INNER_LR_RANGE = (1e-6, 10.0)


@dataclass(frozen=True)
class ENF2ENFSize:
    """Size fields of an `ENF2ENFModel`."""

    latents_per_axis: int
    latent_dim: int
    heads: int
    encoder_hidden: int
    decoder_hidden: int
    decoder_self_attention_layers: int
    fourier_features: int
    encoder_points: int | None
    decoder_points: int | None


PRESETS = PresetTable("enf2enf", ENF2ENFSize, [
    Preset("enf2enf-small", ENF2ENFSize(3, 8, 2, 32, 64, 2, 16, 200, 256),
           "CPU-sized: the shipped elasticity case (hidden 32/64, 16 Fourier features, 200/256 nodes per step)"),
    Preset("enf2enf-paper", ENF2ENFSize(3, 8, 2, 128, 256, 2, 64, None, None),
           "the authors' Elasticity configuration (JAX): 9 x 8 latents, 2 heads, hidden 128/256, every node "
           "per step (their 5000-point subsets exceed the 972-node meshes); 64 Fourier features our choice"),
])


class ENF2ENFModel(nn.Module):
    """Encoder, Meta-SGD rates, decoder and every normalisation statistic (buffers), for 2-D
    geometries with ``n_in`` input fields (the signed distance) and ``n_out`` output fields.

    Args:
        n_code: channels of the field the encoder fits (``None``: the ``n_in`` input fields; 2 for
            node coordinates).
        reference_nodes: size of the ``reference`` buffer, the reference node positions ``(n, 2)``
            of a node-coordinate geometry code (0 without one).
        latents_per_axis: ``L = latents_per_axis^2`` latents on a square grid over ``latent_bounds``
            (``(lo, hi)`` per axis, normalised coordinates; ``None``: ``(-0.75, 0.75)`` on both).
        latent_dim: context vector size.
        window: Gaussian window sigma (normalised units); ``None``: ``2 / latents_per_axis``.
        anchor_to_bbox: centre the latent grid on each sample's bounding box (else keep it fixed).
        query_inputs: append the normalised input fields to the decoder's bi-invariant.
        heads, encoder_hidden, decoder_hidden, decoder_self_attention_layers, fourier_features:
            sizes of the two `EquivariantNeuralField`s.
        encoder_freq, decoder_freq: (query, value) frequency scales of their Fourier embeddings.
        inner_lr: initial Meta-SGD learning rate (learned per latent dimension).
    """

    def __init__(self, n_in: int, n_out: int, *, n_code: int | None = None, reference_nodes: int = 0,
                 latents_per_axis: int = 3, latent_dim: int = 8,
                 latent_bounds: list[tuple[float, float]] | None = None, window: float | None = None,
                 anchor_to_bbox: bool = True, query_inputs: bool = True, heads: int = 2,
                 encoder_hidden: int = 128, decoder_hidden: int = 256, decoder_self_attention_layers: int = 2,
                 fourier_features: int = 64, encoder_freq: tuple[float, float] = (0.5, 0.5),
                 decoder_freq: tuple[float, float] = (0.1, 0.1), inner_lr: float = 0.5):
        super().__init__()
        self.anchor_to_bbox = anchor_to_bbox
        self.window = window if window is not None else 2.0 / latents_per_axis
        self.encoder = EquivariantNeuralField(n_code or n_in, latent_dim, encoder_hidden, heads, 0, 2, 0,
                                              fourier_features, *encoder_freq)
        self.decoder = EquivariantNeuralField(
            n_out, latent_dim, decoder_hidden, heads, decoder_self_attention_layers, 2,
            n_in if query_inputs else 0, fourier_features, *decoder_freq)
        self.query_inputs = query_inputs
        self.n_latents = latents_per_axis ** 2
        self.inner_lr = nn.Parameter(torch.full((latent_dim,), inner_lr))
        self.register_buffer("poses", latent_grid(latents_per_axis, latent_bounds or [(-0.75, 0.75)] * 2))
        statistics = {  # set from the training split by the solver
            "coord_center": torch.zeros(2), "coord_scale": torch.ones(1),
            "in_lo": torch.zeros(n_in), "in_hi": torch.ones(n_in),
            "out_mean": torch.zeros(n_out), "out_std": torch.ones(n_out),
            "ctx_mean": torch.zeros(latent_dim), "ctx_std": torch.ones(latent_dim),
        }
        if reference_nodes:  # the node-coordinate code only: other checkpoints keep their layout
            statistics["reference"] = torch.zeros(reference_nodes, 2)
        for name, value in statistics.items():
            self.register_buffer(name, value)

    # ---------------------------------------------------------------- normalisation
    def coords(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.coord_center) / self.coord_scale

    def inputs(self, a: torch.Tensor) -> torch.Tensor:
        """Min-max to [-1, 1] with training statistics."""
        return 2 * (a - self.in_lo) / (self.in_hi - self.in_lo).clamp_min(1e-12) - 1

    def sample_poses(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Latent poses ``(b, L, 2)`` for normalised coordinates ``x (b, n, 2)``."""
        poses = self.poses.expand(x.shape[0], -1, -1)
        if not self.anchor_to_bbox:
            return poses
        big = torch.finfo(x.dtype).max
        lo = x.masked_fill(~mask[..., None], big).amin(1)
        hi = x.masked_fill(~mask[..., None], -big).amax(1)
        return poses + (0.5 * (lo + hi))[:, None, :]

    # -------------------------------------------------------------------- encoder
    def autodecode(self, x: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, poses: torch.Tensor,
                   steps: int, create_graph: bool) -> torch.Tensor:
        """Contexts ``(b, L, c)`` fitted to ``target`` by ``steps`` Meta-SGD steps from ones.

        ``x (b, k, n, 2)``, ``target (b, k, n, c_in)``, ``weight (b, k, n)``: one point set per step
        (``k = steps`` sets, or one set reused), weights summing to 1 per sample and set.
        """
        b = x.shape[0]
        c = torch.ones(b, self.n_latents, self.inner_lr.shape[0], device=x.device, dtype=x.dtype,
                       requires_grad=True)
        lr = self.inner_lr.clamp(*INNER_LR_RANGE)
        for s in range(steps):
            k = s % x.shape[1]
            if not create_graph:
                c = c.detach().requires_grad_(True)
            loss = self.reconstruction_error(x[:, k], target[:, k], weight[:, k], poses, c).sum()
            (grad,) = torch.autograd.grad(loss, c, create_graph=create_graph)
            c = c - lr * grad
        return c if create_graph else c.detach()

    def reconstruction_error(self, x, target, weight, poses, contexts) -> torch.Tensor:
        """Per-sample weighted MSE of the encoder field, ``(b,)``."""
        pred = self.encoder(x, poses, contexts, self.window)
        return (((pred - target) ** 2).mean(-1) * weight).sum(-1)

    # -------------------------------------------------------------------- decoder
    def decode(self, x: torch.Tensor, a: torch.Tensor, poses: torch.Tensor,
               contexts: torch.Tensor) -> torch.Tensor:
        """Standardised outputs ``(b, n, c_out)`` at normalised ``x`` with normalised inputs ``a``."""
        ctx = (contexts - self.ctx_mean) / self.ctx_std
        return self.decoder(x, poses, ctx, self.window, a if self.query_inputs else None)
