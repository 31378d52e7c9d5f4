"""Training: the gradient loop every trainable backend uses, and `train_case`, the whole
``pdesolve train`` path (data, fit, test, rollout, summary).

`Trainer.fit` owns what is the same for every backend: optimiser and schedule, bf16 autocast on
CUDA, gradient clipping, per-epoch validation, best/last checkpoints written atomically, resume
(model, optimiser, scheduler, RNG, epoch), early stopping, a stop on non-finite loss that keeps
the last good state, metrics.jsonl and a progress bar. Shuffling uses a generator seeded by
(seed, epoch), so a resumed run reaches the same weights as an uninterrupted one on the CPU.

Launched by torchrun (`pdesolve.engines.distributed`, docs/distributed.md) the same fit is data
parallel: every global batch of ``train.batch_size`` items of that permutation is shared out
over the ranks (`shard_batch`), the stage's step runs under DistributedDataParallel (gradients
averaged, each rank's loss weighted by its share so the average is the global batch mean), the
loss is summed over ranks before each step (a NaN on any rank stops every rank), and only rank 0
writes the run directory.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from pdesolve.backends.base import DEFAULT_LR, FitReport, Solver, Stage
from pdesolve.config import ResolvedCase, TrainConfig
from pdesolve.data.destinations import check_folder_destination
from pdesolve.data.samples import select_split
from pdesolve.data.streaming import shard_batch, share_weight
from pdesolve.engines import distributed, figures
from pdesolve.engines.data import load_or_generate
from pdesolve.engines.device import describe, resolve_device, seed_everything
from pdesolve.engines.metric_sinks import metric_sinks
from pdesolve.engines.runs import RunDir
from pdesolve.errors import NonFiniteError, UserError
from pdesolve.limits import check_memory
from pdesolve.metrics import LOSSES
from pdesolve.progress import log_progress_to, make_progress

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def make_scheduler(cfg: TrainConfig, optimizer) -> torch.optim.lr_scheduler.LRScheduler:
    """Stepped once per epoch."""
    schedules = {
        "cosine": lambda: torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(cfg.epochs, 1)),
        "step": lambda: torch.optim.lr_scheduler.StepLR(optimizer, cfg.step_size, cfg.gamma),
        "constant": lambda: torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0),
    }
    return schedules[cfg.schedule]()


def extend_schedule(cfg: TrainConfig, scheduler, optimizer) -> None:
    """After loading a resumed run's scheduler: a cosine schedule spans the run's current
    ``train.epochs`` (``--resume --set train.epochs=N``), not the ``T_max`` saved in the checkpoint
    (which would restart the cosine from a learning rate near 0)."""
    epochs = max(cfg.epochs, 1)
    if not isinstance(scheduler, torch.optim.lr_scheduler.CosineAnnealingLR) or scheduler.T_max == epochs:
        return
    scheduler.T_max = epochs
    progress = min(scheduler.last_epoch, scheduler.T_max) / scheduler.T_max
    for group, base in zip(optimizer.param_groups, scheduler.base_lrs, strict=True):
        group["lr"] = scheduler.eta_min + (base - scheduler.eta_min) * (1 + math.cos(math.pi * progress)) / 2


def _rng_state() -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def _set_rng_state(state: dict, world: distributed.World) -> None:
    """A checkpoint's RNG state; each rank its own when written by as many ranks."""
    ranks = state.get("ranks")
    state = ranks[world.rank] if ranks is not None and len(ranks) == world.size else state
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def _shuffled_batches(n: int, batch_size: int, generator: torch.Generator):
    """Index batches ``(b,)`` of a seeded permutation of ``range(n)`` (the last one may be short)."""
    order = torch.randperm(n, generator=generator)
    return (order[i:i + batch_size] for i in range(0, n, batch_size))


