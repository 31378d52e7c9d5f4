"""Shared test fixtures: tiny versions of the shipped cases."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pdesolve.config import load_case
from pdesolve.engines.train import Trainer, train_case

TINY_NS = {
    "name": "tiny_ns",
    "problem": {"name": "navier_stokes_2d", "resolution": 16, "t_end": 4.0, "snapshot_interval": 1.0,
                "dt": 0.05},
    "data": {"n_train": 4, "n_val": 2, "n_test": 2, "resolution": 16, "seed": 0},
    "backend": {"name": "fno", "window": 2, "modes": 4, "width": 8, "layers": 2, "projection_channels": 16},
    "train": {"epochs": 2, "batch_size": 4, "lr": 1e-3, "seed": 0},
    "output": {"figures": True},
}


def write_case(tmp: Path, case: dict, name: str = "case.yaml") -> Path:
    """Write ``case`` with data cached and runs written inside ``tmp``."""
    case = {**case, "data": {**case.get("data", {}), "cache_dir": str(tmp / "data")},
            "output": {**case.get("output", {}), "runs_dir": str(tmp / "runs")}}
    path = tmp / name
    path.write_text(yaml.safe_dump(case))
    return path


def train_interrupted_then_resumed(case: Path, overrides: list[str], run_dir: Path, monkeypatch) -> None:
    """Train ``case`` into ``run_dir``, interrupted (KeyboardInterrupt) right after epoch 1's checkpoint,
    then ``--resume`` it to the end."""
    original = Trainer._checkpoint

    def interrupt_after_epoch_1(self, solver, optimizer, scheduler, epoch, *args):
        original(self, solver, optimizer, scheduler, epoch, *args)
        if epoch == 1:
            raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "_checkpoint", interrupt_after_epoch_1)
        with pytest.raises(KeyboardInterrupt):
            train_case(load_case(case, overrides), run_dir=run_dir, device="cpu", rollout=False)
    train_case(resume=run_dir, device="cpu", rollout=False)
