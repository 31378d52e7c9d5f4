"""Data-parallel training throughput: samples per second of ``pdesolve train`` on 1 and 2 processes
(issue 17), with the scaling efficiency.

Each measurement is a real ``pdesolve train`` launched through torchrun's entry point
(`pdesolve.engines.distributed.launch`, as ``--nproc`` does) on the same case -- an FNO on Burgers
1-D, gloo on the CPU, one torch thread per process -- and reads the fit's wall time from the run's
summary.json (process start-up and data generation excluded; per-epoch validation included).
The process counts are run in turns (1, 2, 1, 2, ...) so a change of the shared machine's load hits
both alike; ``--nproc`` adds counts (e.g. every GPU of a GPU machine, with ``--device cuda``).

    python benchmarks/distributed.py [--repeats 2] [--nproc 1 2]

Writes benchmarks/results/distributed.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import harness
import yaml

from pdesolve.engines.distributed import launch
from pdesolve.engines.tables import markdown_table

NAME = "distributed"


def case(work: Path, smoke: bool, device: str) -> dict:
    n_train = 16 if smoke else 256
    return {
        "name": "burgers_1d_dp",
        "problem": {"name": "burgers_1d", "resolution": 128 if smoke else 1024, "t_end": 1.0, "n_snapshots": 2},
        "data": {"n_train": n_train, "n_val": 4, "n_test": 4, "resolution": 32 if smoke else 256, "seed": 0,
                 "cache_dir": str(work / "data")},
        "backend": {"name": "fno", "window": 1, "modes": 4 if smoke else 16, "width": 8 if smoke else 64,
                    "layers": 2 if smoke else 4, "projection_channels": 16 if smoke else 128},
        "train": {"epochs": 1 if smoke else 3, "batch_size": 8 if smoke else 32, "lr": 1e-3, "seed": 0,
                  "threads": 1, "device": device},
        "output": {"runs_dir": str(work / "runs"), "figures": False},
    }


def measure(case_file: Path, nproc: int, run: Path) -> float:
    """Training samples per second of one ``pdesolve train`` on ``nproc`` processes."""
    code = launch(nproc, ["train", str(case_file), "--run-dir", str(run), "--no-rollout"])
    if code:
        raise SystemExit(f"pdesolve train on {nproc} processes failed (exit code {code})")
    summary = json.loads((run / "summary.json").read_text())
    cfg = yaml.safe_load(case_file.read_text())
    return cfg["data"]["n_train"] * summary["fit"]["epochs"] / summary["fit"]["seconds"]


def markdown(result: dict) -> str:
    rows = [{"processes": str(n), "threads each": "1", "samples / s (median)": f"{r['median']:.1f}",
             "every repeat": ", ".join(f"{v:.1f}" for v in r["samples_per_second"]),
             "speed-up": f"{r['speedup']:.2f}", "scaling efficiency": f"{r['efficiency']:.0%}"}
            for n, r in result["processes"].items()]
    c = result["case"]
    return "\n".join([
        "## Data-parallel training: 1 vs 2 processes (issue 17)", "",
        harness.provenance(result["environment"]), "",
        f"`pdesolve train` of an FNO (width {c['backend']['width']}, modes {c['backend']['modes']}, "
        f"{c['backend']['layers']} layers) on Burgers 1-D ({c['data']['n_train']} training samples at "
        f"{c['data']['resolution']} points, global batch {c['train']['batch_size']}, {c['train']['epochs']} epochs), "
        "launched through torchrun's entry point with gloo on the CPU, one torch thread per process; "
        "samples per second of the fit (wall time in summary.json: validation included, start-up not), "
        f"process counts run in turns, {result['repeats']} repeats. Rows are CPU: no GPU was lent to this "
        "task, and the 2-core machine was shared with other jobs, so the second process competes with "
        "them for the second core.", "",
        markdown_table(rows).rstrip(), "",
        f"Speed-up on 2 processes: {result['processes']['2']['speedup']:.2f}x "
        f"(scaling efficiency {result['processes']['2']['efficiency']:.0%})."
        if "2" in result["processes"] else "", ""])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--nproc", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--work", default=None, help="runs and data (default benchmarks/out/distributed)")
    harness.add_output(parser)
    args = parser.parse_args(argv)
    env = harness.start(args, __file__, argv, threads=1, seed=0, device=args.device)
    work = harness.work_dir(args, harness.WORK / NAME, args.work)
    work.mkdir(parents=True, exist_ok=True)
    if args.smoke:
        args.repeats = 1
    cfg = case(work, args.smoke, args.device)
    case_file = work / "case.yaml"
    case_file.write_text(yaml.safe_dump(cfg))
    measured = {n: [] for n in args.nproc}
    for r in range(args.repeats):
        for n in args.nproc:
            measured[n].append(measure(case_file, n, work / "runs" / f"nproc{n}-repeat{r}"))
    base = statistics.median(measured[min(args.nproc)]) / min(args.nproc)
    result = {"environment": env, "case": cfg, "repeats": args.repeats, "processes": {}}
    for n, values in measured.items():
        median = statistics.median(values)
        result["processes"][str(n)] = {"samples_per_second": values, "median": median,
                                       "speedup": median / base, "efficiency": median / base / n}
    harness.write_section(args.out, NAME, result, markdown(result))
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
