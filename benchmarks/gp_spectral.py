"""GP-HM (gp-spectral) against GP-SE, GP-Matérn, a plain PINN and second-order finite differences on
the GP-HM paper's manufactured-solution benchmarks (Fang et al., ICLR 2024).

For every (case, method): relative L2 error against the exact solution on the 300-point-per-axis
evaluation grid at the final iterate and at the best of the 20 checkpoints (the paper reports the
latter), wall time per optimisation step, and for GP-HM the learned dominant frequencies next to
the true ones. A second table times one GP-HM-StM step with the kernel matrices assembled from the
2n-1 distinct lags of the uniform grid (Toeplitz) and from all n^2 lags.

Results merge into ``benchmarks/results/gp_spectral.json`` keyed by ``case/method/device`` (the
latest run of a key wins, others are kept), and ``gp_spectral.md`` is regenerated from all entries.
Runs of other machines (e.g. a GPU) merge with ``--merge FILE``.

Examples (the reduced protocol of gp_spectral.md; one thread)::

    .venv/bin/python benchmarks/gp_spectral.py --cases poisson_1d_sin100x
    .venv/bin/python benchmarks/gp_spectral.py --cases poisson_2d_sin100x_sin100y --device cuda --out-dir OUT
    .venv/bin/python benchmarks/gp_spectral.py --merge OUT/gp_spectral.json
    .venv/bin/python benchmarks/gp_spectral.py --smoke --out-dir OUT   # a 1-D and a 2-D case at toy sizes
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import harness
import torch

from pdesolve.backends import get_backend
from pdesolve.backends.collocation import CollocationPDE
from pdesolve.config import TrainConfig
from pdesolve.data.samples import add_splits
from pdesolve.engines.tables import markdown_table
from pdesolve.engines.train import Trainer
from pdesolve.metrics import relative_l2
from pdesolve.problems import Problem

EVALUATION_POINTS = 300
CHECKPOINTS = 20
# --smoke: one 1-D and one 2-D case on coarse collocation grids, 40 steps, a 50-point evaluation grid
SMOKE_CASES = {"poisson_1d_sin100x": 24, "poisson_2d_sin6x_cos20x": 10}
SMOKE_STEPS, SMOKE_EVALUATION_POINTS = 40, 50


@dataclass(frozen=True)
class Case:
    """A benchmark problem with the authors' GP-HM settings for it (their yaml of that name)."""

    problem: dict
    collocation: int
    freq_scale: float
    boundary_weight: float
    paper_config: str
    authors_steps: int  # Adam steps of the authors' run script for this config (solvers.md §2.2)
    pinn_batch: int | None = None  # collocation points per PINN step (None: all)


CASES = {
    "poisson_1d_sin100x": Case({"name": "poisson", "solution": "sin100x"}, 400, 20.0, 200.0,
                               "poisson_1d-single_sin", 100_000),
    "poisson_1d_sin6x_cos100x": Case({"name": "poisson", "solution": "sin6x_cos100x"}, 400, 20.0, 200.0,
                                     "poisson_1d-sin_cos", 100_000),
    "allen_cahn_1d_sin6x_cos100x": Case({"name": "allen_cahn", "solution": "sin6x_cos100x"}, 400, 20.0, 200.0,
                                        "allencahn_1d-sin_cos", 100_000),
    "poisson_2d_sin6x_cos20x": Case({"name": "poisson", "solution": "sin6x_cos20x_sum"}, 200, 20.0, 200.0,
                                    "poisson_2d-sin_add_cos", 1_000_000, pinn_batch=1024),
    "poisson_2d_sin100x_sin100y": Case({"name": "poisson", "solution": "sin100x_sin100y"}, 400, 20.0, 200.0,
                                       "poisson_2d-sin_sin", 1_000_000, pinn_batch=4096),
    "advection_sin_x_minus_200t": Case({"name": "advection_spacetime", "solution": "sin_x_minus_200y"}, 200,
                                       40.0, 500.0, "advection-sin", 1_000_000, pinn_batch=4096),
}


@dataclass(frozen=True)
class Method:
    backend: str | None          # None: the finite-difference baseline
    options: dict = field(default_factory=dict)
    lr: float = 0.01
    budget: str = "gp"           # which --*-steps option sets its number of steps


