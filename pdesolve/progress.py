"""Progress of long work (data generation, training, rollouts, baselines, solves).

`make_progress()` is what every long loop uses. On a terminal it is a `rich` progress bar; when
standard output is not a terminal (a batch job, ``nohup``, output piped to a file) it prints a
plain line -- description, done/total, rate, elapsed, ETA, status -- at most every
``PDESOLVE_PROGRESS_INTERVAL`` seconds (default 30) and when a task finishes, so a log is never
silent for minutes. While `log_progress_to(path)` is active (``pdesolve train`` sets it to the
run's ``log.txt``) the same lines are appended to that file, on a terminal too.
``PDESOLVE_PROGRESS=0`` silences both (tests).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
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
_log_file: Path | None = None


def enabled() -> bool:
    """Whether progress is shown (``PDESOLVE_PROGRESS=0`` turns it off)."""
    return os.environ.get("PDESOLVE_PROGRESS", "1") not in ("0", "false", "no")


def interval() -> float:
    """Seconds between plain progress lines (``PDESOLVE_PROGRESS_INTERVAL``, default 30)."""
    try:
        return max(float(os.environ.get("PDESOLVE_PROGRESS_INTERVAL", "30")), 0.0)
    except ValueError:
        return 30.0


@contextlib.contextmanager
def log_progress_to(path: str | Path | None):
    """Append plain progress lines to ``path`` while the context is active."""
    global _log_file
    previous, _log_file = _log_file, Path(path) if path is not None else None
    try:
        yield
    finally:
        _log_file = previous


@dataclass
class _Task:
    description: str
    total: float | None
    status: str = ""
    completed: float = 0.0
    start: float = field(default_factory=time.monotonic)
    last_line: float = field(default_factory=time.monotonic)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}"


class PlainProgress:
    """The subset of `rich.progress.Progress` pdesolve uses, printing periodic plain lines."""

    def __init__(self, stream=None, show: bool = True):
        self.stream = stream
        self.show = show
        self.tasks: dict[int, _Task] = {}

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc) -> None:
        for task_id, task in self.tasks.items():
            if task.completed and (task.total is None or task.completed < task.total):
                self._line(task_id, final=True)

    def add_task(self, description: str, total: float | None = None, completed: float = 0, **fields) -> int:
        task_id = len(self.tasks)
        self.tasks[task_id] = _Task(description, total, str(fields.get("status", "")), float(completed))
        return task_id

    def advance(self, task_id: int, advance: float = 1) -> None:
        task = self.tasks[task_id]
        task.completed += advance
        done = task.total is not None and task.completed >= task.total
        if done or time.monotonic() - task.last_line >= interval():
            self._line(task_id, final=done)

    def update(self, task_id: int, *, status: str | None = None, description: str | None = None,
               total: float | None = None, completed: float | None = None, **_) -> None:
        task = self.tasks[task_id]
        if status is not None:
            task.status = str(status)
        if description is not None:
            task.description = description
        if total is not None:
            task.total = total
        if completed is not None:
            task.completed = completed

    def reset(self, task_id: int, *, total: float | None = None, description: str | None = None, **_) -> None:
        task = self.tasks[task_id]
        self.tasks[task_id] = _Task(description or task.description, total if total is not None else task.total,
                                    task.status)

    def _line(self, task_id: int, final: bool = False) -> None:
        task = self.tasks[task_id]
        now = time.monotonic()
        task.last_line = now
        elapsed = now - task.start
        rate = task.completed / elapsed if elapsed > 0 else 0.0
        done = f"{task.completed:g}/{task.total:g}" if task.total is not None else f"{task.completed:g}"
        parts = [task.description, done, f"{rate:.3g}/s", f"elapsed {_duration(elapsed)}"]
        if task.total is not None and rate > 0 and not final:
            parts.append(f"eta {_duration((task.total - task.completed) / rate)}")
        if task.status:
            parts.append(task.status)
        text = "  ".join(parts)
        if self.show and self.stream is not None:
            print(text, file=self.stream, flush=True)
        if _log_file is not None:
            stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
            with open(_log_file, "a") as f:
                f.write(f"{stamp}  progress: {text}\n")


class _LoggedProgress(Progress):
    """A rich bar that also appends plain lines to the progress log (see `log_progress_to`)."""

    def __init__(self, *columns, **kwargs):
        super().__init__(*columns, **kwargs)
        self._plain = PlainProgress(show=False)

    def add_task(self, description, start=True, total=100.0, completed=0, visible=True, **fields):
        task_id = super().add_task(description, start, total, completed, visible, **fields)
        self._plain.tasks[task_id] = _Task(description, total, str(fields.get("status", "")), float(completed))
        return task_id

    def advance(self, task_id, advance=1):
        super().advance(task_id, advance)
        if _log_file is not None:
            self._plain.advance(task_id, advance)

    def update(self, task_id, **kwargs):
        super().update(task_id, **kwargs)
        self._plain.update(task_id, **kwargs)

    def reset(self, task_id, **kwargs):
        super().reset(task_id, **kwargs)
        self._plain.reset(task_id, **kwargs)


def make_progress() -> Progress | PlainProgress:
    """A progress display with the columns used everywhere in pdesolve (see the module docstring)."""
    if not enabled():
        return PlainProgress(show=False) if _log_file is not None else Progress(disable=True)
    if not sys.stdout.isatty():
        return PlainProgress(sys.stdout)
    return _LoggedProgress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        transient=False,
    )


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate over ``items`` with progress named ``description``."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with make_progress() as bar:
        task = bar.add_task(description, total=total, status="")
        for item in items:
            yield item
            bar.advance(task)
