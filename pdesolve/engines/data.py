"""Reference data for a case: generated once, cached by the content hash of its recipe."""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from pdesolve.config import ResolvedCase
from pdesolve.data.netcdf import read_netcdf, write_netcdf
from pdesolve.data.samples import add_splits
from pdesolve.engines.device import resolve_device


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
    recipe = recipe_of(resolved)
    digest = resolved.problem.recipe_hash(recipe)
    path = Path(out) if out else cached_path(resolved)
    if path.is_file() and not force:
        ds = read_netcdf(path)
        if ds.attrs.get("content_hash") == digest:
            return ds, path, False
    ds = resolved.problem.generate(recipe["n"], d.seed, resolution=d.resolution,
                                   device=resolve_device(d.device), batch_size=d.batch_size)
    ds = add_splits(ds, d.n_train, d.n_val, d.n_test)
    write_netcdf(ds, path)
    return ds, path, True
