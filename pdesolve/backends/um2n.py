"""UM2N (Zhang et al., "Towards Universal Mesh Movement Networks", NeurIPS 2024): a network that
moves the nodes of a mesh like a Monge--Ampere mover would, in one forward pass.

The network is the released model (``M2N_T``, `pdesolve.models.um2n`; sizes by preset
``um2n-small`` / ``um2n-paper`` or explicitly). Node features: coordinates, the boundary flag, and
the chosen fields (``node_inputs``; the released model uses the monitor only), each divided by its
per-mesh maximum magnitude.

Loss (released code, with configurable weights): ``coord_weight * 1000 * L1(x, y)`` +
``area_weight * sum_cells |s A(x) - s A(y)| / batch`` (signed areas oriented by the target,
``s = area_scale``) + ``chamfer_weight * 100 * Chamfer(x, y)`` per mesh (squared distances,
``torch.cdist``). The released configuration trains area + Chamfer (``coord_weight = 0``); the
paper describes coordinate + element-volume loss, our default.

Samples whose Monge--Ampere target did not converge or is tangled are left out of training.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import xarray as xr
from pydantic import Field, model_validator
from torch import nn

from pdesolve.backends.base import FitReport, PresetOptions, Solver, Stage, Trainer
from pdesolve.data.fields import FieldSpec
from pdesolve.data.mesh import Mesh
from pdesolve.data.mesh_samples import padded_dataset, sample_mesh, sample_values
from pdesolve.data.samples import select_split
from pdesolve.errors import UserError
from pdesolve.models.presets import PresetTable
from pdesolve.models.um2n import PRESETS, RELEASED_DECODER_WIDTHS, UM2NNetwork
from pdesolve.nn.graph import GraphBatch
from pdesolve.numerics.monge_ampere import tangled_cells

NodeInput = Literal["monitor", "hessian_norm", "solution"]
MOVED_FIELDS = {
    "original_x": FieldSpec("original_x", "1", "x of the node on the original mesh"),
    "original_y": FieldSpec("original_y", "1", "y of the node on the original mesh"),
    "monitor": FieldSpec("monitor", "1", "monitor at the node (original mesh)"),
}


class UM2NOptions(PresetOptions):
    """Defaults are the released model's, except where noted."""

    presets: ClassVar[PresetTable] = PRESETS

    node_inputs: list[NodeInput] = Field(
        ["monitor", "hessian_norm", "solution"],
        min_length=1,
        description="fields besides coordinates the encoders read (released model: [monitor])",
    )
    encoder_dim: int = Field(64, gt=0, description="transformer embedding width")
    encoder_heads: int = Field(4, gt=0)
    encoder_layers: int = Field(1, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1, description="transformer dropout")
    global_features: int = Field(16, gt=0, description="transformer output channels")
    local_features: int = Field(16, gt=1, description="local extractor output channels")
    decoder_widths: tuple[int, ...] = Field(
        RELEASED_DECODER_WIDTHS,
        min_length=2,
        description="decoder input projection width, then each DeformGAT layer's width per head",
    )
    decoder_heads: int = Field(6, gt=0)
    coord_weight: float = Field(1.0, ge=0, description="weight of 1000 * L1 coordinate loss (released: 0)")
    area_weight: float = Field(1.0, ge=0, description="weight of the element-area loss")
    area_scale: float = Field(300.0, gt=0, description="area scale s of the area loss")
    chamfer_weight: float = Field(0.0, ge=0, description="weight of 100 * Chamfer loss (released: 1)")

    @model_validator(mode="after")
    def _check(self):
        if self.encoder_dim % self.encoder_heads:
            raise ValueError("encoder_dim must be divisible by encoder_heads")
        if self.coord_weight + self.area_weight + self.chamfer_weight == 0:
            raise ValueError("at least one of coord_weight, area_weight, chamfer_weight must be positive")
        if len(set(self.node_inputs)) != len(self.node_inputs):
            raise ValueError("node_inputs must not repeat a field")
        return self