METHODS = {
    "GP-HM-StM": Method("gp-spectral", {"kernel": "stm", "components": 30}),
    "GP-HM-GM": Method("gp-spectral", {"kernel": "gm", "components": 30}),
    "GP-SE": Method("gp-spectral", {"kernel": "se"}, budget="baseline"),
    "GP-Matern": Method("gp-spectral", {"kernel": "matern"}, budget="baseline"),
    "PINN": Method("pinn", {"width": 100, "depth": 4, "activation": "tanh", "boundary_weight": 1.0},
                   lr=1e-3, budget="pinn"),
    "FD": Method(None),
}

PAPER_CLAIM = ("GP-HM: relative L2 about 1e-3 to 1e-7 on these benchmarks with the true frequencies "
               "recovered; PINN fails (about 1) on the high-frequency cases")


def machine(env: dict) -> dict:
    """The facts of a run the Runs list prints (from the environment record)."""
    return {"hardware": env["hardware"], "platform": env["platform"], "torch": env["torch"],
            "threads": env["torch_threads"], "cpu_count": env["cpu_count"], "load_average": env["load_average"]}


def field_data(problem, evaluation_points: int = EVALUATION_POINTS):
    return add_splits(problem.generate(3, 0, resolution=evaluation_points), 1, 1, 1)


