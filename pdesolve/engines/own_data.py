"""A user's data file: what is in it (``pdesolve inspect``), a case that trains on it, and the file
in pdesolve's own CF layout (``pdesolve convert``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import xarray as xr
import yaml

from pdesolve.data.netcdf import write_netcdf
from pdesolve.data.sources import LayoutOptions, OpenedData, open_source
from pdesolve.data.sources.arrays import ARRAY_FORMATS
from pdesolve.errors import UserError
from pdesolve.version import __version__


@dataclass
class Inspection:
    """What ``pdesolve inspect`` found: the opened source, a case that uses it, and what was guessed."""

    opened: OpenedData
    case: dict
    guesses: list[str]

    def case_yaml(self) -> str:
        """The case as YAML, headed by comments on what to check."""
        head = ["# a case made by `pdesolve inspect` -- check the task, inputs and outputs", *
                (f"# guessed: {g}" for g in self.guesses)]
        return "\n".join(head) + "\n" + yaml.safe_dump(self.case, sort_keys=False, default_flow_style=None)


def _guess_layouts(opened: OpenedData) -> dict[str, list[str]]:
    """Axis orders for plain arrays from their shapes: ``[sample, x, ...]``; an array with one axis
    more than the others, or a lone array of three axes or more, has a time axis second."""
    shapes = {n: v.shape for n, v in opened.info.variables.items() if not v.on_grid and len(v.shape) >= 2}
    if not shapes:
        return {}
    low = min(len(s) for s in shapes.values())
    out = {}
    for name, shape in shapes.items():
        timed = (len(shape) == low + 1 and low >= 2) or (len(shapes) == 1 and len(shape) >= 3)
        out[name] = ["sample", "time", *"xyz"[:len(shape) - 2]] if timed else ["sample", *"xyz"[:len(shape) - 1]]
    return {n: v for n, v in out.items() if len(v) == len(shapes[n])}


def inspect_file(path: str | Path, format: str = "auto", options: LayoutOptions | None = None) -> Inspection:
    """Open ``path`` lazily and suggest a case; plain arrays without a ``layout`` get one guessed
    from their shapes (reported in `Inspection.guesses`)."""
    options = options or LayoutOptions()
    opened = open_source(path, format, options)
    guesses: list[str] = []
    if opened.info.format in ARRAY_FORMATS and options.layout is None:
        layouts = _guess_layouts(opened)
        if layouts:
            guesses.append("the axis order of the arrays (problem.layout) from their shapes")
            opened = open_source(path, format, replace(options, layout={k: tuple(v) for k, v in layouts.items()}))
    return Inspection(opened, suggest_case(opened, path, guesses, options), guesses)


def suggest_case(opened: OpenedData, path, guesses: list[str], options: LayoutOptions) -> dict:
    """A case training an FNO on the source: a trajectory of its time-varying fields, else a map
    from its first field to the others; the file's splits or an 80/10/10 split."""
    info = opened.info
    timed = [n for n in info.time_varying if info.variables[n].shape[1] >= 3]
    static = [n for n in info.on_grid if n not in info.time_varying]
    if not info.on_grid:
        raise UserError("no variable is a field on a grid: " + "; ".join(
            f"{n}: {v.note}" for n, v in info.variables.items()), source=info.path)
    problem: dict = {"name": "dataset", "path": str(path) if not isinstance(path, dict) else dict(path),
                     "format": info.format}
    if timed:
        problem.update({"task": "trajectory", "inputs": timed})
        guesses.append(f"a trajectory of {', '.join(timed)}")
    else:
        fields = static or info.on_grid
        if len(fields) < 2:
            raise UserError(f"one field ({fields[0]}) and no time axis: nothing to map from or step",
                            source=info.path)
        problem.update({"task": "map", "inputs": fields[:1], "outputs": fields[1:]})
        guesses.append(f"a map from {fields[0]} to {', '.join(fields[1:])}")
    if info.periodic:
        problem["periodic"] = list(info.periodic)
    if info.format in ARRAY_FORMATS:
        layout = opened.dataset
        problem["layout"] = {n: list(layout[n].dims) for n in info.on_grid}
    if options.dims:
        problem["dims"] = dict(options.dims)
    if info.splits:
        n_train, n_val, n_test = (info.splits.get(s, 0) for s in ("train", "validation", "test"))
    else:
        n = info.n_samples
        n_test = max(1, n // 10)
        n_val = n // 10 if n >= 10 else 0
        n_train = n - n_val - n_test
        guesses.append(f"a split of the {n} samples into {n_train} / {n_val} / {n_test}")
    if n_train < 1 or n_test < 1:
        raise UserError(f"{info.n_samples} samples are too few to train and test on", source=info.path)
    grid = info.grid
    window = 1 if problem["task"] == "map" else max(1, min(4, info.variables[problem["inputs"][0]].shape[1] - 2))
    case = {
        "name": Path(str(info.path)).stem.replace(" ", "_") or "my_data",
        "description": f"{info.format} data from {info.path}",
        "problem": problem,
        "data": {"n_train": n_train, "n_val": n_val, "n_test": n_test, "seed": 0},
        "backend": {"name": "fno", "window": window, "modes": [max(1, min(12, s // 2)) for s in grid.shape],
                    "width": 32, "layers": 4},
        "train": {"epochs": 20, "batch_size": 16, "lr": 1.0e-3},
        "compare": {"baselines": ["persistence", "train_mean"] if len(problem["inputs"]) == len(
            problem.get("outputs", problem["inputs"])) else ["train_mean"]},
    }
    return case


def write_case(inspection: Inspection, out: str | Path) -> Path:
    """The suggested case written atomically to ``out``."""
    from pdesolve.data.netcdf import atomic_replace

    return atomic_replace(Path(out), lambda tmp: tmp.write_text(inspection.case_yaml()))


def _netcdf_attr(value):
    """A value netCDF can store as an attribute (JSON text for what it cannot)."""
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, str | int | float | np.number):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in "iuf" and value.ndim <= 1:
        return value
    if isinstance(value, list | tuple) and value and all(isinstance(v, int | float) and not isinstance(v, bool)
                                                         for v in value):
        return list(value)
    try:
        return json.dumps(value.tolist() if isinstance(value, np.ndarray) else value, default=str)
    except TypeError:
        return str(value)


def convert_file(path: str | Path, out: str | Path, format: str = "auto", options: LayoutOptions | None = None
                 ) -> tuple[Path, OpenedData]:
    """Write the source's fields in pdesolve's CF layout (docs/data-format.md) to ``out``, atomically,
    a sample at a time (dask chunks), so files larger than memory convert too."""
    opened = open_source(path, format, options)
    info = opened.info
    ds = opened.dataset
    if not ds.data_vars:
        raise UserError("no variable is a field on a grid; nothing to convert", source=info.path)
    attrs = {f"source_{k}" if k in ("title", "source", "history", "Conventions") else k: _netcdf_attr(v)
             for k, v in info.attrs.items()}
    attrs.update({
        "Conventions": "CF-1.10",
        "title": f"{Path(str(info.path)).name} in pdesolve's layout",
        "source": f"{info.format} file {info.path}",
        "history": f"converted by pdesolve {__version__} (pdesolve convert)",
        "pdesolve_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source_format": info.format,
        "source_file": str(info.path),
    })
    if info.notes:
        attrs["conversion_notes"] = "; ".join(info.notes)
    data_vars = {}
    for name, da in ds.data_vars.items():
        data_vars[name] = xr.Variable(da.dims, da.variable.chunk({"sample": 1}).data,
                                      {k: _netcdf_attr(v) for k, v in da.attrs.items()})
    converted = xr.Dataset(data_vars, coords=ds.coords, attrs=attrs)
    return write_netcdf(converted, out), opened


def layout_options(layout: str | None = None, periodic: str | None = None, dims: list[str] | None = None
                   ) -> LayoutOptions:
    """Layout options from command-line text: ``--layout sample,time,x`` (one order for every
    array), ``--periodic x,y``, ``--dim sample=member`` (repeatable)."""
    mapping = {}
    for item in dims or []:
        if "=" not in item:
            raise UserError(f"expected ROLE=NAME, got '{item}'", source="--dim")
        role, name = item.split("=", 1)
        mapping[role.strip()] = name.strip()
    return LayoutOptions(
        dims=mapping,
        periodic=tuple(a.strip() for a in periodic.split(",") if a.strip()) if periodic is not None else None,
        layout=tuple(a.strip() for a in layout.split(",")) if layout else None)

