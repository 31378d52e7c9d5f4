"""Data-parallel processes: torch.distributed set up from torchrun's environment, and the launcher.

A command started by ``torchrun`` (or ``pdesolve train --nproc N``, which runs torchrun's own entry
point, `torch.distributed.run`) finds ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous
in its environment; `init` joins the process group (gloo on the CPU, NCCL on CUDA with one device
per local rank) with a timeout, so a collective never waits forever. Without that environment
everything here is the one-process identity: `World()` of size 1, no process group.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

LAUNCHER_ENV = "PDESOLVE_NPROC_LAUNCH"  # set by `launch` for the processes it starts
TIMEOUT_S = float(os.environ.get("PDESOLVE_DIST_TIMEOUT", "600"))  # a collective's longest wait


@dataclass(frozen=True)
class World:
    """This process's place among the data-parallel processes (size 1: a one-process run)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes files."""
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """One CUDA device per local rank; the CPU as it is."""
        if device.type != "cuda" or self.size == 1:
            return device
        return torch.device("cuda", self.local_rank)


def launched() -> bool:
    """Started by torchrun with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init(device: torch.device) -> World:
    """Join the process group of a torchrun launch (once; later calls return the same `World`)."""
    if not launched():
        return World()
    world = World(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0)))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(world.local_rank)
        dist.init_process_group(backend, timeout=timedelta(seconds=TIMEOUT_S))
        atexit.register(_leave)
    return world


def _leave() -> None:
    """Leave the process group before the interpreter exits: a gloo group left to static destructors
    can abort a finished process ("terminate called without an active exception")."""
    if dist.is_initialized():
        dist.destroy_process_group()


def current() -> World:
    """The `World` of the joined process group (size 1 without one)."""
    if not dist.is_initialized():
        return World()
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def broadcast(obj: Any, world: World) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if world.size == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_gather(obj: Any, world: World) -> list[Any]:
    """Every rank's ``obj``, in rank order, on every rank."""
    if world.size == 1:
        return [obj]
    out: list[Any] = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def gather(obj: Any, world: World) -> list[Any] | None:
    """Every rank's ``obj`` in rank order on rank 0 (``None`` elsewhere)."""
    if world.size == 1:
        return [obj]
    out: list[Any] | None = [None] * world.size if world.main else None
    dist.gather_object(obj, out, dst=0)
    return out


def barrier(world: World) -> None:
    if world.size > 1:
        dist.barrier()


def all_sum(value: torch.Tensor, world: World) -> torch.Tensor:
    """The sum of ``value`` over ranks (a copy; ``value`` itself on one process)."""
    if world.size == 1:
        return value
    value = value.detach().clone()
    dist.all_reduce(value)
    return value


def record_failure(line: str) -> bool:
    """In a process started by `launch`: leave this process's one error line for the launcher (in
    torchrun's error file, timed to the nanosecond) and return True; elsewhere False."""
    path = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if not (path and os.environ.get(LAUNCHER_ENV) and launched()):
        return False
    with open(path, "w") as fp:
        json.dump({"message": line, "timestamp": int(time.time()), "time_ns": time.time_ns()}, fp)
    return True


def launch(nproc: int, args: list[str]) -> int:
    """Run ``python -m pdesolve ARGS`` in ``nproc`` processes on this machine through torchrun's
    entry point (`torch.distributed.run`, standalone rendezvous) and return the job's exit code.

    On a failure torchrun stops every process; this prints one line -- a rank killed by a signal
    (not torchrun's own SIGTERM), else the first error line a rank recorded (`record_failure`; the
    errors of the ranks that lost their peer come later) -- and returns that rank's exit code.
    """
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    os.environ.setdefault("OMP_NUM_THREADS", "1")  # what torchrun would set, without its warning
    os.environ[LAUNCHER_ENV] = "1"
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    parsed = get_args_parser().parse_args(["--standalone", "--nproc-per-node", str(nproc),
                                           "--monitor-interval", "0.2", "-m", "pdesolve", *args])
    try:
        run(parsed)
    except ChildFailedError as failed:
        failures = sorted(failed.failures.items())
        killed = [(r, f) for r, f in failures if f.exitcode < 0 and -f.exitcode != signal.SIGTERM]
        recorded = sorted((f.error_file_data["time_ns"], r, f) for r, f in failures
                          if f.exitcode > 0 and "time_ns" in f.error_file_data)
        if killed:
            rank, failure = killed[0]
            line = f"failed: rank {rank} was killed by {signal.Signals(-failure.exitcode).name}; the job stopped"
        elif recorded:
            _, rank, failure = recorded[0]
            line = failure.message
        else:
            rank, failure = failures[0]
            line = f"failed: rank {rank} ended with exit code {failure.exitcode}; the job stopped"
        print(line, file=sys.stderr, flush=True)
        return failure.exitcode if failure.exitcode > 0 else 1
    return 0