@dataclass
class MeshGraph:
    """One sample's tensors: coordinates ``(n, 2)``, normalised features ``(n, c)``, boundary
    ``(n,)``, directed edges ``(2, E)``, cells ``(C, 3)`` and the target ``(n, 2)`` (or None)."""

    coords: torch.Tensor
    features: torch.Tensor
    fixed: torch.Tensor
    edges: torch.Tensor
    cells: torch.Tensor
    target: torch.Tensor | None

    @classmethod
    def from_mesh(cls, mesh: Mesh, features: np.ndarray, target: np.ndarray | None = None) -> MeshGraph:
        """``features (n, c)`` are divided by their per-mesh maximum magnitude (UM2N's ``normalise``)."""
        scale = np.maximum(np.abs(features).max(axis=0), 1e-12)
        e = mesh.edges()
        f32 = torch.float32
        return cls(
            torch.as_tensor(mesh.nodes, dtype=f32),
            torch.as_tensor(features / scale, dtype=f32),
            torch.as_tensor(mesh.boundary != 0),
            torch.as_tensor(np.concatenate([e, e[:, ::-1]]).T.copy()),
            torch.as_tensor(mesh.cells),
            None if target is None else torch.as_tensor(target, dtype=f32),
        )


@dataclass
class MovedMeshes:
    """Moved node coordinates ``(n_i, 2)`` per mesh, with wall and CPU seconds per mesh."""

    nodes: list[np.ndarray]
    seconds: list[float]
    cpu_seconds: list[float]


def collate(
    graphs: Sequence[MeshGraph], device: torch.device | str
) -> tuple[GraphBatch, torch.Tensor | None]:
    """Batch ``graphs`` as one disjoint union on ``device``; returns it and the stacked targets."""
    sizes = torch.tensor([g.coords.shape[0] for g in graphs])
    offsets = torch.cumsum(sizes, 0) - sizes
    cell_counts = torch.tensor([g.cells.shape[0] for g in graphs])
    batch = GraphBatch(
        coords=torch.cat([g.coords for g in graphs]),
        features=torch.cat([g.features for g in graphs]),
        fixed=torch.cat([g.fixed for g in graphs]),
        edges=torch.cat([g.edges + o for g, o in zip(graphs, offsets, strict=True)], 1),
        cells=torch.cat([g.cells + o for g, o in zip(graphs, offsets, strict=True)]),
        graph=torch.repeat_interleave(torch.arange(len(graphs)), sizes),
        cell_graph=torch.repeat_interleave(torch.arange(len(graphs)), cell_counts),
        position=torch.cat([torch.arange(int(n)) for n in sizes]),
        sizes=sizes,
    )
    batch = GraphBatch(**{k: v.to(device) for k, v in vars(batch).items()})
    target = torch.cat([g.target for g in graphs]).to(device) if graphs[0].target is not None else None
    return batch, target


def signed_areas(coords: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """Signed triangle areas ``(C,)``."""
    a, b, c = (coords[cells[:, k]] for k in range(3))
    return 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))


def chamfer(pred: torch.Tensor, target: torch.Tensor, g: GraphBatch) -> torch.Tensor:
    """Mean over meshes of the symmetric Chamfer distance (mean squared nearest distance, both ways)."""
    p, mask = g.to_dense(pred)
    t, _ = g.to_dense(target)
    d = torch.cdist(p, t, compute_mode="donot_use_mm_for_euclid_dist") ** 2
    d = d.masked_fill(~mask[:, None, :], float("inf")).masked_fill(~mask[:, :, None], float("inf"))
    n = mask.sum(1)
    forward = torch.where(mask, d.amin(2), 0.0).sum(1) / n
    backward = torch.where(mask, d.amin(1), 0.0).sum(1) / n
    return (forward + backward).mean()


