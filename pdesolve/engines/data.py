"""Reference data for a case: generated once, cached by the content hash of its recipe, and read
lazily from the file (every variable on demand, like a user's file); a ``dataset`` case reads
its own file (`pdesolve.problems.dataset`)."""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from pdesolve.config import ResolvedCase
from pdesolve.data.netcdf import read_netcdf, write_netcdf
from pdesolve.data.samples import add_splits
from pdesolve.engines.device import resolve_device
from pdesolve.errors import UserError
from pdesolve.problems.dataset import DatasetProblem


def recipe_of(resolved: ResolvedCase) -> dict:
    d = resolved.case.data
    return resolved.problem.recipe(d.n_train + d.n_val + d.n_test, d.seed, d.resolution)


def cached_path(resolved: ResolvedCase) -> Path:
    """``<cache_dir>/<problem>-<hash12>.nc`` for the case's data recipe."""
    digest = resolved.problem.recipe_hash(recipe_of(resolved))
    return Path(resolved.case.data.cache_dir) / f"{resolved.problem.name}-{digest[:12]}.nc"


def load_or_generate(resolved: ResolvedCase, *, out: str | Path | None = None, force: bool = False
                     ) -> tuple[xr.Dataset, Path, bool]:
    """The case's dataset with its train/validation/test split.

    Returns ``(dataset, path, generated)``; reads the cached file when its ``content_hash``
    matches the recipe, otherwise runs the reference solver and writes the file atomically.
    """
    d = resolved.case.data
    problem = resolved.problem
    if isinstance(problem, DatasetProblem):
        if out is not None:
            raise UserError("a dataset case reads its own file; there is nothing to generate "
                            "(`pdesolve convert` writes it in pdesolve's layout)", source="--out")
        return problem.load(d.n_train, d.n_val, d.n_test, d.seed, d.resolution), problem.source_path(), False
    recipe = recipe_of(resolved)
    digest = problem.recipe_hash(recipe)
    path = Path(out) if out else cached_path(resolved)
    if path.is_file() and not force:
        ds = read_netcdf(path, lazy=True)
        if ds.attrs.get("content_hash") == digest:
            return ds, path, False
    ds = problem.generate(recipe["n"], d.seed, resolution=d.resolution,
                          device=resolve_device(d.device), batch_size=d.batch_size)
    ds = add_splits(ds, d.n_train, d.n_val, d.n_test)
    write_netcdf(ds, path)
    return read_netcdf(path, lazy=True), path, True
