"""Verification numbers and generation cost of `darcy_2d` (quoted in docs/problems/darcy_2d.md).

Run: ``.venv/bin/python benchmarks/verify_darcy_2d.py`` (about a minute on one core, 2 GB of memory).
Prints the numbers and writes benchmarks/results/verify_darcy_2d.{json,md}.
"""

from __future__ import annotations

import argparse
import math
import time

import harness
import numpy as np
import torch

from pdesolve.data.grid import Grid
from pdesolve.engines.tables import markdown_table
from pdesolve.problems.darcy_2d import Darcy2D, solve_darcy

NAME = "verify_darcy_2d"
PI = math.pi
# grid sizes of each study, full and --smoke
MANUFACTURED = {False: (17, 33, 65, 129, 257), True: (9, 17)}
SERIES = {False: (33, 65, 129, 257), True: (17, 33)}
NESTED = {False: ((65, 129, 257, 513, 1025), 64), True: ((17, 33, 65), 16)}  # sizes, GRF modes


def convergence(sizes, errors, label) -> list[dict]:
    rows = []
    for i, (n, e) in enumerate(zip(sizes, errors, strict=True)):
        order = None if i == 0 else math.log2(errors[i - 1] / e)
        print(f"  N = {n:<5} {label} {e:9.2e}  order {'' if order is None else f'{order:6.2f}'}")
        rows.append({"N": n, label: float(e), "order": order})
    return rows


def manufactured(sizes) -> list[dict]:
    print("manufactured solution a = 1.5 + sin(2 pi x + 0.3) cos(pi y), u = sin(pi x) sin(2 pi y),"
          " N x (2N - 1) nodes:")
    errors = []
    for n in sizes:
        grid = Grid.uniform(2, (n, 2 * n - 1), layout="nodes")
        x, y = grid.mesh()
        a = 1.5 + np.sin(2 * PI * x + 0.3) * np.cos(PI * y)
        a_x = 2 * PI * np.cos(2 * PI * x + 0.3) * np.cos(PI * y)
        a_y = -PI * np.sin(2 * PI * x + 0.3) * np.sin(PI * y)
        u = np.sin(PI * x) * np.sin(2 * PI * y)
        u_x = PI * np.cos(PI * x) * np.sin(2 * PI * y)
        u_y = 2 * PI * np.sin(PI * x) * np.cos(2 * PI * y)
        f = 5 * PI**2 * a * u - a_x * u_x - a_y * u_y  # -div(a grad u), Laplacian u = -5 pi^2 u
        uh = solve_darcy(torch.from_numpy(a)[None], grid, torch.from_numpy(f))[0].numpy()
        errors.append(np.abs(uh - u).max())
    return convergence(sizes, errors, "max error")


def series(sizes) -> tuple[float, list[dict]]:
    m = np.arange(1, 4000, 2)
    mm, nn = np.meshgrid(m, m, indexing="ij")
    centre = 16 / PI**4 * np.sum(np.sin(mm * PI / 2) * np.sin(nn * PI / 2) / (mm * nn * (mm**2 + nn**2)))
    print(f"a = 1, f = 1: centre value against the series u(1/2, 1/2) = {centre:.10f}:")
    errors = []
    for n in sizes:
        problem = Darcy2D({"resolution": n})
        uh = problem.simulate(torch.ones(1, 1, n, n, dtype=torch.float64), problem.solver_grid)
        errors.append(abs(uh[0, 0, n // 2, n // 2].item() - centre))
    return float(centre), convergence(sizes, errors, "centre error")


def nested(sizes, modes) -> list[dict]:
    coarse = sizes[0]
    print(f"thresholded GRF coefficient (12/3, f = 1), the same function (modes = {modes}) on nested grids,"
          f" error on the {coarse}-node grid against N = {sizes[-1]}:")
    solutions = {}
    for n in sizes:
        problem = Darcy2D({"resolution": n, "modes": modes})
        solutions[n] = problem.simulate(problem.sample_inputs(2, 0, 0, "cpu"), problem.solver_grid)
    stride = lambda n: (n - 1) // (coarse - 1)  # noqa: E731
    ref = solutions[sizes[-1]][..., :: stride(sizes[-1]), :: stride(sizes[-1])]
    errors = [((solutions[n][..., :: stride(n), :: stride(n)] - ref).norm() / ref.norm()).item()
              for n in sizes[:-1]]
    return convergence(sizes[:-1], errors, "relative L2 error")


def cell(key: str, value) -> str:
    if value is None:
        return ""
    if key == "order":
        return f"{value:.2f}"
    return f"{value:.2e}" if isinstance(value, float) else str(value)


def table(rows: list[dict]) -> str:
    return markdown_table([{k: cell(k, v) for k, v in r.items()} for r in rows])


def markdown(r: dict) -> str:
    return "\n".join([
        "## Darcy 2-D reference solver: convergence", "", harness.provenance(r["environment"]), "",
        "Manufactured solution a = 1.5 + sin(2 pi x + 0.3) cos(pi y), u = sin(pi x) sin(2 pi y), N x (2N - 1) "
        "nodes:", "", table(r["manufactured"]),
        f"a = 1, f = 1: centre value against the series u(1/2, 1/2) = {r['centre']:.10f}:", "", table(r["series"]),
        "Thresholded GRF coefficient (12/3, f = 1), the same function on nested grids, error on the coarsest grid "
        "against the finest:", "", table(r["nested"]),
        f"generate(n={r['generate']['n']}) at the defaults: {r['generate']['seconds']:.2f} s, "
        f"{r['generate']['seconds_per_sample']:.3f} s per sample.", ""])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    harness.add_output(parser)
    args = parser.parse_args(argv)
    env = harness.start(args, __file__, argv, seed=0, threads=1)
    record = {"environment": env, "manufactured": manufactured(MANUFACTURED[args.smoke])}
    record["centre"], record["series"] = series(SERIES[args.smoke])
    record["nested"] = nested(*NESTED[args.smoke])

    problem = Darcy2D({"resolution": 33} if args.smoke else {})
    n = 2 if args.smoke else 8
    start = time.perf_counter()
    problem.generate(n=n, seed=0)
    elapsed = time.perf_counter() - start
    record["generate"] = {"n": n, "resolution": problem.params.resolution, "seconds": elapsed,
                          "seconds_per_sample": elapsed / n}
    print(f"generate(n={n}) at the defaults ({problem.params.resolution} x {problem.params.resolution}): "
          f"{elapsed:.2f} s, {elapsed / n:.3f} s per sample (1 thread)")
    harness.write_section(args.out, NAME, record, markdown(record))
    return record


if __name__ == "__main__":
    main()
