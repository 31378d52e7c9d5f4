"""Turbulent channel flow at Re_tau 180: a wall-resolved LES (WALE, the papers' coarse 32x33x16 grid in
an 8h x 2h x 4h box; no GPU was lent, so no DNS) spun up from Reichardt's profile with random
fluctuations, its statistics against Moser--Kim--Mansour / del Alamo--Jimenez, and its cost per unit
of simulated time. Statistics are averaged over x, z, both half-channels and the snapshots of the
last ``--average`` time units; the u_tau and bulk-velocity history shows how steady the run was.

Run (about 30 min on 2 loaded cores, one torch thread)::

    nice -n 10 python benchmarks/channel.py
    python benchmarks/channel.py --smoke        # seconds: every stage at toy lengths

Writes benchmarks/results/channel.{json,md} (rendered from the JSON) and channel_profiles.png; the
JSON is rewritten after every chunk, so a run stopped early keeps what it measured.
"""

from __future__ import annotations

import argparse
import time

import matplotlib

matplotlib.use("Agg")
import harness  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from pdesolve.numerics.channel_statistics import MKM_180_MEAN, landmarks, wall_profiles  # noqa: E402
from pdesolve.numerics.chebyshev import quadrature_weights  # noqa: E402
from pdesolve.problems.channel_flow import ChannelFlow3D  # noqa: E402

#: Moser, Kim & Mansour (1999) / del Alamo & Jimenez (2003) at Re_tau 180 (les.md §2.2)
MKM = {"u_plus_centre": 18.30, "urms_peak": 2.66, "urms_peak_y_plus": 14.2, "uv_peak": 0.734, "uv_peak_y_plus": 31.4}
MKM_U = MKM_180_MEAN


