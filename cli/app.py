"""``pdesolve``: thin typer commands over the engines.

Each command parses its arguments, calls one engine function and prints a one-screen summary.
Exit codes: 0 success; 2 bad input (one line naming the file, the field and what was expected),
usage errors of the command line included; 1 a failure while running (one line); 130
interrupted. ``PDESOLVE_DEBUG=1`` shows tracebacks. The same holds for the console script,
``python -m pdesolve`` and `typer.testing.CliRunner`: all run the group's `OneLineErrors.main`.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from pdesolve.errors import RunFailure, UserError

try:  # typer >= 0.20 vendors click
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover - older typer on click
    from click.exceptions import NoArgsIsHelpError, UsageError

out = Console(width=None if sys.stdout.isatty() else 160)  # files and pipes: no 80-column squeeze
err = Console(stderr=True, width=None if sys.stderr.isatty() else 1000)


def _error_line(message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


class OneLineErrors(TyperGroup):
    """The command group: usage errors (missing arguments, unknown options or commands, values out
    of range) become one line in the format of every other error and exit code 2; ``--help`` is
    typer's."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except NoArgsIsHelpError as e:
            out.print(e.ctx.get_help(), highlight=False)
            code = 0
        except UsageError as e:
            where = e.ctx.command_path if e.ctx is not None else "pdesolve"
            _error_line(f"{where}: {e.format_message().rstrip('.')} (see `{where} --help`)")
            code = 2
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(
    cls=OneLineErrors,
    name="pdesolve",
    help="Neural PDE solvers: generate reference data, train, roll out, compare against classical "
         "baselines, export netCDF. Start with `pdesolve train` (runs the quickstart case).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)

SetOption = Annotated[list[str] | None, typer.Option(
    "--set", metavar="PATH=VALUE", help="Override a case field by its dotted path, e.g. train.epochs=2 (repeatable).")]
DeviceOption = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
NprocOption = Annotated[int, typer.Option(
    "--nproc", min=1, help="Processes on this machine (data parallel, through torchrun's entry point; "
                           "see docs/distributed.md).")]


def _launch(nproc: int, args: list[str]) -> None:
    """Run this command in ``nproc`` torchrun processes; their exit code is this one's."""
    from pdesolve.engines.distributed import launch, launched

    if launched():
        raise UserError("--nproc inside a torchrun launch: give the processes to torchrun only", source="--nproc")
    code = launch(nproc, args)
    if code:
        raise typer.Exit(code)


def _device(name: str):
    """``--device`` as a torch device (a bad name is a `UserError` on ``--device``)."""
    from pdesolve.engines.device import resolve_device

    try:
        return resolve_device(name)
    except UserError as e:
        raise e.located("--device") from None


def _rank() -> str:
    """``rank R: `` in a process of a torchrun launch (its failures say which process failed)."""
    rank = os.environ.get("RANK") if int(os.environ.get("WORLD_SIZE", "1")) > 1 else None
    return f"rank {rank}: " if rank is not None else ""


def _fail(kind: str, text: str) -> None:
    """Print ``kind: text`` (``error`` or ``failed``) -- or, in a process of ``--nproc``, leave it to
    the launcher, which prints the first failure's line only (`pdesolve.engines.distributed.launch`)."""
    from pdesolve.engines.distributed import record_failure

    if not record_failure(f"{kind}: {text}"):
        err.print(f"[bold red]{kind}:[/] {escape(text)}", highlight=False, soft_wrap=True)


def command(fn):
    """Register ``fn`` as a command whose errors become one line and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except UserError as e:
            _fail("error", e.line())
            raise typer.Exit(2) from None
        except RunFailure as e:
            _fail("failed", f"{_rank()}{e}")
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print("interrupted; the last checkpoint is kept (resume with `pdesolve train --resume RUN`)")
            raise typer.Exit(130) from None
        except Exception as e:  # a failure while running: one line unless debugging
            if os.environ.get("PDESOLVE_DEBUG"):
                raise
            text = " ".join(str(e).split())
            _fail("failed", f"{_rank()}{type(e).__name__}: {text} (PDESOLVE_DEBUG=1 shows the traceback)")
            raise typer.Exit(1) from None

    return app.command()(wrapper)


def _listing(title: str, columns: list[str], rows: list[list[str]], keys: int = 1) -> None:
    """A table whose first ``keys`` columns (names) are never cut: as wide as their longest entry;
    the other columns wrap."""
    table = Table(title=title, title_justify="left")
    for i, col in enumerate(columns):
        if i < keys:
            width = max([len(col), *(len(r[i]) for r in rows)])
            table.add_column(col, no_wrap=True, min_width=width)
        else:
            table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*(escape(str(c)) for c in row))
    out.print(table)


def _summary(title: str, rows: list[tuple[str, object]]) -> None:
    table = Table(title=title, show_header=False, title_justify="left", title_style="bold")
    table.add_column(style="cyan")
    table.add_column()
    for key, value in rows:
        table.add_row(escape(key), escape(f"{value:.4g}" if isinstance(value, float) else str(value)))
    out.print(table)


@command
def generate(
    case: Annotated[str, typer.Argument(help="Case file, or the name of a shipped case.")] = "quickstart",
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the data here instead of the cache.")] = None,
    set_: SetOption = None,
    force: Annotated[bool, typer.Option(help="Regenerate even if a cached file matches.")] = False,
    nproc: NprocOption = 1,
):
    """Generate the reference data of a case (cached by content hash) and print its path."""
    from pdesolve.config import load_case
    from pdesolve.engines import distributed
    from pdesolve.engines.data import load_or_generate

    if nproc > 1:
        return _launch(nproc, ["generate", case, *(["--out", str(out_file)] if out_file else []),
                               *[a for s in set_ or [] for a in ("--set", s)], *(["--force"] if force else [])])
    resolved = load_case(case, set_)
    world = distributed.init(_device(resolved.case.data.device))
    data = load_or_generate(resolved, out=out_file, force=force)
    if not world.main:
        return
    ds, path = data.dataset, data.path
    _summary(f"data for {resolved.name}", [
        ("file", path), ("status", data.status),
        ("samples", ds.sizes["sample"]), ("variables", ", ".join(ds.data_vars)),
        ("grid", " x ".join(str(ds.sizes[d]) for d in ("x", "y", "z") if d in ds.sizes)),
    ])
    print(path)


@command
def train(
    case: Annotated[str | None, typer.Argument(help="Case file or shipped case name (default: quickstart).")] = None,
    run_dir: Annotated[Path | None, typer.Option(
        help="Run directory to create (default: runs/<case>-<backend>-<time>).")] = None,
    device: DeviceOption = "auto",
    resume: Annotated[Path | None, typer.Option(help="Continue this run from its last checkpoint.")] = None,
    set_: SetOption = None,
    rollout: Annotated[bool, typer.Option(help="Roll out on the test set after training.")] = True,
    nproc: NprocOption = 1,
):
    """Train a backend on a case: generate data, fit, test, roll out, summarise."""
    from pdesolve.config import load_case
    from pdesolve.engines.train import train_case

    if resume is not None and case is not None:
        raise UserError("give either a case or --resume RUN, not both", source="--resume")
    resolved = None if resume is not None else load_case(case or "quickstart", set_)
    if nproc > 1:
        return _launch(nproc, ["train", *([case] if case else []), *(["--run-dir", str(run_dir)] if run_dir else []),
                               "--device", device, *(["--resume", str(resume)] if resume else []),
                               *[a for s in set_ or [] for a in ("--set", s)],
                               "--rollout" if rollout else "--no-rollout"])
    s = train_case(resolved, run_dir=run_dir, device=None if device == "auto" else device,
                   resume=resume, overrides=set_ if resume is not None else None, rollout=rollout)
    if s is None:  # a rank other than 0 of a torchrun launch: rank 0 reports
        return
    rows = [("run directory", s.run_dir), ("data", s.data_path), ("data status", s.data_status),
            ("epochs", s.fit.epochs), ("train time [s]", s.fit.seconds),
            *[(k.replace("rel_l2", "rel. L2").replace("_", " "), v) for k, v in s.test.items()]]
    if s.fit.stopped:
        rows.append(("stopped", s.fit.stopped))
    rows += [("note", note) for note in s.fit.notes]
    if s.rollout:
        rows += [*[(label, value) for label, value in s.rollout["headline"] if value is not None],
                 ("rollout file", s.rollout["path"])]
    if s.figure:
        rows.append(("figure", s.figure))
    _summary("pdesolve train", rows)


@command
def rollout(
    run: Annotated[Path, typer.Argument(help="A run directory made by `pdesolve train`.")],
    steps: Annotated[int | None, typer.Option(
        min=1, help="Steps to predict (default: to the end of the test data).")] = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="Output file (default: RUN/rollout.nc).")] = None,
    device: DeviceOption = "auto",
    resolution: Annotated[int | None, typer.Option(
        min=3, help="Field backends: sample the solution on a grid of this many points per axis "
                    "(default: the data grid).")] = None,
    data: Annotated[Path | None, typer.Option(
        help="Operator backends: predict on this file's test samples (its test split, else all of it), "
             "e.g. a finer grid; written to RUN/rollout_<file>.nc.")] = None,
):
    """Autoregressive prediction from the test initial conditions: prediction, reference, error per step."""
    from pdesolve.engines.rollout import rollout_run

    r = rollout_run(run, steps=steps, out=out_file, device=_device(device), resolution=resolution,
                    data_file=data)
    rows = [("file", r.path), *[(label, value) for label, value in r.headline if value is not None]]
    if r.figure:
        rows.append(("figure", r.figure))
    _summary("pdesolve rollout", rows)


@command
def compare(
    run: Annotated[Path, typer.Argument(help="A run directory made by `pdesolve train`.")],
    baseline: Annotated[list[str] | None, typer.Option(
        help="Classical baseline to run (repeatable; default: the case's compare.baselines).")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Output folder (default: RUN/compare).")] = None,
    device: DeviceOption = "auto",
    model: Annotated[list[Path] | None, typer.Option(
        help="Another run trained on the same data (e.g. an FNO), compared from the same inputs "
             "(repeatable).")
    ] = None,
):
    """Compare the model against classical baselines: table, figures and statistics."""
    from pdesolve.engines.compare import compare_run

    c = compare_run(run, baselines=baseline, out=out_dir, device=_device(device), models=model)
    out.print(c.table(), soft_wrap=True)
    _summary("pdesolve compare", [("folder", c.out_dir), *[("file", f.name) for f in c.files]])


@command
def solve(
    run: Annotated[Path, typer.Argument(help="A run directory of a linear backend (dcdm).")],
    system: Annotated[Path, typer.Option(help="A .npz system: scipy.sparse.save_npz arrays plus 'b' and "
                                               "'grid_shape' (see docs/backends/dcdm.md).")],
    rtol: Annotated[float | None, typer.Option(help="Relative residual to stop at (default: the run's).")
                    ] = None,
    max_iter: Annotated[int | None, typer.Option(min=1, help="Iteration cap (default: the run's).")] = None,
    out_file: Annotated[Path | None, typer.Option(
        "--out", help="Output netCDF (default: SYSTEM.solution.nc).")] = None,
    device: DeviceOption = "auto",
):
    """Solve your own sparse system A x = b with a trained linear solver: x and the residual history."""
    from pdesolve.engines.linear import solve_file

    s = solve_file(run, system, rtol=rtol, max_iter=max_iter, out=out_file, device=_device(device))
    r = s.report.result
    _summary("pdesolve solve", [
        ("unknowns", s.system.size), ("grid", " x ".join(map(str, s.system.shape))),
        ("stopped", r.stopped), ("iterations", r.iterations), ("relative residual", r.true_residual),
        ("matvecs", r.matvecs), ("network calls", r.direction_calls),
        ("setup [s]", s.report.setup_seconds), ("solve [s]", float(r.seconds[-1])), ("file", s.path)])


FormatOption = Annotated[str, typer.Option(
    "--format", help="auto, netcdf, zarr, the_well, pdebench, npz or pt.")]
LayoutOption = Annotated[str | None, typer.Option(
    help="npz/pt: the axis order of every array, e.g. sample,time,x,y.")]
PeriodicOption = Annotated[str | None, typer.Option(help="Periodic axes, e.g. x,y (default: as the file says).")]
DimOption = Annotated[list[str] | None, typer.Option(
    "--dim", metavar="ROLE=NAME", help="The file's dim for a role (sample, time, x, y, z), e.g. sample=member.")]


@command
def inspect(
    path: Annotated[Path, typer.Argument(help="A data file or folder (netCDF, zarr, The Well, PDEBench, npz, pt).")],
    format_: FormatOption = "auto",
    layout: LayoutOption = None,
    periodic: PeriodicOption = None,
    dim: DimOption = None,
    case_out: Annotated[Path | None, typer.Option(help="Write the suggested case here instead of printing it.")
                        ] = None,
):
    """What is in a data file -- variables, dims, grid, time, units, splits -- and a case that trains on it."""
    from pdesolve.engines.own_data import inspect_file, layout_options, write_case

    found = inspect_file(path, format_, layout_options(layout, periodic, dim))
    info = found.opened.info
    grid = info.grid
    samples = f"{info.n_samples} (file dim: {info.dims['sample']})" if "sample" in info.dims else info.n_samples
    rows = [("file", info.path), ("format", info.format), ("files", info.files), ("samples", samples)]
    if info.splits:
        rows.append(("splits", ", ".join(f"{k} {v}" for k, v in info.splits.items())))
    if grid is not None:
        rows.append(("grid", " x ".join(map(str, grid.shape))))
        for a in grid.axes:
            spacing = "uniform" if a.equally_spaced else "non-uniform"
            rows.append((f"  {a.name} (file: {info.dims.get(a.name, a.name)})",
                         f"{a.layout}, {spacing}, [{a.origin:.4g}, {a.origin + a.length:.4g}] {a.units}"))
    if info.times is not None:
        t = info.times
        dt = f", dt {float(t[1] - t[0]):.4g}" if len(t) > 1 else ""
        rows.append((f"time (file: {info.dims.get('time', 'time')})",
                     f"{len(t)} steps from {float(t[0]):.4g}{dt} {info.time_units}"))
    _summary(f"pdesolve inspect: {path.name}", rows)
    table = Table(title="variables", title_justify="left")
    for col in ("name", "dims", "shape", "dtype", "units", "long name", "note"):
        table.add_column(col)
    for name, var in sorted(info.variables.items(), key=lambda item: not item[1].on_grid):
        table.add_row(escape(name), escape(", ".join(var.dims)), " x ".join(map(str, var.shape)), var.dtype,
                      escape(var.units), escape(var.long_name), escape(var.note or ("" if var.on_grid else "not used")))
    out.print(table)
    for note in info.notes:
        out.print(f"note: {escape(note)}", highlight=False)
    if case_out is not None:
        _summary("case", [("written to", write_case(found, case_out))])
    else:
        print(found.case_yaml(), end="")


@command
def convert(
    path: Annotated[Path, typer.Argument(help="A data file or folder to convert.")],
    out_file: Annotated[Path, typer.Option("--out", help="The netCDF file to write (pdesolve's CF layout).")],
    format_: FormatOption = "auto",
    layout: LayoutOption = None,
    periodic: PeriodicOption = None,
    dim: DimOption = None,
):
    """Write a data file in pdesolve's own CF netCDF layout (docs/data-format.md), a sample at a time."""
    from pdesolve.engines.own_data import convert_file, layout_options

    written, opened = convert_file(path, out_file, format_, layout_options(layout, periodic, dim))
    info = opened.info
    _summary("pdesolve convert", [("file", written), ("from", f"{info.format}: {info.path}"),
                                  ("samples", info.n_samples), ("variables", ", ".join(opened.dataset.data_vars))])


@command
def export(
    run: Annotated[Path, typer.Argument(help="A run directory made by `pdesolve train`.")],
    out_file: Annotated[Path, typer.Option("--out", help="The netCDF file to write.")],
):
    """Export the run's rollout as a CF netCDF file with the case and environment attached."""
    from pdesolve.engines.export import export_run

    path = export_run(run, out_file)
    _summary("pdesolve export", [("file", path)])


@command
def backends(
    presets: Annotated[bool, typer.Option(
        "--presets", help="List the named model sizes instead (set one with backend.preset: NAME in a case; "
                          "fields the case sets itself win).")] = False,
):
    """List the registered backends with their kind and the problem tasks they accept."""
    from pdesolve.backends import PresetOptions, list_backends

    if presets:
        rows = [[name, preset.name, ", ".join(f"{k} {v}" for k, v in preset.sizes().items()), preset.source]
                for name, cls in list_backends().items() if issubclass(cls.Options, PresetOptions)
                for preset in cls.Options.presets]
        _listing("model size presets (backend.preset)", ["backend", "preset", "sizes", "from"], rows, keys=2)
        return
    rows = [[name, cls.kind, ", ".join(cls.tasks), cls.description] for name, cls in list_backends().items()]
    _listing("backends", ["name", "kind", "tasks", "description"], rows)


@command
def cases():
    """List the shipped case files."""
    from pdesolve.config import read_yaml, shipped_cases

    rows = []
    for name, path in sorted(shipped_cases().items()):
        raw = read_yaml(path)
        rows.append([name, str(raw.get("problem", {}).get("name", "")), str(raw.get("backend", {}).get("name", "")),
                     str(raw.get("description", ""))])
    _listing("shipped cases (pdesolve train NAME)", ["name", "problem", "backend", "description"], rows, keys=3)


@command
def problems():
    """List the registered problems with their task."""
    from pdesolve.problems import list_problems

    rows = [[name, cls.task, cls.description] for name, cls in list_problems().items()]
    _listing("problems", ["name", "task", "description"], rows, keys=2)


@command
def runs(
    folder: Annotated[Path, typer.Argument(help="A folder of run directories (or one run).")] = Path("runs"),
):
    """List the runs in a folder, newest first: case, backend, status, epochs, best validation, test metric."""
    from pdesolve.engines.runs import list_runs

    fmt = lambda v: "" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))  # noqa: E731
    rows = [[i.path.name, i.case, i.backend, i.status, fmt(i.epochs), fmt(i.best_val),
             f"{i.headline[0]} {i.headline[1]:.4g}" if i.headline else "", i.created.replace("T", " ")[:16]]
            for i in list_runs(folder)]
    if not rows:
        raise UserError("no run directories here", source=str(folder))
    _listing(f"runs in {folder}", ["run", "case", "backend", "status", "epochs", "best val", "test", "created"], rows,
             keys=4)


