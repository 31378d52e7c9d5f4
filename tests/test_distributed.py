"""Data-parallel training and generation on 2 CPU processes (gloo), launched through torchrun's
own entry point (`torch.distributed.run`, as ``pdesolve train --nproc 2`` does)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from pdesolve.config import load_case
from pdesolve.engines.data import load_or_generate
from pdesolve.engines.train import train_case
from tests.helpers import write_case

# 7 training samples in global batches of 4: the last batch (3) is shared 2 + 1, so the loss weights
# (`share_weight`) matter; data.batch_size 4 gives generation 3 batches to share out.
TINY = {
    "name": "tiny_burgers",
    "problem": {"name": "burgers_1d", "resolution": 64, "t_end": 1.0, "n_snapshots": 2},
    "data": {"n_train": 7, "n_val": 3, "n_test": 2, "resolution": 32, "seed": 0, "batch_size": 4},
    "backend": {"name": "fno", "window": 1, "modes": 4, "width": 8, "layers": 2, "projection_channels": 8},
    "train": {"epochs": 4, "batch_size": 4, "lr": 1e-3, "seed": 0, "threads": 1, "schedule": "constant"},
    "output": {"figures": False},
}
TESTS = Path(__file__).resolve().parent


def pdesolve(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PDESOLVE_PROGRESS": "0", **(env or {})}
    return subprocess.run([sys.executable, "-m", "pdesolve", *args], capture_output=True, text=True, env=environ,
                          timeout=timeout)


def weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoint.pt", weights_only=True)["solver"]["tensors"]


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> Path:
    return write_case(tmp_path_factory.mktemp("distributed"), TINY)


@pytest.fixture(scope="module")
def two_process_run(case) -> Path:
    run = case.parent / "two"
    done = pdesolve("train", str(case), "--run-dir", str(run), "--no-rollout", "--device", "cpu", "--nproc", "2")
    assert done.returncode == 0, done.stderr
    return run


def test_two_processes_reach_the_weights_of_one(case, two_process_run):
    """Global batch 4 on 2 processes == batch 4 on 1 process after 4 epochs x 2 steps, to float32
    reduction order (DDP sums the two halves' gradients in another order): atol 1e-5."""
    one = case.parent / "one"
    train_case(load_case(str(case)), run_dir=one, device="cpu", rollout=False)
    a, b = weights(one), weights(two_process_run)
    assert a.keys() == b.keys() and not any(k.startswith("module.") for k in b)
    for k in a:
        torch.testing.assert_close(b[k], a[k], atol=1e-5, rtol=1e-5, msg=k)
    records = [line for line in (two_process_run / "metrics.jsonl").read_text().splitlines() if line]
    assert len(records) == TINY["train"]["epochs"]  # one writer: rank 0


def test_two_process_resume_equals_uninterrupted(case, two_process_run):
    """Bit for bit on the CPU: 2 epochs, then --resume for 2 more, on 2 processes."""
    run = case.parent / "resumed"
    first = pdesolve("train", str(case), "--run-dir", str(run), "--no-rollout", "--device", "cpu", "--nproc", "2",
                     "--set", "train.epochs=2")
    assert first.returncode == 0, first.stderr
    again = pdesolve("train", "--resume", str(run), "--no-rollout", "--device", "cpu", "--nproc", "2",
                     "--set", "train.epochs=4")
    assert again.returncode == 0, again.stderr
    a, b = weights(two_process_run), weights(run)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_generation_on_two_processes_equals_one(case):
    one = load_or_generate(load_case(str(case)), out=case.parent / "gen1.nc")
    done = pdesolve("generate", str(case), "--out", str(case.parent / "gen2.nc"), "--nproc", "2")
    assert done.returncode == 0, done.stderr
    with xr.open_dataset(one.path) as a, xr.open_dataset(case.parent / "gen2.nc") as b:
        assert a.attrs["content_hash"] == b.attrs["content_hash"]
        assert set(a.variables) == set(b.variables)
        for name in a.variables:
            np.testing.assert_array_equal(a[name].values, b[name].values)


@pytest.mark.parametrize("mode, line", [("raise", "failed: rank 1: RuntimeError: injected failure"),
                                        ("kill", "failed: rank 1 was killed by SIGKILL; the job stopped")])
def test_a_failing_rank_ends_the_job_with_one_line(case, tmp_path, mode, line):
    """Rank 1 fails in its first step while rank 0 waits for it in DDP's all-reduce."""
    (tmp_path / "sitecustomize.py").write_text(
        "import os, sys\n"
        "if os.environ.get('RANK'):\n"
        f"    sys.path.insert(0, {str(TESTS)!r})\n"
        "    import distributed_rank_fails  # noqa: F401\n")
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
           "PDESOLVE_TEST_FAIL": f"{mode}:1"}
    t0 = time.perf_counter()
    done = pdesolve("train", str(case), "--run-dir", str(tmp_path / "run"), "--no-rollout", "--device", "cpu",
                    "--nproc", "2", env=env, timeout=240)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [line + (" (PDESOLVE_DEBUG=1 shows the traceback)"
                                                        if mode == "raise" else "")]
    assert time.perf_counter() - t0 < 240


def test_a_backend_that_draws_its_own_points_refuses_two_processes_in_one_line(tmp_path):
    """INSR optimises per iteration on points it samples itself: not data parallel, said before training."""
    done = pdesolve("train", "insr_advection_1d", "--run-dir", str(tmp_path / "run"), "--no-rollout", "--device",
                    "cpu", "--nproc", "2", "--set", "problem.steps=1", "--set", "data.resolution=101",
                    "--set", "backend.samples=32", "--set", "backend.max_iterations=2",
                    "--set", "backend.initial_iterations=2", "--set", f"data.cache_dir={tmp_path / 'data'}")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "not data parallel" in lines[0] and "insr" in lines[0], done.stderr