def solver_options(case: Case, method: Method, steps: int) -> dict:
    options = {**method.options, "collocation": case.collocation,
               "steps_per_epoch": max(steps // CHECKPOINTS, 1)}
    if method.backend == "gp-spectral":
        options.update(freq_scale=case.freq_scale, boundary_weight=case.boundary_weight)
    if method.backend == "pinn" and case.pinn_batch:
        options["batch_points"] = case.pinn_batch
    return options


def run_iterative(case: Case, method: Method, steps: int, device: torch.device,
                  evaluation_points: int = EVALUATION_POINTS) -> dict:
    """Fit through the engine's Trainer; errors of the 20 checkpoints against the exact solution."""
    torch.manual_seed(0)
    problem = Problem.from_config(case.problem)
    data = field_data(problem, evaluation_points)
    solver = get_backend(method.backend, **solver_options(case, method, steps))
    epochs = steps // solver.options.steps_per_epoch
    cfg = TrainConfig(epochs=epochs, optimizer="adam", lr=method.lr, weight_decay=0.0, schedule="constant",
                      grad_clip=None, amp="off", seed=0)
    report = solver.fit(problem, data, Trainer(cfg, device))
    done = report.epochs * solver.options.steps_per_epoch
    errors = [h["val_rel_l2"] for h in report.history]
    best = min(range(len(errors)), key=errors.__getitem__)
    out = {
        "steps": done, "final_rel_l2": errors[-1], "best_rel_l2": errors[best],
        "best_step": (best + 1) * solver.options.steps_per_epoch,
        "checkpoint_errors": errors, "seconds": report.seconds, "seconds_per_step": report.seconds / done,
        "stopped": report.stopped, "options": solver.options.model_dump(), "lr": method.lr,
    }
    if method.backend == "gp-spectral":
        out["learned_angular_frequencies"] = solver.dominant_frequencies(top=3)
    return out


def run_fd(case: Case) -> dict:
    """Second-order finite differences on the same grid, scored at its own nodes."""
    problem = Problem.from_config(case.problem)
    grid = problem.grid(case.collocation)
    start = time.perf_counter()
    u = problem.finite_difference(grid)
    seconds = time.perf_counter() - start
    exact = problem.exact(*problem.mesh(grid))
    err = float(relative_l2(u[None], exact[None]))
    return {"steps": 0, "final_rel_l2": err, "best_rel_l2": err, "seconds": seconds, "seconds_per_step": None,
            "note": "error at the collocation nodes (no interpolation)"}


def adam_step(case: Case, toeplitz: bool, device: torch.device):
    """One GP-HM-StM Adam step (forward, backward, update) of a fresh model, as a callable."""
    problem = Problem.from_config(case.problem)
    solver = get_backend("gp-spectral", **solver_options(case, METHODS["GP-HM-StM"], CHECKPOINTS),
                         toeplitz=toeplitz)
    grid = problem.grid(case.collocation)
    solver.setup = solver.setup_for(problem, grid)
    solver.build(solver.setup)
    solver.to(device)
    pde = CollocationPDE.sample(problem, grid, device)
    opt = torch.optim.Adam(solver.model.parameters(), lr=0.01)

    def step():
        loss = solver.negative_log_joint(pde)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def time_steps(case: Case, device: torch.device, repeats: int, threads: int) -> dict[str, float]:
    """Median seconds of one GP-HM-StM step with Toeplitz and with dense lag tables, interleaved,
    after two warm-ups."""
    steps = {"toeplitz": adam_step(case, True, device), "dense": adam_step(case, False, device)}
    return harness.interleaved(steps, repeats, threads=threads, device=device, warmup=2).median


# ------------------------------------------------------------------------------- reporting
def fmt(v, digits=2) -> str:
    if v is None:
        return "–"
    return f"{v:.{digits}e}" if isinstance(v, float) else str(v)


def true_frequencies(case_name: str) -> list:
    from pdesolve.problems.manufactured import EXACT_SOLUTIONS

    return [list(f) for f in EXACT_SOLUTIONS[CASES[case_name].problem["solution"]].frequencies]


def render_markdown(results: dict) -> str:
    runs = results.get("runs", {})
    timing = results.get("timing", {})
    lines = [
        "## GP-HM: Gaussian-process solver for high-frequency and multi-scale PDEs (gp-spectral)",
        "",
        "Paper: Fang, Cooley, Long, Li, Kirby, Zhe, *Solving High Frequency and Multi-Scale PDEs with "
        "Gaussian Processes*, ICLR 2024. Script: `benchmarks/gp_spectral.py`; raw figures: "
        "`gp_spectral.json`.",
        "",
        "Relative L2 error against the exact solution on a 300-point-per-axis grid (the authors' test set): "
        "**final** = last iterate, **best** = best of the 20 checkpoints (the paper's reported figure; the "
        "authors' `train()` returns the minimum over checkpoints). FD is scored at its own nodes. GP-HM "
        "settings are the authors' yaml settings for each case (Q = 30, freq_scale, boundary weight, Adam lr "
        "0.01, float64, jitter 1e-6); the number of Adam steps is reduced (steps column; the authors run "
        "1e5-1e6) and, unless the steps column says otherwise, the same for every iterative method. PINN: "
        "tanh MLP 4 x 100, Adam lr 1e-3, boundary weight 1, float64, same collocation grid (in 2-D a random "
        "batch of it per step, size given per case). s / step is wall time including the 20 checkpoint "
        "evaluations, on a shared machine (load average in the Runs list).",
        "",
    ]
    by_case: dict[str, list] = {}
    for r in runs.values():
        by_case.setdefault(r["case"], []).append(r)
    for case_name in [c for c in CASES if c in by_case]:
        case = CASES[case_name]
        problem = Problem.from_config(case.problem)
        rows = sorted(by_case[case_name], key=lambda r: (list(METHODS).index(r["method"]), r["device"]))
        length = "2π" if abs(problem.solution.length - 2 * math.pi) < 1e-9 else f"{problem.solution.length:g}"
        box = f"[0, {length}]" + ("^2" if problem.ndim == 2 else "")
        # a run records its grid and PINN batch where they differ from the case's (--smoke)
        collocation = rows[0].get("collocation", case.collocation)
        pinn_batch = rows[0].get("pinn_batch", case.pinn_batch)
        lines += [
            f"### {case_name}: {problem.equation}, u = {problem.solution.formula} on {box}",
            "",
            f"Collocation grid {' x '.join([str(collocation)] * problem.ndim)}; authors' config "
            f"`{case.paper_config}` (run for {case.authors_steps:,} Adam steps by the authors); true angular "
            f"frequencies per axis: {true_frequencies(case_name)}."
            + (f" PINN batch: {pinn_batch} random collocation points per step." if pinn_batch else ""),
            "",
            markdown_table([run_row(r) for r in rows]).rstrip(),
        ]
        stm = next((r for r in rows if r["method"] == "GP-HM-StM"), None)
        if stm:
            every = stm["steps"] // len(stm["checkpoint_errors"])
            lines += ["", f"GP-HM-StM error at its {len(stm['checkpoint_errors'])} checkpoints (every {every} "
                          f"steps): " + ", ".join(fmt(e, 1) for e in stm["checkpoint_errors"]) + "."]
        lines.append("")
    if timing:
        lines += [
            "### Time per GP-HM-StM step: Toeplitz lag tables against dense n^2 lags",
            "",
            "Median of timed Adam steps (forward, backward, update) after two warm-ups; Q = 30.",
            "",
            markdown_table([{"case": t["case"], "grid": t["grid"], "device": t["device_label"],
                             "Toeplitz (2n-1 lags)": f"{t['toeplitz'] * 1e3:.1f} ms",
                             "dense (n^2 lags)": f"{t['dense'] * 1e3:.1f} ms",
                             "speed-up": f"{t['dense'] / t['toeplitz']:.1f}x"} for t in timing.values()]),
        ]
    lines += claims_section(by_case)
    lines += ["### Runs", ""]
    for m in results.get("machines", {}).values():
        lines.append(f"- {m['date']} on {m['hardware']} ({m['platform']}, torch {m['torch']}, {m['threads']} "
                     f"thread(s) of {m['cpu_count']} cores, load average at start {m['load_average']}): "
                     f"`{m['command']}`")
    lines.append("")
    return "\n".join(lines)


def run_row(r: dict) -> dict:
    freqs = r.get("learned_angular_frequencies")
    # cos(2 pi mu r) is even in mu: |2 pi mu| is the frequency
    freq_text = "; ".join(", ".join(f"{abs(v):.1f}" for v in axis) for axis in freqs) if freqs else "–"
    sps = r.get("seconds_per_step")
    return {"method": r["method"], "device": r["device_label"], "steps": str(r["steps"]),
            "final rel. L2": fmt(r["final_rel_l2"]),
            "best rel. L2 (step)": fmt(r["best_rel_l2"]) + (f" ({r['best_step']})" if r.get("best_step") else ""),
            "s / step": f"{sps * 1e3:.1f} ms" if sps else f"{r['seconds']:.1f} s (direct solve)",
            "learned top-3 angular frequencies per axis (final)": freq_text}


def recovered(learned: list[list[float]], true: list[list[float]], tol: float = 0.01) -> bool:
    """Every non-zero true angular frequency is within ``tol`` (relative) of a learned top-3 one."""
    return all(any(abs(v - f) <= tol * f for v in axis_learned)
               for axis_learned, axis_true in zip(learned, true, strict=True) for f in axis_true if f > 0)


def claims_section(by_case: dict[str, list]) -> list[str]:
    """The paper's claims next to what was measured, case by case, decided from the numbers."""
    lines = [
        "### The paper's claims against these runs",
        "",
        "The paper's result tables could not be read for this work (see `shared/reference/solvers.md` §2.3, "
        "§6): its claims are taken from the abstract and a third-party summary — GP-HM reaches relative L2 "
        "errors of about 1e-3 to 1e-7 on these benchmarks with learned frequencies matching the true ones, "
        "where PINNs fail (errors near 1) on high frequencies — and a faithful JAX re-implementation on this "
        "kind of machine (`solvers.md` §5.2) gave 5.6e-6 (best) and 1.3e-5 (at 20 000 steps) for sin(100x). "
        "Per case, from the table above (best of checkpoints; GP-HM = the better of StM and GM):",
        "",
    ]
    held, why_not, rows = [], [], []
    for case_name in [c for c in CASES if c in by_case]:
        best = {r["method"]: r for r in by_case[case_name]}
        hm = [best[m]["best_rel_l2"] for m in ("GP-HM-StM", "GP-HM-GM") if m in best]
        if not hm:
            continue
        plain = [best[m]["best_rel_l2"] for m in ("GP-SE", "GP-Matern") if m in best]
        others = plain + [best[m]["best_rel_l2"] for m in ("PINN", "FD") if m in best]
        learned = best.get("GP-HM-StM", {}).get("learned_angular_frequencies")
        freq = "–" if not learned else "yes" if recovered(learned, true_frequencies(case_name)) else "no"
        wins = min(hm) < min(others) if others else None
        held.append(min(hm) <= 1e-3 and freq == "yes" and bool(wins))
        reasons = []
        if min(hm) > 1e-3:
            steps = max(best[m]["steps"] for m in ("GP-HM-StM", "GP-HM-GM") if m in best)
            reasons.append(f"GP-HM stopped at {fmt(min(hm))} after at most {steps:,} Adam steps, "
                           f"{100 * steps / CASES[case_name].authors_steps:.0f}% of the authors' "
                           f"{CASES[case_name].authors_steps:,} (the reduction of this CPU run)")
        if freq == "no":
            top = "; ".join(", ".join(f"{abs(v):.1f}" for v in axis) for axis in learned)
            reasons.append(f"the three heaviest GP-HM-StM components of the final iterate ({top}) do not "
                           f"include every true frequency {true_frequencies(case_name)} to 1%")
        if wins is False:
            reasons.append("a baseline was more accurate")
        if reasons:
            why_not.append(f"- {case_name}: " + "; ".join(reasons) + ".")
        single = {m: fmt(best[m]["best_rel_l2"]) if m in best else "–" for m in ("PINN", "FD")}
        rows.append({"case": case_name, "GP-HM best": fmt(min(hm)), "≤ 1e-3": "yes" if min(hm) <= 1e-3 else "no",
                     "true frequencies recovered (StM)": freq,
                     "best plain GP (SE, Matérn)": fmt(min(plain)) if plain else "–", "PINN best": single["PINN"],
                     "FD": single["FD"], "GP-HM best of all": "–" if wins is None else "yes" if wins else "no"})
    lines += [markdown_table(rows),
              f"The claimed ordering (GP-HM at 1e-3 or better with the true frequencies, ahead of the plain kernels, "
              f"the PINN and second-order FD on the same grid) held on {sum(held)} of {len(held)} cases at this "
              "reduced scale." + (" Where it did not:" if why_not else ""), "", *why_not, ""]
    return lines


def load(path: Path) -> dict:
    return harness.read_json(path, {"runs": {}, "timing": {}, "machines": {}})


def merge(into: dict, other: dict) -> dict:
    for section in ("runs", "timing", "machines"):
        into.setdefault(section, {}).update(other.get(section, {}))
    return into


def write(results: dict, out_dir: Path) -> None:
    harness.write_section(out_dir, "gp_spectral", results, render_markdown(results), indent=1)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=",".join(c for c in CASES if c != "poisson_2d_sin100x_sin100y"),
                        help=f"comma-separated, from: {', '.join(CASES)}")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help=f"comma-separated, from: {', '.join(METHODS)} (empty: the step timing only)")
    parser.add_argument("--gp-steps", type=int, default=20000, help="Adam steps of GP-HM-StM and GP-HM-GM")
    parser.add_argument("--baseline-steps", type=int, default=20000,
                        help="Adam steps of GP-SE and GP-Matern")
    parser.add_argument("--pinn-steps", type=int, default=20000, help="Adam steps of the PINN")
    parser.add_argument("--timing-repeats", type=int, default=3,
                        help="timed steps per Toeplitz/dense timing (0: none)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    harness.add_output(parser, "--out-dir", "--out")
    parser.add_argument("--merge", type=Path, help="merge this results JSON into --out-dir and re-render")
    args = parser.parse_args(argv)

    if args.merge:
        out = harness.output(args, "gp_spectral")
        results = merge(load(out / "gp_spectral.json"), load(args.merge))
        write(results, out)
        return results
    device = torch.device(args.device)
    env = harness.start(args, __file__, argv, device=device, threads=args.threads)
    results = load(args.out / "gp_spectral.json")
    cases = {name: CASES[name] for name in args.cases.split(",")}
    evaluation = EVALUATION_POINTS
    if args.smoke:
        cases = {name: dataclasses.replace(CASES[name], collocation=n, pinn_batch=None)
                 for name, n in SMOKE_CASES.items()}
        args.gp_steps = args.baseline_steps = args.pinn_steps = SMOKE_STEPS
        args.timing_repeats, evaluation = 1, SMOKE_EVALUATION_POINTS
    label = "GPU" if device.type == "cuda" else f"CPU x{args.threads}"
    stamp = env["created"]
    results["machines"][f"{stamp}-{device.type}"] = {**machine(env), "date": stamp, "command": env["command"],
                                                     "environment": env}
    budgets = {"gp": args.gp_steps, "baseline": args.baseline_steps, "pinn": args.pinn_steps}
    for case_name, case in cases.items():
        if args.timing_repeats:
            seconds = time_steps(case, device, args.timing_repeats, args.threads)
            problem = Problem.from_config(case.problem)
            results["timing"][f"{case_name}/{device.type}"] = {
                "case": case_name, "grid": " x ".join([str(case.collocation)] * problem.ndim),
                "device": device.type, "device_label": label, **seconds, "date": stamp}
            print(f"  step: toeplitz {seconds['toeplitz'] * 1e3:.1f} ms, dense {seconds['dense'] * 1e3:.1f} ms",
                  flush=True)
            write(results, args.out)

        for method_name in [m for m in args.methods.split(",") if m]:  # --methods "": timing only
            method = METHODS[method_name]
            print(f"{case_name} / {method_name} ...", flush=True)
            if method.backend is None:
                r = run_fd(case)
            else:
                r = run_iterative(case, method, budgets[method.budget], device, evaluation)
            r.update(case=case_name, method=method_name, device=device.type, device_label=label,
                     hardware=env["hardware"], date=stamp, collocation=case.collocation, pinn_batch=case.pinn_batch)
            results["runs"][f"{case_name}/{method_name}/{device.type}"] = r
            print(f"  final {r['final_rel_l2']:.3e}  best {r['best_rel_l2']:.3e}  {r['seconds']:.1f} s  "
                  f"{r.get('learned_angular_frequencies', '')}", flush=True)
            write(results, args.out)
    return results


if __name__ == "__main__":
    main()
