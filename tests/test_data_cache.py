"""The data cache: the solver version is part of the recipe, and every (re)generation says why."""

import json

import xarray as xr
from pdesolve.cli.app import app
from typer.testing import CliRunner

from pdesolve.config import load_case
from pdesolve.data.netcdf import write_netcdf
from pdesolve.engines.data import cached_path, load_or_generate, recipe_of, stale_solver
from pdesolve.problems.navier_stokes_2d import NavierStokes2D
from tests.helpers import TINY_NS, write_case

TINY = {**TINY_NS, "data": {**TINY_NS["data"], "n_train": 2, "n_val": 1, "n_test": 1}}


def test_the_recipe_and_its_hash_carry_the_solver_version(monkeypatch):
    problem = NavierStokes2D({"resolution": 16})
    recipe = problem.recipe(2, 0, 16)
    assert recipe["solver_version"] == NavierStokes2D.solver_version == 1
    monkeypatch.setattr(NavierStokes2D, "solver_version", 2)
    bumped = problem.recipe(2, 0, 16)
    assert bumped == {**recipe, "solver_version": 2}
    assert problem.recipe_hash(bumped) != problem.recipe_hash(recipe)


def test_a_bumped_solver_version_regenerates_with_the_stale_message(tmp_path, monkeypatch):
    resolved = load_case(str(write_case(tmp_path, TINY)))
    first = load_or_generate(resolved)
    assert first.reason.cause == "no_cache" and first.path == cached_path(resolved)
    again = load_or_generate(resolved)
    assert again.reason is None and again.status == "cached"  # unchanged recipe: read from the cache
    xr.testing.assert_identical(again.dataset, first.dataset)

    monkeypatch.setattr(NavierStokes2D, "solver_version", 2)
    resolved = load_case(str(write_case(tmp_path, TINY)))
    stale = load_or_generate(resolved)
    assert stale.reason.cause == "stale_solver"
    assert stale.status == "cached data from solver version 1 is stale (now 2): regenerating"
    assert stale.path != first.path and first.path.is_file()  # a new file; the old one is left alone
    assert json.loads(stale.dataset.attrs["generation_recipe"])["solver_version"] == 2
    assert load_or_generate(resolved).reason is None


def test_other_data_at_the_target_and_force_are_reported(tmp_path):
    resolved = load_case(str(write_case(tmp_path, TINY)))
    target = tmp_path / "mine.nc"
    write_netcdf(xr.Dataset(attrs={"content_hash": "0" * 64}), target)
    other = load_or_generate(resolved, out=target)
    assert other.reason.cause == "other_data" and "another recipe" in other.status
    assert load_or_generate(resolved, out=target).reason is None
    forced = load_or_generate(resolved, out=target, force=True)
    assert forced.reason.cause == "forced"


def test_files_from_before_solver_versions_count_as_version_0(tmp_path):
    recipe = recipe_of(load_case(str(write_case(tmp_path, TINY))))
    unversioned = {k: v for k, v in recipe.items() if k != "solver_version"}
    assert "solver version 0 is stale (now 1)" in stale_solver(unversioned, recipe).message
    assert stale_solver({**unversioned, "seed": 99}, recipe) is None  # another recipe, not a stale one
    assert stale_solver(recipe, recipe) is None


def test_generate_prints_why_it_generated(tmp_path, monkeypatch):
    runner = CliRunner()
    case = str(write_case(tmp_path, TINY))
    assert "no cached file: generating" in runner.invoke(app, ["generate", case]).output
    assert "cached" in runner.invoke(app, ["generate", case]).output
    monkeypatch.setattr(NavierStokes2D, "solver_version", 2)
    result = runner.invoke(app, ["generate", case])
    assert result.exit_code == 0, result.output
    assert "solver version 1 is stale (now 2)" in " ".join(result.output.split())
