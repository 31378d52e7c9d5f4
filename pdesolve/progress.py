"""Progress bars for long work (data generation, training, rollouts, baselines).

A thin layer over `rich.progress` so that every long loop in the package shows the same bar and
so that tests and batch jobs can silence them with ``PDESOLVE_PROGRESS=0``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")


def enabled() -> bool:
    """Whether bars are drawn (``PDESOLVE_PROGRESS=0`` turns them off)."""
    return os.environ.get("PDESOLVE_PROGRESS", "1") not in ("0", "false", "no")


def make_progress() -> Progress:
    """A `rich` progress display with the columns used everywhere in pdesolve."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        disable=not enabled(),
        transient=False,
    )


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate over ``items`` with a progress bar named ``description``."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with make_progress() as bar:
        task = bar.add_task(description, total=total, status="")
        for item in items:
            yield item
            bar.advance(task)
