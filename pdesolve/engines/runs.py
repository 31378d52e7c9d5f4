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
from dataclasses import dataclass
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