class Trainer:
    """The training loop handed to `Solver.fit` (implements `pdesolve.backends.base.Trainer`).

    A fit is a sequence of stages (`Stage`; most backends: one). For each stage the trainer builds the
    optimiser and schedule, runs epochs of batches under autocast, clips gradients, validates,
    keeps the best and last checkpoints, stops early on patience or a plateau schedule's floor,
    and on a non-finite loss restores the last good state and ends the fit. Checkpoints record the
    stage in progress, so a resumed fit skips finished stages and continues the current one at its
    next epoch with the optimiser, schedule and RNG state it had.

    Args:
        cfg: the case's ``train`` section.
        device: where to train.
        run: the run directory for checkpoints and metrics (``None``: keep everything in memory).
        resume: a checkpoint dict (``checkpoint.pt``) to continue from.
        world: the data-parallel processes (default: the joined process group, else one process);
            ranks other than 0 get ``run=None``.
    """

    def __init__(self, cfg: TrainConfig, device: torch.device | str = "cpu", run: RunDir | None = None,
                 resume: dict | None = None, world: distributed.World | None = None):
        self.cfg = cfg
        self.world = world or distributed.current()
        self.shard = (self.world.rank, self.world.size)
        self.device = torch.device(device)
        self.run = run
        self.resume = resume
        self.batch_size = cfg.batch_size
        self.unroll = cfg.unroll
        self.backprop = cfg.backprop
        self.augment = cfg.augment
        self.lr = cfg.lr
        self.workers = cfg.workers
        self._loss = LOSSES[cfg.loss]
        use_bf16 = cfg.amp == "bf16" or (cfg.amp == "auto" and self.device.type == "cuda")
        self._autocast = (lambda: torch.autocast(self.device.type, dtype=torch.bfloat16)) if use_bf16 else nullcontext

    def loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self._loss(pred.float(), target.float())

    def gather(self, values: torch.Tensor) -> list[torch.Tensor]:
        return distributed.all_gather(values.detach().cpu(), self.world)

    def _log(self, message: str) -> None:
        if self.run is not None:
            self.run.log(message)

    # ------------------------------------------------------------------------ entry points
    def fit(
        self,
        solver: Solver,
        module: nn.Module,
        step_loss: Callable[[Any], torch.Tensor],
        train_batches: Callable[[torch.Generator], Iterable[Any]],
        validate: Callable[[], float] | None = None,
        n_batches: int | None = None,
        items: int | None = None,
    ) -> FitReport:
        """A one-stage fit: optimise ``module`` for ``train.epochs`` epochs (see `Stage`; ``items``
        is its ``size``)."""
        return self.fit_stages(solver, [Stage(module=module, step_loss=step_loss, batches=train_batches,
                                              validate=validate, n_batches=n_batches, size=items)])

    def fit_stages(self, solver: Solver, stages: Iterable[Stage]) -> FitReport:
        """Run ``stages`` in order (a generator may build each stage from the results of the last)
        and return one report; see the class docstring."""
        report = FitReport()
        state = _FitState(report)
        resume = self.resume
        if resume is not None:
            solver.modules().load_state_dict(resume["solver"]["tensors"])
            state.completed = list(resume.get("completed", []))
            state.best = float(resume["best_val"])
            report.best_val = state.best
            report.best_epoch = int(resume["best_epoch"])
            self._log(f"resumed after epoch {resume['epoch']} of stage {resume.get('stage') or 'train'}")
        elif self.world.size > 1:  # each rank its own random draws (a resume restores each rank's)
            torch.manual_seed((self.cfg.seed + 1_000_003 * self.world.rank) % 2**63)
        t_start = time.perf_counter()
        with make_progress() as bar:
            task = bar.add_task("train", total=None, status="")
            for stage in stages:
                if stage.name in state.completed:
                    continue
                self._run_stage(solver, stage, state, bar, task)
                if report.stopped == "non-finite loss":
                    break
                state.completed.append(stage.name)
        if self.run is not None and state.validated_epochs == 0:  # after a non-finite stop: the last good state
            self.run.save_checkpoint({"solver": solver.state_dict()}, self.run.best_file)
        report.seconds = time.perf_counter() - t_start
        return report

    # --------------------------------------------------------------------------- one stage
    def _optimizer(self, stage: Stage) -> torch.optim.Optimizer:
        cfg = self.cfg
        lr = stage.lr if stage.lr is not None else (cfg.lr if cfg.lr is not None else DEFAULT_LR)
        weight_decay = cfg.weight_decay if stage.weight_decay is None else stage.weight_decay
        groups = stage.param_groups or [{"params": list(stage.module.parameters())}]
        kind = stage.optimizer or cfg.optimizer
        return OPTIMIZERS[kind]([dict(g) for g in groups], lr=lr, weight_decay=weight_decay)

    def _scheduler(self, stage: Stage, optimizer, epochs: int):
        if stage.plateau is not None:
            p = stage.plateau
            return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=p.factor, patience=p.patience,
                                                              min_lr=p.min_lr)
        cfg = self.cfg if stage.schedule is None else self.cfg.model_copy(update={"schedule": stage.schedule})
        return make_scheduler(cfg.model_copy(update={"epochs": epochs}), optimizer)

    def _clamped_batch_size(self, stage: Stage, report: FitReport) -> int:
        """The stage's batch size, clamped to its training items (one batch per epoch) with a note."""
        batch_size = stage.batch_size or self.batch_size
        items = stage.items if stage.items is not None else stage.size
        if items is None or batch_size <= items:
            return batch_size
        which = "train.batch_size" if stage.batch_size is None else f"the batch size of stage {stage.name}"
        note = (f"{which} {batch_size} is larger than the {items} training items: clamped to {items} "
                "(one batch per epoch)")
        if note not in report.notes:
            report.notes.append(note)
            self._log(note)
        return items

    def _resume_point(self, stage: Stage) -> dict | None:
        r = self.resume
        return r if r is not None and r.get("stage") == stage.name else None

    def _run_stage(self, solver: Solver, stage: Stage, state: _FitState, bar, task) -> None:
        cfg, report = self.cfg, state.report
        epochs = cfg.epochs if stage.epochs is None else stage.epochs
        grad_clip = cfg.grad_clip if stage.grad_clip == "train" else stage.grad_clip
        autocast = self._autocast if stage.autocast else nullcontext
        optimizer = self._optimizer(stage)
        scheduler = self._scheduler(stage, optimizer, epochs)
        start = 0
        point = self._resume_point(stage)
        if point is not None:
            optimizer.load_state_dict(point["optimizer"])
            scheduler.load_state_dict(point["scheduler"])
            if stage.plateau is None:
                extend_schedule(cfg.model_copy(update={"epochs": epochs}), scheduler, optimizer)
            _set_rng_state(point["rng"], self.world)
            start = int(point["epoch"]) + 1
        label = stage.name or "train"
        batch_size = self._clamped_batch_size(stage, report)
        n_batches = stage.n_batches or (math.ceil(stage.items / batch_size) if stage.items else None)
        bar.reset(task, total=(epochs - start) * (n_batches or 1), description=label)
        step = self._parallel_step(solver, stage)
        world = self.world
        last_good = copy.deepcopy(stage.module.state_dict())
        stale = 0
        for epoch in range(start, epochs):
            t_epoch = time.perf_counter()
            stage.module.train()
            generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
            total, count, terms, finite = 0.0, 0, {}, True
            for k, batch in enumerate(_batches(stage, batch_size, generator, world)):
                with autocast():
                    out = step(batch)
                loss = sum(out.values()) if isinstance(out, dict) else out
                if world.size > 1:  # this rank's share of the global batch mean; the mean itself, summed
                    items = stage.items if stage.items is not None else stage.size
                    loss = loss * share_weight(min(batch_size, items - k * batch_size), world.rank, world.size)
                    mean = distributed.all_sum(loss.detach().float(), world) / world.size
                else:
                    mean = loss
                if not torch.isfinite(mean):  # on any rank: every rank stops here
                    finite = False
                    break
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if grad_clip is not None:
                    nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], grad_clip)
                optimizer.step()
                total, count = total + float(mean.detach()), count + 1
                if isinstance(out, dict):
                    terms = {k: float(v.detach()) for k, v in out.items()}
                if n_batches:
                    bar.advance(task)
                if stage.plateau is not None:
                    scheduler.step(terms.get("main", float(loss.detach())))
                    if stage.plateau.early_stop and optimizer.param_groups[0]["lr"] <= 1.1 * stage.plateau.min_lr:
                        break
            if not finite:
                stage.module.load_state_dict(last_good)
                report.stopped = "non-finite loss"
                msg = (f"{label} epoch {epoch}: non-finite loss; stopped with the state of the last good "
                       f"epoch kept")
                self._log(msg)
                if state.good_epochs == 0:
                    raise NonFiniteError(msg + " (none: the first epoch already diverged; lower train.lr)")
                return
            if not n_batches:
                bar.advance(task)
            if stage.plateau is None:
                scheduler.step()
            state.good_epochs += 1
            val = float(stage.validate()) if stage.validate is not None else float("nan")
            record = {"epoch": epoch, "train_loss": total / max(count, 1), "val_rel_l2": val,
                      "lr": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - t_epoch}
            if stage.name is not None:
                record = {"stage": stage.name, **record}
            if stage.plateau is not None:
                record.update(iterations=count, last_loss=terms.get("main", total / max(count, 1)))
                record.update({f"last_{k}": v for k, v in terms.items() if k != "main"})
            report.epochs = epoch + 1
            improved = False
            if stage.validate is not None:
                state.validated_epochs += 1
                improved = val < state.best
                if improved:
                    state.best, report.best_epoch, report.best_val, stale = val, epoch, val, 0
                else:
                    stale += 1
            last_good = copy.deepcopy(stage.module.state_dict())
            records = [record] if stage.log else []
            if epoch == epochs - 1 and stage.on_end is not None:
                records += stage.on_end(record)
            report.history += records
            if self.run is None and world.size > 1 and (stage.checkpoint or improved):
                self._checkpoint(solver, optimizer, scheduler, epoch, state.best, report.best_epoch, improved,
                                 stage.name, state.completed)  # rank 0 writes; every rank gives its RNG state
            if self.run is not None:
                for r in records:
                    self.run.append_metrics(r)
                if stage.checkpoint or improved:
                    self._checkpoint(solver, optimizer, scheduler, epoch, state.best, report.best_epoch, improved,
                                     stage.name, state.completed)
                if stage.log:
                    self._log(f"{label} epoch {epoch}: train loss {record['train_loss']:.4g}, validation {val:.4g}")
                for r in records[int(stage.log):]:
                    self._log(f"{label}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                                       for k, v in r.items()))
            bar.update(task, status=f"loss {record['train_loss']:.3g} val {val:.3g}")
            if stage.validate is not None and cfg.patience is not None and stale >= cfg.patience:
                report.stopped = "patience"
                self._log(f"early stop after {cfg.patience} epochs without improvement")
                return

    def _parallel_step(self, solver: Solver, stage: Stage) -> Callable[[Any], Any]:
        """The stage's ``step_loss``, under DistributedDataParallel when there are several ranks
        (which start from rank 0's weights and average gradients in backward)."""
        if self.world.size == 1:
            return stage.step_loss
        where = f"backend '{solver.name}'" + (f", stage '{stage.name}'" if stage.name else "")
        if stage.plateau is not None:
            raise UserError(f"{where} optimises per iteration on samples it draws itself, which is not data "
                            "parallel: run it in one process (docs/distributed.md)")
        if stage.items is None and not stage.sharded:
            raise UserError(f"{where} draws its own training batches, which are not sharded over processes: "
                            "run it in one process (docs/distributed.md)")
        if (stage.batch_size or self.batch_size) < self.world.size:
            raise UserError(f"the batch size {stage.batch_size or self.batch_size} is smaller than the "
                            f"{self.world.size} processes (the batch is global: each process takes its share)",
                            field="train.batch_size")
        return DistributedDataParallel(_StepLoss(stage), device_ids=None,
                                       find_unused_parameters=stage.param_groups is not None)

    def _checkpoint(self, solver, optimizer, scheduler, epoch, best, best_epoch, improved, stage=None,
                    completed=()) -> None:
        rng = _rng_state()
        if self.world.size > 1:
            rng = {**rng, "ranks": distributed.all_gather(rng, self.world)}
        if self.run is None:
            return
        solver_state = solver.state_dict()
        self.run.save_checkpoint({
            "solver": solver_state,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": rng,
            "epoch": epoch,
            "best_val": best,
            "best_epoch": best_epoch,
            "stage": stage,
            "completed": list(completed),
            "metrics_records": self.run.metrics_records,
            "is_best": improved,
        }, self.run.checkpoint_file)
        if improved:
            self.run.save_checkpoint({"solver": solver_state}, self.run.best_file)


class _StepLoss(nn.Module):
    """A stage's ``step_loss`` as a module's forward over the stage's module, for DDP."""

    def __init__(self, stage: Stage):
        super().__init__()
        self.module, self.step_loss = stage.module, stage.step_loss

    def forward(self, batch):
        return self.step_loss(batch)


def _batches(stage: Stage, batch_size: int, generator: torch.Generator, world: distributed.World) -> Iterable[Any]:
    if stage.items is not None:
        batches = _shuffled_batches(stage.items, batch_size, generator)
        return batches if world.size == 1 else (shard_batch(b, world.rank, world.size) for b in batches)
    return stage.batches(generator)


@dataclass
class _FitState:
    """What a fit carries across its stages."""

    report: FitReport
    completed: list = field(default_factory=list)
    best: float = math.inf
    good_epochs: int = 0
    validated_epochs: int = 0


@dataclass
class TrainSummary:
    """What ``pdesolve train`` reports at the end."""

    run_dir: Path
    data_path: Path
    data_status: str  # read from cache, or why it was generated
    fit: FitReport
    test: dict[str, float]
    rollout: dict[str, Any] | None
    figure: Path | None

    def to_dict(self) -> dict:
        return {"run_dir": str(self.run_dir), "data": str(self.data_path), "fit": self.fit.to_dict(),
                "data_status": self.data_status, "test": self.test, "rollout": self.rollout,
                "figure": str(self.figure) if self.figure else None}


def train_case(resolved: ResolvedCase | None = None, *, run_dir: str | Path | None = None,
               device: str | None = None, resume: str | Path | None = None,
               overrides: list[str] | None = None, rollout: bool = True) -> TrainSummary | None:
    """The whole ``pdesolve train`` path.

    Under torchrun every rank calls it: the ranks train together (`Trainer`); rank 0 alone writes
    the run directory, tests, rolls out and returns the summary, the other ranks return ``None``
    after the fit. Every rank reads the same checkpoint on ``resume``.

    Args:
        resolved: the case (ignored with ``resume``, which reads the run's own case.yaml).
        run_dir: where to write the run (default ``<output.runs_dir>/<case>-<backend>-<time>``).
        device: ``auto``, ``cpu`` or ``cuda`` (overrides ``train.device``).
        resume: a run directory to continue from its last checkpoint.
        overrides: ``--set`` strings applied to a resumed run's case (e.g. more epochs).
        rollout: roll out on the test set at the end.

    Destinations, device and memory are checked before any work; the run folder is made once the
    data is there. A loss that turns non-finite after good epochs ends the run: summary.json records
    the fit and `NonFiniteError` says where the last good model is (no test, no rollout).

    Raises:
        UserError: bad input (a destination that cannot be written, a case too large for the machine).
        NonFiniteError: the loss became non-finite.
    """
    state = None
    if resume is not None:
        run = RunDir.open(resume)
        resolved = run.load_case(overrides)
        check_folder_destination(run.path, source="--resume")
        state = run.load_checkpoint()
    elif resolved is None:
        raise UserError("no case given")
    else:
        cfg = resolved.case
        if run_dir is not None:
            check_folder_destination(run_dir, source="--run-dir")
        else:
            check_folder_destination(cfg.output.runs_dir, source=resolved.source, field="output.runs_dir")
        run_dir = RunDir.new_path(cfg.output.runs_dir, cfg.name, resolved.backend_cls.name, run_dir)
    cfg = resolved.case
    try:
        dev = resolve_device(device or cfg.train.device)
    except UserError as err:
        raise (err.located("--device") if device else err.located(resolved.source, "train.device")) from None
    world = distributed.init(dev)
    dev = world.device(dev)
    check_memory(resolved.model_memory_estimates(), training_device=dev, source=resolved.source)
    case_data = load_or_generate(resolved)  # checks its own destination and size before generating
    if not world.main:
        return _train_rank(resolved, case_data, dev, state, world)
    if resume is not None:
        run.recover(state)
        run.write_text("case.yaml", resolved.to_yaml())
    else:
        run = RunDir.create(cfg.output.runs_dir, cfg.name, resolved.backend_cls.name, run_dir)
        run.write_text("case.yaml", resolved.to_yaml())
    try:
        with log_progress_to(run.log_file):
            return _train_run(run, resolved, case_data, dev, state, rollout)
    except UserError:
        if resume is None and not (run.checkpoint_file.exists() or run.best_file.exists()):
            shutil.rmtree(run.path, ignore_errors=True)  # bad input found before training: leave nothing behind
        raise


def _train_rank(resolved: ResolvedCase, case_data, dev: torch.device, state: dict | None,
                world: distributed.World) -> None:
    """A rank other than 0: the same solver and fit as rank 0's, writing nothing."""
    cfg = resolved.case
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    seed_everything(cfg.train.seed)
    solver = resolved.make_solver()
    solver.fit(resolved.problem, case_data.dataset, Trainer(cfg.train, dev, None, resume=state, world=world))
    return None


def _train_run(run: RunDir, resolved: ResolvedCase, case_data, dev: torch.device, state: dict | None,
               rollout: bool) -> TrainSummary:
    """Fit, training curves, test, rollout and summary in a prepared run directory."""
    from pdesolve.engines.rollout import rollout_run

    cfg = resolved.case
    data, data_path = case_data.dataset, case_data.path
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    seed_everything(cfg.train.seed)
    run.write_environment(cfg.train.seed, dev)
    run.log(f"case {cfg.name}, backend {resolved.backend_cls.name}, device {describe(dev)}")
    run.log(f"data {data_path}: {case_data.status}")
    solver = resolved.make_solver()
    trainer = Trainer(cfg.train, dev, run, resume=state)
    with metric_sinks(run, cfg.train.log_to):
        report = solver.fit(resolved.problem, data, trainer)
    if cfg.output.figures and run.metrics():
        figures.training_curves(run.metrics(), run.figures_dir / "training.png",
                                title=f"{cfg.name} ({resolved.backend_cls.name}): training")
    if report.stopped == "non-finite loss":
        kept = TrainSummary(run.path, data_path, case_data.status, report, {}, None, None)
        run.write_json("summary.json", kept.to_dict())
        raise NonFiniteError(
            f"training stopped: the loss became non-finite after {report.epochs} good epoch(s); the best model "
            f"so far is kept in {run.best_file} (summary in {run.summary_file}); lower train.lr and train again")
    best = run.load_solver(dev)
    test = best.score(resolved.problem, select_split(data, "test"))
    run.log(f"test: {json.dumps(test)}")
    roll = rollout_run(run, device=dev) if rollout else None
    summary = TrainSummary(run.path, data_path, case_data.status, report, test,
                           roll.summary() if roll else None, roll.figure if roll else None)
    run.write_json("summary.json", summary.to_dict())
    return summary
