"""The FNO paper's Navier-Stokes benchmark (nu = 1e-3, 64x64, 10 input frames -> roll out to
t = 50), reduced to what 2 CPU cores manage, run through the real `pdesolve train` path.

    python benchmarks/fno_navier_stokes.py --n-train 200 --epochs 30

Writes benchmarks/results/fno_navier_stokes.{json,md}. Paper (Li et al. 2021, FNO-2D, 1000
training trajectories, 500 epochs, full 40-step unrolled training): test rel. L2 0.0128 over the
40 predicted frames.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import harness

from pdesolve.config import load_case
from pdesolve.engines.runs import RunDir
from pdesolve.engines.tables import markdown_table
from pdesolve.engines.train import train_case

NAME = "fno_navier_stokes"
# --smoke: (a 32^2 solver, 2 + 1 + 1 trajectories, 1 epoch and) 16^2 data, 13 snapshots (10 in, 3 rolled
# out), a narrow FNO
SMOKE = ["problem.t_end=12", "data.resolution=16", "data.n_val=1", "rollout.steps=3",
         "backend.width=4", "backend.modes=2"]


def markdown(result: dict, args) -> str:
    windows = "one-step (teacher-forced) windows" if args.unroll == 1 else f"{args.unroll}-step unrolled windows"
    rows = [{"": "FNO-2D, paper (Li et al. 2021)", "training trajectories": "1000", "epochs": "500",
             "test rel. L2 over the 40 predicted frames": "0.0128", "one-step rel. L2": "-",
             "s / epoch": "127.8 (GPU, their figure)"},
            {"": "FNO-2D, pdesolve (this run)", "training trajectories": str(args.n_train), "epochs": str(args.epochs),
             "test rel. L2 over the 40 predicted frames": f"{result['rollout_rel_l2_40_frames']:.4f}",
             "one-step rel. L2": f"{result['test_one_step_rel_l2']:.4f}",
             "s / epoch": f"{result['seconds_per_epoch_wall']:.1f} (wall, shared box)"}]
    md = f"""## FNO on 2-D Navier-Stokes, nu = 1e-3 (issue 2 benchmark)

{result['date']}, {result['machine']}, {result['threads']} torch thread(s), CPU.
Command: `{result['command']}`{' (smoke run at toy sizes: a check of the script, not a result)' if args.smoke else ''}

Data: our pseudo-spectral solver ({args.solver_resolution}^2, IF-RK4, dt 0.02, float32), stored at
64x64, t = 0..50; 10 input frames (t = 0..9) -> 40 predicted frames (t = 10..49).
FNO-2D as in the paper (width 20, 12 modes, 4 layers; {result['parameters']:,} parameters), trained
{args.epochs} epochs on {args.n_train} trajectories with {windows}.

{markdown_table(rows)}
Rollout error is the relative L2 over the 40 predicted frames per test sample, averaged
over {args.n_test} test trajectories (the paper's convention); the final-step error is
{result['final_step_rel_l2']:.4f}.
"""
    if args.resume:
        md += (f"\nThe run was interrupted and continued with `--resume {args.resume}` (the engine's resume "
               "reaches the same weights as an uninterrupted run on the CPU).\n")
    return md


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=200)
    ap.add_argument("--n-test", type=int, default=50)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--unroll", type=int, default=1, help="training steps unrolled (paper: 40)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--solver-resolution", type=int, default=64)
    ap.add_argument("--workdir", default=None, help="data and runs (default benchmarks/out/fno_navier_stokes)")
    ap.add_argument("--resume", default=None, help="an interrupted run directory to continue")
    harness.add_output(ap)
    args = ap.parse_args(argv)
    if args.smoke:
        args.n_train, args.n_test, args.epochs, args.solver_resolution = 2, 1, 1, 32
    env = harness.start(args, __file__, argv, threads=args.threads, seed=0)
    work = harness.work_dir(args, harness.WORK / NAME, args.workdir)
    overrides = [
        f"problem.resolution={args.solver_resolution}", "problem.dt=0.02",
        f"data.n_train={args.n_train}", "data.n_val=20", f"data.n_test={args.n_test}",
        f"data.cache_dir={work}/data", f"output.runs_dir={work}/runs",
        f"train.epochs={args.epochs}", f"train.unroll={args.unroll}", f"train.threads={args.threads}",
        "train.schedule=cosine", "train.lr=3e-3", "train.batch_size=20", "rollout.steps=40",
        *(SMOKE if args.smoke else []),
    ]
    case = load_case("navier_stokes_2d", overrides)
    t0 = time.perf_counter()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF).ru_utime
    if args.resume:
        summary = train_case(device="cpu", resume=args.resume)
    else:
        summary = train_case(case, device="cpu")
    wall = time.perf_counter() - t0
    cpu = resource.getrusage(resource.RUSAGE_SELF).ru_utime - cpu0
    epochs = [json.loads(x) for x in (Path(summary.run_dir) / "metrics.jsonl").read_text().splitlines()]
    per_epoch = sum(e["seconds"] for e in epochs) / len(epochs)
    result = {
        "date": env["created"][:10],
        "machine": f"{harness.cpu_name()}, {env['cpu_count']} cores, shared",
        "threads": env["torch_threads"],
        "command": env["command"],
        "n_train": args.n_train, "n_test": args.n_test, "epochs": args.epochs, "unroll": args.unroll,
        "parameters": RunDir.open(summary.run_dir).load_solver().n_parameters(),
        "test_one_step_rel_l2": summary.test["test_rel_l2"],
        "rollout_rel_l2_40_frames": summary.rollout["rollout_rel_l2"],
        "final_step_rel_l2": summary.rollout["final_step_rel_l2"],
        "seconds_per_epoch_wall": per_epoch,
        "total_wall_s": wall, "total_cpu_s": cpu,
        "paper_rel_l2": 0.0128, "paper_n_train": 1000, "paper_epochs": 500,
        "run_dir": str(summary.run_dir),
        "environment": env,
    }
    md = markdown(result, args)
    harness.write_section(args.out, NAME, result, md)
    print(md)
    return result


if __name__ == "__main__":
    main()
