"""Readers of users' data files, and `open_source`: a file, a folder or a ``{train, val, test}``
mapping opened lazily in pdesolve's layout.

A reader is registered by subclassing `Reader` with ``name=`` (its ``format``); ``format: auto``
asks each reader, in ``priority`` order, whether it recognises the path (`Reader.detect`, which
looks at suffixes and headers, never at the data). Every reader returns one `OpenedData`:

* ``dataset`` -- an `xarray.Dataset` with dims ``(sample, [time], x, [y, [z]])``, CF coordinates
  that rebuild the `Grid` (``layout``, ``domain_length``, ``domain_origin``), variables' ``units``
  and ``long_name``, and a ``split`` coordinate where the source has splits; its variables are
  backed by `pdesolve.data.sources.lazy` arrays, so nothing is read until a window is indexed;
* ``info`` -- a `SourceInfo`: what the source holds (The Well's metadata in spirit: fields, grid,
  time steps, splits, sizes, boundary conditions), for ``pdesolve inspect`` and error messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import xarray as xr

from pdesolve.data.grid import Grid
from pdesolve.data.samples import SPLITS, split_variable
from pdesolve.data.sources.lazy import ConcatArray, VariableArray, lazy_variable
from pdesolve.errors import UserError
from pdesolve.registry import Registered

SPLIT_NAMES = {"train": "train", "val": "validation", "valid": "validation", "validation": "validation",
               "test": "test"}


@dataclass(frozen=True)
class LayoutOptions:
    """What a case says about a file's layout when the file cannot say it itself.

    Attributes:
        dims: pdesolve dim (``sample``, ``time``, ``x``, ``y``, ``z``) -> the file's dim name.
        coords: axis (``x``, ``y``, ``z``, ``time``) -> the file's coordinate variable name.
        periodic: axes with periodic boundaries (``None``: as the file says, else none).
        domain: axis -> ``(lower, upper)`` extent when the file has no coordinates.
        dt: time step when the file has no time coordinate.
        units: variable or axis name -> CF units string (overrides the file's).
        layout: plain arrays (npz, pt): the axis order, one list for all arrays or one per array.
        grid_variables: variables whose grid is the dataset's grid (others on another grid are
            left out); empty: the grid most variables share.
    """

    dims: Mapping[str, str] = field(default_factory=dict)
    coords: Mapping[str, str] = field(default_factory=dict)
    periodic: tuple[str, ...] | None = None
    domain: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    dt: float | None = None
    units: Mapping[str, str] = field(default_factory=dict)
    layout: tuple[str, ...] | Mapping[str, tuple[str, ...]] | None = None
    grid_variables: tuple[str, ...] = ()


@dataclass(frozen=True)
class VariableInfo:
    """One variable of a source.

    Attributes:
        dims: its dims in pdesolve's layout (on the grid), else the file's own dims.
        shape: its shape in those dims.
        on_grid: whether it is in the dataset (dims ``(sample, [time], x, [y, [z]])`` on the grid).
        note: why it is not on the grid, or what it was made from (a vector component, ...).
    """

    name: str
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    dtype: str
    units: str = "1"
    long_name: str = ""
    on_grid: bool = True
    note: str = ""


@dataclass(frozen=True, eq=False)
class SourceInfo:
    """What a source holds (see module docstring).

    Attributes:
        path: the file, folder or mapping as given.
        format: the reader's format name.
        variables: every variable, on the grid or not.
        grid: the grid of the on-grid variables (``None`` when there are none).
        n_samples: samples (trajectories) over all files and splits.
        times: the time coordinate, ``None`` when no variable has a time axis.
        time_units: CF units of ``times``.
        splits: split name (``train``, ``validation``, ``test``) -> samples, empty without splits.
        dims: pdesolve dim -> the file's dim (or dataset) it came from.
        files: how many files were opened.
        attrs: the source's global attributes (simulation parameters, provenance).
        notes: what the reader assumed or derived (to be read by the user).
    """

    path: str
    format: str
    variables: dict[str, VariableInfo]
    grid: Grid | None
    n_samples: int
    times: np.ndarray | None = None
    time_units: str = "1"
    splits: dict[str, int] = field(default_factory=dict)
    dims: dict[str, str] = field(default_factory=dict)
    files: int = 1
    attrs: dict[str, object] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def on_grid(self) -> list[str]:
        return [n for n, v in self.variables.items() if v.on_grid]

    @property
    def periodic(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.grid.axes if a.periodic) if self.grid else ()

    @property
    def time_varying(self) -> list[str]:
        return [n for n, v in self.variables.items() if v.on_grid and "time" in v.dims]


@dataclass(frozen=True, eq=False)
class OpenedData:
    """A lazily opened source: the dataset in pdesolve's layout and what it holds."""

    dataset: xr.Dataset
    info: SourceInfo

    def require(self, names: Sequence[str], option: str) -> None:
        """Raise a `UserError` naming the file unless every variable in ``names`` is on the grid."""
        for name in names:
            var = self.info.variables.get(name)
            if var is None:
                raise UserError(f"no variable '{name}' (the file has: {', '.join(self.info.variables) or 'none'})",
                                source=self.info.path, field=option)
            if not var.on_grid:
                raise UserError(f"variable '{name}' is not a field on the grid: {var.note}",
                                source=self.info.path, field=option)


