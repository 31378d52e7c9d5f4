"""Training: the gradient loop every trainable backend uses, and `train_case`, the whole
``pdesolve train`` path (data, fit, test, rollout, summary).

`Trainer.fit` owns what is the same for every backend: optimiser and schedule, bf16 autocast on
CUDA, gradient clipping, per-epoch validation, best/last checkpoints written atomically, resume
(model, optimiser, scheduler, RNG, epoch), early stopping, a stop on non-finite loss that keeps
the last good state, metrics.jsonl and a progress bar. Shuffling uses a generator seeded by
(seed, epoch), so a resumed run reaches the same weights as an uninterrupted one on the CPU.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pdesolve.backends.base import FitReport, Solver
from pdesolve.config import ResolvedCase, TrainConfig
from pdesolve.data.samples import select_split
from pdesolve.engines.data import load_or_generate
from pdesolve.engines.device import describe, resolve_device, seed_everything
from pdesolve.engines.runs import RunDir
from pdesolve.errors import NonFiniteError, UserError
from pdesolve.metrics import LOSSES
from pdesolve.progress import make_progress


def make_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    optimizers = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    return optimizers[cfg.optimizer](params, lr=cfg.lr, weight_decay=cfg.weight_decay)


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


def _set_rng_state(state: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


class Trainer:
    """The training loop handed to `Solver.fit` (implements `pdesolve.backends.Trainer`).

    Args:
        cfg: the case's ``train`` section.
        device: where to train.
        run: the run directory for checkpoints and metrics (``None``: keep everything in memory).
        resume: a checkpoint dict (``checkpoint.pt``) to continue from.
    """

    def __init__(self, cfg: TrainConfig, device: torch.device | str = "cpu", run: RunDir | None = None,
                 resume: dict | None = None):
        self.cfg = cfg
        self.device = torch.device(device)
        self.run = run
        self.resume = resume
        self.batch_size = cfg.batch_size
        self.unroll = cfg.unroll
        self.backprop = cfg.backprop
        self._loss = LOSSES[cfg.loss]
        use_bf16 = cfg.amp == "bf16" or (cfg.amp == "auto" and self.device.type == "cuda")
        self.autocast = (lambda: torch.autocast(self.device.type, dtype=torch.bfloat16)) if use_bf16 else nullcontext

    def loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self._loss(pred.float(), target.float())

    def _log(self, message: str) -> None:
        if self.run is not None:
            self.run.log(message)

    def fit(
        self,
        solver: Solver,
        module: nn.Module,
        step_loss: Callable[[Any], torch.Tensor],
        train_batches: Callable[[torch.Generator], Iterable[Any]],
        validate: Callable[[], float] | None = None,
        n_batches: int | None = None,
    ) -> FitReport:
        """Optimise ``module`` for ``cfg.epochs`` epochs.

        Args:
            solver: the solver being fitted (its `state_dict` is what checkpoints hold).
            module: the parameters to optimise (already on `device`).
            step_loss: batch -> scalar loss (called under autocast).
            train_batches: a shuffling generator -> one epoch of batches.
            validate: -> validation error (lower is better), run after every epoch.
            n_batches: batches per epoch, for the progress bar.
        """
        cfg = self.cfg
        optimizer = make_optimizer(cfg, module.parameters())
        scheduler = make_scheduler(cfg, optimizer)
        report = FitReport()
        start, best = 0, math.inf
        if self.resume is not None:
            module.load_state_dict(self.resume["solver"]["tensors"])
            optimizer.load_state_dict(self.resume["optimizer"])
            scheduler.load_state_dict(self.resume["scheduler"])
            extend_schedule(cfg, scheduler, optimizer)
            _set_rng_state(self.resume["rng"])
            start, best = int(self.resume["epoch"]) + 1, float(self.resume["best_val"])
            report.best_epoch = int(self.resume["best_epoch"])
            report.best_val = best
            self._log(f"resumed after epoch {start - 1}")
        last_good = copy.deepcopy(module.state_dict())
        t_start = time.perf_counter()
        stale = 0
        with make_progress() as bar:
            task = bar.add_task("train", total=(cfg.epochs - start) * (n_batches or 1), status="")
            for epoch in range(start, cfg.epochs):
                t_epoch = time.perf_counter()
                module.train()
                generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
                total, count = 0.0, 0
                for batch in train_batches(generator):
                    with self.autocast():
                        loss = step_loss(batch)
                    if not torch.isfinite(loss):
                        report.stopped = "non-finite loss"
                        break
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    if cfg.grad_clip is not None:
                        nn.utils.clip_grad_norm_(module.parameters(), cfg.grad_clip)
                    optimizer.step()
                    total, count = total + float(loss.detach()), count + 1
                    if n_batches:
                        bar.advance(task)
                if report.stopped:
                    module.load_state_dict(last_good)
                    msg = f"epoch {epoch}: non-finite loss; stopped with the state of the last good epoch kept"
                    self._log(msg)
                    if epoch == 0:
                        raise NonFiniteError(msg + " (none: the first epoch already diverged; lower train.lr)")
                    break
                if not n_batches:
                    bar.advance(task)
                scheduler.step()
                val = float(validate()) if validate is not None else float("nan")
                record = {"epoch": epoch, "train_loss": total / max(count, 1), "val_rel_l2": val,
                          "lr": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - t_epoch}
                report.history.append(record)
                report.epochs = epoch + 1
                improved = validate is None or val < best
                if improved:
                    best, report.best_epoch, report.best_val, stale = val, epoch, val, 0
                else:
                    stale += 1
                last_good = copy.deepcopy(module.state_dict())
                if self.run is not None:
                    self.run.append_metrics(record)
                    self._checkpoint(solver, optimizer, scheduler, epoch, best, report.best_epoch, improved)
                    self._log(f"epoch {epoch}: train loss {record['train_loss']:.4g}, validation {val:.4g}")
                bar.update(task, status=f"loss {record['train_loss']:.3g} val {val:.3g}")
                if cfg.patience is not None and stale >= cfg.patience:
                    report.stopped = "patience"
                    self._log(f"early stop after {cfg.patience} epochs without improvement")
                    break
        report.seconds = time.perf_counter() - t_start
        return report

    def _checkpoint(self, solver, optimizer, scheduler, epoch, best, best_epoch, improved) -> None:
        solver_state = solver.state_dict()
        self.run.save_checkpoint({
            "solver": solver_state,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": _rng_state(),
            "epoch": epoch,
            "best_val": best,
            "best_epoch": best_epoch,
        }, self.run.checkpoint_file)
        if improved:
            self.run.save_checkpoint({"solver": solver_state}, self.run.best_file)


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
               overrides: list[str] | None = None, rollout: bool = True) -> TrainSummary:
    """The whole ``pdesolve train`` path.

    Args:
        resolved: the case (ignored with ``resume``, which reads the run's own case.yaml).
        run_dir: where to write the run (default ``<output.runs_dir>/<case>-<backend>-<time>``).
        device: ``auto``, ``cpu`` or ``cuda`` (overrides ``train.device``).
        resume: a run directory to continue from its last checkpoint.
        overrides: ``--set`` strings applied to a resumed run's case (e.g. more epochs).
        rollout: roll out on the test set at the end.
    """
    from pdesolve.engines.rollout import rollout_run

    state = None
    if resume is not None:
        run = RunDir.open(resume)
        resolved = run.load_case(overrides)
        state = run.load_checkpoint()
        run.write_text("case.yaml", resolved.to_yaml())
    else:
        if resolved is None:
            raise UserError("no case given")
        cfg = resolved.case
        run = RunDir.create(cfg.output.runs_dir, cfg.name, resolved.backend_cls.name, run_dir)
        run.write_text("case.yaml", resolved.to_yaml())
    cfg = resolved.case
    dev = resolve_device(device or cfg.train.device)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    seed_everything(cfg.train.seed)
    run.write_environment(cfg.train.seed, dev)
    run.log(f"case {cfg.name}, backend {resolved.backend_cls.name}, device {describe(dev)}")

    case_data = load_or_generate(resolved)
    data, data_path = case_data.dataset, case_data.path
    run.log(f"data {data_path}: {case_data.status}")
    solver = resolved.make_solver()
    trainer = Trainer(cfg.train, dev, run, resume=state)
    report = solver.fit(resolved.problem, data, trainer)
    best = run.load_solver(dev)
    test = best.score(resolved.problem, select_split(data, "test"))
    run.log(f"test: {json.dumps(test)}")
    roll = rollout_run(run, device=dev) if rollout else None
    summary = TrainSummary(run.path, data_path, case_data.status, report, test,
                           roll.summary() if roll else None, roll.figure if roll else None)
    run.write_json("summary.json", summary.to_dict())
    return summary
