"""enf2enf (Catalani et al., "Geometry aware inference of steady state PDEs using Equivariant
Neural Fields representations", 2025): geometry -> steady fields on any mesh.

Two equivariant neural fields (`pdesolve.models.enf2enf.ENF2ENFModel`, built from
`pdesolve.nn.equivariant_fields`; sizes by preset ``enf2enf-small`` / ``enf2enf-paper`` or
explicitly) share one latent layout: ``L`` latents on a ``latents_per_axis``-square grid over
``latent_bbox`` (normalised coordinates), poses and Gaussian window frozen.

1. **Geometry encoder** (stage 1, meta-learned auto-decoding). The geometry code
   (``geometry_code``) is a field fitted per sample: ``input_fields``, the sample's input fields
   (the signed distance) at its nodes; ``node_coordinates`` (the authors' Elasticity encoding),
   the sample's node coordinates as a field over the reference nodes (the training mean of the
   corresponding nodes, so every sample needs the same nodes in the same order); ``none``, no
   code (zero contexts, encoder not trained: the diagnostic of what the code carries). It is
   fitted by ``inner_steps`` steps ``c <- c - alpha * grad_c MSE`` from ``c = 1``, each on a fresh
   random subset of ``encoder_points`` nodes (null: every node); ``alpha`` is learned per
   latent dimension (Meta-SGD, clipped to [1e-6, 10]). The outer loss is the MSE after the inner
   loop on one more subset, differentiated through the loop (second order); AdamW on the network,
   Adam on ``alpha``, gradient norm clipped to 1. The fitted contexts are the geometry code.
2. **Physics decoder** (stage 2, supervised, encoder frozen). The geometry contexts, standardised
   per feature with training statistics, go through a latent stem and latent self-attention
   (the latent-to-latent map) and an equivariant cross-attention decoder queried at the mesh
   nodes (relative positions ``x - p``, plus the normalised input fields as translation-invariant
   query channels with ``query_inputs``), trained on MSE of standardised outputs at
   ``decoder_points`` random nodes per sample (null: every node) through the engine's `Trainer`;
   ``train.lr`` null = the authors' 1e-4.

Coordinates are normalised with the training nodes' bounding box (centre, largest half-extent).
With ``anchor = "bbox"`` the latent grid is centred on each sample's own bounding box, so a
translated geometry gives the translated field exactly; ``"fixed"`` keeps the training grid.
Prediction runs the inner loop on every node of the mesh (deterministic), so a model trained on
node subsets of coarse meshes evaluates on any mesh.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
import xarray as xr
from pydantic import Field, model_validator
from torch import nn

from pdesolve.backends.base import FitReport, PresetOptions, Solver, Stage, Trainer
from pdesolve.data.mesh_samples import padded_dataset, padded_tensors, sample_mesh
from pdesolve.data.samples import select_split
from pdesolve.errors import UserError
from pdesolve.models.enf2enf import PRESETS, ENF2ENFModel
from pdesolve.models.presets import PresetTable

CHUNK_ROWS = 8192  # samples x nodes decoded at once when predicting


class ENF2ENFOptions(PresetOptions):
    """Defaults follow the authors' Elasticity configuration (JAX), except where noted."""

    presets: ClassVar[PresetTable] = PRESETS

    geometry_code: Literal["input_fields", "node_coordinates", "none"] = Field(
        "input_fields", description="what the encoder fits: the input fields at the nodes, the node coordinates "
                                    "over reference nodes (corresponding-node meshes), or nothing (zero code)")

    latents_per_axis: int = Field(3, ge=1, description="latents per axis (L = latents_per_axis^2)")
    latent_dim: int = Field(8, gt=0, description="context vector size")
    latent_bbox: tuple[float, float] | tuple[tuple[float, float], tuple[float, float]] = Field(
        (-0.75, 0.75), description="latent grid span (normalised units): (lo, hi) for both axes, or "
                                   "((x_lo, x_hi), (y_lo, y_hi))")
    window: float | None = Field(
        None, gt=0, description="Gaussian window sigma (normalised units); null = the value the authors' "
                                "JAX code actually uses, 2 / latents_per_axis")
    anchor: Literal["bbox", "fixed"] = Field(
        "bbox", description="centre the latent grid on each sample's bounding box, or keep it fixed")
    query_inputs: bool = Field(
        True, description="append the input fields (SDF) to the decoder's bi-invariant")
    heads: int = Field(2, gt=0)
    encoder_hidden: int = Field(128, gt=0)
    decoder_hidden: int = Field(256, gt=0)
    decoder_self_attention_layers: int = Field(2, ge=0)
    fourier_features: int = Field(64, gt=0, description="random Fourier frequencies per embedding")
    encoder_freq: tuple[float, float] = Field((0.5, 0.5), description="query, value frequency scales")
    decoder_freq: tuple[float, float] = Field((0.1, 0.1), description="query, value frequency scales")
    inner_steps: int = Field(3, ge=1, description="auto-decoding gradient steps")
    inner_lr: float = Field(0.5, gt=0, description="initial Meta-SGD learning rate")
    encoder_epochs: int = Field(1500, ge=0, description="stage-1 epochs (the decoder uses train.epochs)")
    encoder_lr: float = Field(1e-4, gt=0, description="stage-1 AdamW learning rate")
    inner_lr_lr: float = Field(1e-4, gt=0, description="stage-1 Adam learning rate of the Meta-SGD rates")
    encoder_batch_size: int = Field(1, gt=0, description="samples per stage-1 step (authors: 1)")
    encoder_points: int | None = Field(
        None, gt=0, description="nodes per inner step (capped at the smallest mesh); null = every node")
    decoder_points: int | None = Field(
        None, gt=0, description="nodes per sample per decoder step (capped likewise); null = every node")

    @property
    def latent_bounds(self) -> list[tuple[float, float]]:
        """``latent_bbox`` per axis."""
        box = self.latent_bbox
        return [tuple(b) for b in box] if isinstance(box[0], tuple) else [tuple(box)] * 2

    @model_validator(mode="after")
    def _bbox(self):
        if not all(lo < hi for lo, hi in self.latent_bounds):
            raise ValueError("latent_bbox must be (lo, hi) with lo < hi, per axis")
        return self


