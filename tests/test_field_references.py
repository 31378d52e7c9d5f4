"""Every shipped case with a field task has a reference the evaluation can judge by: finite, and
not identically zero at any time t > 0 (fast: each problem generated at a tiny size)."""

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from pdesolve.config import load_case
from pdesolve.engines.evaluations.fields import check_reference

CASES = sorted(p.stem for p in (Path(__file__).parents[1] / "cases").glob("*.yaml"))


def tiny(case: str):
    """The case's problem at one step (when it steps in time)."""
    problem = load_case(case).problem
    if problem.task != "field":
        return None
    if "steps" in type(problem.params).model_fields:
        problem = load_case(case, ["problem.steps=1"]).problem
    return problem


@pytest.mark.parametrize("case", CASES)
def test_field_reference_is_finite_and_nonzero(case):
    problem = tiny(case)
    if problem is None:
        pytest.skip("not a field task")
    data = problem.generate(1, 0, resolution=5)
    if getattr(problem, "reference_at_every_step", False):
        np.testing.assert_allclose(data["time"].values, problem.times)  # every step judged, none NaN
    check_reference(data, list(getattr(problem, "outputs", None) or data.data_vars))


def test_check_reference_rejects_nan_and_zero_later_states():
    t = np.array([0.0, 0.1])
    good = xr.Dataset({"u": (("time", "x"), np.array([[0.0, 0.0], [1.0, 0.0]]))}, coords={"time": t})
    check_reference(good, ["u"])  # zero at t = 0 is allowed (a body at rest)
    with pytest.raises(ValueError, match="identically zero"):
        check_reference(good.assign(u=good["u"] * 0), ["u"])
    with pytest.raises(ValueError, match="non-finite"):
        check_reference(good.assign(u=good["u"].where(good["time"] == 0)), ["u"])
