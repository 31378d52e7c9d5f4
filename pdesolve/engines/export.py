"""Export a run's results as a standalone CF netCDF file with full provenance."""

from __future__ import annotations

from pathlib import Path

from pdesolve.data.destinations import check_file_destination, check_folder_destination
from pdesolve.data.netcdf import read_netcdf, write_netcdf
from pdesolve.engines.rollout import rollout_run
from pdesolve.engines.runs import RunDir


def export_run(run: RunDir | str | Path, out: str | Path) -> Path:
    """Write the run's rollout (computed first if missing) to ``out`` with the resolved case,
    the environment and the run's summary in the global attributes."""
    run = run if isinstance(run, RunDir) else RunDir.open(run)
    check_file_destination(out, source="--out")
    run.load_case()  # a damaged case.yaml is bad input here too
    if not run.rollout_file.is_file():
        check_folder_destination(run.path, source=str(run.path))
        rollout_run(run)
    ds = read_netcdf(run.rollout_file)
    ds.attrs["case_yaml"] = run.case_file.read_text()
    for name, attr in ((run.environment_file, "environment_json"), (run.summary_file, "summary_json")):
        if name.is_file():
            ds.attrs[attr] = name.read_text()
    history = ds.attrs.get("history", "")
    ds.attrs["history"] = (history + "\n" if history else "") + f"exported from run {run.path}"
    return write_netcdf(ds, out)
