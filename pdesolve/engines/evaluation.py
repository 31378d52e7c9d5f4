"""How a trained solver is judged: one registry keyed by (solver kind, problem task).

An `Evaluation` subclass registers for one pair in its class statement::

    class TrajectoryEvaluation(Evaluation, kind="operator", task="trajectory"):
        headline = {"rollout_rel_l2": "rollout rel. L2", ...}
        def rollout(self, test, steps) -> RolloutResult: ...
        def compare(self, baselines, models) -> ComparisonResult: ...

and returns typed results; `write_rollout` and `write_comparison` are the only functions that
write their files (netCDF, tables, figures, extra artifacts) and log them, so every kind's
outputs look alike. The subclasses live in `pdesolve.engines.evaluations` (one module per
family of pairs); a new kind or task is one new class there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import torch
import xarray as xr

from pdesolve.data.destinations import check_file_destination, check_folder_destination
from pdesolve.data.netcdf import write_netcdf
from pdesolve.engines.data import load_or_generate
from pdesolve.engines.device import describe
from pdesolve.engines.runs import RunDir
from pdesolve.engines.tables import markdown_table, write_tables
from pdesolve.errors import UserError
from pdesolve.version import __version__


@dataclass
class Artifact:
    """A file an evaluation produces besides its netCDF and tables.

    Attributes:
        name: the file's path relative to the output folder (``"spectra.png"``).
        write: ``path -> path`` writes it (atomically).
        figure: a figure, skipped when the case's ``output.figures`` is off.
    """

    name: str
    write: Callable[[Path], Path]
    figure: bool = True


@dataclass
class RolloutResult:
    """A solver's prediction on the test split beside the reference (``rollout.nc``).

    Attributes:
        dataset: prediction, reference and errors (CF / UGRID); global attributes are added on writing.
        metrics: headline numbers by name (JSON-able), also written as global attributes.
        artifacts: figures (written into the run's ``figures/``).
        headline: ``(label, value)`` of the metrics a summary shows (the evaluation's `headline`).
        path, files: where `write_rollout` put the dataset and the artifacts.
    """

    dataset: xr.Dataset
    metrics: dict[str, Any]
    artifacts: list[Artifact] = field(default_factory=list)
    headline: list[tuple[str, Any]] = field(default_factory=list)
    path: Path | None = None
    files: list[Path] = field(default_factory=list)

    @property
    def figure(self) -> Path | None:
        """The first figure written, if any."""
        return next((f for f in self.files if f.suffix == ".png"), None)

    def summary(self) -> dict:
        return {**self.metrics, "headline": [list(h) for h in self.headline], "path": str(self.path),
                "figure": str(self.figure) if self.figure else None}


@dataclass
class ComparisonResult:
    """The solver, other models and classical baselines judged the same way (``compare/``).

    Attributes:
        title: the table's heading.
        description: what was compared on what, how errors are defined, the hardware.
        rows: one row per method (and set); the keys are the table's columns.
        legend: column -> its meaning, units and which way is better.
        statistics: ``statistics.nc`` (errors per step or sample, spectra, ...).
        artifacts: figures and other files (ParaView meshes, ...).
        datasets: further netCDF files by file name.
        verdict: sentences a user needs to read (e.g. a baseline orders of magnitude better).
        facts: extra JSON written with the rows into ``table.json``.
    """

    title: str
    description: str
    rows: list[dict]
    legend: dict[str, str]
    statistics: xr.Dataset
    artifacts: list[Artifact] = field(default_factory=list)
    datasets: dict[str, xr.Dataset] = field(default_factory=dict)
    verdict: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def header(self) -> str:
        """Heading, description and legend (markdown) above the table."""
        legend = "".join(f"* `{k}`: {v}\n" for k, v in self.legend.items() if self.rows and k in self.rows[0])
        return f"# {self.title}\n\n{self.description}\n\n{legend}\n"

    def footer(self) -> str:
        """The verdict (markdown) below the table."""
        return "".join(f"\n**{v}**\n" for v in self.verdict)

    def markdown(self) -> str:
        return self.header() + markdown_table(self.rows) + self.footer()


@dataclass
class Comparison:
    """A written comparison: the result, its folder and files."""

    result: ComparisonResult
    out_dir: Path
    files: list[Path]

    @property
    def rows(self) -> list[dict]:
        return self.result.rows

    def table(self) -> str:
        return self.result.markdown()


@dataclass
class EvaluationContext:
    """What an evaluation works with: the case, the trained solver, the device, the run (where
    results are written and logged) and the case's data (read or generated on first use).

    `from_run` builds one from a run directory; tests and Python users may build one directly.
    """

    resolved: Any  # ResolvedCase
    solver: Any    # Solver
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    run: RunDir | None = None

    @classmethod
    def from_run(cls, run: RunDir, device: torch.device | str = "cpu") -> EvaluationContext:
        return cls(run.load_case(), run.load_solver(device), torch.device(device), run)

    @property
    def problem(self):
        return self.resolved.problem

    @property
    def hardware(self) -> str:
        return describe(self.device)

    @cached_property
    def loaded(self):
        """The case's data (generated or read once), with its path."""
        return load_or_generate(self.resolved)

    @property
    def data(self) -> xr.Dataset:
        return self.loaded.dataset


class Evaluation:
    """Rollout and comparison of one (solver kind, problem task) pair; see the module docstring.

    Class attributes:
        kind, task: the pair this evaluation is registered for.
        headline: metric name -> label, the figures a summary shows for this pair (in order).
        takes_models: `compare` accepts other runs' models (``--model``).
    """

    kind: ClassVar[str]
    task: ClassVar[str]
    headline: ClassVar[dict[str, str]] = {}
    takes_models: ClassVar[bool] = False
    _registry: ClassVar[dict[tuple[str, str], type[Evaluation]]] = {}

    def __init_subclass__(cls, *, kind: str | None = None, task: str | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        if kind is not None and task is not None:
            if (kind, task) in Evaluation._registry:
                raise TypeError(f"an evaluation for ({kind}, {task}) is registered twice")
            cls.kind, cls.task = kind, task
            Evaluation._registry[(kind, task)] = cls

    def __init__(self, context: EvaluationContext):
        self.context = context
        self.resolved = context.resolved
        self.problem = context.problem
        self.solver = context.solver

    @classmethod
    def registered(cls) -> dict[tuple[str, str], type[Evaluation]]:
        import pdesolve.engines.evaluations  # noqa: F401  (imports every evaluation module)

        return dict(Evaluation._registry)

    @classmethod
    def lookup(cls, kind: str, task: str) -> type[Evaluation]:
        """The evaluation of ``kind`` solvers on ``task`` problems; a `UserError` when none exists."""
        registry = cls.registered()
        if (kind, task) not in registry:
            known = ", ".join(f"{k} on {t}" for k, t in sorted(registry))
            raise UserError(f"no evaluation for {kind} backends on {task} problems (available: {known})")
        return registry[(kind, task)]

    # ------------------------------------------------------------------------ interface
    def rollout(self, test: xr.Dataset, steps: int | None) -> RolloutResult:
        """The solver's prediction for the test split (at most ``steps`` steps where it steps)."""
        raise UserError(f"no rollout for {self.kind} backends on {self.task} problems")

    def compare(self, baselines: list[str], models: Sequence) -> ComparisonResult:
        """The solver, ``models`` (other runs' solvers) and the named classical ``baselines``."""
        raise UserError(f"compare does not handle {self.kind} backends on {self.task} problems")

    def max_steps(self, test: xr.Dataset) -> int | None:
        """The most steps a rollout of ``test`` can be asked for (the frames with a reference);
        ``None``: this evaluation does not step, or caps the steps itself."""
        return None

    def summary_rows(self, metrics: dict[str, Any]) -> list[tuple[str, Any]]:
        """``(label, value)`` of the headline metrics present in ``metrics``, in headline order."""
        return [(label, metrics[key]) for key, label in self.headline.items() if key in metrics]


def evaluation_for(context: EvaluationContext) -> Evaluation:
    """The registered evaluation of the context's solver on its problem."""
    return Evaluation.lookup(context.solver.kind, context.problem.task)(context)


# ------------------------------------------------------------------------------ writing
def check_rollout_destination(context: EvaluationContext, path: str | Path | None = None) -> Path:
    """Raise a `UserError` now, before any work, unless `write_rollout` can write ``path`` (default:
    the run's ``rollout.nc``), the run's figures and its log; returns the target."""
    run = context.run
    check_folder_destination(run.path, source=str(run.path))
    if path is not None:
        return check_file_destination(path, source="--out")
    return check_file_destination(run.rollout_file, source=str(run.path))


def check_comparison_destination(context: EvaluationContext, out: str | Path | None = None) -> Path:
    """Raise a `UserError` now unless `write_comparison` can write into ``out`` (default
    ``RUN/compare``) and the run's log; returns the folder."""
    run = context.run
    check_folder_destination(run.path, source=str(run.path))
    if out is not None:
        return check_folder_destination(out, source="--out")
    return check_folder_destination(run.path / "compare", source=str(run.path))


def _attrs(context: EvaluationContext, title: str) -> dict[str, Any]:
    return {"Conventions": "CF-1.10", "title": title, "source": f"pdesolve {__version__}, backend "
            f"{context.solver.name}", "hardware": context.hardware}


def write_rollout(result: RolloutResult, context: EvaluationContext, path: str | Path | None = None, *,
                  reference_data: str | Path | None = None) -> RolloutResult:
    """Write ``rollout.nc`` (or ``path``) with provenance and the metrics as global attributes, and
    the figures into the run's ``figures/``; log the metrics. ``reference_data``: the file the test
    samples came from (default: the case's data)."""
    run, resolved, solver = context.run, context.resolved, context.solver
    ds = result.dataset
    ds.attrs.update({
        **_attrs(context, f"{resolved.name}: {solver.name} rollout on the test set"),
        "Conventions": "CF-1.10 UGRID-1.0" if "mesh" in ds.variables else "CF-1.10",
        "run": str(run.path),
        "reference_data": str(reference_data or context.loaded.path),
        "problem": resolved.problem.name,
        "backend": solver.name,
        **{k: v for k, v in result.metrics.items() if v is not None},
    })
    result.path = write_netcdf(ds, path or run.rollout_file)
    result.files = [a.write(run.figures_dir / a.name) for a in result.artifacts
                    if resolved.case.output.figures or not a.figure]
    run.log(f"rollout: {json.dumps(result.metrics, default=str)}")
    return result


def write_comparison(result: ComparisonResult, context: EvaluationContext, out: str | Path | None = None
                     ) -> Comparison:
    """Write ``table.md``, ``table.json``, ``statistics.nc``, the further datasets and the artifacts
    into ``out`` (default ``RUN/compare``); log the rows."""
    out_dir = Path(out) if out else context.run.path / "compare"
    out_dir.mkdir(parents=True, exist_ok=True)
    files = write_tables(out_dir, result.header(), result.rows, result.footer(), hardware=context.hardware,
                         **result.facts, legend=result.legend, verdict=result.verdict)
    stats = result.statistics
    stats.attrs = {**_attrs(context, f"{context.resolved.name} comparison statistics"), **stats.attrs}
    files.append(write_netcdf(stats, out_dir / "statistics.nc"))
    for name, ds in result.datasets.items():
        files.append(write_netcdf(ds, out_dir / name))
    files += [a.write(out_dir / a.name) for a in result.artifacts
              if context.resolved.case.output.figures or not a.figure]
    context.run.log(f"compare: {json.dumps(result.rows, default=str)}")
    return Comparison(result, out_dir, files)