class Reader(Registered):
    """A file format. Subclasses set ``name=`` (the format), ``suffixes`` and ``priority`` (lower
    is asked first by ``format: auto``) and implement `detect` and `open`."""

    registry_label: ClassVar[str] = "format"
    suffixes: ClassVar[tuple[str, ...]] = ()
    priority: ClassVar[int] = 50
    description: ClassVar[str] = ""

    @classmethod
    def detect(cls, path: Path) -> bool:
        """Whether ``path`` (a file or folder) is in this format, from its suffix or header."""
        return path.suffix.lower() in cls.suffixes

    def open(self, path: Path, options: LayoutOptions) -> OpenedData:
        """Open one file (or one store) lazily."""
        raise NotImplementedError

    def files_in(self, folder: Path) -> list[Path]:
        """The files of a folder that hold this format's samples, sorted (concatenated along sample)."""
        return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and self.detect(p))


# ----------------------------------------------------------------------------- detection
def detect_format(path: Path) -> str:
    """The format of ``path`` (``format: auto``)."""
    from pdesolve.data.sources import readers

    path = Path(path)
    if not path.exists():
        raise UserError("no such file or folder", source=str(path))
    if path.is_dir():
        splits = split_folders(path)
        if splits:
            path = next(iter(splits.values()))
        for cls in readers():
            if cls.detect(path):
                return cls.name
        for child in sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")):
            for cls in readers():
                if cls.detect(child):
                    return cls.name
    else:
        for cls in readers():
            if cls.detect(path):
                return cls.name
    known = ", ".join(c.name for c in readers())
    raise UserError(f"cannot tell the format of this {'folder' if path.is_dir() else 'file'} "
                    f"(expected one of: {known}); set problem.format", source=str(path))


def split_folders(folder: Path) -> dict[str, Path]:
    """``train/ valid/ test/`` sub-folders of ``folder`` (or of ``folder/data``, The Well's layout),
    by split name; empty when there are none."""
    for base in (folder, folder / "data"):
        if not base.is_dir():
            continue
        found = {SPLIT_NAMES[p.name]: p for p in sorted(base.iterdir()) if p.is_dir() and p.name in SPLIT_NAMES}
        if "train" in found:
            return {s: found[s] for s in SPLITS if s in found}
    return {}


# ------------------------------------------------------------------------------ opening
def open_source(path: str | Path | Mapping[str, str | Path], format: str = "auto",
                options: LayoutOptions | None = None) -> OpenedData:
    """Open a file, a folder of files (joined along ``sample``; ``train/ valid/ test/`` sub-folders
    become splits) or a mapping ``{train: ..., val: ..., test: ...}`` lazily.

    Raises:
        UserError: naming the file, for a missing path, an unknown format, an empty file, parts that
            do not fit together.
    """
    options = options or LayoutOptions()
    if isinstance(path, Mapping):
        unknown = [k for k in path if k not in SPLIT_NAMES]
        if unknown or "train" not in path:
            raise UserError(f"expected a mapping with keys train, val, test (got {sorted(path)})",
                            field="problem.path")
        parts = {SPLIT_NAMES[k]: _open_one(Path(v).expanduser(), format, options) for k, v in path.items()}
        return join_splits(parts, label=str(dict(path)))
    path = Path(path).expanduser()
    if path.is_dir():
        splits = split_folders(path)
        if splits:
            return join_splits({s: _open_one(p, format, options) for s, p in splits.items()}, label=str(path))
    return _open_one(path, format, options)


