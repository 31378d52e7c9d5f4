"""IFactFormer-m and an FNO against dynamic Smagorinsky and WALE on turbulent channel flow at Re_tau 180:
the IFactFormer-m paper's question asked on its own flow (issue 20).

1. Train the shipped cases ``cases/channel_180_ifactformer.yaml`` and ``cases/channel_180_fno.yaml`` on
   one torch thread (or reuse trained runs: ``--run`` and ``--model``). Their reference data is the
   case's: a STAND-IN for filtered DNS when no GPU made the DNS (the label travels into every row).
2. ``pdesolve compare RUN --model FNORUN``: every method rolled out from the held-out group's first
   window over the whole stored trajectory (36 steps, 36x the training horizon), then the channel
   statistics suite -- U+, the rms profiles, -u'v'+, 1-D spectra, the PDF of u' -- against the
   reference, and each method's wall time per unit of simulated time.
3. The paper's ordering checked for each learned model: finite over the rollout, closer to the
   reference than DSM and WALE on at least three of the five statistics, at least 4x cheaper than DSM.

Run (about 40 min of training and 2 min of comparison on a free core, plus the data once, ~70 min)::

    OMP_NUM_THREADS=1 python benchmarks/channel_compare.py
    OMP_NUM_THREADS=1 python benchmarks/channel_compare.py --run RUN --model FNORUN   # trained runs
    python benchmarks/channel_compare.py --smoke        # a tiny channel, 1 epoch: a check of the script
    python benchmarks/channel_compare.py --render benchmarks/results/channel_compare.json

Writes benchmarks/results/channel_compare.{json,md} (the markdown rendered from the JSON) and the
comparison's figures channel_compare_<i>_profiles.png, channel_compare_<i>_error_vs_time.png. One
comparison per model run: a run compared again replaces its entry, other runs' entries are kept (two
IFactFormer-m trainings cannot share one table: `pdesolve compare` needs distinct labels).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
from pathlib import Path

import harness

from pdesolve.config import load_case
from pdesolve.engines.channel_stats import STATISTICS
from pdesolve.engines.compare import compare_run
from pdesolve.engines.runs import RunDir
from pdesolve.engines.train import train_case

NAME = "channel_compare"
CASES = {"model": "cases/channel_180_ifactformer.yaml", "other": "cases/channel_180_fno.yaml"}
BASELINES = ("dsm", "wale")
TARGET_STATISTICS = 3  # the paper's ordering: closer than every LES baseline on at least 3 of the 5
TARGET_SPEEDUP = 4.0   # ... and at least 4x cheaper per simulated time than DSM
FIGURES = {"channel_profiles.png": "profiles", "error_vs_time.png": "error_vs_time"}
#: --smoke: the smallest channel the checks accept (4h x 2h x 2h, reference 16x25x12 WALE, data 8x25x6)
SMOKE_PROBLEM = ["problem.length_x=4.0", "problem.length_z=2.0", "problem.resolution=[16,25,12]",
                 "problem.spin_up=0.05", "problem.spin_up_resolution=[8,25,6]", "problem.spin_up_coarse=0.04",
                 "problem.t_end=0.12", "problem.snapshot_interval=0.01", "problem.dt=0.004",
                 "data.n_train=2", "data.resolution=[8,25,6]", "train.epochs=1", "backend.window=2",
                 "output.figures=false"]
SMOKE_BACKEND = {"model": ["backend.preset=null", "backend.dim=8", "backend.heads=2", "backend.dim_head=4",
                           "backend.layers=2"],
                 "other": ["backend.modes=[2,4,2]", "backend.width=4", "backend.layers=1",
                           "backend.projection_channels=4"]}


def train(role: str, args: argparse.Namespace, work: Path) -> Path:
    """Train the shipped case of ``role`` on one thread; its run directory."""
    overrides = [f"data.cache_dir={work / 'data'}", f"output.runs_dir={work / 'runs'}", "train.threads=1",
                 *(SMOKE_PROBLEM + SMOKE_BACKEND[role] if args.smoke else []), *args.set]
    summary = train_case(load_case(harness.ROOT / CASES[role], overrides), device="cpu", rollout=False)
    return Path(summary.run_dir)


def training_record(run: Path) -> dict:
    """The case, epochs, best validation error and training seconds of a run directory."""
    case = RunDir.open(run).load_case().case
    fit = json.loads((run / "summary.json").read_text())["fit"]
    return {"run": run.name, "case": case.name, "backend": case.backend["name"], "epochs": fit["epochs"],
            "unroll": case.train.unroll, "backprop": case.train.backprop, "augment": case.train.augment,
            "best_val_rel_l2": fit["best_val"],
            "train_seconds": fit["seconds"], "val_curve": [h["val_rel_l2"] for h in fit["history"]]}


def ordering(rows: dict[str, dict], model: str) -> dict:
    """The paper's three conditions for ``model`` against the LES baselines, from the table's rows."""
    row = rows[model]
    closer = [label for label, columns in STATISTICS.items()
              if all(sum(row[c] for c in columns) < sum(rows[b][c] for c in columns) for b in BASELINES)]
    speedup = rows["dsm"]["s per time unit per sample"] / row["s per time unit per sample"]
    return {"finite": math.isfinite(row["rel_l2"]) and math.isfinite(row["final_rel_l2"]),
            "closer_than_les": closer, "speedup_over_dsm": speedup,
            "reached": math.isfinite(row["rel_l2"]) and len(closer) >= TARGET_STATISTICS
            and speedup >= TARGET_SPEEDUP}


def measure(args: argparse.Namespace, env: dict, index: int) -> dict:
    """One comparison: train what is not given, ``pdesolve compare``, the table and ordering; figures
    copied as ``channel_compare_<index>_*.png``."""
    work = harness.work_dir(args, harness.WORK / "channel")
    run = Path(args.run) if args.run else train("model", args, work)
    others = [Path(m) for m in args.model] if args.model is not None else [train("other", args, work)]
    out = work / "compare" / run.name
    if out.exists():
        shutil.rmtree(out)
    compare_run(run, baselines=list(BASELINES), out=out, device="cpu", models=[str(m) for m in others])
    table = json.loads((out / "table.json").read_text())
    for source, stem in FIGURES.items():
        if (out / source).is_file():
            shutil.copy(out / source, args.out / f"{NAME}_{index}_{stem}.png")
    rows = {r["method"]: r for r in table["rows"]}
    learned = [m for m in rows if m not in BASELINES]
    first = (out / "table.md").read_text().splitlines()[0]
    reference = first.split("[reference: ", 1)[-1].split("]", 1)[0]
    return {"run": run.name, "environment": env, "figures": index, "reference": reference, "unit": table["unit"],
            "training": [training_record(p) for p in (run, *others)],
            "rows": table["rows"], "verdict": table["verdict"],
            "ordering": {m: ordering(rows, m) for m in learned}}


def fmt(value: float) -> str:
    return f"{value:.3g}" if math.isfinite(value) else "nan"


def markdown(record: dict) -> str:
    """The section, from the record alone."""
    lines = [f"# Turbulent channel at Re_tau 180: learned models against DSM and WALE ({NAME})", "",
             "The IFactFormer-m paper's question on its own flow (issue 20), one comparison per trained "
             "IFactFormer-m run. All rows are CPU rows. Details and reading: docs/problems/channel_3d.md.", ""]
    for comparison in record["comparisons"]:
        lines += comparison_markdown(comparison)
    return "\n".join(lines)


def comparison_markdown(record: dict) -> list[str]:
    """One comparison's lines."""
    env = record["environment"]
    first = record["training"][0]
    columns = [("rel_l2", "rel L2"), ("u_plus_err", "U+"), ("urms_plus_err", "u'+"), ("vrms_plus_err", "v'+"),
               ("wrms_plus_err", "w'+"), ("uv_plus_err", "-u'v'+"), ("spectra_log_err", "spectra"),
               ("u_pdf_l1", "u' PDF"), ("re_tau", "Re_tau"), ("s per time unit per sample", "s per h/u_tau")]
    augmented = ", symmetry-augmented (train.augment)" if first["augment"] else ""
    lines = [f"## {record['rows'][0]['method']}, {first['epochs']} epochs, unroll {first['unroll']} "
             f"({first['backprop']}){augmented}: `{record['run']}`", "",
             f"Reference: **{record['reference']}**. {harness.provenance(env)}", "",
             "Rollout from the held-out group's first window over its whole trajectory; errors are relative L2 "
             "distances of each statistic's profile to the reference's (spectra: mean |log10 E - log10 E_ref| at "
             f"y+ ~ 15, 100; PDF: L1 distance at y+ ~ 15); lower is better; time in {record['unit']}.", "",
             "| method | " + " | ".join(label for _, label in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for row in record["rows"]:
        lines.append(f"| {row['method']} | " + " | ".join(fmt(row[key]) for key, _ in columns) + " |")
    lines += ["", "Training (one torch thread):", "",
              "| run | backend | epochs | unroll | augmented | best val rel L2 | train s |",
              "|---|---|---|---|---|---|---|"]
    for t in record["training"]:
        lines.append(f"| {t['run']} | {t['backend']} | {t['epochs']} | {t['unroll']} ({t['backprop']}) | "
                     f"{'yes' if t['augment'] else 'no'} | {fmt(t['best_val_rel_l2'])} | {t['train_seconds']:.0f} |")
    lines += ["", f"The paper's ordering (finite over the rollout, closer than DSM and WALE on at least "
                  f"{TARGET_STATISTICS} of {len(STATISTICS)} statistics, at least {TARGET_SPEEDUP:g}x cheaper "
                  "than DSM per simulated time):", ""]
    for method, o in record["ordering"].items():
        closer = ", ".join(o["closer_than_les"]) or "none"
        lines.append(f"- {method}: finite {'yes' if o['finite'] else 'no'}; closer on "
                     f"{len(o['closer_than_les'])} of {len(STATISTICS)} ({closer}); "
                     f"{o['speedup_over_dsm']:.2f}x DSM's speed; **{'reached' if o['reached'] else 'not reached'}**.")
    i = record["figures"]
    return lines + ["", f"Figures: `{NAME}_{i}_profiles.png` (profiles in wall units with the DNS points), "
                        f"`{NAME}_{i}_error_vs_time.png`.", ""]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", help="a trained channel_180_ifactformer run (default: train the case)")
    parser.add_argument("--model", nargs="*", default=None,
                        help="other trained runs beside it (default: train channel_180_fno)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override of the cases trained here (e.g. train.epochs=20, train.unroll=3)")
    harness.add_output(parser)
    harness.add_render(parser)
    args = parser.parse_args(argv)
    rendered = harness.render_only(args, markdown)
    if rendered is not None:
        return rendered
    env = harness.start(args, __file__, argv, threads=1)
    kept = (harness.read_json(args.out / f"{NAME}.json") or {"comparisons": []})["comparisons"]
    run = Path(args.run).name if args.run else None
    index = next((c["figures"] for c in kept if c["run"] == run), max((c["figures"] for c in kept), default=0) + 1)
    comparison = measure(args, env, index)
    record = {"comparisons": [c for c in kept if c["run"] != comparison["run"]] + [comparison]}
    harness.write_section(args.out, NAME, record, markdown(record))
    print(markdown(record))
    return record


if __name__ == "__main__":
    main()
