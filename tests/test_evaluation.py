"""The evaluation registry: every (solver kind, problem task) a backend can meet has a rollout and a
compare; comparisons carry a legend and say in words when a baseline beats the model outright."""

import json

import pytest
from pdesolve.cli.app import app
from typer.testing import CliRunner

from pdesolve.backends import list_backends
from pdesolve.engines.evaluation import ComparisonResult, Evaluation
from pdesolve.engines.evaluations.verdict import baseline_verdict
from pdesolve.errors import UserError

runner = CliRunner()


def test_every_backend_task_has_an_evaluation():
    for name, cls in list_backends().items():
        for task in cls.tasks:
            evaluation = Evaluation.lookup(cls.kind, task)
            assert evaluation.headline, (name, task)
            assert evaluation.compare is not Evaluation.compare, (name, task)  # compare is implemented


def test_an_unknown_pair_is_a_user_error():
    with pytest.raises(UserError, match="no evaluation for linear backends on map problems"):
        Evaluation.lookup("linear", "map")


def test_a_pair_registers_once():
    with pytest.raises(TypeError, match="registered twice"):
        class Again(Evaluation, kind="operator", task="map"):  # noqa: F841
            pass


def test_verdict_names_a_far_better_baseline_and_only_then():
    rows = [{"method": "fno", "err": 0.017, "s": 1e-3}, {"method": "coarse", "err": 8.6e-6, "s": 3e-3},
            {"method": "slow", "err": 1e-6, "s": 1.0}]
    verdict = baseline_verdict(rows, "fno", ["coarse", "slow"], "err", "s")
    assert len(verdict) == 1 and "'coarse'" in verdict[0] and "1.98e+03x more accurate" in verdict[0]
    assert baseline_verdict(rows[:1] + [{"method": "coarse", "err": 0.01, "s": 1e-3}], "fno", ["coarse"],
                            "err", "s") == []


def test_the_markdown_has_a_legend_line_per_column_and_the_verdict():
    import xarray as xr

    result = ComparisonResult("t", "d", [{"method": "a", "rel_l2": 0.1}], {"method": "m", "rel_l2": "r", "x": "unused"},
                              xr.Dataset(), verdict=["V."])
    text = result.markdown()
    assert "* `rel_l2`: r" in text and "`x`" not in text and text.rstrip().endswith("**V.**")


def test_compare_on_a_field_backend_with_its_finite_difference_baseline(tmp_path):
    run = tmp_path / "run"
    train = runner.invoke(app, ["train", "gp_quick", "--run-dir", str(run), "--device", "cpu",
                                "--set", "train.epochs=2", "--set", f"data.cache_dir={tmp_path / 'data'}",
                                "--set", "output.figures=false"])
    assert train.exit_code == 0, train.output
    cmp = runner.invoke(app, ["compare", str(run)])
    assert cmp.exit_code == 0, cmp.output
    table = json.loads((run / "compare" / "table.json").read_text())
    rows = {r["method"]: r for r in table["rows"]}
    assert list(rows) == ["gp-spectral", "fd"]
    assert rows["fd"]["rel_l2"] < 1e-2  # second-order differences on 300 points resolve sin(6x)
    assert rows["gp-spectral"]["stored_values"] > 0 and set(table["legend"]) >= {"rel_l2", "stored_values"}
    assert (run / "compare" / "statistics.nc").is_file()
