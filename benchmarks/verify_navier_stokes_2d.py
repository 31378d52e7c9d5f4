"""Verification numbers and cost of `navier_stokes_2d` (quoted in docs/problems/navier_stokes_2d.md).

Run: ``.venv/bin/python benchmarks/verify_navier_stokes_2d.py`` (about 5 minutes on one core).
``... --study --device cuda`` runs the resolution / time-step / dtype study against 256^2 and 512^2
references instead (about 2 minutes on an H100; far longer on a CPU). Prints the numbers and writes
benchmarks/results/verify_navier_stokes_2d.{json,md} (the study: verify_navier_stokes_2d_study).
"""

from __future__ import annotations

import argparse
import math
import time

import harness
import torch

from pdesolve.data.grid import Grid
from pdesolve.engines.tables import markdown_table
from pdesolve.numerics.spectral import spectral_resample
from pdesolve.problems.navier_stokes_2d import (
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


def verification(smoke: bool) -> dict:
    x, y = (torch.as_tensor(c) for c in GRID.mesh())
    omega0 = (torch.sin(2 * math.pi * (3 * x + 4 * y)) + torch.cos(2 * math.pi * 5 * x))[None]
    nu = 1e-2
    out = integrate_vorticity(omega0, GRID, [0.5, 1.0], viscosity=nu, forcing_amplitude=0.0, dt=0.05)
    rate = -math.log(out[0, 1].norm().item() / out[0, 0].norm().item()) / 0.5
    exact = nu * (2 * math.pi) ** 2 * 25
    decay = {"rate": rate, "exact": exact, "relative_error": abs(rate / exact - 1),
             "max_error_t1": (out[:, 1] - omega0 * math.exp(-exact)).abs().max().item()}
    print(f"eigenmode decay (32^2, nu = {nu}, dt = 0.05): rate {rate:.15g}, exact {exact:.15g}, "
          f"relative error {decay['relative_error']:.1e}; max error at t = 1 {decay['max_error_t1']:.1e}")

    w0 = 5 * NavierStokes2D({"resolution": 32}).sample_inputs(2, 0, 0, "cpu")[:, 0]
    w = integrate_vorticity(w0, GRID, [0.01, 2.0], viscosity=0.0, forcing_amplitude=0.0, dt=0.01)
    e, z = kinetic_energy(w, GRID), enstrophy(w, GRID)
    invariants = {"field_change": relative(w[:, 1], w[:, 0]),
                  "energy_drift": ((e[:, 1] - e[:, 0]) / e[:, 0]).abs().max().item(),
                  "enstrophy_drift": ((z[:, 1] - z[:, 0]) / z[:, 0]).abs().max().item()}
    print(f"nu = 0, no forcing (32^2, 5 x GRF, dt = 0.01, t = 0.01 -> 2, field changed by "
          f"{invariants['field_change']:.0%}): relative drift of energy {invariants['energy_drift']:.1e}, "
          f"enstrophy {invariants['enstrophy_drift']:.1e}")

    def run(dt):
        return integrate_vorticity(w0, GRID, [1.0], viscosity=1e-3, forcing_amplitude=0.1, dt=dt)

    reference = run(0.1 / 16)
    dts = (0.1, 0.05) if smoke else (0.1, 0.05, 0.025, 0.0125)
    errors = [relative(run(dt), reference) for dt in dts]
    print("self-convergence in dt (32^2, 5 x GRF, nu = 1e-3, forced, t = 1, reference dt = 0.00625):")
    order = []
    for i, (dt, err) in enumerate(zip(dts, errors, strict=True)):
        order.append({"dt": dt, "error": err, "order": None if i == 0 else math.log2(errors[i - 1] / err)})
        print(f"  dt = {dt:<7} relative L2 error {err:.2e}"
              + ("" if i == 0 else f", order {order[-1]['order']:.2f}"))
    return {"decay": decay, "invariants": invariants, "order_in_dt": order}


def cost(smoke: bool) -> list[dict]:
    batch, sizes = (2, (32,)) if smoke else (16, (64, 128, 256))
    print(f"cost, batch of {batch}, one thread (CPU time; wall time in brackets):")
    rows = []
    for dtype in ("float64", "float32"):
        for n in sizes:
            p = NavierStokes2D({"resolution": n, "dtype": dtype})
            x = p.sample_inputs(batch, 0, 0, "cpu")
            p.simulate(x, p.solver_grid, times=[0.05])  # warm-up
            wall, cpu = time.perf_counter(), time.process_time()
            p.simulate(x, p.solver_grid, times=[1.0, 2.0])
            wall, cpu = ((now - then) / 2 / batch for now, then in
                         ((time.perf_counter(), wall), (time.process_time(), cpu)))
            rows.append({"dtype": dtype, "resolution": n, "batch": batch, "cpu_s_per_sample_time_unit": cpu,
                         "wall_s_per_sample_time_unit": wall, "cpu_s_per_default_trajectory": 50 * cpu})
            print(f"  {dtype} {n}^2, dt = 0.01: {cpu:.3f} s ({wall:.3f} s) per sample per time unit, "
                  f"{50 * cpu:.1f} s per default trajectory (t_end = 50)", flush=True)
    return rows


def velocities(smoke: bool) -> list[dict]:
    p = NavierStokes2D({"dtype": "float32", **({"resolution": 32, "t_end": 2.0} if smoke else {})})
    samples = 2 if smoke else 16
    w = p.simulate(p.sample_inputs(samples, 0, 0, "cpu"), p.solver_grid)[:, :, 0].double()
    speed = velocity(w, p.solver_grid).norm(dim=-3).amax(dim=(-2, -1))
    cfl = cfl_number(w, p.solver_grid, p.params.dt)
    print(f"defaults (nu = 1e-3, {p.params.resolution}^2, dt = 0.01; float32 to save time), {samples} samples:")
    rows = []
    for t in range(0, int(p.params.t_end) + 1, 10 if not smoke else 1):
        rows.append({"t": t, "max_u_median": speed[:, t].median().item(), "max_u_max": speed[:, t].max().item(),
                     "cfl_max": cfl[:, t].max().item()})
        print(f"  t = {t:2d}: max|u| median {rows[-1]['max_u_median']:.3f}, max {rows[-1]['max_u_max']:.3f}; "
              f"CFL max {rows[-1]['cfl_max']:.2f}")
    return rows


def quickstart(smoke: bool) -> dict:
    p = NavierStokes2D({"resolution": 64, "dt": 0.02, "t_end": 2.0 if smoke else 20.0})
    n = 2 if smoke else 80
    wall, cpu = time.perf_counter(), time.process_time()
    ds = p.generate(n=n, seed=0, resolution=32)
    record = {"n": n, "wall_seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu,
              "sizes": dict(ds.sizes)}
    print(f"quickstart: generate(n={n}) at 64^2, dt = 0.02, t_end = {p.params.t_end:g}, stored at 32^2, one "
          f"thread: {record['wall_seconds']:.1f} s wall, {record['cpu_seconds']:.1f} s CPU; {record['sizes']}")
    return record


def study(device, smoke: bool) -> list[dict]:
    """Errors against 512^2 / 256^2 references from the same initial field (spectrally resampled)."""
    rows = []

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
            rows.append({"nu": nu, "t_end": t_end, "reference": f"{ref_run[0]}^2, dt {ref_run[1]:g}",
                         "run": f"{r[0]}^2, dt {r[1]:g}, {label}", "error_t1": err[1].item(),
                         "error_t_end": err[-1].item(), "max_error": err[1:].max().item(), "cfl": cfl})
            print(f"  {r[0]}^2, dt = {r[1]:g}, {label}: relative L2 error on 64^2 at t = 1 {err[1]:.2e}, "
                  f"at t_end {err[-1]:.2e}, max over t >= 1 {err[1:].max():.2e}; CFL {cfl:.2f}", flush=True)

    if smoke:
        one(1e-3, 1, [(64, 2e-2), (64, 2e-2, torch.float32)], (128, 1e-2), n=1)
        return rows
    one(1e-3, 50, [(256, 1e-2), (128, 1e-2), (128, 2.5e-3), (128, 2e-2), (64, 1e-2), (64, 2e-2),
                   (64, 4e-2), (128, 1e-2, torch.float32)], (256, 2.5e-3))
    one(1e-4, 30, [(256, 5e-3), (128, 1e-2), (128, 5e-3), (64, 1e-2)], (512, 2.5e-3))
    one(1e-5, 20, [(256, 5e-3), (128, 1e-2), (128, 5e-3), (64, 1e-2)], (512, 2.5e-3))
    return rows


def fmt(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def table(rows: list[dict]) -> str:
    return markdown_table([{k: fmt(v) if v is not None else "" for k, v in r.items()} for r in rows])


def markdown(r: dict) -> str:
    lines = ["## Navier-Stokes 2-D reference solver: verification and cost", "",
             harness.provenance(r["environment"]), ""]
    if "study" in r:
        return "\n".join([*lines, "Resolution, step and dtype study (relative L2 error of the snapshots strided "
                          "to 64^2, worst sample):", "", table(r["study"])])
    v = r["verification"]
    d, inv = v["decay"], v["invariants"]
    return "\n".join([
        *lines,
        f"* Eigenmode decay (32^2, nu = 0.01, dt = 0.05): rate {d['rate']:.15g} against {d['exact']:.15g} "
        f"(relative error {d['relative_error']:.1e}); max error at t = 1 {d['max_error_t1']:.1e}.",
        f"* nu = 0, no forcing (32^2, 5 x GRF, dt = 0.01, t = 0.01 -> 2, field changed by "
        f"{inv['field_change']:.0%}): relative drift of energy {inv['energy_drift']:.1e}, enstrophy "
        f"{inv['enstrophy_drift']:.1e}.",
        "", "Self-convergence in dt (32^2, 5 x GRF, nu = 1e-3, forced, t = 1, reference dt = 0.00625):", "",
        table(v["order_in_dt"]), "Cost (one thread, seconds per sample per time unit):", "", table(r["cost"]),
        "Velocities and CFL number at the defaults (float32):", "", table(r["velocities"]),
        f"Quickstart data: generate(n={r['quickstart']['n']}) {r['quickstart']['wall_seconds']:.1f} s wall, "
        f"{r['quickstart']['cpu_seconds']:.1f} s CPU.", ""])


def main(argv: list[str] | None = None) -> dict[str, dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", action="store_true", help="run only the resolution / step study")
    parser.add_argument("--device", default="cpu")
    harness.add_output(parser)
    args = parser.parse_args(argv)
    env = harness.start(args, __file__, argv, device=args.device, seed=0, threads=1)
    records = {}
    if not args.study:
        records["verify_navier_stokes_2d"] = {
            "environment": env, "verification": verification(args.smoke), "cost": cost(args.smoke),
            "velocities": velocities(args.smoke), "quickstart": quickstart(args.smoke)}
    if args.study or args.smoke:  # a smoke run checks both paths
        records["verify_navier_stokes_2d_study"] = {"environment": env, "study": study(args.device, args.smoke)}
    for name, record in records.items():
        harness.write_section(args.out, name, record, markdown(record))
    return records


if __name__ == "__main__":
    main()
