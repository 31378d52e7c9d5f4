"""``pdesolve rollout``: a run's best model on its test set, with stability guards.

`rollout_run` asks the registered evaluation of the run's (solver kind, problem task)
(`pdesolve.engines.evaluation`) for the prediction and writes ``rollout.nc`` (prediction,
reference, error per sample and step) and its figure. `predict_trajectory` is the autoregressive
loop: it stops early (keeping what it has) when a prediction stops being finite or grows beyond
``blowup_factor`` times the largest reference value.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from pdesolve.data.samples import select_split
from pdesolve.engines.evaluation import (
    EvaluationContext,
    RolloutResult,
    check_rollout_destination,
    evaluation_for,
    write_rollout,
)
from pdesolve.engines.runs import RunDir
from pdesolve.errors import UserError
from pdesolve.nn.rollout import slide
from pdesolve.problems.dataset import evaluation_data
from pdesolve.progress import make_progress


@dataclass
class Trajectory:
    """Predicted frames ``(n, steps, c, *s)``, why the loop stopped early (or ``None``), and the
    wall time per step in seconds."""

    frames: torch.Tensor
    stopped: str | None
    seconds_per_step: float


def predict_trajectory(step: Callable[[torch.Tensor], torch.Tensor], window: torch.Tensor, steps: int,
                       limit: float = float("inf"), description: str = "rollout") -> Trajectory:
    """Roll ``step`` (``(n, k, c, *s) -> (n, c, *s)``) forward ``steps`` times from ``window``.

    Stops before a frame that is non-finite or exceeds ``limit`` in absolute value.
    """
    frames, stopped = [], None
    t0 = time.perf_counter()
    with make_progress() as bar:
        task = bar.add_task(description, total=steps, status="")
        for i in range(steps):
            frame = step(window)
            if not torch.isfinite(frame).all():
                stopped = f"non-finite prediction at step {i + 1}"
                break
            if frame.abs().max() > limit:
                stopped = f"prediction exceeded {limit:.3g} at step {i + 1}"
                break
            frames.append(frame)
            window = slide(window, frame)
            bar.advance(task)
    seconds = (time.perf_counter() - t0) / max(len(frames), 1)
    if not frames:
        raise UserError(f"rollout produced no usable step ({stopped})")
    return Trajectory(torch.stack(frames, dim=1), stopped, seconds)


def rollout_run(run: RunDir | str | Path, *, steps: int | None = None, out: str | Path | None = None,
                device: torch.device | str = "cpu", resolution: int | None = None,
                data_file: str | Path | None = None) -> RolloutResult:
    """Roll the run's best model out on its test set and write ``rollout.nc`` (or ``out``).

    ``resolution``: field backends only -- sample the solution on the problem's grid with this
    many points per axis, against a reference generated on that grid, instead of the data grid.
    ``data_file``: operator backends -- predict on another file's test samples instead (e.g. a
    finer grid: zero-shot), see `pdesolve.problems.dataset.evaluation_data`; written to
    ``rollout_<file stem>.nc`` (and figure) unless ``out`` is given.

    Raises:
        UserError: before any work, when the destination cannot be written or ``steps`` goes beyond
            the test data (`Evaluation.max_steps`).
    """
    run = run if isinstance(run, RunDir) else RunDir.open(run)
    context = EvaluationContext.from_run(run, device)
    check_rollout_destination(context, out)
    evaluation = evaluation_for(context)
    name, reference = "rollout", None
    if data_file is not None:
        test, reference = evaluation_data(context.problem, context.solver, data_file)
        name = f"rollout_{Path(data_file).stem}"
        out = out or run.path / f"{name}.nc"
    else:
        test = select_split(context.data, "test")
    limit = evaluation.max_steps(test) if steps is not None else None
    if limit is not None and steps > limit:
        raise UserError(f"{steps} steps asked; the test data has {limit} frames to compare with "
                        f"(expected at most {limit})", source="--steps")
    if resolution is not None:
        if context.solver.kind != "field":
            raise UserError(f"--resolution applies to field backends, not {context.solver.kind} backends",
                            source="--resolution")
        test = context.problem.generate(test.sizes["sample"], context.resolved.case.data.seed, resolution=resolution)
    result = evaluation.rollout(test, steps)
    result.headline = evaluation.summary_rows(result.metrics)
    for artifact in result.artifacts:  # rollout.png -> rollout_<file>.png beside rollout_<file>.nc
        artifact.name = artifact.name.replace("rollout", name, 1)
    return write_rollout(result, context, out, reference_data=reference)
