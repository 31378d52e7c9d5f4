"""DCDM: the Deep Conjugate Direction Method (Kaneda, Akar, Chen, Kala, Hyde, Teran; ICML 2023).

A convolutional network ``f`` on the whole grid approximates ``A^-1 r`` up to scale. The solve is
a conjugate-direction iteration (`pdesolve.numerics.krylov`) whose direction at each step is
``f(r / ||r||)`` restricted to the fluid cells, A-orthogonalised against the last ``k = 2``
directions, with an exact line search. Training is unsupervised: for a unit right-hand side ``b``
and ``q = f(b)`` the loss is the residual after one optimal step along ``q``,

    L(b) = || b - (q.b / q.A q) A q ||^2,

invariant to the scale of ``q``; the ``b`` are Ritz-vector combinations of the training systems
(`pdesolve.problems.poisson_obstacles`). The network is fully convolutional, so one trained at
64^2 (or 32^3) is reused unchanged on larger grids.

The network is `pdesolve.models.dcdm.DCDMNet` (sizes by preset ``dcdm-paper-64`` /
``dcdm-paper-128`` or explicitly); it rescales its input to unit RMS per cell, a deviation from
the reference explained in docs/backends/dcdm.md. With ``geometry_input`` (not in the paper) it
also takes the fluid mask (on a solve: the system's unknowns) as a second input channel.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import xarray as xr
from pydantic import Field
from torch import nn

from pdesolve.backends.base import FitReport, PresetOptions, Solver, Stage, Trainer
from pdesolve.data.samples import select_split
from pdesolve.data.tensors import to_tensor
from pdesolve.errors import UserError
from pdesolve.models.dcdm import PRESETS, DCDMNet
from pdesolve.models.presets import PresetTable
from pdesolve.numerics.grid_systems import GridSystem, SolveReport, solve_with
from pdesolve.numerics.krylov import Operator
from pdesolve.problems.poisson_obstacles import ConjugateGradient, reports_dataset
from pdesolve.progress import track

SCORE_TOLERANCES = (1e-4, 1e-6)
VALIDATION_VECTORS = 256  # validation loss on at most this many held-out vectors


class DCDMOptions(PresetOptions):
    presets: ClassVar[PresetTable] = PRESETS
    channels: int = Field(16, gt=0, description="channels of every convolution (paper: 16)")
    full_blocks: int = Field(1, ge=0, description="residual blocks before pooling (paper N=64: 1, N=128: 2)")
    coarse_blocks: int = Field(3, ge=0, description="residual blocks at half resolution (N=64: 3, N=128: 5)")
    up_blocks: int = Field(2, ge=0, description="residual blocks after upsampling (N=64: 2, N=128: 3)")
    orthogonalize: int = Field(2, ge=1, description="k: directions each new one is A-orthogonalised against")
    rtol: float = Field(1e-4, gt=0, lt=1, description="where `solve` stops (paper: 1e-4)")
    max_iter: int = Field(1000, gt=0, description="iteration cap of solves (DCDM and, in compare, baselines)")
    geometry_input: bool = Field(False, description="the network also sees the fluid mask as a second input "
                                                     "channel (not in the paper; problems with many geometries)")


def dcdm_loss(b: torch.Tensor, q: torch.Tensor, aq: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ``||b - (q.b / q.Aq) Aq||^2`` (all tensors ``(batch, ...)``)."""
    b, q, aq = (t.reshape(t.shape[0], -1).float() for t in (b, q, aq))
    qb = (q * b).sum(1, keepdim=True)
    qaq = (q * aq).sum(1, keepdim=True)
    qaq = torch.where(qaq.abs() > 1e-30, qaq, torch.full_like(qaq, 1e-30))
    return ((b - (qb / qaq) * aq) ** 2).sum(1).mean()


