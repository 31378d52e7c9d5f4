"""Run directories: everything a training run wrote, enough to rebuild the model alone.

``runs/<case>-<backend>-<timestamp>/`` holds

* ``case.yaml`` -- the resolved case (every default filled in);
* ``environment.json`` -- versions, device, seed, git revision, command line;
* ``checkpoint.pt`` -- last epoch: solver state plus optimiser, scheduler, RNG and epoch (resume);
* ``best.pt`` -- the solver state with the best validation error;
* ``metrics.jsonl`` -- one JSON record per epoch; ``summary.json`` -- the final figures;
* ``log.txt`` -- a human-readable log; ``rollout.nc``, ``compare/``, ``figures/`` -- later outputs.

All files are written atomically.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from pdesolve.data.netcdf import atomic_replace
from pdesolve.errors import UserError


class RunDir:
    """A run directory (see module docstring). Build with `create` or `open`."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.sinks: list = []  # further metric writers (`pdesolve.engines.metric_sinks`)

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

    @classmethod
    def create(cls, runs_dir: str | Path, case_name: str, backend: str, path: str | Path | None = None) -> RunDir:
        """A new, empty run directory (``path`` if given, else a timestamped one in ``runs_dir``)."""
        if path is None:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            path = Path(runs_dir) / f"{case_name}-{backend}-{stamp}"
            n = 1
            while path.exists():
                n += 1
                path = Path(runs_dir) / f"{case_name}-{backend}-{stamp}-{n}"
        path = Path(path)
        if path.exists() and any(path.iterdir()):
            raise UserError("run directory exists and is not empty (use --resume to continue it)",
                            source=str(path))
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
        with open(self.metrics_file, "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())
        for sink in self.sinks:
            sink.write(record)

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
        if not self.checkpoint_file.is_file():
            raise UserError("run has no checkpoint.pt to resume from", source=str(self.path))
        return torch.load(self.checkpoint_file, map_location="cpu", weights_only=True)

    def load_solver(self, device: torch.device | str = "cpu"):
        """The best solver of the run (``best.pt``, else the last checkpoint), on ``device``."""
        from pdesolve.backends import Solver

        path = self.best_file if self.best_file.is_file() else self.checkpoint_file
        if not path.is_file():
            raise UserError("run has no trained model yet (no best.pt or checkpoint.pt)", source=str(self.path))
        return Solver.load(path).to(device)

    def metrics(self) -> list[dict]:
        if not self.metrics_file.is_file():
            return []
        return [json.loads(line) for line in self.metrics_file.read_text().splitlines() if line.strip()]
