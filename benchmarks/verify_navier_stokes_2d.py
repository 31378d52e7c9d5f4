"""Verification numbers and cost of `navier_stokes_2d` (quoted in docs/problems/navier_stokes_2d.md).

Run: ``.venv/bin/python benchmarks/verify_navier_stokes_2d.py`` (about 5 minutes on one core).
``... --study --device cuda`` runs the resolution / time-step / dtype study against 256^2 and 512^2
references instead (about 2 minutes on an H100; far longer on a CPU).
"""

import argparse
import math
import os
import time

import torch

os.environ.setdefault("PDESOLVE_PROGRESS", "0")
torch.set_num_threads(1)

from pdesolve.data.grid import Grid  # noqa: E402
from pdesolve.numerics.spectral import spectral_resample  # noqa: E402
from pdesolve.problems.navier_stokes_2d import (  # noqa: E402
    NavierStokes2D,
    cfl_number,
    enstrophy,
    integrate_vorticity,
    kinetic_energy,
    velocity,
)

GRID = Grid.uniform(2, 32)


def relative(a, b):
    return ((a - b).norm() / b.norm()).item()


def verification():
    x, y = (torch.as_tensor(c) for c in GRID.mesh())
    omega0 = (torch.sin(2 * math.pi * (3 * x + 4 * y)) + torch.cos(2 * math.pi * 5 * x))[None]
    nu = 1e-2
    out = integrate_vorticity(omega0, GRID, [0.5, 1.0], viscosity=nu, forcing_amplitude=0.0, dt=0.05)
    rate = -math.log(out[0, 1].norm().item() / out[0, 0].norm().item()) / 0.5
    exact = nu * (2 * math.pi) ** 2 * 25
    print(f"eigenmode decay (32^2, nu = {nu}, dt = 0.05): rate {rate:.15g}, exact {exact:.15g}, "
          f"relative error {abs(rate / exact - 1):.1e}; max error at t = 1 "
          f"{(out[:, 1] - omega0 * math.exp(-exact)).abs().max():.1e}")

    w0 = 5 * NavierStokes2D({"resolution": 32}).sample_inputs(2, 0, 0, "cpu")[:, 0]
    w = integrate_vorticity(w0, GRID, [0.01, 2.0], viscosity=0.0, forcing_amplitude=0.0, dt=0.01)
    e, z = kinetic_energy(w, GRID), enstrophy(w, GRID)
    print(f"nu = 0, no forcing (32^2, 5 x GRF, dt = 0.01, t = 0.01 -> 2, field changed by "
          f"{relative(w[:, 1], w[:, 0]):.0%}): relative drift of energy "
          f"{((e[:, 1] - e[:, 0]) / e[:, 0]).abs().max():.1e}, "
          f"enstrophy {((z[:, 1] - z[:, 0]) / z[:, 0]).abs().max():.1e}")

    def run(dt):
        return integrate_vorticity(w0, GRID, [1.0], viscosity=1e-3, forcing_amplitude=0.1, dt=dt)

    reference = run(0.1 / 16)
    dts = (0.1, 0.05, 0.025, 0.0125)
    errors = [relative(run(dt), reference) for dt in dts]
    print("self-convergence in dt (32^2, 5 x GRF, nu = 1e-3, forced, t = 1, reference dt = 0.00625):")
    for i, (dt, err) in enumerate(zip(dts, errors, strict=True)):
        order = "" if i == 0 else f", order {math.log2(errors[i - 1] / err):.2f}"
        print(f"  dt = {dt:<7} relative L2 error {err:.2e}{order}")


def cost():
    print("cost, batch of 16, one thread (CPU time; wall time in brackets):")
    for dtype in ("float64", "float32"):
        for n in (64, 128, 256):
            p = NavierStokes2D({"resolution": n, "dtype": dtype})
            x = p.sample_inputs(16, 0, 0, "cpu")
            p.simulate(x, p.solver_grid, times=[0.05])  # warm-up
            wall, cpu = time.perf_counter(), time.process_time()
            p.simulate(x, p.solver_grid, times=[1.0, 2.0])
            wall, cpu = ((now - then) / 2 / 16 for now, then in
                         ((time.perf_counter(), wall), (time.process_time(), cpu)))
            print(f"  {dtype} {n}^2, dt = 0.01: {cpu:.3f} s ({wall:.3f} s) per sample per time unit, "
                  f"{50 * cpu:.1f} s per default trajectory (t_end = 50)", flush=True)


