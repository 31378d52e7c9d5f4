"""Seconds per training epoch of LSM and FNO measured side by side (issue 4).

The epoch times recorded by `benchmarks/lsm_vs_fno.py` come from runs that shared the machine with
other jobs at different times, so they do not compare the models. This script loads the trained
seed-0 runs of that benchmark, takes one batch of their own training pairs, and times full training
steps (unrolled forward, relative-L2 loss, backward, Adam update) of the two models interleaved in
one process, one thread; an epoch is the median step times the number of batches per epoch.

    .venv/bin/python benchmarks/lsm_step_time.py [--studies darcy ns] [--repeats 5]

Writes benchmarks/results/lsm_step_time.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from pdesolve.data.samples import select_split
from pdesolve.engines.data import load_or_generate
from pdesolve.engines.runs import RunDir
from pdesolve.metrics import relative_l2_loss
from pdesolve.nn.rollout import autoregressive

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("lsm", "fno")


def training_step(solver, x: torch.Tensor, y: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
    """One optimiser step of ``solver``'s model on the batch ``(x, y)`` (all unrolled steps)."""
    optimizer.zero_grad(set_to_none=True)
    pred = autoregressive(solver.model, x, y.shape[1])
    relative_l2_loss(pred, y).backward()
    optimizer.step()


def time_study(study: str, work: Path, repeats: int) -> dict:
    """Median seconds per training step of each model on the same batch, interleaved."""
    runs = {model: RunDir.open(work / f"{study}-{model}-seed0") for model in MODELS}
    resolved = runs["lsm"].load_case()
    data, _, _ = load_or_generate(resolved)
    cfg = resolved.case.train
    solvers = {model: run.load_solver("cpu") for model, run in runs.items()}
    steps = {}
    for model, solver in solvers.items():
        pairs = solver.pairs(select_split(data, "train"), horizon=cfg.unroll)
        x, y = pairs.batch(torch.arange(cfg.batch_size))
        solver.model.train()
        optimizer = torch.optim.Adam(solver.model.parameters(), lr=cfg.lr)
        training_step(solver, x, y, optimizer)  # warm-up
        steps[model] = (x, y, optimizer, math.ceil(len(pairs) / cfg.batch_size))
    seconds = {model: [] for model in MODELS}
    for _ in range(repeats):
        for model in MODELS:
            x, y, optimizer, _ = steps[model]
            start = time.perf_counter()
            training_step(solvers[model], x, y, optimizer)
            seconds[model].append(time.perf_counter() - start)
    return {model: {"parameters": solvers[model].n_parameters(), "batch": cfg.batch_size, "unroll": cfg.unroll,
                    "batches_per_epoch": steps[model][3],
                    "seconds_per_step": statistics.median(seconds[model]),
                    "seconds_per_epoch": statistics.median(seconds[model]) * steps[model][3]}
            for model in MODELS}


def markdown(result: dict) -> str:
    lines = ["## LSM and FNO: training time measured side by side (issue 4)", "",
             f"{result['date']}, {result['machine']}, {result['threads']} torch thread; command "
             f"`{result['command']}`. Full training steps (unrolled forward, relative-L2 loss, backward, "
             f"Adam) of the trained seed-0 models of `lsm_vs_fno.py` on one batch of their training pairs, "
             f"the two models interleaved, median of {result['repeats']}; an epoch is the step time times "
             "the batches per epoch (validation not included).", "",
             "| study | model | parameters | batch x unrolled steps | s / step | batches / epoch | s / epoch |",
             "|---|---|---|---|---|---|---|"]
    for study, models in result["studies"].items():
        for model, r in models.items():
            lines.append(f"| {study} | {model.upper()} | {r['parameters'] / 1e6:.2f} M | {r['batch']} x {r['unroll']} "
                         f"| {r['seconds_per_step']:.3f} | {r['batches_per_epoch']} | {r['seconds_per_epoch']:.1f} |")
    for study, models in result["studies"].items():
        ratio = models["lsm"]["seconds_per_step"] / models["fno"]["seconds_per_step"]
        lines.append(f"\n{study}: an LSM step costs {ratio:.1f}x an FNO step.")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", nargs="+", default=["darcy", "ns"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--work", default=str(ROOT / "benchmarks" / "out" / "lsm"), help="lsm_vs_fno.py's runs")
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    result = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)", "threads": 1,
        "command": "python benchmarks/lsm_step_time.py --studies " + " ".join(args.studies)
                   + f" --repeats {args.repeats}",
        "repeats": args.repeats,
        "studies": {study: time_study(study, Path(args.work), args.repeats) for study in args.studies},
    }
    out = Path(args.results)
    (out / "lsm_step_time.json").write_text(json.dumps(result, indent=2))
    (out / "lsm_step_time.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
