"""Shared machinery of operator backends (FNO, TFNO, LSM, IFactFormer, ...).

An operator backend only says how to build its network::

    class FNOSolver(OperatorSolver, name="fno"):
        Options = FNOOptions
        def build_network(self, in_channels, out_channels, grid): return FNO(...)

and inherits fitting on input/output pairs (maps) or sliding windows (trajectories), unit-Gaussian
normalisation saved with the model, pushforward/unrolled training, prediction and persistence.
Pairs are read on demand (`pdesolve.data.streaming`) through a DataLoader, whether the data is in
memory or a file on disk; the normalisers' statistics come from one streaming pass.

Tensor layout: a model input is ``(b, window, c_in, *s)`` (the window is folded into channels
before the network), its output ``(b, c_out, *s)``.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

import numpy as np
import torch
import xarray as xr
from pydantic import Field
from torch import nn

from pdesolve.backends.base import BackendOptions, FitReport, Solver, Stage, Trainer
from pdesolve.data.grid import Grid
from pdesolve.data.samples import select_split
from pdesolve.data.streaming import FieldPairs, PairLoader, RunningMoments, scan
from pdesolve.data.symmetries import Augmentation
from pdesolve.data.tensors import grid_from_dataset, to_dataset, to_tensor
from pdesolve.errors import UserError
from pdesolve.limits import MemoryEstimate, Size
from pdesolve.metrics import relative_l2
from pdesolve.nn.normalizer import ChannelNormalizer
from pdesolve.nn.rollout import autoregressive


class OperatorOptions(BackendOptions):
    """Options every operator backend has."""

    window: int = Field(1, ge=1, description="input frames per prediction (trajectories); 1 for maps")
    predict_increment: bool = Field(
        False, description="trajectories: predict the change from the last input frame")


class OperatorModel(nn.Module):
    """Normalise inputs, run the network, de-normalise outputs.

    ``forward(x)``: ``(b, window, c_in, *s) -> (b, c_out, *s)``. With ``increment`` the network
    predicts the (normalised) change from the last input frame.
    """

    def __init__(self, network: nn.Module, in_channels: int, out_channels: int, spatial_ndim: int,
                 increment: bool = False):
        super().__init__()
        self.network = network
        self.increment = increment
        self.in_norm = ChannelNormalizer(in_channels, spatial_ndim)
        self.out_norm = ChannelNormalizer(out_channels, spatial_ndim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.in_norm.encode(x).flatten(1, 2)
        y = self.out_norm.decode(self.network(z))
        return x[:, -1] + y if self.increment else y


@torch.no_grad()
def set_statistics(norm: ChannelNormalizer, moments: RunningMoments) -> None:
    """Load streamed channel moments into a normaliser (what `ChannelNormalizer.fit` computes)."""
    norm.mean.copy_(torch.as_tensor(moments.mean, dtype=torch.float64).to(norm.mean.dtype))
    norm.std.copy_(torch.as_tensor(moments.std, dtype=torch.float64).clamp_min(norm.eps).to(norm.std.dtype))


class OperatorSolver(Solver):
    """Base of backends that learn a map between fields on a grid."""

    kind: ClassVar[str] = "operator"
    tasks: ClassVar[tuple[str, ...]] = ("map", "trajectory")
    Options: ClassVar[type[OperatorOptions]] = OperatorOptions
    uniform_grid: ClassVar[bool] = False  # the network needs equally spaced points (FFT-based layers)
    model: OperatorModel

    @abstractmethod
    def build_network(self, in_channels: int, out_channels: int, grid: Grid) -> nn.Module:
        """The network ``(b, in_channels, *grid.shape) -> (b, out_channels, *grid.shape)``."""

    @classmethod
    def check_problem(cls, problem, options, *, horizon=1):
        super().check_problem(problem, options, horizon=horizon)
        if problem.task == "map" and options.window != 1:
            raise UserError(f"'{problem.name}' maps fields to fields; window must be 1", field="backend.window")
        grid = getattr(problem, "solver_grid", None)
        if grid is not None:
            cls.check_grid(grid, options)
        frames = len(problem.times)
        if problem.task == "trajectory" and options.window + horizon > frames:
            raise UserError(
                f"trajectories of {frames} frames are too short for window {options.window} + "
                f"{horizon} predicted frame(s)", field="backend.window")

    @classmethod
    def unused_train_fields(cls, problem, options):
        return {} if problem.task == "trajectory" else super().unused_train_fields(problem, options)

    @classmethod
    def index_space_axes(cls, options) -> tuple[str, ...]:
        """Axes with listed (non-uniform) points that the case lets an FFT-based network treat in index
        space, as if equally spaced (``backend.index_space_axes`` of `pdesolve.backends.fno.FNOOptions`)."""
        return tuple(getattr(options, "index_space_axes", ()))

    @classmethod
    def check_grid(cls, grid: Grid, options) -> None:
        """Refuse a grid the network cannot work on: FFT-based backends need equal spacing, except along
        the listed-point axes the case names in ``index_space_axes`` (and only those)."""
        if not cls.uniform_grid:
            return
        axes = {a.name: a for a in grid.axes}
        index = cls.index_space_axes(options)
        for name in index:
            if name not in axes:
                raise UserError(f"'{name}' is not an axis of the grid (axes: {', '.join(axes)})",
                                field="backend.index_space_axes")
            if axes[name].equally_spaced:
                raise UserError(f"axis {name} is equally spaced; index_space_axes lists only axes with listed, "
                                "non-uniform points (the FFTs already work in space there)",
                                field="backend.index_space_axes")
        uneven = ", ".join(a.name for a in grid.axes if not a.equally_spaced and a.name not in index)
        if uneven:
            raise UserError(f"backend '{cls.name}' transforms fields with FFTs and needs equally spaced points; "
                            f"axis {uneven} is not uniform (list it in backend.index_space_axes to work in index "
                            "space along it, resample the data, or use lsm or ifactformer)", field="backend.name")

    def memory_estimates(self, problem, resolution, batch_size):
        """The network's training state (weights, gradients and two Adam moments, float32), its
        parameters counted on the ``meta`` device without allocating them."""
        probe = type(self)(self.options)
        probe.setup = probe.setup_for(problem, problem.data_grid(resolution))
        with torch.device("meta"):
            probe.build(probe.setup)
        return [MemoryEstimate("the model's training state", [
            Size(self.size_field(), "parameters", probe.n_parameters())], 16, device="training")]

    # -------------------------------------------------------------------------- setup
    def modules(self) -> nn.Module:
        return self.model

    def build(self, setup: dict[str, Any]) -> None:
        grid = Grid.from_json(setup["grid"])
        c_in, c_out = len(setup["inputs"]), len(setup["outputs"])
        network = self.build_network(setup["window"] * c_in, c_out, grid)
        self.model = OperatorModel(network, c_in, c_out, grid.ndim, increment=setup["increment"])

    def setup_for(self, problem, grid: Grid) -> dict[str, Any]:
        window = self.options.window if problem.task == "trajectory" else 1
        return {
            "problem": problem.name,
            "task": problem.task,
            "inputs": list(problem.inputs),
            "outputs": list(problem.outputs),
            "window": window,
            "increment": bool(self.options.predict_increment and problem.task == "trajectory"),
            "grid": grid.to_json(),
        }

    @property
    def window(self) -> int:
        return int(self.setup["window"])

    @property
    def grid(self) -> Grid:
        return Grid.from_json(self.setup["grid"])

    # ------------------------------------------------------------------------- pairs
    def pairs(self, data: xr.Dataset, horizon: int = 1) -> FieldPairs:
        """Training pairs of ``data`` (one split) in this solver's layout, read on demand."""
        return FieldPairs(data, self.setup["inputs"], self.setup["outputs"], task=self.setup["task"],
                          window=self.window, horizon=horizon)

    # --------------------------------------------------------------------------- fit
    def fit(self, problem, data: xr.Dataset, trainer: Trainer) -> FitReport:
        grid = grid_from_dataset(data)
        self.check_grid(grid, self.options)
        self.setup = self.setup_for(problem, grid)
        self.build(self.setup)
        train = self.pairs(select_split(data, "train"), horizon=trainer.unroll)
        val_data = select_split(data, "validation")
        val = self.pairs(val_data) if val_data.sizes["sample"] else None
        self.fit_normalizers(train)
        if val is not None:
            scan(val, statistics=False, split="validation")
        self.to(trainer.device)
        device = trainer.device
        last_only = trainer.backprop == "last"
        fields = (self.setup["inputs"], self.setup["outputs"])
        augment = Augmentation(problem.symmetries, grid.names) if trainer.augment else None

        def step_loss(batch):
            x, y = (t.to(device, non_blocking=True) for t in batch)
            if augment is not None:
                x, y = augment(list(zip((x, y), fields, strict=True)))
            pred = autoregressive(self.model, x, y.shape[1], grad_steps=1 if last_only else None)
            return trainer.loss(pred[:, -1], y[:, -1]) if last_only else trainer.loss(pred, y)

        rank, world = trainer.shard

        def validate() -> float:  # each rank its pairs rank::world; the errors put back in order
            parts = trainer.gather(self.evaluate(val.shard(rank, world), trainer.batch_size))
            errors = torch.empty(len(val))
            for r, part in enumerate(parts):
                errors[r::world] = part
            return float(errors.mean())

        loader = PairLoader(train, trainer.batch_size, workers=trainer.workers,
                            pin_memory=torch.device(device).type == "cuda", shard=trainer.shard)
        return trainer.fit_stages(self, [Stage(module=self.model, step_loss=step_loss, batches=loader,
                                               validate=validate if val is not None else None,
                                               n_batches=len(loader), size=len(train), sharded=True)])

    @torch.no_grad()
    def fit_normalizers(self, pairs: FieldPairs) -> None:
        """Channel statistics of the training inputs and outputs (increments when predicted), from
        one streaming pass that also refuses non-finite data."""
        found = scan(pairs, increments=self.model.increment)
        for norm, moments in ((self.model.in_norm, found.inputs), (self.model.out_norm, found.outputs)):
            set_statistics(norm, moments)

    # ----------------------------------------------------------------------- predict
    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        """One step for a batch of windows: ``(b, window, c_in, *s) -> (b, c_out, *s)``.

        Runs in eval mode on the model's device, in chunks of ``batch_size``; returns on ``x``'s device.
        """
        self.model.eval()
        device = self.device
        out = [self.model(x[i:i + batch_size].to(device)).to(x.device) for i in range(0, x.shape[0], batch_size)]
        return torch.cat(out)

    @torch.no_grad()
    def evaluate(self, pairs: FieldPairs, batch_size: int = 64) -> torch.Tensor:
        """Per-pair relative L2 error of one-step predictions, shape ``(len(pairs),)``."""
        errors = []
        for x, y in PairLoader(pairs, batch_size)():
            pred = self.predict(x, batch_size)
            errors.append(relative_l2(pred, y[:, 0]))
        return torch.cat(errors) if errors else torch.zeros(0)

    def score(self, problem, data: xr.Dataset) -> dict[str, float]:
        """``test_rel_l2``: mean one-step relative L2 error over all pairs of ``data``."""
        return {"test_rel_l2": float(self.evaluate(self.pairs(data)).mean())}

    def solve(self, problem, inputs: xr.Dataset) -> xr.Dataset:
        """Map problems: output fields for the input fields. Trajectories: the frame after the last
        ``window`` frames of ``inputs`` (its time is one snapshot interval later)."""
        grid = grid_from_dataset(inputs)
        if self.setup["task"] == "trajectory":
            frames = to_tensor(inputs, self.setup["inputs"])
            if frames.shape[1] < self.window:
                raise UserError(f"need at least {self.window} input frames, got {frames.shape[1]}")
            pred = self.predict(frames[:, -self.window:])
            times = inputs["time"].values
            dt = float(times[-1] - times[-2]) if len(times) > 1 else 1.0
            fields = {n: pred[:, i:i + 1] for i, n in enumerate(self.setup["outputs"])}
            return to_dataset(fields, grid, problem.fields, times=np.array([times[-1] + dt]))
        x = to_tensor(inputs, self.setup["inputs"]).unsqueeze(1)
        pred = self.predict(x)
        return to_dataset({n: pred[:, i] for i, n in enumerate(self.setup["outputs"])}, grid, problem.fields)
