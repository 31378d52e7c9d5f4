"""Verification numbers and generation cost of `burgers_1d` (quoted in docs/problems/burgers_1d.md).

Run: ``.venv/bin/python benchmarks/verify_burgers_1d.py`` (about a minute on one core).
"""

import math
import os
import time

import torch

os.environ.setdefault("PDESOLVE_PROGRESS", "0")
torch.set_num_threads(1)

from pdesolve.data.grid import Grid  # noqa: E402
from pdesolve.problems.burgers_1d import Burgers1D, cole_hopf, integrate_burgers  # noqa: E402


def rel(a, b):
    return ((a - b).norm(dim=-1) / b.norm(dim=-1)).max().item()


def convergence(u0, grid, t, dts, nu=0.1):
    exact = cole_hopf(u0, grid, [t], viscosity=nu)[:, 0]
    errors = [rel(integrate_burgers(u0, grid, [t], viscosity=nu, dt=dt)[:, 0], exact) for dt in dts]
    for i, (dt, e) in enumerate(zip(dts, errors, strict=True)):
        order = "" if i == 0 else f"{math.log(errors[i - 1] / e) / math.log(dts[i - 1] / dt):6.2f}"
        print(f"  dt = {dt:<8g} max relative L2 error {e:9.2e}  order {order}")


problem = Burgers1D()
grid = problem.solver_grid
u0 = problem.sample_inputs(8, 0, 0, "cpu")[:, 0]
print(f"GRF initial conditions, defaults (N = {grid.shape[0]}, nu = 0.1), 8 samples, t = 1, vs Cole-Hopf:")
convergence(u0, grid, 1.0, [1e-2, 5e-3, 2e-3, 1e-3, 5e-4, 2.5e-4])
print("same, t = 0.05 (before the rough initial modes have decayed):")
convergence(u0, grid, 0.05, [1e-2, 5e-3, 2e-3, 1e-3, 5e-4, 2.5e-4])

small = Grid.uniform(1, 128)
x = torch.as_tensor(small.coords()["x"])
smooth = (torch.sin(2 * math.pi * x) + 0.5 * torch.cos(4 * math.pi * x + 1))[None]
print("smooth u0 = sin 2 pi x + 0.5 cos(4 pi x + 1), N = 128, nu = 0.1, t = 0.5, vs Cole-Hopf:")
convergence(smooth, small, 0.5, [4e-2, 2e-2, 1e-2, 5e-3, 2.5e-3])

exact = cole_hopf(u0, grid, [1.0], viscosity=0.1)[:, 0]
print(f"|u(1)| / |u(0)| = {(exact.norm(dim=-1) / u0.norm(dim=-1)).mean().item():.3f} (mean over samples)")

n = 32
start = time.perf_counter()
ds = problem.generate(n=n, seed=0)
elapsed = time.perf_counter() - start
print(f"generate(n={n}) at the defaults: {elapsed:.2f} s, {1e3 * elapsed / n:.1f} ms per sample (1 thread)")