def _open_one(path: Path, format: str, options: LayoutOptions) -> OpenedData:
    """One file, store, or folder of files of one format."""
    if not path.exists():
        raise UserError("no such file or folder", source=str(path))
    fmt = detect_format(path) if format == "auto" else format
    reader = Reader.lookup(fmt, source=str(path), field="problem.format")()
    if path.is_dir() and not reader.detect(path):
        files = reader.files_in(path)
        if not files:
            raise UserError(f"the folder holds no {fmt} files", source=str(path))
        return join_samples([_opened(reader, f, options) for f in files], label=str(path))
    return _opened(reader, path, options)


def _opened(reader: Reader, path: Path, options: LayoutOptions) -> OpenedData:
    opened = reader.open(path, options)
    if not opened.info.variables or (opened.info.on_grid and opened.info.n_samples == 0):
        raise UserError("the file is empty (no variables, or no samples)", source=str(path))
    return opened


def _same_layout(parts: Sequence[OpenedData], label: str) -> None:
    first = parts[0]
    for p in parts[1:]:
        if p.info.on_grid != first.info.on_grid:
            raise UserError(f"{p.info.path} has variables {p.info.on_grid}, {first.info.path} has "
                            f"{first.info.on_grid}", source=label)
        if p.info.grid != first.info.grid:
            shape = lambda o: list(o.info.grid.shape) if o.info.grid else None  # noqa: E731
            raise UserError(f"{p.info.path} is on grid {shape(p)}, {first.info.path} on {shape(first)} "
                            "(parts of one dataset must share the grid)", source=label)
        t0, t1 = first.info.times, p.info.times
        if (t0 is None) != (t1 is None) or (t0 is not None and (len(t0) != len(t1))):
            raise UserError(f"{p.info.path} and {first.info.path} have different time axes", source=label)


def join_samples(parts: Sequence[OpenedData], label: str, split: np.ndarray | None = None) -> OpenedData:
    """Parts of one dataset (files of a folder, splits) joined lazily along ``sample``."""
    if len(parts) == 1 and split is None:
        return parts[0]
    _same_layout(parts, label)
    first = parts[0].dataset
    data_vars = {}
    for name in parts[0].info.on_grid:
        var = first[name].variable
        array = ConcatArray([VariableArray(p.dataset[name].variable) for p in parts])
        data_vars[name] = lazy_variable(var.dims, array, var.attrs)
    coords = {k: v for k, v in first.coords.items() if "sample" not in v.dims}
    ds = xr.Dataset(data_vars, coords=coords, attrs=first.attrs)
    if split is not None:
        ds = ds.assign_coords(split=split_variable(split))
    info0 = parts[0].info
    n = sum(p.info.n_samples for p in parts)
    variables = {k: (replace(v, shape=(n, *v.shape[1:])) if v.on_grid else v) for k, v in info0.variables.items()}
    info = replace(info0, path=label, variables=variables, n_samples=n, files=sum(p.info.files for p in parts),
                   notes=tuple(dict.fromkeys(note for p in parts for note in p.info.notes)))
    return OpenedData(ds, info)


def join_splits(parts: Mapping[str, OpenedData], label: str) -> OpenedData:
    """Train / validation / test parts joined along ``sample`` with a ``split`` coordinate."""
    ordered = [parts[s] for s in SPLITS if s in parts]
    flags = np.concatenate([np.full(parts[s].info.n_samples, SPLITS.index(s), np.int8) for s in SPLITS if s in parts])
    joined = join_samples(ordered, label, split=flags)
    sizes = {s: parts[s].info.n_samples for s in SPLITS if s in parts}
    return replace(joined, info=replace(joined.info, splits=sizes))


def file_splits(ds: xr.Dataset) -> dict[str, int]:
    """Sizes of the splits a dataset's ``split`` coordinate (pdesolve's flags) defines."""
    if "split" not in ds.coords:
        return {}
    flags = np.asarray(ds["split"].values)
    return {s: int((flags == i).sum()) for i, s in enumerate(SPLITS)}

