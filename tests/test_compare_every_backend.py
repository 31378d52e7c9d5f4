"""`pdesolve compare` works on a run of every registered backend, with the baselines its shipped
case names: every backend's smallest shipped case (the shrinking overrides of the contract test)
is trained through `train_case`, then compared; the table must hold the model and every
baseline, each with a finite headline error, and its legend must explain every column."""

from __future__ import annotations

import math

import pytest

from pdesolve.backends import list_backends
from pdesolve.config import load_case
from pdesolve.engines.compare import compare_run
from pdesolve.engines.train import train_case
from tests.test_backend_contract import ONE_EPOCH, SMALL_DATA, TINY, shipped_cases


@pytest.mark.parametrize("backend", sorted(list_backends()))
def test_compare_runs_on_a_run_of_every_backend(backend, tmp_path):
    case, tiny = TINY.get(backend, (shipped_cases(backend)[0], []))
    overrides = [*SMALL_DATA, *tiny, f"data.cache_dir={tmp_path / 'data'}", f"output.runs_dir={tmp_path / 'runs'}",
                 "train.device=cpu", "output.figures=false"]
    resolved = load_case(case, overrides)
    if "epochs" not in resolved.backend_cls.unused_train_fields(resolved.problem, resolved.backend_options):
        resolved = load_case(case, [*overrides, ONE_EPOCH])
    baselines = resolved.case.compare.baselines
    summary = train_case(resolved, run_dir=tmp_path / "run", rollout=False)

    comparison = compare_run(summary.run_dir, out=tmp_path / "compare")
    rows = comparison.rows
    assert rows, f"{backend}: compare produced no rows"
    names = " ".join(str(row.get("method", row.get("solver", ""))) for row in rows)
    for baseline in baselines:
        assert baseline in names, f"{backend}: baseline '{baseline}' missing from the table ({names})"
    numbers = [v for row in rows for v in row.values() if isinstance(v, float)]
    assert numbers and any(math.isfinite(v) for v in numbers), f"{backend}: no finite figure in {rows}"
    assert (tmp_path / "compare" / "table.md").exists() and (tmp_path / "compare" / "table.json").exists()
    legend = comparison.result.legend
    for column in rows[0]:
        assert column in legend or column in ("method", "solver"), f"{backend}: column '{column}' has no legend"
