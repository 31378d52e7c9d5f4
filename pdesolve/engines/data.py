"""Reference data for a case: generated once, cached by the content hash of its recipe.

The recipe (`Problem.recipe`) holds everything that determines the data, the problem's
``solver_version`` included, so a fixed reference solver (its version bumped) never reuses stale
files: `load_or_generate` says why it (re)generates, e.g. "cached data from solver version 1 is
stale (now 2): regenerating". Data is read lazily from the file (every variable on demand, like
a user's file); a ``dataset`` case reads its own file (`Problem.stored_data`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import xarray as xr

from pdesolve.config import ResolvedCase
from pdesolve.data.destinations import check_file_destination, check_folder_destination
from pdesolve.data.netcdf import read_netcdf, write_netcdf
from pdesolve.data.samples import add_splits
from pdesolve.engines import distributed
from pdesolve.engines.device import resolve_device
from pdesolve.errors import UserError
from pdesolve.limits import check_memory


def recipe_of(resolved: ResolvedCase) -> dict:
    d = resolved.case.data
    return resolved.problem.recipe(d.n_train + d.n_val + d.n_test, d.seed, d.resolution)


def cached_path(resolved: ResolvedCase) -> Path:
    """``<cache_dir>/<problem>-<hash12>.nc`` for the case's data recipe."""
    digest = resolved.problem.recipe_hash(recipe_of(resolved))
    return Path(resolved.case.data.cache_dir) / f"{resolved.problem.name}-{digest[:12]}.nc"


@dataclass(frozen=True)
class GenerationReason:
    """Why the reference solver ran instead of reading a cached file.

    ``cause``: ``"no_cache"`` (no file of this recipe), ``"stale_solver"`` (a file of the same recipe
    from another solver version), ``"other_data"`` (the target path holds data of another recipe),
    ``"damaged"`` (the target path holds a file that cannot be read: truncated, not netCDF),
    ``"forced"``; ``message`` says it in words.
    """

    cause: Literal["no_cache", "stale_solver", "other_data", "damaged", "forced"]
    message: str

    def __str__(self) -> str:
        return self.message


class CaseData(NamedTuple):
    """What `load_or_generate` returns: the dataset, its file, and why it was generated (``None``:
    read from the cache)."""

    dataset: xr.Dataset
    path: Path
    reason: GenerationReason | None

    @property
    def status(self) -> str:
        """One line for logs and summaries."""
        return "cached" if self.reason is None else self.reason.message


def stored_recipe(path: Path) -> tuple[str | None, dict | None]:
    """``content_hash`` and parsed ``generation_recipe`` of a data file (``None`` where absent or unreadable)."""
    try:
        with read_netcdf(path, lazy=True) as ds:
            digest, text = ds.attrs.get("content_hash"), ds.attrs.get("generation_recipe")
    except UserError:
        return None, None
    try:
        recipe = json.loads(text) if isinstance(text, str) else None
    except json.JSONDecodeError:
        recipe = None
    return digest, recipe if isinstance(recipe, dict) else None


def stale_solver(stored: dict | None, recipe: dict) -> GenerationReason | None:
    """A ``stale_solver`` reason when ``stored`` is ``recipe`` but for its solver version (files
    written before solver versions existed count as version 0). The stale file is left in place."""
    if stored is None:
        return None
    old, new = stored.get("solver_version", 0), recipe["solver_version"]
    rest = {k: v for k, v in stored.items() if k != "solver_version"}
    if old == new or rest != {k: v for k, v in recipe.items() if k != "solver_version"}:
        return None
    return GenerationReason("stale_solver", f"cached data from solver version {old} is stale (now {new}): "
                                            "regenerating")


