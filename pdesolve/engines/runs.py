"""Run directories: everything a training run wrote, enough to rebuild the model alone.

``runs/<case>-<backend>-<timestamp>/`` holds

* ``case.yaml`` -- the resolved case (every default filled in);
* ``environment.json`` -- versions, device, seed, git revision, command line;
* ``checkpoint.pt`` -- last epoch: solver state plus optimiser, scheduler, RNG and epoch (resume);
* ``best.pt`` -- the solver state with the best validation error;
* ``metrics.jsonl`` -- one JSON record per epoch; ``summary.json`` -- the final figures;
* ``log.txt`` -- a human-readable log; ``rollout.nc``, ``compare/``, ``figures/`` -- later outputs.

All files are written atomically. A run stays consistent across a kill at any moment:
`RunDir.recover` removes temporaries of killed writes, cuts ``metrics.jsonl`` back to
the records the last checkpoint had seen (each epoch is logged once) and restores ``best.pt`` when
the kill fell in its write.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from pdesolve.data.netcdf import atomic_replace, remove_stale_temporaries
from pdesolve.errors import UserError

RESUME_KEYS = ("optimizer", "scheduler", "rng", "epoch", "best_val", "best_epoch")


class RunDir:
    """A run directory (see module docstring). Build with `create` or `open`."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._metrics_records: int | None = None

    # ----------------------------------------------------------------------- paths
    case_file = property(lambda self: self.path / "case.yaml")
    environment_file = property(lambda self: self.path / "environment.json")
    checkpoint_file = property(lambda self: self.path / "checkpoint.pt")
    best_file = property(lambda self: self.path / "best.pt")
    metrics_file = property(lambda self: self.path / "metrics.jsonl")
    summary_file = property(lambda self: self.path / "summary.json")
    log_file = property(lambda self: self.path / "log.txt")
    rollout_file = property(lambda self: self.path / "rollout.nc")
    figures_dir = property(lambda self: self.path / "figures")

    @staticmethod
    def new_path(runs_dir: str | Path, case_name: str, backend: str, path: str | Path | None = None) -> Path:
        """Where `create` will make a run (``path`` if given, else a timestamped folder in
        ``runs_dir``); a `UserError` if ``path`` is a folder that is not empty."""
        if path is None:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            path = Path(runs_dir) / f"{case_name}-{backend}-{stamp}"
            n = 1
            while path.exists():
                n += 1
                path = Path(runs_dir) / f"{case_name}-{backend}-{stamp}-{n}"
        path = Path(path)
        if path.is_dir() and any(path.iterdir()):
            raise UserError("run directory exists and is not empty (use --resume to continue it)",
                            source=str(path))
        return path

    @classmethod
    def create(cls, runs_dir: str | Path, case_name: str, backend: str, path: str | Path | None = None) -> RunDir:
        """A new, empty run directory (``path`` if given, else a timestamped one in ``runs_dir``)."""
        path = cls.new_path(runs_dir, case_name, backend, path)
        path.mkdir(parents=True, exist_ok=True)
        return cls(path)

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """An existing run directory; a `UserError` if it is not one."""
        run = cls(Path(path))
        if not run.case_file.is_file():
            raise UserError("not a run directory (no case.yaml)", source=str(path))
        return run

    # ----------------------------------------------------------------------- write
    def write_text(self, name: str, text: str) -> Path:
        return atomic_replace(self.path / name, lambda tmp: tmp.write_text(text))

    def write_json(self, name: str, data: Any) -> Path:
        return self.write_text(name, json.dumps(data, indent=2, default=str) + "\n")

    def write_environment(self, seed: int, device: torch.device) -> Path:
        from pdesolve.engines.environment import environment

        return self.write_json("environment.json", environment(device, seed))

    def append_metrics(self, record: dict) -> None:
        records = self.metrics_records
        with open(self.metrics_file, "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self._metrics_records = records + 1

    @property
    def metrics_records(self) -> int:
        """Records in ``metrics.jsonl`` (saved in each checkpoint, so a resume can cut the log back)."""
        if self._metrics_records is None:
            self._metrics_records = len(self._metrics_lines())
        return self._metrics_records

    def _metrics_lines(self) -> list[str]:
        if not self.metrics_file.is_file():
            return []
        return [line for line in self.metrics_file.read_text().splitlines() if line.strip()]

    def truncate_metrics(self, records: int) -> None:
        """Keep the first ``records`` records of ``metrics.jsonl`` (those a checkpoint had seen)."""
        lines = self._metrics_lines()
        if len(lines) > records:
            self.write_text(self.metrics_file.name, "".join(line + "\n" for line in lines[:records]))
        self._metrics_records = min(len(lines), records)

    def log(self, message: str) -> None:
        stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        with open(self.log_file, "a") as f:
            f.write(f"{stamp}  {message}\n")

    def save_checkpoint(self, state: dict, path: Path) -> Path:
        return atomic_replace(path, lambda tmp: torch.save(state, tmp))

    # ------------------------------------------------------------------------ read
    def load_case(self, overrides: list[str] | None = None):
        from pdesolve.config import load_case

        return load_case(self.case_file, overrides)

    def load_checkpoint(self) -> dict:
        """``checkpoint.pt`` (model, optimiser, schedule, RNG, epoch) to resume from.

        Raises:
            UserError: missing, damaged or not a pdesolve training checkpoint, saying what else the run holds.
        """
        from pdesolve.backends.base import read_checkpoint

        if not self.checkpoint_file.is_file():
            raise UserError("run has no checkpoint.pt to resume from", source=str(self.path))
        try:
            state = read_checkpoint(self.checkpoint_file)
            missing = [k for k in RESUME_KEYS if k not in state]
            if missing:
                raise UserError(f"not a training checkpoint (it lacks {', '.join(missing)}; best.pt-style "
                                "files hold a model only)", source=str(self.checkpoint_file))
        except UserError as err:
            hint = (f"; {self.best_file.name} holds the best model (no optimiser state): start a new run from "
                    "the case to train further") if self.best_file.is_file() else ""
            raise UserError(err.message + hint, source=err.source) from None
        return state

    def recover(self, state: dict) -> None:
        """Make the run consistent with its last checkpoint ``state`` after a kill, before resuming:
        temporaries of killed writes removed, ``metrics.jsonl`` cut back to the records the checkpoint
        had seen, and ``best.pt`` rewritten from it when the checkpoint was the best epoch (a kill
        during that ``best.pt`` write: the checkpoint is written first)."""
        for folder in (self.path, self.figures_dir):
            remove_stale_temporaries(folder)
        if "metrics_records" in state:
            self.truncate_metrics(int(state["metrics_records"]))
        if state.get("is_best"):
            self.save_checkpoint({"solver": state["solver"]}, self.best_file)

    def load_solver(self, device: torch.device | str = "cpu"):
        """The best solver of the run (``best.pt``, else the last checkpoint), on ``device``.

        Raises:
            UserError: no model yet, or the file is damaged (naming the other file the run holds).
        """
        from pdesolve.backends import Solver

        path = self.best_file if self.best_file.is_file() else self.checkpoint_file
        if not path.is_file():
            raise UserError("run has no trained model yet (no best.pt or checkpoint.pt)", source=str(self.path))
        try:
            return Solver.load(path).to(device)
        except UserError as err:
            other = self.checkpoint_file if path == self.best_file else None
            hint = (f"; {other.name} (the last epoch) may be intact: move {path.name} aside to use it"
                    if other is not None and other.is_file() else "")
            raise UserError(err.message + hint, source=err.source) from None

    def metrics(self) -> list[dict]:
        return [json.loads(line) for line in self._metrics_lines()]