class UM2NSolver(Solver, name="um2n"):
    """Learned mesh movement: graph transformer + deformation GAT, trained on Monge--Ampere meshes."""

    kind: ClassVar[str] = "mesh"
    tasks: ClassVar[tuple[str, ...]] = ("mesh",)
    Options = UM2NOptions
    description = "UM2N: graph-transformer + GAT mesh mover trained on Monge-Ampere meshes"
    paper = "Zhang et al., Towards Universal Mesh Movement Networks, NeurIPS 2024"
    options: UM2NOptions
    model: UM2NNetwork

    @classmethod
    def unused_train_fields(cls, problem, options):
        return {**super().unused_train_fields(problem, options),
                "loss": "it minimises its coordinate and volume losses (backend.*_weight)"}

    # ------------------------------------------------------------------------------ setup
    def modules(self) -> nn.Module:
        return self.model

    def build(self, setup: dict[str, Any]) -> None:
        o = self.options
        self.model = UM2NNetwork(
            len(setup["inputs"]), encoder_dim=o.encoder_dim, encoder_heads=o.encoder_heads,
            encoder_layers=o.encoder_layers, dropout=o.dropout, global_features=o.global_features,
            local_features=o.local_features, decoder_widths=o.decoder_widths, decoder_heads=o.decoder_heads,
        )

    def graphs(self, data: xr.Dataset, *, targets: bool) -> list[MeshGraph]:
        """Every sample of ``data`` (padded mesh layout) as a `MeshGraph`."""
        missing = [
            n
            for n in self.setup["inputs"] + (["target_x", "target_y"] if targets else [])
            if n not in data.data_vars
        ]
        if missing:
            raise UserError(f"mesh data lack {missing} (expected the fields of a 'mesh' problem)")
        out = []
        for i in range(data.sizes["sample"]):
            mesh = sample_mesh(data, i)
            features = np.stack([sample_values(data, n, i) for n in self.setup["inputs"]], 1).astype(
                np.float64
            )
            target = (
                np.stack([sample_values(data, n, i) for n in ("target_x", "target_y")], 1)
                if targets
                else None
            )
            out.append(MeshGraph.from_mesh(mesh, features, target))
        return out

    # -------------------------------------------------------------------------------- fit
    def loss(self, pred: torch.Tensor, target: torch.Tensor, g: GraphBatch) -> torch.Tensor:
        """The weighted UM2N loss of a batch (see the module docstring)."""
        o = self.options
        total = pred.new_zeros(())
        if o.coord_weight:
            total = total + o.coord_weight * 1000.0 * (pred - target).abs().mean()
        if o.area_weight:
            a_t = signed_areas(target, g.cells)
            a_p = signed_areas(pred, g.cells) * torch.sign(a_t)
            total = total + o.area_weight * o.area_scale * (a_p - a_t.abs()).abs().sum() / g.n_graphs
        if o.chamfer_weight:
            total = total + o.chamfer_weight * 100.0 * chamfer(pred, target, g)
        return total

    def fit(self, problem, data: xr.Dataset, trainer: Trainer) -> FitReport:
        self.setup = {"problem": problem.name, "task": problem.task, "inputs": list(self.options.node_inputs)}
        self.build(self.setup)
        self.to(trainer.device)
        train_data = select_split(data, "train")
        usable = np.ones(train_data.sizes["sample"], bool)
        for flag, good in (("ma_converged", 1), ("ma_tangled", 0)):
            if flag in train_data:
                usable &= train_data[flag].values == good
        if not usable.any():
            raise UserError("no training sample has a converged, untangled Monge-Ampere target")
        train = self.graphs(train_data.isel(sample=np.flatnonzero(usable)), targets=True)
        val_data = select_split(data, "validation")
        val = self.graphs(val_data, targets=True) if val_data.sizes["sample"] else []
        device, model = trainer.device, self.model

        def step_loss(index: torch.Tensor) -> torch.Tensor:
            g, target = collate([train[i] for i in index.tolist()], device)
            return self.loss(model(g), target, g)

        @torch.no_grad()
        def validate() -> float:
            model.eval()
            total = 0.0
            for s in range(0, len(val), trainer.batch_size):
                chunk = val[s : s + trainer.batch_size]
                g, target = collate(chunk, device)
                total += float(self.loss(model(g), target, g)) * len(chunk)
            return total / len(val)

        self.setup["train_samples"] = int(usable.sum())
        return trainer.fit_stages(self, [Stage(module=model, step_loss=step_loss, items=len(train),
                                               validate=validate if val else None)])

    # ---------------------------------------------------------------------------- predict
    @torch.no_grad()
    def move(self, graphs: Sequence[MeshGraph], *, warm_up: bool = True) -> MovedMeshes:
        """Moved node coordinates of each graph, with the wall and CPU time of each forward pass
        (one graph per pass, as a user moving one mesh would run it; after one warm-up pass unless
        ``warm_up`` is false: a caller timing mesh by mesh warms up once)."""
        self.model.eval()
        out = MovedMeshes([], [], [])
        if graphs and warm_up:  # the first call pays one-off allocations and kernel selection
            self.model(collate(graphs[:1], self.device)[0])
        for graph in graphs:
            t0, c0 = time.perf_counter(), time.process_time()
            g, _ = collate([graph], self.device)
            x = self.model(g)
            if x.device.type == "cuda":
                torch.cuda.synchronize(x.device)
            out.seconds.append(time.perf_counter() - t0)
            out.cpu_seconds.append(time.process_time() - c0)
            out.nodes.append(x.double().cpu().numpy())
        return out

    def move_dataset(self, data: xr.Dataset) -> tuple[list[Mesh], list[Mesh], MovedMeshes]:
        """The original meshes of ``data``, their moved versions and the timings."""
        originals = [sample_mesh(data, i) for i in range(data.sizes["sample"])]
        moved = self.move(self.graphs(data, targets=False))
        return originals, [m.with_nodes(x) for m, x in zip(originals, moved.nodes, strict=True)], moved

    def score(self, problem, data: xr.Dataset) -> dict[str, float]:
        """Test metrics on the samples' meshes: coordinate L1 to the Monge--Ampere target, error
        reduction of the PDE solution on the moved mesh (against the original mesh, mean over
        meshes; ``error_reduction_monge_ampere``: the stored targets'), tangled cells, time per mesh."""
        originals, moved, timing = self.move_dataset(data)
        target = [
            np.stack([sample_values(data, n, i) for n in ("target_x", "target_y")], 1)
            for i in range(len(moved))
        ]
        errors = [problem.mesh_errors(data, i, {"um2n": m}) for i, m in enumerate(moved)]
        er = np.array([1 - e["um2n"] / e["original"] for e in errors])
        out = {
            "test_coord_l1": float(
                np.mean([np.abs(m.nodes - t).mean() for m, t in zip(moved, target, strict=True)])
            ),
            "error_reduction": float(np.nanmean(er)),  # NaN: a tangled mesh (see tangled_cells)
            "tangled_cells": float(
                sum(tangled_cells(o, m.nodes) for o, m in zip(originals, moved, strict=True))
            ),
            "seconds_per_mesh": float(np.mean(timing.seconds)),
        }
        if "error_monge_ampere" in data:
            out["error_reduction_monge_ampere"] = float(
                (1 - data["error_monge_ampere"].values / data["error_original"].values).mean()
            )
        return out

    def solve(self, problem, inputs: xr.Dataset) -> xr.Dataset:
        """The moved meshes (padded layout, `pdesolve.data.mesh_samples`), with each node's
        original coordinates and monitor."""
        originals, moved, timing = self.move_dataset(inputs)
        fields = {
            "original_x": [m.nodes[:, 0] for m in originals],
            "original_y": [m.nodes[:, 1] for m in originals],
            "monitor": [sample_values(inputs, "monitor", i) for i in range(len(moved))],
        }
        ds = padded_dataset(moved, fields, MOVED_FIELDS, {"title": "meshes moved by UM2N"})
        ds["seconds"] = xr.Variable(
            ("sample",), np.asarray(timing.seconds), {"units": "s", "long_name": "UM2N forward wall time"}
        )
        return ds
