"""One-shot check of the CUDA path: reference solver, FNO training step (fp32 and bf16 autocast),
autoregressive rollout, and the whole `train_case` path on a tiny case. Prints throughput and
writes gpu_check.{json,md} into ``--out`` (default $OUT, else benchmarks/results).

    python benchmarks/gpu_check.py
    GPU_CHECK_DEVICE=cpu python benchmarks/gpu_check.py     # a dry run on the CPU at reduced sizes
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import harness
import torch

from pdesolve.backends import get_backend
from pdesolve.config import load_case
from pdesolve.data import Grid
from pdesolve.engines.rollout import predict_trajectory
from pdesolve.engines.tables import markdown_table
from pdesolve.engines.train import train_case
from pdesolve.problems import Problem

NAME = "gpu_check"


def timed(fn, repeats: int, device: torch.device, threads: int) -> tuple[float, object]:
    """Median seconds of ``fn()`` over ``repeats`` calls after one untimed call, and that call's output."""
    out = fn()
    return harness.interleaved({"fn": fn}, repeats, threads=threads, device=device, warmup=0).median["fn"], out


def markdown(res: dict) -> str:
    env = res["environment"]
    rows = [
        {"check": f"reference solver: NS-2D {res['ns2d_resolution']}^2, batch {res['ns2d_batch']}, float32, IF-RK4",
         "result": f"{res['ns2d_256_batch64_steps_per_s']:,.0f} steps/s, "
                   f"{'finite' if res['ns2d_finite'] else 'NOT finite'}"},
        {"check": f"FNO training step ({res['fno_grid']}^2, width {res['fno_width']}, {res['fno_modes']} modes, "
                  f"10-frame window, batch {res['batch']}), fp32",
         "result": f"{res['fno_train_samples_per_s_fp32']:,.0f} samples/s"},
        {"check": "same with bf16 autocast (FFTs kept in fp32)",
         "result": f"{res['fno_train_samples_per_s_bf16']:,.0f} samples/s, loss "
                   f"{'finite' if res['fno_loss_finite_bf16'] else 'NOT finite'}"},
        {"check": f"autoregressive rollout, batch {res['batch']}, {res['rollout_steps']} steps",
         "result": f"{res['fno_rollout_steps_per_s']:,.0f} steps/s, "
                   f"{'finite' if res['rollout_finite'] else 'NOT finite'}"},
        {"check": f"whole `train_case` path on {res['device']} (generate, train, test, rollout)",
         "result": f"{res['train_case_cuda_seconds']:.1f} s end to end"},
    ]
    return "\n".join([f"## CUDA path check (issue 2), {res['device']}", "", harness.provenance(env), "",
                      markdown_table(rows)])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default=os.environ.get("GPU_CHECK_DEVICE", "cuda"),
                        help="cuda, or cpu for a dry run at reduced sizes (default: $GPU_CHECK_DEVICE, else cuda)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    harness.add_output(parser, what="results folder (default $OUT if set)")
    args = parser.parse_args(argv)
    if args.out is None and os.environ.get("OUT"):
        args.out = Path(os.environ["OUT"])
    dev = torch.device(args.device)
    small = dev.type == "cpu" or args.smoke
    env = harness.start(args, __file__, argv, device=dev, threads=args.threads)
    res = {"device": env["hardware"] if dev.type == "cuda" else "cpu", "torch": torch.__version__,
           "smoke": args.smoke}

    # reference solver: NS-2D vorticity, batch 64, 256^2, one time unit at dt = 1e-3 x 100 steps
    res["ns2d_resolution"], res["ns2d_batch"] = (32, 2) if small else (256, 64)
    ns = Problem.from_config({"name": "navier_stokes_2d", "resolution": res["ns2d_resolution"], "t_end": 0.1,
                              "snapshot_interval": 0.1, "dt": 1e-3, "dtype": "float32"})
    w0 = ns.sample_inputs(res["ns2d_batch"], 0, 0, dev)
    sec, traj = timed(lambda: ns.simulate(w0, ns.solver_grid), 2, dev, args.threads)
    res["ns2d_256_batch64_steps_per_s"] = 100 / sec
    res["ns2d_finite"] = bool(torch.isfinite(traj).all())

    # FNO training step, 64^2, width 32, modes 12, batch 32; fp32 vs bf16 autocast
    n, width, modes = (16, 8, 4) if args.smoke else (64, 32, 12)
    solver = get_backend("fno", modes=modes, width=width, layers=4, window=10)

    class P:
        task, name, inputs, outputs = "trajectory", "ns", ("vorticity",), ("vorticity",)

    res.update(fno_grid=n, fno_width=width, fno_modes=modes)
    solver.setup = solver.setup_for(P, Grid.uniform(2, n))
    solver.build(solver.setup)
    solver.to(dev)
    model = solver.model
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    b = res["batch"] = 2 if small else 32
    x = torch.randn(b, 10, 1, n, n, device=dev)
    y = torch.randn(b, 1, n, n, device=dev)

    def step(amp):
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            loss = ((model(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    for amp in (False, True):
        sec, loss = timed(lambda amp=amp: step(amp), 2 if small else 20, dev, args.threads)
        res[f"fno_train_samples_per_s_{'bf16' if amp else 'fp32'}"] = b / sec
        res[f"fno_loss_finite_{'bf16' if amp else 'fp32'}"] = bool(torch.isfinite(loss))

    # rollout: 40 autoregressive steps of a batch of 32
    window = torch.randn(b, 10, 1, n, n, device=dev)
    steps = res["rollout_steps"] = 2 if small else 40
    sec, tr = timed(lambda: predict_trajectory(solver.predict, window, steps), 2, dev, args.threads)
    res["fno_rollout_steps_per_s"] = steps / sec
    res["rollout_finite"] = bool(torch.isfinite(tr.frames).all())

    # the whole path: tiny case end to end on the device
    tmp = harness.work_dir(args, Path(os.environ.get("OUT", "/tmp")))
    case = load_case("quickstart", [f"data.cache_dir={tmp}/data", f"output.runs_dir={tmp}/runs",
                                    "train.epochs=3", "data.n_train=16", "data.n_val=4", "data.n_test=4",
                                    "output.figures=false", f"data.device={dev.type}",
                                    *(["problem.resolution=32", "problem.t_end=12"] if small else []),
                                    *(["train.epochs=1", "data.n_train=2", "data.n_val=1", "data.n_test=1",
                                       "backend.width=4"] if args.smoke else [])])
    t0 = time.perf_counter()
    s = train_case(case, device=dev.type)
    res["train_case_cuda_seconds"] = time.perf_counter() - t0
    res["train_case_test_rel_l2"] = s.test["test_rel_l2"]
    res["train_case_rollout_rel_l2"] = s.rollout["rollout_rel_l2"]
    res["environment"] = env
    harness.write_section(args.out, NAME, res, markdown(res))
    print(json.dumps({k: v for k, v in res.items() if k != "environment"}, indent=2))
    return res


if __name__ == "__main__":
    main()
