"""INSR: time integration by optimising a neural spatial field at every step (Chen, Wu, Grinspun,
Zheng, Chen, "Implicit Neural Spatial Representations for Time-dependent PDEs", ICML 2023).

The state at step ``k`` is a SIREN ``f_k(x)`` (`pdesolve.models.siren`). Step 0 fits the initial state;
each later step minimises the classical integrator's residual over the weights (`schemes`),
warm-started from the previous step's weights, with fresh uniform samples every iteration,
previous-state terms detached, Adam re-created for every (sub-)problem, ``ReduceLROnPlateau``
(factor 0.1, patience 500) stepped on the main loss every iteration, and the authors' early stop
once the learning rate has decayed to ``min_lr`` (four plateaus), else ``max_iterations``.

Mapping onto the solver interface:

* `fit` hands the engine's `Trainer` one `Stage` per sub-problem and time step (Adam, the plateau
  schedule and early stop per iteration, no clipping, full precision); after every step the
  trainer appends one metrics record and writes ``checkpoint.pt``, so ``pdesolve train --resume
  RUN`` continues from the last finished step; a non-finite loss stops the run with the last good
  step kept. Of ``train.*`` it uses ``lr`` (null: the paper's), ``seed``, ``device`` and
  ``threads``; the others are rejected by the case loader (`unused_train_fields`).
* The weights of *every* step are kept in the state (`FieldHistory`, tensors only), so the field
  can be queried at any point and step time later (`query`; linear in time between steps).
* `solve` samples the outputs at every step on the grid of its input dataset.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np
import torch
import xarray as xr
from pydantic import Field
from torch import nn
from torch.func import functional_call
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from pdesolve.backends.base import BackendOptions, FitReport, PlateauSchedule, Solver, Trainer
from pdesolve.backends.base import Stage as TrainingStage
from pdesolve.backends.insr.schemes import SCHEMES, Fields, Scheme, Stage
from pdesolve.data.tensors import grid_from_dataset, to_dataset
from pdesolve.errors import UserError
from pdesolve.models.siren import Siren

EVALUATION_CHUNK = 65536  # points per forward pass when sampling fields


class INSROptions(BackendOptions):
    hidden_layers: int | None = Field(
        None,
        ge=0,
        description="sine layers after the first (null: the paper's for the problem: 2 advection, "
        "3 fluid, 3 elasticity)",
    )
    width: int | None = Field(
        None, ge=1, description="features per sine layer (null: the paper's: 20, 32, 68)"
    )
    omega: float = Field(30.0, gt=0, description="frequency factor w0 of every sine layer")
    samples: int | None = Field(
        None,
        ge=1,
        description="uniform random points per iteration (null: the paper's: 5000 advection, "
        "128^2 fluid, 100^2 (+ a 100^2 grid) elasticity)",
    )
    initial_samples: int | None = Field(
        None,
        ge=1,
        description="points per iteration of the initial fit (null: the paper's; elasticity 500^2)",
    )
    max_iterations: int = Field(
        20000, ge=1, description="iteration cap per step (per sub-problem for fluids)"
    )
    initial_iterations: int | None = Field(
        None, ge=1, description="cap for the initial fit (null: max_iterations)"
    )
    plateau_patience: int = Field(500, ge=1, description="iterations without a lower loss before the rate is cut")
    plateau_factor: float = Field(0.1, gt=0, lt=1, description="learning-rate factor of each cut")
    min_lr: float = Field(1e-8, gt=0, description="smallest learning rate; reaching it ends a sub-problem")
    early_stop: bool = Field(True, description="end a sub-problem once the learning rate reaches min_lr")


class FieldHistory(nn.Module):
    """The SIRENs being optimised (``networks``) and the flattened weights of every finished step
    (buffer ``history_<name>``, ``(stored steps, parameters)``)."""

    def __init__(
        self, specs: dict[str, list[int]], hidden_layers: int, width: int, omega: float, stored: int
    ):
        super().__init__()
        self.networks = nn.ModuleDict(
            {name: Siren(i, o, hidden_layers, width, omega) for name, (i, o) in specs.items()}
        )
        for name, net in self.networks.items():
            self.register_buffer(
                f"history_{name}", torch.zeros(stored, sum(p.numel() for p in net.parameters()))
            )

    def history(self, name: str) -> torch.Tensor:
        return getattr(self, f"history_{name}")

    @property
    def stored(self) -> int:
        """Number of finished steps (step indices ``0 .. stored - 1``)."""
        return self.history(next(iter(self.networks))).shape[0]

    def append(self) -> None:
        """Store the current weights as the next step."""
        for name, net in self.networks.items():
            row = parameters_to_vector(net.parameters()).detach()[None]
            setattr(self, f"history_{name}", torch.cat([self.history(name), row]))

    def load(self, module: nn.Module, name: str, step: int) -> None:
        """Copy the weights of network ``name`` at ``step`` into ``module`` (a `Siren` of that shape)."""
        with torch.no_grad():
            vector_to_parameters(self.history(name)[step].clone(), module.parameters())

    def restore(self, step: int) -> None:
        """Make the weights of ``step`` the current ones."""
        for name, net in self.networks.items():
            self.load(net, name, step)

    def at(self, step: int) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
        """The networks with the weights of ``step``, as callables ``(N, d) -> (N, c)``."""
        out = {}
        for name, net in self.networks.items():
            flat, params, start = self.history(name)[step], {}, 0
            for key, p in net.named_parameters():
                params[key] = flat[start : start + p.numel()].view_as(p)
                start += p.numel()
            out[name] = lambda x, net=net, params=params: functional_call(net, params, (x,))
        return out


class INSRSolver(Solver, name="insr"):
    """INSR (field kind): integrates a time-dependent problem by re-fitting a SIREN at every step."""

    kind: ClassVar[str] = "field"
    tasks: ClassVar[tuple[str, ...]] = ("field",)
    Options = INSROptions
    description = (
        "INSR: time integration by optimising a SIREN per step (implicit neural spatial representation)"
    )
    paper = "Chen et al., Implicit Neural Spatial Representations for Time-dependent PDEs, ICML 2023"
    model: FieldHistory

    @classmethod
    def check_problem(cls, problem, options, *, horizon=1):
        super().check_problem(problem, options, horizon=horizon)
        if problem.name not in SCHEMES:
            raise UserError(
                f"backend 'insr' integrates {', '.join(sorted(SCHEMES))}; not '{problem.name}'",
                field="problem.name",
            )

    # ----------------------------------------------------------------------------- setup
    def settings(self, problem) -> dict[str, Any]:
        """Network size and samples: the options, else the paper's for ``problem``."""
        paper = SCHEMES[problem.name].paper(problem)
        o = self.options
        samples = o.samples or paper.samples
        return {
            "hidden_layers": paper.hidden_layers if o.hidden_layers is None else o.hidden_layers,
            "width": o.width or paper.width,
            "samples": samples,
            "initial_samples": o.initial_samples or paper.initial_samples or samples,
        }

    def default_lr(self, problem) -> float:
        """The paper's Adam learning rate for ``problem`` (1e-4; 1e-5 for the collide scene)."""
        return SCHEMES[problem.name].paper(problem).lr

    @classmethod
    def unused_train_fields(cls, problem, options) -> dict[str, str]:
        steps = "it integrates problem.steps time steps, each optimised to backend.max_iterations"
        own = "each step's Adam follows the authors: no weight decay, no clipping, full precision"
        return {
            "epochs": steps, "batch_size": "backend.samples points are drawn per iteration",
            "weight_decay": own, "optimizer": own, "grad_clip": own, "amp": own,
            "schedule": "the rate follows the plateau schedule backend.plateau_patience / plateau_factor / min_lr",
            "step_size": "no step schedule", "gamma": "no step schedule",
            "loss": "the loss is the integrator's residual", "unroll": steps, "backprop": steps,
            "patience": "the plateau patience is backend.plateau_patience (iterations)",
            "workers": "no data loader: every iteration draws its own samples",
        }

    def make_scheme(self, problem) -> Scheme:
        s = self.settings(problem)
        return SCHEMES[problem.name](problem, s["samples"], s["initial_samples"])

    def modules(self) -> nn.Module:
        return self.model

    def build(self, setup: dict[str, Any]) -> None:
        self.model = FieldHistory(
            setup["networks"], setup["hidden_layers"], setup["width"], setup["omega"], setup["stored_steps"]
        )

    def initial_setup(self, problem) -> dict[str, Any]:
        s = self.settings(problem)
        scheme = SCHEMES[problem.name]
        return {
            "problem": problem.name,
            "networks": {k: list(v) for k, v in scheme.networks.items()},
            "hidden_layers": s["hidden_layers"],
            "width": s["width"],
            "omega": self.options.omega,
            "dt": problem.params.dt,
            "stored_steps": 0,
            "outputs": list(problem.outputs),
        }

    @property
    def times(self) -> np.ndarray:
        """Times of the stored steps."""
        return np.arange(self.model.stored) * self.setup["dt"]

    def parameters_per_step(self) -> int:
        """Weights of one state (all networks): the memory INSR is compared at."""
        return sum(p.numel() for p in self.model.networks.parameters())

    # ------------------------------------------------------------------------------ fit
    def fit(self, problem, data: xr.Dataset, trainer: Trainer) -> FitReport:
        if trainer.resume is not None:
            self.resume_from(trainer.resume["solver"], problem)
        else:
            self.setup = self.initial_setup(problem)
            self.build(self.setup)
        self.to(trainer.device)
        lr = trainer.lr if trainer.lr is not None else self.default_lr(problem)
        report = trainer.fit_stages(self, self.stages(problem, lr, trainer.device))
        if report.stopped == "non-finite loss":
            self.model.restore(self.model.stored - 1)
        report.epochs, report.best_epoch = self.model.stored, self.model.stored - 1
        return report

    def stages(self, problem, lr: float, device: torch.device) -> Iterator[TrainingStage]:
        """One `Stage` per sub-problem of every step not yet integrated (step 0: the initial fit).

        Each step draws its samples from a generator seeded by (initial seed, step); the frozen
        copies of earlier states are loaded before its first sub-problem; the step's metrics
        record (iterations, final loss and terms of each sub-problem, wall and CPU time) is
        written and the step's weights stored when its last sub-problem ends."""
        o, history = self.options, self.model
        scheme = self.make_scheme(problem)
        frozen = {alias: copy.deepcopy(history.networks[net]).requires_grad_(False)
                  for alias, (net, _) in scheme.previous.items()}
        fields = Fields(history.networks, frozen)
        base_seed = torch.initial_seed()
        for k in range(history.stored, problem.params.steps + 1):
            generator = torch.Generator(device=device).manual_seed((base_seed * 1_000_003 + k) % 2**63)
            if k > 0:
                for alias, (net, lag) in scheme.previous.items():
                    history.load(fields.previous[alias], net, max(k - lag, 0))
            subproblems = scheme.initial_stages() if k == 0 else scheme.step_stages(k)
            cap = (o.initial_iterations or o.max_iterations) if k == 0 else o.max_iterations
            record: dict[str, Any] = {"step": k, "time": round(k * problem.params.dt, 12)}
            clock = (time.perf_counter(), time.process_time())
            for i, sub in enumerate(subproblems):
                last = i == len(subproblems) - 1
                yield self.subproblem_stage(
                    sub, fields, generator, cap, lr, name=f"step {k}/{sub.name}", last=last,
                    on_end=lambda r, sub=sub, last=last, record=record, clock=clock: self._end_subproblem(
                        record, sub.name, r, clock if last else None))

    def subproblem_stage(self, sub: Stage, fields: Fields, generator: torch.Generator, iterations: int, lr: float,
                         *, name: str | None = None, last: bool = True,
                         on_end: Callable[[dict], list[dict]] | None = None) -> TrainingStage:
        """The trainer's `Stage` for one sub-problem: a fresh Adam at ``lr`` on the sub-problem's
        networks (warm start: their current weights), fresh samples from ``generator`` every
        iteration, the plateau schedule and early stop, at most ``iterations`` iterations; a
        checkpoint after it when it is the ``last`` of its step. Builds it now, so the snapshots the
        sub-problem asks for are copied now: call it just before the stage runs."""
        o = self.options
        for alias, network in sub.snapshot:
            fields.copy(alias, network)
        return TrainingStage(
            name=name or sub.name,
            module=nn.ModuleDict({net: fields.current[net] for net in sub.trainable}),
            step_loss=lambda _: sub.loss(fields, generator),
            batches=lambda _: itertools.repeat(None, iterations), n_batches=iterations,
            epochs=1, lr=lr, weight_decay=0.0, optimizer="adam", grad_clip=None,
            plateau=PlateauSchedule(o.plateau_patience, o.plateau_factor, o.min_lr, o.early_stop),
            autocast=False, checkpoint=last, log=False, on_end=on_end,
        )

    def _end_subproblem(self, record: dict, name: str, result: dict, clock: tuple[float, float] | None
                        ) -> list[dict]:
        """Add a finished sub-problem to its step's record; after the step's last one (``clock``:
        its start times) store the step's weights and return the record."""
        record.update({f"{name}_iterations": result["iterations"], f"{name}_loss": result["last_loss"]})
        record.update({f"{name}_{k.removeprefix('last_')}": v for k, v in result.items()
                       if k.startswith("last_") and k != "last_loss"})
        if clock is None:
            return []
        record.update(seconds=time.perf_counter() - clock[0], cpu_seconds=time.process_time() - clock[1])
        self.model.append()
        self.setup["stored_steps"] = self.model.stored
        return [record]

    def resume_from(self, state: dict, problem) -> None:
        """Rebuild from a checkpoint's solver state to continue integrating ``problem``."""
        setup = json.loads(state["setup"])
        if setup["problem"] != problem.name or not math.isclose(setup["dt"], problem.params.dt):
            raise UserError(
                f"the checkpoint integrates '{setup['problem']}' with dt {setup['dt']}; "
                f"cannot continue '{problem.name}' with dt {problem.params.dt}",
                field="problem",
            )
        self.setup = setup
        self.build(setup)
        self.model.load_state_dict(state["tensors"])

    # ------------------------------------------------------------------------- querying
    def outputs_at(self, problem, points: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        """Output fields at ``points`` ``(N, d)`` with the weights of ``step``: name -> ``(N,)``."""
        scheme = SCHEMES[self.setup["problem"]]
        networks = self.model.at(step)
        with torch.no_grad():
            chunks = [
                scheme.outputs(networks, points[i : i + EVALUATION_CHUNK])
                for i in range(0, points.shape[0], EVALUATION_CHUNK)
            ]
        return {name: torch.cat([c[name] for c in chunks]) for name in chunks[0]}

    def query(self, problem, points: torch.Tensor, t: float) -> dict[str, torch.Tensor]:
        """Output fields at ``points`` ``(N, d)`` and time ``t`` (linear between stored steps)."""
        position = t / self.setup["dt"]
        if not 0 <= position <= self.model.stored - 1 + 1e-9:
            raise UserError(f"time {t} is outside the integrated interval [0, {self.times[-1]}]")
        k0 = min(int(math.floor(position)), self.model.stored - 1)
        w = position - k0
        a = self.outputs_at(problem, points, k0)
        if w < 1e-9:
            return a
        b = self.outputs_at(problem, points, k0 + 1)
        return {name: (1 - w) * a[name] + w * b[name] for name in a}

    def solve(self, problem, inputs: xr.Dataset) -> xr.Dataset:
        """The outputs at every stored step on the grid of ``inputs`` (one copy per input sample):
        variables ``(sample, time, *grid)``."""
        grid = grid_from_dataset(inputs)
        n = inputs.sizes.get("sample", 1)
        points = torch.as_tensor(
            np.stack([c.ravel() for c in grid.mesh()], -1), dtype=torch.float32, device=self.device
        )
        frames = [self.outputs_at(problem, points, k) for k in range(self.model.stored)]
        fields = {
            name: torch.stack([f[name] for f in frames]).reshape(len(frames), *grid.shape).cpu()
            for name in self.setup["outputs"]
        }
        data = {name: v[None].expand(n, *v.shape) for name, v in fields.items()}
        return to_dataset(data, grid, {k: problem.fields[k] for k in fields}, times=self.times)

    def score(self, problem, data: xr.Dataset) -> dict[str, float]:
        """The problem's headline metrics at the last stored step (see its ``evaluate``)."""
        prediction = self.solve(problem, data.isel(sample=[0]))
        return {**problem.evaluate(prediction, data), "weights_per_step": float(self.parameters_per_step())}
