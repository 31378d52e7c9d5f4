"""Training from a user's file (issue 16): memory against file size, and streaming throughput.

1. Peak resident memory against file size for the streaming path. For each size, a trajectory
   file in The Well's layout (2-D, two fields, 64x64, 20 steps) is written; a fresh process opens
   it as a ``dataset`` case, makes the one streaming pass over the whole training split (the
   normalisers' statistics) and trains ``--batches`` batches drawn from all of it through the
   DataLoader (2 workers). Its peak resident set (VmHWM) and its workers' are recorded: they should
   not grow with the file.
2. Training throughput streaming vs in memory: the same FNO (width 32, 12 modes, 4 layers,
   batch 16) trained on the same file's pairs held in memory and read on demand with 0 and 2
   DataLoader workers, ``--batches`` training steps each, interleaved ``--repeats`` times in one
   process (one torch thread); the ratio is in-memory time over streaming time (1 = as fast).
   The file is in the page cache (it was just written): the figure is the cost of the data
   path, not of the disk.

    python benchmarks/own_data.py [--sizes-mb 128 512 2048] [--smoke] [--out DIR]

Writes benchmarks/results/own_data.{json,md}.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness

NAME = "own_data"
BYTES_PER_TRAJECTORY = 2 * 20 * 64 * 64 * 4


def write_trajectories(path: Path, n: int, steps: int = 20, size: int = 64) -> int:
    """``n`` trajectories of two periodic fields (``u``, ``v``) in The Well's layout, written a few
    trajectories at a time; returns the file size in bytes."""
    import h5py
    import numpy as np

    x = np.arange(size) / size
    X, Y = np.meshgrid(x, x, indexing="ij")
    t = np.arange(steps) * 0.05
    with h5py.File(path, "w") as f:
        f.attrs.update({"dataset_name": "benchmark", "grid_type": "cartesian", "n_spatial_dims": 2,
                        "n_trajectories": n, "simulation_parameters": []})
        dims = f.create_group("dimensions")
        dims.attrs["spatial_dims"] = ["x", "y"]
        dims["time"] = t.astype(np.float32)
        dims["time"].attrs["sample_varying"] = False
        for axis in ("x", "y"):
            dims[axis] = x.astype(np.float32)
            dims[axis].attrs.update({"sample_varying": False, "time_varying": False})
            bc = f.create_group(f"boundary_conditions/{axis}_periodic")
            bc.attrs.update({"associated_dims": [axis], "bc_type": "periodic", "sample_varying": False,
                             "time_varying": False})
            bc["mask"] = np.isin(np.arange(size), [0, size - 1])
        fields = f.create_group("t0_fields")
        fields.attrs["field_names"] = ["u", "v"]
        data = {}
        for name in ("u", "v"):
            data[name] = fields.create_dataset(name, (n, steps, size, size), np.float32,
                                               chunks=(1, 1, size, size))
            data[name].attrs.update({"sample_varying": True, "time_varying": True, "dim_varying": [True, True]})
        rng = np.random.default_rng(0)
        for start in range(0, n, 16):
            k = min(16, n - start)
            a, b, c = (rng.normal(size=(k, 1, 1, 1)) for _ in range(3))
            T = t.reshape(1, -1, 1, 1)
            data["u"][start:start + k] = a * np.sin(2 * np.pi * (X + c * T)) + b * np.cos(2 * np.pi * (Y - T))
            data["v"][start:start + k] = b * np.cos(2 * np.pi * (X - T)) * np.sin(2 * np.pi * (c * Y + T))
    return os.path.getsize(path)


def _case(path: Path, n: int):
    from pdesolve.config import Case, ResolvedCase

    n_test = max(1, n // 20)
    return ResolvedCase(Case(
        name="own_data", problem={"name": "dataset", "path": str(path), "task": "trajectory", "inputs": ["u", "v"]},
        data={"n_train": n - n_test, "n_val": 0, "n_test": n_test, "seed": 0},
        backend={"name": "fno", "window": 1, "modes": 12, "width": 32, "layers": 4},
        train={"epochs": 1, "batch_size": 16, "seed": 0}), "benchmarks/own_data.py")


def _solver_and_pairs(case, data):
    from pdesolve.data.samples import select_split

    solver = case.make_solver()
    solver.setup = solver.setup_for(case.problem, case.problem.solver_grid)
    solver.build(solver.setup)
    return solver, solver.pairs(select_split(data, "train"))


def _train(solver, batches, n: int, optimizer) -> float:
    """Seconds for ``n`` training steps (read, forward, relative-L2 loss, backward, AdamW) on ``batches``."""
    from pdesolve.metrics import relative_l2_loss

    model = solver.model
    model.train()
    t0 = time.perf_counter()
    for _ in range(n):
        x, y = next(batches)
        loss = relative_l2_loss(model(x), y[:, 0])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - t0


def _endless(loader, seed: int):
    import torch

    epoch = 0
    while True:
        yield from loader(torch.Generator().manual_seed(seed + epoch))
        epoch += 1


def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        return int(next(line.split()[1] for line in f if line.startswith(key))) << 10


def memory_child(path: Path, n: int, batches: int, workers: int) -> dict:
    """In a fresh process: the streaming pass and ``batches`` training steps; peak memory."""
    import resource

    import torch

    from pdesolve.data.streaming import PairLoader
    from pdesolve.engines.data import load_or_generate

    torch.set_num_threads(1)
    case = _case(path, n)
    data, _, _ = load_or_generate(case)
    solver, pairs = _solver_and_pairs(case, data)
    t0 = time.perf_counter()
    solver.fit_normalizers(pairs)
    scan_seconds = time.perf_counter() - t0
    optimizer = torch.optim.AdamW(solver.model.parameters(), lr=1e-3)
    batches_iter = _endless(PairLoader(pairs, case.case.train.batch_size, workers=workers), 0)
    seconds = _train(solver, batches_iter, batches, optimizer)
    peak = _status("VmHWM")
    batches_iter.close()  # ends the DataLoader iterator: its workers exit and are waited for
    gc.collect()
    workers_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss << 10
    return {"peak_rss_bytes": peak, "worker_peak_rss_bytes": workers_peak, "scan_seconds": scan_seconds,
            "train_seconds": seconds}


def memory_study(work: Path, sizes_mb: list[int], batches: int, workers: int) -> list[dict]:
    rows = []
    for mb in sizes_mb:
        n = max(4, round(mb * 2**20 / BYTES_PER_TRAJECTORY))
        path = work / f"trajectories_{mb}mb.hdf5"
        size = write_trajectories(path, n)
        out = subprocess.run([sys.executable, __file__, "--memory-child", str(path), "--n", str(n), "--batches",
                              str(batches), "--workers", str(workers)], capture_output=True, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1", "PDESOLVE_PROGRESS": "0"})
        if out.returncode:
            raise RuntimeError(out.stderr[-3000:])
        result = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append({"file_mb": size / 2**20, "trajectories": n, **result})
        print(f"{size / 2**20:.0f} MB: peak RSS {result['peak_rss_bytes'] / 2**20:.0f} MB, a worker "
              f"{result['worker_peak_rss_bytes'] / 2**20:.0f} MB", flush=True)
        path.unlink()
    return rows


def throughput_study(work: Path, mb: int, batches: int, repeats: int) -> dict:
    """Interleaved timings of in-memory and streamed (0 and 2 workers) training steps."""
    import torch

    from pdesolve.data.streaming import PairLoader
    from pdesolve.engines.data import load_or_generate

    n = max(4, round(mb * 2**20 / BYTES_PER_TRAJECTORY))
    path = work / "throughput.hdf5"
    size = write_trajectories(path, n)
    case = _case(path, n)
    lazy, _, _ = load_or_generate(case)
    memory = lazy.load()
    bs = case.case.train.batch_size
    paths = {}
    for label, data, workers in (("memory", memory, 0), ("stream_0_workers", lazy, 0), ("stream_2_workers", lazy, 2)):
        torch.manual_seed(0)
        solver, pairs = _solver_and_pairs(case, data)
        solver.fit_normalizers(pairs)
        optimizer = torch.optim.AdamW(solver.model.parameters(), lr=1e-3)
        batches_iter = _endless(PairLoader(pairs, bs, workers=workers), 0)
        _train(solver, batches_iter, 3, optimizer)  # warm-up (and the workers' start)
        paths[label] = (solver, batches_iter, optimizer)
    seconds = {label: [] for label in paths}
    for _ in range(repeats):
        for label, (solver, batches_iter, optimizer) in paths.items():
            seconds[label].append(_train(solver, batches_iter, batches, optimizer))
    med = {label: statistics.median(s) for label, s in seconds.items()}
    path.unlink()
    return {"file_mb": size / 2**20, "trajectories": n, "batch": bs, "steps_per_timing": batches,
            "repeats": repeats, "seconds": seconds, "median_seconds": med,
            "steps_per_second": {k: batches / v for k, v in med.items()},
            "ratio_stream_2_workers": med["memory"] / med["stream_2_workers"],
            "ratio_stream_0_workers": med["memory"] / med["stream_0_workers"],
            "paired_ratio": paired_ratios(seconds)}


def paired_ratios(seconds: dict[str, list[float]]) -> dict[str, float]:
    """Median over repeats of in-memory time over each path's time in the same repeat (robust to a
    box whose load changes between repeats)."""
    return {k: statistics.median(m / x for m, x in zip(seconds["memory"], v, strict=True))
            for k, v in seconds.items()}


def markdown(result: dict) -> str:
    from pdesolve.engines.tables import markdown_table

    env, t = result["environment"], result["throughput"]
    mem = [{"file [MB]": r["file_mb"], "trajectories": r["trajectories"],
            "peak RSS trainer [MB]": r["peak_rss_bytes"] / 2**20,
            "peak RSS of a worker [MB]": r["worker_peak_rss_bytes"] / 2**20,
            "scan [s]": r["scan_seconds"],
            f"{result['memory_batches']} steps, workers' start included [s]": r["train_seconds"]}
           for r in result["memory"]]
    speed = [{"path": k.replace("_", " "), "steps/s (median)": v,
              "timings min / median / max [s]": " / ".join(f"{f(t['seconds'][k]):.1f}" for f in (min, statistics.median,
                                                                                               max)),
              "ratio of medians": t["median_seconds"]["memory"] / t["median_seconds"][k],
              "median of paired ratios": paired_ratios(t["seconds"])[k]}
             for k, v in t["steps_per_second"].items()]
    load = ", ".join(f"{x:.1f}" for x in env["load_average"] or [])
    return (f"# Training from your own files (issue 16)\n\n"
            f"Machine: {env['hardware']}, {env['cpu_count']} cores, torch {env['torch']} with "
            f"{env['torch_threads']} thread per process; {env['created']}; load average at the start {load} "
            f"(the box was shared); command `{result['command']}`.\n\n"
            "## Peak resident memory against file size (streaming path)\n\n"
            "A fresh process per file: the streaming statistics pass over the whole training split, then "
            f"{result['memory_batches']} training steps (FNO width 32, batch 16) with "
            f"{result['memory_workers']} DataLoader workers reading windows from all of the file.\n\n"
            + markdown_table(mem) +
            "\n## Training throughput: streaming vs in memory\n\n"
            f"{t['file_mb']:.0f} MB file ({t['trajectories']} trajectories, 20 steps, 2 fields on 64x64), FNO "
            f"width 32, 12 modes, 4 layers, batch {t['batch']}; {t['steps_per_timing']} steps per timing, "
            f"{t['repeats']} interleaved repeats, medians; the file is in the page cache.\n\n"
            + markdown_table(speed) +
            f"\nStreaming with 2 workers runs at **{t['ratio_stream_2_workers']:.2f}x** the in-memory speed "
            f"(ratio of medians; {paired_ratios(t['seconds'])['stream_2_workers']:.2f}x as the median of the "
            "ratios within each repeat; target 0.8). A ratio is in-memory time over streaming time for the same "
            "steps; the in-memory path gathers its batches in the training process, the workers read ahead in "
            "others.\n")


def main(argv=None) -> dict | None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes-mb", type=int, nargs="+", default=[128, 512, 2048])
    p.add_argument("--throughput-mb", type=int, default=256)
    p.add_argument("--batches", type=int, default=40, help="training steps per timing / per memory run")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--work", type=Path, default=None, help="where to write the files (default: a temporary folder)")
    p.add_argument("--memory-child", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    harness.add_output(p)
    args = p.parse_args(argv)
    if args.memory_child is not None:
        print(json.dumps(memory_child(args.memory_child, args.n, args.batches, args.workers)))
        return None
    env = harness.start(args, __file__, argv, threads=1)
    if args.smoke:
        args.sizes_mb, args.throughput_mb, args.batches, args.repeats = [4, 8], 4, 3, 2
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        work = Path(tmp)
        memory = memory_study(work, args.sizes_mb, args.batches, args.workers)
        throughput = throughput_study(work, args.throughput_mb, args.batches, args.repeats)
    result = {"environment": env, "command": env["command"], "memory_batches": args.batches,
              "memory_workers": args.workers, "memory": memory, "throughput": throughput}
    print(json.dumps(throughput["median_seconds"]), f"ratio {throughput['ratio_stream_2_workers']:.3f}")
    harness.write_section(args.out, NAME, result, markdown(result))
    return result


if __name__ == "__main__":
    main()
