"""Shared test fixtures: tiny versions of the shipped cases."""

from __future__ import annotations

from pathlib import Path

import yaml

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
