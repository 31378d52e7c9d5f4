"""Verification numbers and generation cost of `burgers_1d` (quoted in docs/problems/burgers_1d.md).

Run: ``.venv/bin/python benchmarks/verify_burgers_1d.py`` (about a minute on one core). Prints the
numbers and writes benchmarks/results/verify_burgers_1d.{json,md}.
"""

from __future__ import annotations

import argparse
import math
import time

import harness
import torch

from pdesolve.data.grid import Grid
from pdesolve.engines.tables import markdown_table
from pdesolve.problems.burgers_1d import Burgers1D, cole_hopf, integrate_burgers

NAME = "verify_burgers_1d"
RANDOM_DTS = [1e-2, 5e-3, 2e-3, 1e-3, 5e-4, 2.5e-4]
SMOOTH_DTS = [4e-2, 2e-2, 1e-2, 5e-3, 2.5e-3]


def rel(a, b):
    return ((a - b).norm(dim=-1) / b.norm(dim=-1)).max().item()


def convergence(u0, grid, t, dts, nu=0.1) -> list[dict]:
    """Worst relative L2 error against Cole-Hopf at ``t`` per time step, with the observed order."""
    exact = cole_hopf(u0, grid, [t], viscosity=nu)[:, 0]
    errors = [rel(integrate_burgers(u0, grid, [t], viscosity=nu, dt=dt)[:, 0], exact) for dt in dts]
    rows = []
    for i, (dt, e) in enumerate(zip(dts, errors, strict=True)):
        order = None if i == 0 else math.log(errors[i - 1] / e) / math.log(dts[i - 1] / dt)
        print(f"  dt = {dt:<8g} max relative L2 error {e:9.2e}  order {'' if order is None else f'{order:6.2f}'}")
        rows.append({"dt": dt, "error": e, "order": order})
    return rows


def table(rows: list[dict]) -> str:
    return markdown_table([{"dt": f"{r['dt']:g}", "max relative L2 error": f"{r['error']:.2e}",
                            "order": "" if r["order"] is None else f"{r['order']:.2f}"} for r in rows])


def markdown(r: dict) -> str:
    return "\n".join([
        "## Burgers 1-D reference solver against Cole-Hopf", "",
        harness.provenance(r["environment"]), "",
        f"GRF initial conditions, defaults (N = {r['n']}, nu = 0.1), {r['samples']} samples, t = 1, worst sample:",
        "", table(r["random_t1"]),
        "Same, t = 0.05 (before the rough initial modes have decayed):", "", table(r["random_t005"]),
        "Smooth u0 = sin 2 pi x + 0.5 cos(4 pi x + 1), N = 128, nu = 0.1, t = 0.5:", "", table(r["smooth"]),
        f"|u(1)| / |u(0)| = {r['decay']:.3f} (mean over samples). generate(n={r['generate']['n']}) at the "
        f"defaults: {r['generate']['seconds']:.2f} s, {1e3 * r['generate']['seconds_per_sample']:.1f} ms per "
        "sample.", ""])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    harness.add_output(parser)
    args = parser.parse_args(argv)
    env = harness.start(args, __file__, argv, seed=0, threads=1)
    problem = Burgers1D({"resolution": 128} if args.smoke else {})
    grid = problem.solver_grid
    samples, dts = (2, RANDOM_DTS[:2]) if args.smoke else (8, RANDOM_DTS)
    u0 = problem.sample_inputs(samples, 0, 0, "cpu")[:, 0]
    record = {"environment": env, "n": grid.shape[0], "samples": samples}
    print(f"GRF initial conditions, defaults (N = {grid.shape[0]}, nu = 0.1), {samples} samples, t = 1, "
          "vs Cole-Hopf:")
    record["random_t1"] = convergence(u0, grid, 1.0, dts)
    print("same, t = 0.05 (before the rough initial modes have decayed):")
    record["random_t005"] = convergence(u0, grid, 0.05, dts)

    small = Grid.uniform(1, 128)
    x = torch.as_tensor(small.coords()["x"])
    smooth = (torch.sin(2 * math.pi * x) + 0.5 * torch.cos(4 * math.pi * x + 1))[None]
    print("smooth u0 = sin 2 pi x + 0.5 cos(4 pi x + 1), N = 128, nu = 0.1, t = 0.5, vs Cole-Hopf:")
    record["smooth"] = convergence(smooth, small, 0.5, SMOOTH_DTS[:2] if args.smoke else SMOOTH_DTS)

    exact = cole_hopf(u0, grid, [1.0], viscosity=0.1)[:, 0]
    record["decay"] = (exact.norm(dim=-1) / u0.norm(dim=-1)).mean().item()
    print(f"|u(1)| / |u(0)| = {record['decay']:.3f} (mean over samples)")

    n = 2 if args.smoke else 32
    start = time.perf_counter()
    problem.generate(n=n, seed=0)
    elapsed = time.perf_counter() - start
    record["generate"] = {"n": n, "seconds": elapsed, "seconds_per_sample": elapsed / n}
    print(f"generate(n={n}) at the defaults: {elapsed:.2f} s, {1e3 * elapsed / n:.1f} ms per sample (1 thread)")
    harness.write_section(args.out, NAME, record, markdown(record))
    return record


if __name__ == "__main__":
    main()
