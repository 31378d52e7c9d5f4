"""Markdown and JSON tables: the one writer of every table pdesolve and its benchmarks produce."""

from __future__ import annotations

import json
from pathlib import Path

from pdesolve.data.netcdf import atomic_replace


def markdown_table(rows: list[dict]) -> str:
    """A markdown table with the first row's keys as columns (floats to 4 significant digits)."""
    if not rows:
        return ""
    cols = list(rows[0])
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_tables(out_dir: Path, header: str, rows: list[dict], footer: str = "", **facts) -> list[Path]:
    """``table.md`` (``header``, the rows as markdown, ``footer``) and ``table.json`` (``facts`` and
    the rows), both written atomically into ``out_dir``."""
    return [
        atomic_replace(out_dir / "table.md", lambda tmp: tmp.write_text(header + markdown_table(rows) + footer)),
        atomic_replace(out_dir / "table.json", lambda tmp: tmp.write_text(
            json.dumps({**facts, "rows": rows}, indent=2, default=str))),
    ]