@command
def show(run: Annotated[Path, typer.Argument(help="A run directory made by `pdesolve train`.")]):
    """One run: status, the resolved case against the shipped case of its name, metrics, files."""
    from pdesolve.engines.runs import RunDir, case_differences, run_info

    r = RunDir.open(run)
    info = run_info(r)
    rows = [("run", r.path), ("case", info.case), ("backend", info.backend), ("status", info.status),
            ("epochs", info.epochs), ("best validation", info.best_val), ("created", info.created)]
    if info.headline:
        rows.append((info.headline[0], info.headline[1]))
    _summary("pdesolve show", [(k, v) for k, v in rows if v is not None])
    diff = case_differences(r)
    if diff:
        _listing(f"case fields that differ from the shipped '{info.case}'", ["field", "shipped", "this run"],
                 [[k, str(a), str(b)] for k, a, b in diff])
    metrics = r.metrics()
    if metrics:
        last = metrics[-1]
        _summary("last metrics record", [(k, v) for k, v in last.items()])
    files = sorted(p for p in r.path.rglob("*") if p.is_file())
    _listing("files", ["file", "bytes"], [[str(p.relative_to(r.path)), str(p.stat().st_size)] for p in files])


def main() -> None:
    """Console-script entry point (also ``python -m pdesolve``)."""
    app(prog_name="pdesolve")


if __name__ == "__main__":
    sys.exit(main())
