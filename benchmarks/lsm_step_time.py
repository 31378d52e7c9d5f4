"""Seconds per training epoch of LSM and FNO measured side by side (issue 4).

The epoch times recorded by `benchmarks/lsm_vs_fno.py` come from runs that shared the machine with
other jobs at different times, so they do not compare the models. This script loads the trained
seed-0 runs of that benchmark, takes one batch of their own training pairs, and times full training
steps (unrolled forward, relative-L2 loss, backward, Adam update) of the two models interleaved in
one process, one thread; an epoch is the median step times the number of batches per epoch.

    .venv/bin/python benchmarks/lsm_step_time.py [--studies darcy ns] [--repeats 5]

Writes benchmarks/results/lsm_step_time.{json,md}. ``--smoke`` first trains the tiny runs of
``lsm_vs_fno.py --smoke`` into ``<out>/work``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import harness
import lsm_vs_fno
import torch

from pdesolve.data.samples import select_split
from pdesolve.engines.data import load_or_generate
from pdesolve.engines.runs import RunDir
from pdesolve.engines.tables import markdown_table
from pdesolve.metrics import relative_l2_loss
from pdesolve.nn.rollout import autoregressive

NAME = "lsm_step_time"
MODELS = ("lsm", "fno")


def training_step(solver, x: torch.Tensor, y: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
    """One optimiser step of ``solver``'s model on the batch ``(x, y)`` (all unrolled steps)."""
    optimizer.zero_grad(set_to_none=True)
    pred = autoregressive(solver.model, x, y.shape[1])
    relative_l2_loss(pred, y).backward()
    optimizer.step()


def time_study(study: str, work: Path, repeats: int) -> tuple[dict, dict]:
    """Median seconds per training step of each model on the same batch, interleaved; and the
    timing itself (every repeat, ratios to the FNO)."""
    runs = {model: RunDir.open(work / f"{study}-{model}-seed0") for model in MODELS}
    resolved = runs["lsm"].load_case()
    data, _, _ = load_or_generate(resolved)
    cfg = resolved.case.train
    solvers = {model: run.load_solver("cpu") for model, run in runs.items()}
    steps, batches, sizes = {}, {}, {}
    for model, solver in solvers.items():
        pairs = solver.pairs(select_split(data, "train"), horizon=cfg.unroll)
        x, y = pairs.batch(torch.arange(min(cfg.batch_size, len(pairs))))
        solver.model.train()
        optimizer = torch.optim.Adam(solver.model.parameters(), lr=cfg.lr)
        steps[model] = lambda s=solver, x=x, y=y, o=optimizer: training_step(s, x, y, o)
        batches[model], sizes[model] = math.ceil(len(pairs) / cfg.batch_size), len(x)
    timing = harness.interleaved(steps, repeats, threads=1)
    median = timing.median
    per_model = {model: {"parameters": solvers[model].n_parameters(), "batch": sizes[model], "unroll": cfg.unroll,
                         "batches_per_epoch": batches[model], "seconds_per_step": median[model],
                         "seconds_per_epoch": median[model] * batches[model]}
                 for model in MODELS}
    return per_model, timing.to_dict(reference="fno")


def markdown(result: dict) -> str:
    lines = ["## LSM and FNO: training time measured side by side (issue 4)", "",
             f"{result['date']}, {result['machine']}, {result['threads']} torch thread; command "
             f"`{result['command']}`. Full training steps (unrolled forward, relative-L2 loss, backward, "
             f"Adam) of the trained seed-0 models of `lsm_vs_fno.py` on one batch of their training pairs, "
             f"the two models interleaved, median of {result['repeats']}; an epoch is the step time times "
             "the batches per epoch (validation not included).", "",
             markdown_table([{"study": study, "model": model.upper(), "parameters": f"{r['parameters'] / 1e6:.2f} M",
                              "batch x unrolled steps": f"{r['batch']} x {r['unroll']}",
                              "s / step": f"{r['seconds_per_step']:.3f}",
                              "batches / epoch": str(r["batches_per_epoch"]),
                              "s / epoch": f"{r['seconds_per_epoch']:.1f}"}
                             for study, models in result["studies"].items() for model, r in models.items()]).rstrip()]
    for study, models in result["studies"].items():
        ratio = models["lsm"]["seconds_per_step"] / models["fno"]["seconds_per_step"]
        lines.append(f"\n{study}: an LSM step costs {ratio:.1f}x an FNO step.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", nargs="+", default=["darcy", "ns"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--work", default=None, help="lsm_vs_fno.py's runs (default benchmarks/out/lsm)")
    harness.add_output(parser, "--results", "--out")
    args = parser.parse_args(argv)
    env = harness.start(args, __file__, argv, threads=1, seed=0)
    work = harness.work_dir(args, harness.WORK / "lsm", args.work)
    if args.smoke:
        args.repeats = 2
        lsm_vs_fno.main(["--smoke", "--studies", *args.studies, "--out", str(args.out / "lsm_vs_fno"),
                         "--work", str(work), "--data-dir", str(work / "data")])
    torch.manual_seed(0)
    result = {
        "date": env["created"], "machine": f"{harness.cpu_name()}, {env['cpu_count']} cores (shared)",
        "threads": env["torch_threads"], "command": env["command"], "repeats": args.repeats,
        "studies": {}, "timing": {}, "environment": env,
    }
    for study in args.studies:
        result["studies"][study], result["timing"][study] = time_study(study, work, args.repeats)
    harness.write_section(args.out, NAME, result, markdown(result))
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