def velocities():
    p = NavierStokes2D({"dtype": "float32"})
    w = p.simulate(p.sample_inputs(16, 0, 0, "cpu"), p.solver_grid)[:, :, 0].double()
    speed = velocity(w, p.solver_grid).norm(dim=-3).amax(dim=(-2, -1))
    cfl = cfl_number(w, p.solver_grid, p.params.dt)
    print("defaults (nu = 1e-3, 128^2, dt = 0.01; float32 to save time), 16 samples:")
    for t in (0, 10, 20, 30, 40, 50):
        print(f"  t = {t:2d}: max|u| median {speed[:, t].median():.3f}, max {speed[:, t].max():.3f}; "
              f"CFL max {cfl[:, t].max():.2f}")


def quickstart():
    p = NavierStokes2D({"resolution": 64, "dt": 0.02, "t_end": 20.0})
    wall, cpu = time.perf_counter(), time.process_time()
    ds = p.generate(n=80, seed=0, resolution=32)
    print(f"quickstart: generate(n=80) at 64^2, dt = 0.02, t_end = 20, stored at 32^2, one thread: "
          f"{time.perf_counter() - wall:.1f} s wall, {time.process_time() - cpu:.1f} s CPU; {dict(ds.sizes)}")


def study(device):
    """Errors against 512^2 / 256^2 references from the same initial field (spectrally resampled)."""

    def one(nu, t_end, runs, ref_run, n=4):
        top = max(r[0] for r in (*runs, ref_run))
        g_top = Grid.uniform(2, top)
        x = NavierStokes2D({"resolution": top}).sample_inputs(n, 0, 0, device)[:, 0]
        times = [float(t) for t in range(int(t_end) + 1)]

        def run(size, dt, dtype=torch.float64):
            g = g_top.resized(size)
            start = time.perf_counter()
            y = integrate_vorticity(spectral_resample(x, g_top, g).to(dtype), g, times, viscosity=nu,
                                    forcing_amplitude=0.1, dt=dt).double()
            elapsed = time.perf_counter() - start
            umax = velocity(y, g).norm(dim=-3).max().item()
            return umax, y[..., :: size // 64, :: size // 64], cfl_number(y, g, dt).max().item(), elapsed

        umax, ref, cfl, elapsed = run(*ref_run)
        print(f"nu = {nu:g}, t_end = {t_end:g}: reference {ref_run[0]}^2, dt = {ref_run[1]:g} "
              f"(CFL {cfl:.2f}, {elapsed:.1f} s); max|omega| {ref.abs().max():.2f}, max|u| {umax:.3f}",
              flush=True)
        for r in runs:
            _, y, cfl, _ = run(*r)
            err = ((y - ref).flatten(2).norm(dim=2) / ref.flatten(2).norm(dim=2)).amax(dim=0)
            label = "float32" if len(r) > 2 else "float64"
            print(f"  {r[0]}^2, dt = {r[1]:g}, {label}: relative L2 error on 64^2 at t = 1 {err[1]:.2e}, "
                  f"at t_end {err[-1]:.2e}, max over t >= 1 {err[1:].max():.2e}; CFL {cfl:.2f}", flush=True)

    one(1e-3, 50, [(256, 1e-2), (128, 1e-2), (128, 2.5e-3), (128, 2e-2), (64, 1e-2), (64, 2e-2),
                   (64, 4e-2), (128, 1e-2, torch.float32)], (256, 2.5e-3))
    one(1e-4, 30, [(256, 5e-3), (128, 1e-2), (128, 5e-3), (64, 1e-2)], (512, 2.5e-3))
    one(1e-5, 20, [(256, 5e-3), (128, 1e-2), (128, 5e-3), (64, 1e-2)], (512, 2.5e-3))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", action="store_true", help="run only the resolution / step study")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.study:
        study(args.device)
    else:
        verification()
        cost()
        velocities()
        quickstart()