class DCDMSolver(Solver, name="dcdm"):
    """Learned conjugate directions for families of sparse SPD (Poisson) systems on grids."""

    kind: ClassVar[str] = "linear"
    tasks: ClassVar[tuple[str, ...]] = ("linear",)
    Options = DCDMOptions
    options: DCDMOptions
    description = "Deep Conjugate Direction Method: a CNN proposes search directions for CG-like solves"
    paper = ("Kaneda et al., A Deep Conjugate Direction Method for Iteratively Solving Linear Systems, "
             "ICML 2023")
    network: DCDMNet


    @classmethod
    def check_problem(cls, problem, options, *, horizon=1):
        super().check_problem(problem, options, horizon=horizon)
        params = getattr(problem, "params", None)
        single = getattr(params, "protocol", None) == "paper" or getattr(params, "geometry", None) == "box"
        if options.geometry_input and single:
            raise UserError("geometry_input: true feeds the fluid mask to the network, and this problem has one "
                            "geometry (protocol: paper or geometry: box), so the mask carries nothing; "
                            "set it false", field="backend.geometry_input")

    @classmethod
    def unused_train_fields(cls, problem, options):
        return {**super().unused_train_fields(problem, options),
                "loss": "it minimises the DCDM residual loss ||b - A q q^T b / q^T A q||^2"}

    @property
    def orthogonalize(self) -> int:
        return self.options.orthogonalize

    # ---------------------------------------------------------------------------- setup
    def modules(self) -> nn.Module:
        return self.network

    def build(self, setup: dict[str, Any]) -> None:
        o = self.options
        self.network = DCDMNet(int(setup["ndim"]), o.channels, o.full_blocks, o.coarse_blocks, o.up_blocks,
                               geometry_input=o.geometry_input)

    # ------------------------------------------------------------------------------ fit
    def fit(self, problem, data: xr.Dataset, trainer: Trainer) -> FitReport:
        """Minimise the DCDM loss over the training vectors of the train split's systems;
        validation: the same loss on the validation split (held-out geometries)."""
        shape = [int(n) for n in data["fluid"].shape[1:]]
        self.setup = {"problem": problem.name, "ndim": len(shape), "training_shape": shape}
        self.build(self.setup)
        device = trainer.device
        self.to(device)
        train = _TrainingVectors(problem, select_split(data, "train"), device)
        val_split = select_split(data, "validation")
        val = _TrainingVectors(problem, val_split, device, limit=VALIDATION_VECTORS) \
            if val_split.sizes["sample"] else None

        def step_loss(index: torch.Tensor) -> torch.Tensor:
            return train.loss(self.network, index)

        @torch.no_grad()
        def validate() -> float:
            self.network.eval()
            index = torch.arange(len(val))
            chunks = index.split(trainer.batch_size)
            total = sum(float(val.loss(self.network, chunk)) * len(chunk) for chunk in chunks)
            self.network.train()
            return total / len(val)

        return trainer.fit_stages(self, [Stage(module=self.network, step_loss=step_loss, items=len(train),
                                               validate=validate if val is not None else None)])

    # ---------------------------------------------------------------------------- solve
    def prepare(self, system: GridSystem) -> Operator:
        """The direction generator on ``system``: ``r -> f(r / ||r||)`` on the active cells."""
        network = self.network.eval()
        device = self.device
        index = torch.as_tensor(system.active, device=device)
        n = int(np.prod(system.shape))
        mask = torch.as_tensor(system.mask, dtype=torch.float32, device=device).view(1, 1, *system.shape) \
            if network.geometry_input else None  # the active cells: the fluid mask of the problem's systems

        @torch.no_grad()
        def direction(r: torch.Tensor) -> torch.Tensor:
            grid = torch.zeros(n, dtype=torch.float32, device=device)
            grid[index] = (r / torch.linalg.vector_norm(r)).float()
            q = network(grid.view(1, 1, *system.shape), mask).view(-1)
            return q[index].to(torch.float64)

        return direction

    def solve_grid(self, system: GridSystem, b: np.ndarray | torch.Tensor, *, rtol: float | None = None,
                   max_iter: int | None = None) -> SolveReport:
        """DCDM on one system for ``b`` on its active cells."""
        return solve_with(self, system, b, rtol=rtol or self.options.rtol,
                          max_iter=max_iter or self.options.max_iter)

    def solve_system(self, matrix, b: np.ndarray, shape: tuple[int, ...], *, rtol: float | None = None,
                     max_iter: int | None = None) -> SolveReport:
        """Solve a user's system: ``matrix`` (SciPy sparse, ``prod(shape)`` rows in C order of the
        grid, empty rows for cells that are not unknowns) and ``b`` on the full grid.

        Returns the `SolveReport`: ``x`` on the grid, ``residuals`` (relative, per iteration),
        counts and times.
        """
        self.check_grid(len(shape))
        system = GridSystem.from_matrix(matrix, shape)
        b = np.asarray(b, np.float64).reshape(-1)
        if b.size != int(np.prod(shape)):
            raise UserError(f"b has {b.size} entries; expected {int(np.prod(shape))}")
        return self.solve_grid(system, b[system.active], rtol=rtol, max_iter=max_iter)

    def solve(self, problem, inputs: xr.Dataset) -> xr.Dataset:
        """Solve every sample's system (from ``fluid``) for its ``rhs``; returns ``x`` and the
        residual history (layout of `reports_dataset`)."""
        self.check_grid(len(inputs["fluid"].shape) - 1)
        systems = problem.systems(inputs)
        pairs = zip(systems, problem.right_hand_sides(inputs, systems), strict=True)
        reports = [self.solve_grid(s, b) for s, b in track(pairs, "dcdm solves", total=len(systems))]
        return reports_dataset(reports, problem.grid(inputs.sizes["x"]))

    def score(self, problem, data: xr.Dataset) -> dict[str, float]:
        """Mean iterations of DCDM and of CG to relative residuals 1e-4 and 1e-6 on ``data``'s
        systems, over the systems that reached each (NaN when none did; ``max_iter`` for DCDM, ten
        times that for CG), and the fraction that reached each -- as `pdesolve compare` reports them."""
        systems = problem.systems(data)
        rhs = problem.right_hand_sides(data, systems)
        out: dict[str, float] = {}
        for method, cap in ((self, self.options.max_iter), (ConjugateGradient(), 10 * self.options.max_iter)):
            pairs = track(zip(systems, rhs, strict=True), f"score: {method.name} solves", total=len(systems))
            reports = [solve_with(method, s, b, rtol=SCORE_TOLERANCES[-1], max_iter=cap) for s, b in pairs]
            for t in SCORE_TOLERANCES:
                reached = [i for i in (r.result.iterations_to(t) for r in reports) if i is not None]
                out[f"{method.name}_iterations_{t:.0e}"] = float(np.mean(reached)) if reached else float("nan")
                out[f"{method.name}_converged_{t:.0e}"] = len(reached) / len(reports)
        return out

    def check_grid(self, ndim: int) -> None:
        """A `UserError` unless the network works on ``ndim``-D grids."""
        if ndim != self.setup["ndim"]:
            raise UserError(f"this DCDM network works on {self.setup['ndim']}-D grids; got a {ndim}-D system")


class _TrainingVectors:
    """The training right-hand sides of a split with the stencils of their systems, on a device.

    Item ``i`` is vector ``i % per`` of system ``i // per``.
    """

    def __init__(self, problem, split: xr.Dataset, device: torch.device, limit: int | None = None):
        masks = split["fluid"].values.astype(bool)
        self.vectors = to_tensor(split, ["training_rhs"], device=device)[:, 0]  # (system, vector, *grid)
        self.mask = torch.as_tensor(masks, dtype=torch.float32, device=device)
        self.stencil = problem.stencil(masks).to(device)
        self.per = self.vectors.shape[1]
        total = self.vectors.shape[0] * self.per
        self.count = total if limit is None else min(limit, total)

    def __len__(self) -> int:
        return self.count

    def loss(self, network: nn.Module, index: torch.Tensor) -> torch.Tensor:
        index = index.to(self.vectors.device)
        system, vector = index // self.per, index % self.per
        b = self.vectors[system, vector].unsqueeze(1)
        mask = self.mask[system].unsqueeze(1)
        q = network(b, mask if network.geometry_input else None).float() * mask
        return dcdm_loss(b, q, self.stencil.select(system).matvec(q))
