"""Shared output of the LES benchmarks (taylor_green.py, hit_les.py).

Each benchmark writes ``benchmarks/results/<name>.json`` and ``<name>.md``; `write_report` then
rebuilds ``benchmarks/results/les.json`` and ``les.md`` from every section present, so the two
scripts can run separately (and on different machines).
"""

from __future__ import annotations

from pathlib import Path

import harness

SECTIONS = ("taylor_green", "hit_les", "hit_les_cost_cpu", "hit_les_cost_cuda")


def write_report(out_dir: Path, name: str, data: dict, markdown: str) -> None:
    """Write one section and rebuild the combined ``les.json`` / ``les.md``."""
    harness.write_section(out_dir, name, data, markdown)
    combined, parts = {}, ["# LES reference solvers and baselines (issue 5)\n"]
    for section in SECTIONS:
        if (out_dir / f"{section}.json").is_file():
            combined[section] = harness.read_json(out_dir / f"{section}.json")
            parts.append((out_dir / f"{section}.md").read_text())
    harness.write_section(out_dir, "les", combined, "\n".join(parts))
