"""The files pdesolve writes pass the ecosystem's CF checker (IOOS compliance-checker, CF 1.10):
no high-priority error except those docs/data-format.md explains: a non-dimensional time coordinate
(CF time units must read "<unit> since <date>"; pdesolve keeps "1"), and Cartesian non-dimensional
node coordinates of per-sample meshes, which the checker expects to be latitude/longitude or to have
a grid mapping (CF 5.6)."""

import json

import pytest
from compliance_checker.runner import CheckSuite, ComplianceChecker
from pdesolve.cli.app import app
from typer.testing import CliRunner

from pdesolve.config import load_case
from pdesolve.engines.data import load_or_generate
from tests.helpers import TINY_NS, write_case

DOCUMENTED = ("time does not have correct time units", "Coordinate variable 'time' should have standard_name='time'")
CARTESIAN_NODES = "is not one of the variables identifying true latitude/longitude"


def cf_errors(path, tmp_path) -> list[str]:
    CheckSuite().load_all_available_checkers()
    report = tmp_path / f"{path.name}.json"
    ComplianceChecker.run_checker(str(path), ["cf:1.10"], 0, "normal", output_filename=str(report),
                                  output_format="json")
    result = json.loads(report.read_text())["cf:1.10"]
    return [m for item in result["high_priorities"] for m in item["msgs"]
            if not m.startswith(DOCUMENTED) and CARTESIAN_NODES not in m]


def test_grid_data_rollout_and_compare_files(tmp_path):
    case = write_case(tmp_path, TINY_NS)
    runner = CliRunner()
    run = ["train", str(case), "--run-dir", str(tmp_path / "run"), "--device", "cpu"]
    assert runner.invoke(app, run).exit_code == 0
    assert runner.invoke(app, ["compare", str(tmp_path / "run")]).exit_code == 0
    files = [*(tmp_path / "data").glob("*.nc"), tmp_path / "run" / "rollout.nc",
             tmp_path / "run" / "compare" / "statistics.nc"]
    assert len(files) == 3
    for path in files:
        assert cf_errors(path, tmp_path) == [], path.name


@pytest.mark.parametrize("case", ["elasticity_enf2enf", "helmholtz_um2n"])
def test_ugrid_mesh_data(case, tmp_path):
    overrides = {"elasticity_enf2enf": ["problem.mesh_size=0.12"],
                 "helmholtz_um2n": ["problem.mesh_sizes=[0.12]", "problem.reference_mesh_size=0.04",
                                    "problem.unseen_mesh_size=0.1"]}[case]
    resolved = load_case(case, [*overrides, "data.n_train=1", "data.n_val=0", "data.n_test=1",
                                f"data.cache_dir={tmp_path}"])
    path = load_or_generate(resolved).path
    assert cf_errors(path, tmp_path) == []
