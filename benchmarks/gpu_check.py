"""One-shot check of the CUDA path: reference solver, FNO training step (fp32 and bf16 autocast),
autoregressive rollout, and the whole `train_case` path on a tiny case. Prints throughput and
writes JSON to $OUT/gpu_check.json (or benchmarks/results/gpu_check.json).

    python benchmarks/gpu_check.py
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch

from pdesolve.backends import get_backend
from pdesolve.data import Grid
from pdesolve.engines.rollout import predict_trajectory
from pdesolve.problems import Problem

DEVICE = torch.device(os.environ.get("GPU_CHECK_DEVICE", "cuda"))
SMALL = DEVICE.type == "cpu"  # a dry run of the script itself on the CPU


def sync():
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, repeat=5):
    fn()
    sync()
    t0 = time.perf_counter()
    for _ in range(repeat):
        out = fn()
    sync()
    return (time.perf_counter() - t0) / repeat, out


def main() -> None:
    dev = DEVICE
    res = {"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu", "torch": torch.__version__}
    os.environ["PDESOLVE_PROGRESS"] = "0"

    # reference solver: NS-2D vorticity, batch 64, 256^2, one time unit at dt = 1e-3 x 100 steps
    ns = Problem.from_config({"name": "navier_stokes_2d", "resolution": 32 if SMALL else 256, "t_end": 0.1,
                              "snapshot_interval": 0.1, "dt": 1e-3, "dtype": "float32"})
    w0 = ns.sample_inputs(2 if SMALL else 64, 0, 0, dev)
    sec, traj = timed(lambda: ns.simulate(w0, ns.solver_grid), repeat=2)
    res["ns2d_256_batch64_steps_per_s"] = 100 / sec
    res["ns2d_finite"] = bool(torch.isfinite(traj).all())

    # FNO training step, 64^2, width 32, modes 12, batch 32; fp32 vs bf16 autocast
    solver = get_backend("fno", modes=12, width=32, layers=4, window=10)

    class P:
        task, name, inputs, outputs = "trajectory", "ns", ("vorticity",), ("vorticity",)

    solver.setup = solver.setup_for(P, Grid.uniform(2, 64))
    solver.build(solver.setup)
    solver.to(dev)
    model = solver.model
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    b = 2 if SMALL else 32
    x = torch.randn(b, 10, 1, 64, 64, device=dev)
    y = torch.randn(b, 1, 64, 64, device=dev)

    def step(amp):
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            loss = ((model(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    for amp in (False, True):
        sec, loss = timed(lambda amp=amp: step(amp), repeat=2 if SMALL else 20)
        res[f"fno_train_samples_per_s_{'bf16' if amp else 'fp32'}"] = b / sec
        res[f"fno_loss_finite_{'bf16' if amp else 'fp32'}"] = bool(torch.isfinite(loss))

    # rollout: 40 autoregressive steps of a batch of 32
    window = torch.randn(b, 10, 1, 64, 64, device=dev)
    steps = 2 if SMALL else 40
    sec, tr = timed(lambda: predict_trajectory(solver.predict, window, steps), repeat=2)
    res["fno_rollout_steps_per_s"] = steps / sec
    res["rollout_finite"] = bool(torch.isfinite(tr.frames).all())

    # the whole path: tiny case end to end on CUDA
    from pdesolve.config import load_case
    from pdesolve.engines.train import train_case

    tmp = Path(os.environ.get("OUT", "/tmp"))
    case = load_case("cases/quickstart.yaml", [f"data.cache_dir={tmp}/data", f"output.runs_dir={tmp}/runs",
                                    "train.epochs=3", "data.n_train=16", "data.n_val=4", "data.n_test=4",
                                    "output.figures=false", f"data.device={dev.type}",
                                    *(["problem.resolution=32", "problem.t_end=12"] if SMALL else [])])
    t0 = time.perf_counter()
    s = train_case(case, device=dev.type)
    res["train_case_cuda_seconds"] = time.perf_counter() - t0
    res["train_case_test_rel_l2"] = s.test["test_rel_l2"]
    res["train_case_rollout_rel_l2"] = s.rollout["rollout_rel_l2"]
    out = Path(os.environ.get("OUT", "benchmarks/results")) / "gpu_check.json"
    out.write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
