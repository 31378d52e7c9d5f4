"""Train on a big file in a process whose memory is capped (run as ``python -m tests.memory_cap``).

The cap is ``RLIMIT_DATA`` (heap and private mappings, what arrays read from a file occupy), set
before anything is imported, so it bounds everything the process holds. ``--mode stream`` trains
through the streaming path (the file stays on disk); ``--mode memory`` loads the dataset into
memory first (the in-memory path). The trained weights go to ``--out``.
"""

from __future__ import annotations

import argparse
import resource


def train_map(case, in_memory: bool) -> dict:
    """Fit the case's FNO for its epochs on the file (streamed, or loaded into memory first); the weights."""
    import torch

    from pdesolve.engines.data import load_or_generate
    from pdesolve.engines.train import Trainer

    data, _, _ = load_or_generate(case)
    if in_memory:
        data = data.load()
    torch.manual_seed(0)
    solver = case.make_solver()
    solver.fit(case.problem, data, Trainer(case.case.train, "cpu"))
    return solver.state_dict()["tensors"]


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--file", required=True)
    p.add_argument("--mode", choices=("stream", "memory"), required=True)
    p.add_argument("--limit-mb", type=int, default=0, help="RLIMIT_DATA in MiB (0: none)")
    p.add_argument("--n-train", type=int, required=True)
    p.add_argument("--n-test", type=int, default=4)
    p.add_argument("--channels", type=int, required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    if args.limit_mb:
        limit = args.limit_mb << 20
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))

    import torch

    from tests.own_data import map_case

    torch.set_num_threads(1)
    weights = train_map(map_case(args.file, args.channels, args.n_train, args.n_test), args.mode == "memory")
    torch.save(weights, args.out)
    with open("/proc/self/status") as f:
        peak = next(line.split()[1] for line in f if line.startswith("VmHWM"))
    print(f"peak resident {int(peak) >> 10} MiB")


if __name__ == "__main__":
    main()
