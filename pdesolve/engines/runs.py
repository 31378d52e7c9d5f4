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
from dataclasses import dataclass
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
        self.sinks: list = []  # further metric writers (`pdesolve.engines.metric_sinks`)
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
        for sink in self.sinks:
            sink.write(record)

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


# ------------------------------------------------------------------------------ listing
@dataclass
class RunInfo:
    """One line of ``pdesolve runs``: what a run directory holds and how it ended.

    ``status``: ``finished`` (summary written), ``diverged`` (training stopped on a non-finite loss),
    ``interrupted`` (checkpoints but no summary: resume it), ``empty`` (nothing trained yet).
    """

    path: Path
    case: str
    backend: str
    status: str
    epochs: int | None
    best_val: float | None
    headline: tuple[str, float] | None
    created: str


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def run_info(run: RunDir) -> RunInfo:
    """The `RunInfo` of one run directory (never raises on damaged files: they show as missing)."""
    import yaml

    try:
        case = yaml.safe_load(run.case_file.read_text()) or {}
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        case = {}
    summary = _read_json(run.summary_file)
    env = _read_json(run.environment_file)
    metrics = [m for m in run.metrics() if "epoch" in m or "step" in m] if run.metrics_file.is_file() else []
    fit = summary.get("fit", {})
    log = run.log_file.read_text(errors="replace") if run.log_file.is_file() else ""
    if fit.get("stopped") == "non-finite loss" or "non-finite loss" in log:
        status = "diverged"
    elif summary:
        status = "finished"
    elif run.checkpoint_file.is_file() or run.best_file.is_file():
        status = "interrupted"
    else:
        status = "empty"
    vals = [v for v in (m.get("val_rel_l2") for m in metrics) if isinstance(v, float) and v == v]  # not NaN
    test = summary.get("test") or {}
    headline = next(((k, v) for k, v in test.items() if isinstance(v, (int, float))), None)
    return RunInfo(run.path, str(case.get("name", run.path.name)), str((case.get("backend") or {}).get("name", "?")),
                   status, fit.get("epochs", len(metrics) or None), min(vals) if vals else None, headline,
                   str(env.get("created", "")))


def list_runs(root: str | Path) -> list[RunInfo]:
    """Every run directory directly below ``root`` (or ``root`` itself), newest first."""
    root = Path(root)
    if not root.is_dir():
        raise UserError("not a folder of runs", source=str(root))
    candidates = [root] if (root / "case.yaml").is_file() else sorted(p for p in root.iterdir() if p.is_dir())
    infos = [run_info(RunDir(p)) for p in candidates if (p / "case.yaml").is_file()]
    return sorted(infos, key=lambda i: (i.created, str(i.path)), reverse=True)


def case_differences(run: RunDir) -> list[tuple[str, object, object]]:
    """``(field, shipped value, run value)`` where the run's resolved case differs from the
    resolved shipped case of the same name (empty when the case is not a shipped one)."""
    import yaml

    from pdesolve.config import load_case, shipped_cases

    mine = yaml.safe_load(run.case_file.read_text()) or {}
    name = mine.get("name")
    if name not in shipped_cases():
        return []
    shipped = yaml.safe_load(load_case(name).to_yaml())

    def flat(d: dict, prefix: str = "") -> dict[str, object]:
        out = {}
        for k, v in d.items():
            key = f"{prefix}{k}"
            out.update(flat(v, key + ".") if isinstance(v, dict) else {key: v})
        return out

    a, b = flat(shipped), flat(mine)
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
