"""Verification numbers and generation cost of `darcy_2d` (quoted in docs/problems/darcy_2d.md).

Run: ``.venv/bin/python benchmarks/verify_darcy_2d.py`` (about a minute on one core, 2 GB of memory).
"""

import math
import os
import time

import numpy as np
import torch

os.environ.setdefault("PDESOLVE_PROGRESS", "0")
torch.set_num_threads(1)

from pdesolve.data.grid import Grid  # noqa: E402
from pdesolve.problems.darcy_2d import Darcy2D, solve_darcy  # noqa: E402

PI = math.pi


def table(sizes, errors, label):
    for i, (n, e) in enumerate(zip(sizes, errors, strict=True)):
        order = "" if i == 0 else f"{math.log2(errors[i - 1] / e):6.2f}"
        print(f"  N = {n:<5} {label} {e:9.2e}  order {order}")


print("manufactured solution a = 1.5 + sin(2 pi x + 0.3) cos(pi y), u = sin(pi x) sin(2 pi y),"
      " N x (2N - 1) nodes:")
sizes, errors = (17, 33, 65, 129, 257), []
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
table(sizes, errors, "max error")

m = np.arange(1, 4000, 2)
mm, nn = np.meshgrid(m, m, indexing="ij")
centre = 16 / PI**4 * np.sum(np.sin(mm * PI / 2) * np.sin(nn * PI / 2) / (mm * nn * (mm**2 + nn**2)))
print(f"a = 1, f = 1: centre value against the series u(1/2, 1/2) = {centre:.10f}:")
sizes, errors = (33, 65, 129, 257), []
for n in sizes:
    problem = Darcy2D({"resolution": n})
    uh = problem.simulate(torch.ones(1, 1, n, n, dtype=torch.float64), problem.solver_grid)
    errors.append(abs(uh[0, 0, n // 2, n // 2].item() - centre))
table(sizes, errors, "centre error")

print("thresholded GRF coefficient (12/3, f = 1), the same function (modes = 64) on nested grids,"
      " error on the 65-node grid against N = 1025:")
sizes = (65, 129, 257, 513, 1025)
solutions = {}
for n in sizes:
    problem = Darcy2D({"resolution": n, "modes": 64})
    solutions[n] = problem.simulate(problem.sample_inputs(2, 0, 0, "cpu"), problem.solver_grid)
ref = solutions[1025][..., ::16, ::16]
errors = [((solutions[n][..., :: (n - 1) // 64, :: (n - 1) // 64] - ref).norm() / ref.norm()).item()
          for n in sizes[:-1]]
table(sizes[:-1], errors, "relative L2 error")

problem = Darcy2D()
n = 8
start = time.perf_counter()
problem.generate(n=n, seed=0)
elapsed = time.perf_counter() - start
print(f"generate(n={n}) at the defaults (253 x 253): {elapsed:.2f} s, {elapsed / n:.3f} s per sample"
      " (1 thread)")
