"""What every benchmark script shares: flags, the environment record, timing, result files.

A script in ``benchmarks/`` is a ``main(argv=None)`` with argparse (nothing runs on import) and
supports ``--smoke``: the smallest sizes and epochs that still run its whole path, writing into the
folder ``--out`` (a fresh temporary folder without one), never into ``benchmarks/results/``.
``tests/test_benchmarks.py`` runs every script that way.

* `add_output` / `output` / `work_dir` -- the ``--out`` and ``--smoke`` flags, and where results and
  work files (runs, data caches) go;
* `start` -- what a script does first: ``--out`` resolved, progress bars off, torch threads set,
  and its `environment`: the one environment record (`pdesolve.engines.environment`) with the
  benchmark's own command line; `machine` and `provenance` -- its one-line forms for a section;
* `interleaved` -- seconds of two or more callables measured in turns in one process, with the
  torch thread count set and recorded, medians and ratios;
* `write_section` -- ``<out>/<name>.json`` and the markdown section ``<out>/<name>.md`` (which
  ``collect_results.py`` assembles into ``benchmarks/RESULTS.md``), both written atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from pdesolve.data.netcdf import atomic_replace
from pdesolve.engines import environment as run_environment

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
WORK = ROOT / "benchmarks" / "out"  # run directories and data caches of the benchmarks (not committed)


# ------------------------------------------------------------------------------------ flags
def add_output(parser: argparse.ArgumentParser, *flags: str, smoke_flags: tuple[str, ...] = ("--smoke",),
               what: str = "results folder") -> None:
    """``--out`` (or the script's own names for it, ``flags``) and ``--smoke`` (``smoke_flags``)."""
    parser.add_argument(*(flags or ("--out",)), dest="out", type=Path, default=None,
                        help=f"{what} (default: benchmarks/results; with --smoke a temporary folder)")
    parser.add_argument(*smoke_flags, dest="smoke", action="store_true",
                        help="the tiniest sizes that run the whole path, into --out: a check of the script, "
                             "not a result")


def add_render(parser: argparse.ArgumentParser) -> None:
    """``--render JSON``: only rewrite the markdown section of a recorded results file."""
    parser.add_argument("--render", type=Path, help="only rewrite the markdown of this results JSON")


def render_only(args: argparse.Namespace, markdown) -> dict | None:
    """With ``--render JSON``: the section ``markdown(record)`` rewritten beside it and the record
    returned; ``None`` otherwise (the script runs)."""
    if args.render is None:
        return None
    record = json.loads(args.render.read_text())
    write_text(args.render.with_suffix(".md"), markdown(record))
    return record


def output(args: argparse.Namespace, name: str) -> Path:
    """Resolve ``args.out``: as given, else a fresh temporary folder under ``--smoke``, else
    ``benchmarks/results``; created."""
    if args.out is None:
        args.out = Path(tempfile.mkdtemp(prefix=f"{name}-smoke-")) if args.smoke else RESULTS
        if args.smoke:
            print(f"--smoke: writing into {args.out}", flush=True)
    args.out = Path(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    return args.out


def work_dir(args: argparse.Namespace, default: Path, given: Path | str | None = None) -> Path:
    """Where a script keeps runs and caches: ``given`` (its ``--work``-like flag), else under
    ``args.out`` in a smoke run, else ``default``."""
    if given is not None:
        return Path(given)
    return Path(args.out) / "work" if args.smoke else default


def quiet(threads: int | None = None) -> None:
    """No progress bars; ``threads`` torch threads (when given)."""
    os.environ.setdefault("PDESOLVE_PROGRESS", "0")
    if threads is not None:
        torch.set_num_threads(threads)


# ------------------------------------------------------------------------------ environment
def start(args: argparse.Namespace, script: str, argv: list[str] | None, *, device: torch.device | str = "cpu",
          seed: int | None = None, threads: int | None = None, python: str = "python") -> dict:
    """What a script does first: resolve ``--out`` (`output`), no progress bars and ``threads``
    torch threads (`quiet`); returns the `environment` record with the script's command line."""
    output(args, Path(script).stem)
    quiet(threads)
    return environment(device, seed, command=command_line(script, argv, python), smoke=args.smoke)


def command_line(script: str, argv: list[str] | None = None, python: str = "python") -> str:
    """``python benchmarks/<script>.py ARGS`` with the arguments given (``sys.argv`` without them)."""
    args = sys.argv[1:] if argv is None else list(argv)
    return shlex.join([python, f"benchmarks/{Path(script).name}", *args])


def environment(device: torch.device | str = "cpu", seed: int | None = None, *, command: str,
                smoke: bool = False) -> dict:
    """The environment record of run directories (versions, hardware, torch threads, load, git
    revision, UTC time) with ``command``, the benchmark's command line, and whether it is a smoke run."""
    return {**run_environment.environment(device, seed), "command": command, "smoke": smoke}


def cpu_name() -> str:
    return platform.processor() or platform.machine()


def machine(env: dict) -> str:
    """One line: the hardware and torch threads of ``env``."""
    cpu = f"{cpu_name()} CPU ({env['cpu_count']} cores)"
    if env["device"].startswith("cuda"):
        return f"{env['hardware']} GPU; host {cpu}"
    return f"{cpu}, torch threads {env['torch_threads']}"


def provenance(env: dict) -> str:
    """The machine, threads, date and command line of a results section, as one sentence."""
    text = f"Machine: {machine(env)}; date {env['created']}; command `{env['command']}`."
    return text + (" Smoke run at toy sizes: a check of the script, not a result." if env.get("smoke") else "")


def machine_facts(env: dict) -> dict:
    """The short machine facts that some sections print (device, host, cores, threads, torch, date)."""
    return {"device": env["hardware"], "host": platform.node(), "cpus": env["cpu_count"],
            "threads": env["torch_threads"], "torch": env["torch"], "python": env["python"],
            "date": env["created"]}


# ----------------------------------------------------------------------------------- timing
def synchronize(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def wall_seconds(fn: Callable[[], object], device: torch.device | str = "cpu") -> float:
    """Wall seconds of ``fn()``, the device's queue drained before and after."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


@dataclass
class Timing:
    """Seconds per call of each callable (every repeat), measured in turns in one process."""

    seconds: dict[str, list[float]]
    threads: int
    device: str

    @property
    def median(self) -> dict[str, float]:
        return {name: statistics.median(values) for name, values in self.seconds.items()}

    def ratios(self, reference: str) -> dict[str, float]:
        """Median seconds of each callable over those of ``reference``."""
        median = self.median
        return {name: value / median[reference] for name, value in median.items()}

    def to_dict(self, reference: str | None = None) -> dict:
        """Medians, every repeat, threads, device (and the ratios to ``reference``), JSON-able."""
        out = {"median": self.median, "seconds": self.seconds, "threads": self.threads, "device": self.device,
               "repeats": len(next(iter(self.seconds.values()), []))}
        return {**out, "reference": reference, "ratios": self.ratios(reference)} if reference else out


def interleaved(fns: dict[str, Callable[[], object]], repeats: int, *, threads: int,
                device: torch.device | str = "cpu", warmup: int = 1) -> Timing:
    """Time each of ``fns`` ``repeats`` times, in turns (one call of each per round, so a change of
    the machine's load hits all alike), after ``warmup`` untimed rounds, on ``threads`` torch threads."""
    torch.set_num_threads(threads)
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    seconds: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            seconds[name].append(wall_seconds(fn, device))
    return Timing(seconds, torch.get_num_threads(), str(device))


# ------------------------------------------------------------------------------ result files
def strict_json(value):
    """``value`` with NaN floats as None (standard JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    return None if isinstance(value, float) and value != value else value


def read_json(path: Path, default=None):
    """The JSON in ``path``, or ``default`` if there is no such file."""
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else default


def write_json(path: Path, record, indent: int = 2, strict: bool = False) -> Path:
    """``record`` as JSON, atomically (``strict``: NaN as null)."""
    text = (json.dumps(strict_json(record), indent=indent, allow_nan=False) if strict
            else json.dumps(record, indent=indent, default=str))
    return atomic_replace(Path(path), lambda tmp: tmp.write_text(text))


def write_text(path: Path, text: str) -> Path:
    return atomic_replace(Path(path), lambda tmp: tmp.write_text(text))


def write_section(out: Path, name: str, record, markdown: str, indent: int = 2, strict: bool = False) -> list[Path]:
    """``<out>/<name>.json`` (``record``; None: leave it) and the section ``<out>/<name>.md``."""
    out = Path(out)
    paths = [] if record is None else [write_json(out / f"{name}.json", record, indent, strict)]
    return [*paths, write_text(out / f"{name}.md", markdown)]
