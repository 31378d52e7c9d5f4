"""Shared output of the LES benchmarks (taylor_green.py, hit_les.py).

Each benchmark writes ``benchmarks/results/<name>.json`` and ``<name>.md``; `write_report` then
rebuilds ``benchmarks/results/les.json`` and ``les.md`` from every section present, so the two
scripts can run separately (and on different machines).
"""

from __future__ import annotations

import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

import torch

SECTIONS = ("taylor_green", "hit_les", "hit_les_cost_cpu", "hit_les_cost_cuda")


def machine(device: torch.device) -> str:
    """The hardware a figure was measured on, with the torch thread count."""
    cpu = f"{platform.processor() or platform.machine()} CPU ({os.cpu_count()} cores)"
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} GPU; host {cpu}"
    return f"{cpu}, torch threads {torch.get_num_threads()}"


def stamp() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_report(out_dir: Path, name: str, data: dict, markdown: str) -> None:
    """Write one section and rebuild the combined ``les.json`` / ``les.md``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps(data, indent=2))
    (out_dir / f"{name}.md").write_text(markdown)
    combined, parts = {}, ["# LES reference solvers and baselines (issue 5)\n"]
    for section in SECTIONS:
        if (out_dir / f"{section}.json").is_file():
            combined[section] = json.loads((out_dir / f"{section}.json").read_text())
            parts.append((out_dir / f"{section}.md").read_text())
    (out_dir / "les.json").write_text(json.dumps(combined, indent=2))
    (out_dir / "les.md").write_text("\n".join(parts))
