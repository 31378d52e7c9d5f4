"""``pdesolve compare``: a trained model against classical baselines (and other runs' models), all
judged against the reference data and started from the same test inputs.

The registered evaluation of the run's (solver kind, problem task) does the work
(`pdesolve.engines.evaluation`); `write_comparison` writes ``compare/`` in the run (or ``out``):
``table.md`` and ``table.json`` (one row per method, with a legend and, when a baseline beats the
model outright, a verdict), ``statistics.nc`` and figures.
"""

from __future__ import annotations

from pathlib import Path

import torch

from pdesolve.engines.data import recipe_of
from pdesolve.engines.evaluation import (
    Comparison,
    EvaluationContext,
    check_comparison_destination,
    evaluation_for,
    write_comparison,
)
from pdesolve.engines.runs import RunDir
from pdesolve.errors import UserError


def _other_models(context: EvaluationContext, runs: list[str | Path], window: int) -> list:
    """The solvers of other runs trained on the same data (to compare from the same inputs), each
    needing at most ``window`` input frames and with a label of its own."""
    resolved = context.resolved
    digest = resolved.problem.recipe_hash(recipe_of(resolved))
    solvers = []
    for path in runs:
        other = RunDir.open(path)
        other_case = other.load_case()
        if other_case.problem.recipe_hash(recipe_of(other_case)) != digest:
            raise UserError("this run was trained on other data than the compared run", source=str(path))
        solver = other.load_solver(context.device)
        if solver.kind != "operator" or solver.setup.get("window", 1) > window:
            raise UserError(f"expected an operator run with a window of at most {window} frames",
                            source=str(path))
        solvers.append(solver)
    labels = [s.label for s in (context.solver, *solvers)]
    if len(set(labels)) < len(labels):
        raise UserError(f"compared models need distinct labels, got {labels}", source="--model")
    return solvers


def compare_run(run: RunDir | str | Path, *, baselines: list[str] | None = None,
                out: str | Path | None = None, device: torch.device | str = "cpu",
                models: list[str | Path] | None = None) -> Comparison:
    """Run the model and each baseline from the test inputs and compare them against the reference.

    ``models``: other run directories (operator backends trained on the same data, e.g. an FNO next
    to an IFactFormer) rolled out from the same inputs and judged beside the model.
    """
    run = run if isinstance(run, RunDir) else RunDir.open(run)
    context = EvaluationContext.from_run(run, device)
    check_comparison_destination(context, out)
    names = baselines if baselines is not None else context.resolved.case.compare.baselines
    available = context.problem.baselines()
    unknown = [b for b in names if b not in available]
    if unknown:
        raise UserError(f"unknown baseline(s) {unknown} for '{context.problem.name}' "
                        f"(expected: {', '.join(sorted(available)) or 'none'})", source="--baseline")
    evaluation = evaluation_for(context)
    if models and not evaluation.takes_models:
        raise UserError("other models can be compared on map and trajectory problems only", source="--model")
    others = _other_models(context, models or [], context.solver.setup.get("window", 1)) if models else []
    return write_comparison(evaluation.compare(names, others), context, out)