def _subsets(mask: torch.Tensor, sets: int, points: int) -> torch.Tensor:
    """Random node indices ``(b, sets, points)`` drawn among each sample's valid nodes."""
    b, n = mask.shape
    keys = torch.rand(b, sets, n, device=mask.device).masked_fill(~mask[:, None], 2.0)
    return keys.argsort(dim=-1)[..., :points]


def _gather(t: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``t (b, n, c)`` at ``idx (b, k, m)`` -> ``(b, k, m, c)``."""
    b, k, m = idx.shape
    flat = t.gather(1, idx.reshape(b, k * m, 1).expand(-1, -1, t.shape[-1]))
    return flat.view(b, k, m, -1)


class MeshSamples:
    """A split's tensors: inputs ``(s, n, c_in)``, outputs ``(s, n, c_out)`` (or None), coordinates
    ``(s, n, 2)`` and the node mask ``(s, n)``, padding zero-filled."""

    def __init__(self, data: xr.Dataset, inputs: list[str], outputs: list[str] | None):
        a, self.x, self.mask = padded_tensors(data, inputs)
        self.a = a.transpose(1, 2)
        self.u = padded_tensors(data, outputs)[0].transpose(1, 2) if outputs else None

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def min_nodes(self) -> int:
        return int(self.mask.sum(1).min())


class ENF2ENFSolver(Solver, name="enf2enf"):
    """Equivariant neural fields: geometry latents -> solution fields at any query points."""

    kind: ClassVar[str] = "operator"
    AUTHORS_LR: ClassVar[float] = 1e-4  # decoder learning rate of the authors' configurations
    tasks: ClassVar[tuple[str, ...]] = ("mesh_map",)
    Options = ENF2ENFOptions
    description = "enf2enf: equivariant neural fields, meta-learned geometry latents -> fields on any mesh"
    paper = ("Catalani et al., Geometry aware inference of steady state PDEs using Equivariant Neural "
             "Fields representations, 2025")
    options: ENF2ENFOptions
    model: ENF2ENFModel

    # ------------------------------------------------------------------------ setup
    def modules(self) -> nn.Module:
        return self.model

    def default_lr(self, problem) -> float:
        return self.AUTHORS_LR

    def build(self, setup: dict[str, Any]) -> None:
        o = self.options
        self.model = ENF2ENFModel(
            len(setup["inputs"]), len(setup["outputs"]), n_code=2 if o.geometry_code == "node_coordinates" else None,
            reference_nodes=setup.get("reference_nodes", 0), latents_per_axis=o.latents_per_axis,
            latent_dim=o.latent_dim, latent_bounds=o.latent_bounds, window=o.window,
            anchor_to_bbox=o.anchor == "bbox", query_inputs=o.query_inputs, heads=o.heads,
            encoder_hidden=o.encoder_hidden, decoder_hidden=o.decoder_hidden,
            decoder_self_attention_layers=o.decoder_self_attention_layers,
            fourier_features=o.fourier_features, encoder_freq=o.encoder_freq, decoder_freq=o.decoder_freq,
            inner_lr=o.inner_lr)

    @torch.no_grad()
    def _fit_statistics(self, train: MeshSamples) -> None:
        m = self.model
        x = train.x[train.mask]
        lo, hi = x.amin(0), x.amax(0)
        m.coord_center.copy_(0.5 * (lo + hi))
        m.coord_scale.fill_(float(0.5 * (hi - lo).max()))
        if self.options.geometry_code == "node_coordinates":
            m.reference.copy_(train.x.mean(0))
        a = train.a[train.mask]
        m.in_lo.copy_(a.amin(0))
        m.in_hi.copy_(a.amax(0))
        u = train.u[train.mask]
        m.out_mean.copy_(u.mean(0))
        m.out_std.copy_(u.std(0).clamp_min(1e-12))

    # -------------------------------------------------------------------------- fit
    def fit(self, problem, data: xr.Dataset, trainer: Trainer) -> FitReport:
        self.setup = {"problem": problem.name, "task": problem.task,
                      "inputs": list(problem.inputs), "outputs": list(problem.outputs)}
        train = MeshSamples(select_split(data, "train"), self.setup["inputs"], self.setup["outputs"])
        val_data = select_split(data, "validation")
        val = (MeshSamples(val_data, self.setup["inputs"], self.setup["outputs"])
               if val_data.sizes["sample"] else None)
        if self.options.geometry_code == "node_coordinates":
            self.setup["reference_nodes"] = train.x.shape[1]
            for name, s in (("training", train), ("validation", val)):
                if s is not None:
                    self.check_corresponding(s, name)
        self.build(self.setup)
        self._fit_statistics(train)
        self.to(trainer.device)

        def stages():
            if self.options.geometry_code != "none":
                yield self.encoder_stage(train, trainer.device)
            contexts = self.fit_context_statistics(train)
            yield self.decoder_stage(train, val, contexts, trainer)

        return trainer.fit_stages(self, stages())

    def check_corresponding(self, samples: MeshSamples, name: str) -> None:
        """``geometry_code: node_coordinates`` needs every sample on the reference's node count."""
        n = self.setup["reference_nodes"]
        counts = sorted(set(samples.mask.sum(1).tolist()))
        if counts != [n]:
            raise UserError(f"geometry_code node_coordinates needs meshes with corresponding nodes (the same {n} nodes "
                            f"in every sample, e.g. elasticity_voids mesh: deformed); the {name} samples have "
                            f"{counts[:4]} nodes", field="backend.geometry_code")

    def code_fields(self, samples: MeshSamples, sl) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The geometry code's field for samples ``sl``: normalised query points ``(b, n, 2)``, targets
        ``(b, n, c)`` and node mask ``(b, n)``, on the model's device."""
        m = self.model
        x, a, mask = (t[sl].to(m.poses.device) for t in (samples.x, samples.a, samples.mask))
        if self.options.geometry_code == "node_coordinates":
            return m.coords(m.reference).expand_as(x), m.coords(x), mask
        return m.coords(x), m.inputs(a), mask

    def encoder_stage(self, train: MeshSamples, device: torch.device) -> Stage:
        """Stage 1: meta-learn the geometry auto-decoder (``encoder_epochs`` epochs of
        ``encoder_batch_size`` samples; AdamW at ``encoder_lr`` on the encoder and at
        ``inner_lr_lr`` without weight decay on the Meta-SGD rates; constant rates; ``train.grad_clip``
        on both)."""
        o, m = self.options, self.model
        points = min(o.encoder_points or train.min_nodes, train.min_nodes)

        def step_loss(i: torch.Tensor) -> torch.Tensor:
            x, a, mask = self.code_fields(train, i)
            poses = m.sample_poses(x, mask)
            idx = _subsets(mask, o.inner_steps + 1, points)
            xs, as_ = _gather(x, idx), _gather(a, idx)
            w = torch.full(idx.shape, 1.0 / points, device=device)
            c = m.autodecode(xs[:, :-1], as_[:, :-1], w[:, :-1], poses, o.inner_steps, create_graph=True)
            return m.reconstruction_error(xs[:, -1], as_[:, -1], w[:, -1], poses, c).mean()

        groups = [{"params": list(m.encoder.parameters()), "lr": o.encoder_lr},
                  {"params": [m.inner_lr], "lr": o.inner_lr_lr, "weight_decay": 0.0}]
        return Stage(name="encoder", module=m, step_loss=step_loss, items=len(train),
                     batch_size=o.encoder_batch_size, epochs=o.encoder_epochs, optimizer="adamw",
                     param_groups=groups, schedule="constant")

    @torch.no_grad()
    def fit_context_statistics(self, train: MeshSamples) -> torch.Tensor:
        """Standardisation of the geometry contexts over training samples x latents; returns the
        training contexts ``(s, L, c)``."""
        c = self.encode(train)
        self.model.ctx_mean.copy_(c.mean((0, 1)))
        self.model.ctx_std.copy_(c.std((0, 1)).clamp_min(1e-6))
        return c

    def decoder_stage(self, train: MeshSamples, val: MeshSamples | None, contexts: torch.Tensor,
                      trainer: Trainer) -> Stage:
        """Stage 2 (the fit's main stage, ``train.*``): supervised decoder training on the training
        samples' geometry ``contexts``, validated on ``val``."""
        m, device = self.model, trainer.device
        points = min(self.options.decoder_points or train.min_nodes, train.min_nodes)

        def step_loss(index: torch.Tensor) -> torch.Tensor:
            x, a, u, mask = (t[index].to(device) for t in (train.x, train.a, train.u, train.mask))
            x, a = m.coords(x), m.inputs(a)
            poses = m.sample_poses(x, mask)
            idx = _subsets(mask, 1, points)
            xs, as_, us = (_gather(t, idx)[:, 0] for t in (x, a, u))
            pred = m.decode(xs, as_, poses, contexts[index].to(device))
            return trainer.loss(pred, (us - m.out_mean) / m.out_std)

        validate = (lambda: float(self.errors(val).mean())) if val is not None else None
        return Stage(module=m, step_loss=step_loss, items=len(train), validate=validate)

    # ---------------------------------------------------------------------- predict
    def _chunks(self, samples: MeshSamples):
        per = max(1, CHUNK_ROWS // samples.x.shape[1])
        for s in range(0, len(samples), per):
            yield slice(s, s + per)

    def encode(self, samples: MeshSamples) -> torch.Tensor:
        """Geometry contexts ``(s, L, c)``: the inner loop on every node of every sample (zeros with
        ``geometry_code: none``)."""
        m = self.model
        if self.options.geometry_code == "none":
            return torch.zeros(len(samples), m.n_latents, m.inner_lr.shape[0])
        out = []
        with torch.enable_grad():
            for sl in self._chunks(samples):
                x, a, mask = self.code_fields(samples, sl)
                w = (mask / mask.sum(1, keepdim=True)).to(x.dtype)
                out.append(m.autodecode(x[:, None], a[:, None], w[:, None], m.sample_poses(x, mask),
                                        self.options.inner_steps, create_graph=False).cpu())
        return torch.cat(out)

    @torch.no_grad()
    def predict(self, samples: MeshSamples, contexts: torch.Tensor | None = None) -> torch.Tensor:
        """Outputs ``(s, n, c_out)`` in physical units at every node (padding zero)."""
        m, device = self.model, self.device
        m.eval()
        contexts = self.encode(samples) if contexts is None else contexts
        out = []
        for sl in self._chunks(samples):
            x, a, mask = (t[sl].to(device) for t in (samples.x, samples.a, samples.mask))
            x, a = m.coords(x), m.inputs(a)
            pred = m.decode(x, a, m.sample_poses(x, mask), contexts[sl].to(device))
            out.append((pred * m.out_std + m.out_mean).masked_fill(~mask[..., None], 0.0).cpu())
        return torch.cat(out)

    def errors(self, samples: MeshSamples) -> torch.Tensor:
        """Per-sample relative L2 error over the nodes (all output channels), ``(s,)``."""
        pred = self.predict(samples).double()
        ref = samples.u.double().masked_fill(~samples.mask[..., None], 0.0)
        return (pred - ref).flatten(1).norm(dim=1) / ref.flatten(1).norm(dim=1).clamp_min(1e-12)

    def score(self, problem, data: xr.Dataset) -> dict[str, float]:
        """``test_rel_l2``: mean per-sample relative L2 error on the samples' own meshes."""
        samples = MeshSamples(data, self.setup["inputs"], self.setup["outputs"])
        return {"test_rel_l2": float(self.errors(samples).mean())}

    def solve(self, problem, inputs: xr.Dataset) -> xr.Dataset:
        """The output fields on each sample's mesh (padded layout, see `pdesolve.data.mesh_samples`)."""
        missing = [n for n in self.setup["inputs"] if n not in inputs.data_vars]
        if missing:
            raise UserError(f"inputs lack {missing} (expected the geometry fields {self.setup['inputs']})")
        samples = MeshSamples(inputs, self.setup["inputs"], None)
        if self.options.geometry_code == "node_coordinates":
            self.check_corresponding(samples, "given")
        pred = self.predict(samples).numpy()
        counts = samples.mask.sum(1).tolist()
        meshes = [sample_mesh(inputs, i) for i in range(len(samples))]
        fields = {n: [pred[i, :counts[i], c] for i in range(len(samples))]
                  for c, n in enumerate(self.setup["outputs"])}
        return padded_dataset(meshes, fields, problem.fields)