def render(record: dict) -> str:
    env, r = record["environment"], record["result"]
    lines = ["## Turbulent channel, Re_tau 180: wall-resolved LES (CPU)", "",
             harness.provenance(env) + " Rows are CPU (no GPU was lent to this task).", "",
             f"Run: {r['closure']} LES on {r['grid']} in {r['box']} (KMM Fourier-Chebyshev, 2/3 rule, IMEX RK3, "
             f"dt = {r['dt']:.4g} h/u_tau), simulated {r['t_simulated']:g} h/u_tau from Reichardt's profile with "
             f"random fluctuations; statistics over t = {r['average_from']:g}..{r['t_simulated']:g} "
             f"({r['snapshots_averaged']} snapshots, x, z, both halves).", "",
             "| statistic | this run | MKM / del Alamo-Jimenez |", "|---|---|---|"]
    m = r["landmarks"]
    rows = [("Re_tau from the wall shear", f"{m['re_tau']:.1f}", "178-186"),
            ("U+ at the centre", f"{m['u_plus_centre']:.2f}", f"{MKM['u_plus_centre']}"),
            ("u'+ peak (y+)", f"{m['urms_peak']:.2f} ({m['urms_peak_y_plus']:.1f})",
             f"{MKM['urms_peak']} ({MKM['urms_peak_y_plus']})"),
            ("-u'v'+ peak (y+)", f"{m['uv_peak']:.3f} ({m['uv_peak_y_plus']:.1f})",
             f"{MKM['uv_peak']} ({MKM['uv_peak_y_plus']})")]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    lines += ["", f"Cost: {r['seconds_per_time_unit']:.1f} s of wall time per h/u_tau "
                  f"({r['seconds_per_step']:.3f} s per RK3 step), one torch thread on a machine shared by six jobs.",
              "", "u_tau history (time, u_tau, U_b+): " + ", ".join(
                  f"({t:g}, {u:.3f}, {b:.2f})" for t, u, b in r["history"][:: max(1, len(r["history"]) // 12)]),
              *(["", r["note"]] if r.get("note") else []),
              "", "Not a DNS and not statistically converged unless the u_tau history above is flat; the "
                  "coarse-grid LES is expected to over-predict the u'+ peak (les.md §2.2).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    harness.add_output(parser)
    parser.add_argument("--closure", default="wale", choices=["wale", "dsm", "smagorinsky"])
    parser.add_argument("--grid", type=int, nargs=3, default=[32, 33, 16], help="LES grid nx ny nz")
    parser.add_argument("--t-end", type=float, default=60.0, help="simulated time (h/u_tau)")
    parser.add_argument("--average", type=float, default=20.0, help="averaging window at the end (h/u_tau)")
    parser.add_argument("--chunk", type=float, default=5.0, help="time between JSON updates")
    parser.add_argument("--interval", type=float, default=0.5, help="time between snapshots")
    args = parser.parse_args(argv)
    if args.smoke:
        args.t_end, args.average, args.chunk, args.interval = 0.04, 0.02, 0.02, 0.01
    env = harness.start(args, __file__, argv, threads=1)
    problem = ChannelFlow3D({"resolution": [2 * args.grid[0], 2 * args.grid[1] - 1, 2 * args.grid[2]],
                             "spin_up": 0.0, "t_end": args.interval, "snapshot_interval": args.interval})
    grid = problem.data_grid(args.grid)
    state = problem.restrict(problem.sample_inputs(1, 0, 0, "cpu"), problem.solver_grid, grid)
    dt = problem.time_step(grid)
    snapshots, history, t, clock = [], [], 0.0, 0.0
    record = {"environment": env}
    while t < args.t_end - 1e-9:
        times = np.arange(1, round(min(args.chunk, args.t_end - t) / args.interval) + 1) * args.interval + t
        start = time.perf_counter()
        out = problem.simulate(state, grid, t0=t, times=list(times), closure=args.closure)[0]
        clock += time.perf_counter() - start
        state, t = out[-1:].clone(), float(times[-1])  # stored order, as simulate takes it
        out = problem.to_ascending(out)  # the statistics take the solver's order (y from +1 down)
        for time_, u in zip(times, out, strict=True):
            p = wall_profiles(u[None], problem.viscosity)
            bulk = float(0.5 * quadrature_weights(grid.shape[1] - 1) @ u[0].mean(dim=(0, 2)).numpy())
            history.append((float(time_), p.u_tau, bulk))
            snapshots.append((float(time_), u))
        average_from = max(0.0, t - args.average)
        kept = torch.stack([u for time_, u in snapshots if time_ >= average_from - 1e-9])
        profiles = wall_profiles(kept, problem.viscosity)
        steps = t / dt
        record["result"] = {
            "closure": args.closure, "grid": "x".join(map(str, args.grid)), "box": "8h x 2h x 4h", "dt": dt,
            "t_simulated": t, "average_from": average_from, "snapshots_averaged": len(kept),
            "landmarks": landmarks(profiles), "seconds_per_time_unit": clock / t, "seconds_per_step": clock / steps,
            "history": history, "profiles": {"y_plus": profiles.y_plus.tolist(), "u_plus": profiles.u_plus.tolist(),
                                             "rms_plus": profiles.rms_plus.tolist(),
                                             "uv_plus": profiles.uv_plus.tolist()}}
        harness.write_section(args.out, "channel", record, render(record))
        print(f"t = {t:g}: u_tau {history[-1][1]:.3f}, {clock / t:.1f} s per time unit", flush=True)
        snapshots = [(time_, u) for time_, u in snapshots if time_ >= t - args.average - 1e-9]
    figure(record["result"], args.out)
    return record


def figure(result: dict, out) -> None:
    p = result["profiles"]
    y = np.maximum(np.asarray(p["y_plus"]), 1e-3)
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    ax[0].semilogx(y[1:], np.asarray(p["u_plus"])[1:], label=f"{result['closure']} LES {result['grid']}")
    ax[0].semilogx(MKM_U["y_plus"], MKM_U["u_plus"], "ko", label="MKM 1999")
    ax[0].set(xlabel="y+", ylabel="U+")
    for i, name in enumerate("uvw"):
        ax[1].semilogx(y[1:], np.asarray(p["rms_plus"][i])[1:], label=f"{name}'+")
    ax[1].semilogx(y[1:], np.asarray(p["uv_plus"])[1:], label="-u'v'+")
    ax[1].plot([MKM["urms_peak_y_plus"], MKM["uv_peak_y_plus"]], [MKM["urms_peak"], MKM["uv_peak"]], "ko",
               label="MKM peaks")
    ax[1].set(xlabel="y+")
    for a in ax:
        a.legend()
    fig.tight_layout()
    fig.savefig(out / "channel_profiles.png", dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
