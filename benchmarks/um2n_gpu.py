"""UM2N at the paper's widths on one GPU (prepared, smoke-tested on the CPU, not run: no GPU was lent).

Sized for about ten minutes on one H100 / H200: data generation on the host CPU (300 training +
12 + 16 Monge--Ampere meshes, ~0.3 s each uncontended, ~2 min), ``um2n-paper`` (the released
widths, 1.84 M parameters) trained for 300 epochs (cosine from lr 1e-3, batch 5: ~60 steps an
epoch; budget ~1-1.5 s an epoch on the card), then `benchmarks/um2n.py`'s comparison (MA on the
host CPU: ~64 meshes, ~1 min) and the zero-shot swirl set. The released training is 2 x 300 meshes,
1000 epochs, lr 5e-5: raise ``--n-train`` / ``--epochs`` when more time is lent.

    python benchmarks/um2n_gpu.py                     # on the GPU machine: results into $OUT (else
                                                      # benchmarks/results/gpu/), card recorded
    python benchmarks/um2n_gpu.py --smoke             # CPU, toy sizes: a check of the script
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import harness
import um2n

EPOCHS, N_TRAIN, LR = 300, 300, 1e-3


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--n-train", type=int, default=N_TRAIN)
    parser.add_argument("--lr", type=float, default=LR)
    parser.add_argument("--device", default="cuda")
    harness.add_output(parser)
    args = parser.parse_args(argv)
    out = args.out or (Path(os.environ["OUT"]) if os.environ.get("OUT") else harness.RESULTS / "gpu")
    forwarded = ["--out", str(out), "--work", str(harness.WORK / "um2n_gpu" if not args.smoke else out / "work"),
                 "--set", "backend.preset=um2n-paper", "--set", f"train.lr={args.lr}"]
    if args.smoke:  # toy sizes on the CPU; um2n.py --smoke narrows the network itself
        return um2n.main(["--smoke", *forwarded, "--device", "cpu"])
    return um2n.main([*forwarded, "--device", args.device, "--epochs", str(args.epochs),
                      "--n-train", str(args.n_train)])


if __name__ == "__main__":
    main()