def generation_reason(recipe: dict, digest: str, path: Path, problem: str, force: bool
                      ) -> GenerationReason | None:
    """Why data of ``recipe`` (hash ``digest``) must be generated into ``path``; ``None``: read it.

    Looks at ``path`` itself, then at its siblings ``<problem>-*.nc`` for a file of the same recipe
    from another solver version.
    """
    if force:
        return GenerationReason("forced", "regenerating (forced)")
    if path.is_file():
        stored_digest, stored = stored_recipe(path)
        if stored_digest == digest:
            return None
        if stored_digest is None and stored is None:
            return GenerationReason("damaged", f"{path.name} is unreadable or holds no generated data: regenerating")
        return stale_solver(stored, recipe) or GenerationReason(
            "other_data", f"{path.name} holds data of another recipe (content hash {str(stored_digest)[:12]}, "
                          f"expected {digest[:12]}): regenerating")
    for sibling in sorted(path.parent.glob(f"{problem}-*.nc")) if path.parent.is_dir() else ():
        reason = stale_solver(stored_recipe(sibling)[1], recipe)
        if reason is not None:
            return reason
    return GenerationReason("no_cache", "no cached file: generating")


def readable(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` (opened lazily) after reading the last sample of every variable: a truncated copy fails
    here, as a `UserError`, instead of in the middle of training."""
    for name, var in ds.data_vars.items():
        try:
            _ = (var.isel(sample=-1) if "sample" in var.dims and var.sizes["sample"] else var).values
        except (OSError, RuntimeError, ValueError, KeyError) as err:
            raise UserError(f"variable '{name}' cannot be read ({err})") from None
    return ds


def load_or_generate(resolved: ResolvedCase, *, out: str | Path | None = None, force: bool = False) -> CaseData:
    """The case's dataset with its train/validation/test split.

    Reads the file (``out``, or the cache's `cached_path`) when its ``content_hash`` matches the
    recipe and it reads whole, otherwise runs the reference solver and writes the file atomically;
    the result says why (`GenerationReason`). Before generating, the destination is checked and
    the data's size estimated against the machine's memory (`pdesolve.limits`). Under torchrun,
    rank 0 decides whether to generate, every rank solves its part (`Problem.generate_part`), rank
    0 assembles and writes the one file -- the same as one process's -- and every rank reads it.

    Raises:
        UserError: the destination cannot be written, or the data cannot fit in memory.
    """
    d = resolved.case.data
    problem = resolved.problem
    stored = problem.stored_data(d.n_train, d.n_val, d.n_test, d.seed, d.resolution)
    if stored is not None:  # the case names a file of its own
        if out is not None:
            raise UserError("a dataset case reads its own file; there is nothing to generate "
                            "(`pdesolve convert` writes it in pdesolve's layout)", source="--out")
        dataset, path = stored
        return CaseData(dataset, path, None)  # nothing generated: the file is the data
    recipe = recipe_of(resolved)
    digest = problem.recipe_hash(recipe)
    path = Path(out) if out else cached_path(resolved)
    world = distributed.current()
    reason = distributed.broadcast(generation_reason(recipe, digest, path, problem.name, force)
                                   if world.main else None, world)
    if reason is None and world.main:
        try:
            readable(read_netcdf(path, lazy=True))
        except UserError as err:  # the header matched, the data is damaged (a truncated copy)
            reason = GenerationReason("damaged", f"{path.name} is damaged ({err.message}): regenerating")
        reason = distributed.broadcast(reason, world)
    elif reason is None:
        reason = distributed.broadcast(None, world)  # rank 0's verdict on reading the file whole
    if reason is None:
        return CaseData(read_netcdf(path, lazy=True), path, None)
    if out:
        check_file_destination(path, source="--out")
    else:
        check_folder_destination(path.parent, source=resolved.source, field="data.cache_dir")
    check_memory(resolved.data_memory_estimates(), source=resolved.source)
    try:
        device = resolve_device(d.device)
    except UserError as err:
        raise err.located(resolved.source, "data.device") from None
    device = world.device(device)
    part = problem.generate_part(recipe["n"], d.seed, world.rank, world.size, resolution=d.resolution,
                                 device=device, batch_size=d.batch_size)
    parts = distributed.gather(part, world)
    if world.main:
        ds = problem.assemble(recipe["n"], d.seed, parts, resolution=d.resolution)
        write_netcdf(add_splits(ds, d.n_train, d.n_val, d.n_test), path)
    distributed.barrier(world)
    return CaseData(read_netcdf(path, lazy=True), path, reason)  # the generated data read as any file
