"""enf2enf with the authors' geometry encoding against an FNO on the rasterised signed distance
and a Geo-FNO-style operator, for the same training time, with learning curves (issue 23).

Data: `elasticity_voids` on corresponding-node meshes (``mesh: deformed``, case
`cases/elasticity_enf2enf_nodes.yaml`). enf2enf (node-coordinate code, every node per step) trains
through its backend (encoder then decoder epochs, `Trainer`); its training time is then the budget
of the two grid operators, each trained epoch by epoch (Adam, cosine over the epochs the budget
allows after the first) until the budget is spent:

* ``fno_raster``: FNO on the signed distance rasterised at 64 x 64 over the training bounding box,
  read at the nodes bilinearly (as in ``benchmarks/enf2enf.py``);
* ``geo_fno``: `pdesolve.models.geo_fno.GeoFNO`, learned deformation of the nodes to a latent
  40 x 40 grid, FNO there, back to the nodes; node inputs the coordinates and the signed distance.

Every method's validation error is recorded per epoch against cumulative training seconds
(learning curves: JSON and figure); the test error of the final models is the table.

    python benchmarks/enf2enf_schedule.py                   # the reported CPU run (~30 min, 1 thread)
    python benchmarks/enf2enf_schedule.py --gpu             # the GPU job (~10 min on one H100/H200):
        # preset paper (hidden 128/256, every node, lr 1e-4), 1000 / 200 samples at ~970 nodes,
        # as many encoder + decoder epochs as fit in --budget seconds; not run (no GPU was lent)
    python benchmarks/enf2enf_schedule.py --smoke           # every stage at toy size (--gpu --smoke too)

Writes benchmarks/results/enf2enf_schedule[_gpu].{json,md} and the learning-curve figure .png.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import harness
import numpy as np
import torch

from enf2enf import RasterFNO, per_sample
from pdesolve.backends.enf2enf import MeshSamples
from pdesolve.config import load_case
from pdesolve.data.mesh_samples import sample_mesh
from pdesolve.data.samples import add_splits, select_split
from pdesolve.engines.tables import markdown_table
from pdesolve.engines.train import Trainer
from pdesolve.metrics import ragged_relative_l2
from pdesolve.models.geo_fno import GeoFNO

ROOT = Path(__file__).resolve().parent
CASE = ROOT.parent / "cases" / "elasticity_enf2enf_nodes.yaml"
SMOKE = ["data.n_train=8", "data.n_val=2", "data.n_test=3", "problem.mesh_size=0.1", "backend.encoder_epochs=1",
         "train.epochs=2", "backend.encoder_hidden=8", "backend.decoder_hidden=8"]
# the GPU job: the authors' widths, every node, lr 1e-4, the paper's split sizes; epochs from the budget
GPU = ["backend.preset=paper", "backend.encoder_hidden=128", "backend.decoder_hidden=256", "backend.fourier_features=64",
       "backend.encoder_batch_size=1", "backend.encoder_lr=1e-4", "backend.inner_lr_lr=1e-4", "backend.inner_lr=0.5",
       "train.lr=1e-4", "train.batch_size=4", "data.n_train=1000", "data.n_val=20", "data.n_test=200",
       "problem.mesh_size=0.035"]
GPU_EPOCHS = {"backend.encoder_epochs": 150, "train.epochs": 250}  # sized by GPU_SECONDS_PER_* below
PAPER = {"enf2enf": "0.0188 [secondary source, unverified]", "geo_fno": "0.0229 [Geo-FNO, Elasticity]",
         "fno_raster": "–"}


class GeoFNOBaseline:
    """`GeoFNO` on the nodes: inputs (normalised x, y, signed distance), MSE on standardised outputs."""

    def __init__(self, train: xr_Dataset, inputs: list[str], outputs: list[str], device: torch.device):
        self.inputs, self.outputs, self.device = inputs, outputs, device
        s = MeshSamples(train, inputs, outputs)
        x, a, u = s.x[s.mask], s.a[s.mask], s.u[s.mask]
        self.lo, self.span = x.amin(0), (x.amax(0) - x.amin(0)).max()
        self.a_stats = (a.mean(0), a.std(0))
        self.u_stats = (u.mean(0).to(device), u.std(0).to(device))
        self.net = GeoFNO(len(inputs), len(outputs)).to(device)

    def tensors(self, ds):
        s = MeshSamples(ds, self.inputs, self.outputs if self.outputs[0] in ds else None)
        x = (s.x - self.lo) / self.span
        a = (s.a - self.a_stats[0]) / self.a_stats[1]
        return s, x, a

    def forward(self, x, a, mask):
        return self.net(x.to(self.device), a.to(self.device), mask.to(self.device))

    @torch.no_grad()
    def predict(self, ds) -> list[np.ndarray]:
        s, x, a = self.tensors(ds)
        out = []
        for i in range(0, len(s), 16):
            sl = slice(i, i + 16)
            out.append((self.forward(x[sl], a[sl], s.mask[sl]) * self.u_stats[1] + self.u_stats[0]).cpu())
        pred, counts = torch.cat(out), s.mask.sum(1).tolist()
        return [pred[i, :counts[i]].double().numpy() for i in range(len(s))]

    def batch_loss(self, cache, idx):
        s, x, a, target = cache
        pred = self.forward(x[idx], a[idx], s.mask[idx])
        w = s.mask[idx, :, None].float().to(self.device)
        return (((pred - target[idx].to(self.device)) ** 2) * w).sum() / (w.sum() * len(self.outputs))

    def cache(self, train):
        s, x, a = self.tensors(train)
        return s, x, a, (s.u.to(self.device) - self.u_stats[0]) / self.u_stats[1]


xr_Dataset = object  # annotation only (xarray.Dataset)


class RasterBaseline:
    """`RasterFNO` (benchmarks/enf2enf.py) with its batches on ``device``."""

    def __init__(self, train, outputs: list[str], device: torch.device):
        nodes = np.concatenate([sample_mesh(train, i).nodes for i in range(train.sizes["sample"])])
        self.fno = RasterFNO(outputs, nodes.min(0), nodes.max(0))
        self.fno.net.to(device)
        self.outputs, self.device = outputs, device
        raster, s = self.fno.rasters(train), MeshSamples(train, ["sdf"], outputs)
        u = s.u[s.mask]
        self.fno.stats = (float(raster.mean()), float(raster.std()), u.mean(0).to(device), u.std(0).to(device))
        self.net = self.fno.net

    def cache(self, train):
        raster, s = self.fno.rasters(train), MeshSamples(train, ["sdf"], self.outputs)
        return raster, s, (s.u.to(self.device) - self.fno.stats[2]) / self.fno.stats[3]

    def batch_loss(self, cache, idx):
        raster, s, target = cache
        pred = self.fno.forward(raster[idx].to(self.device), s.x[idx].to(self.device))
        w = s.mask[idx, :, None].float().to(self.device)
        return (((pred - target[idx]) ** 2) * w).sum() / (w.sum() * len(self.outputs))

    @torch.no_grad()
    def predict(self, ds) -> list[np.ndarray]:
        s = MeshSamples(ds, ["sdf"], None)
        out = []
        for i in range(0, len(s), 16):
            sl = slice(i, i + 16)
            r = self.fno.rasters(ds.isel(sample=sl))
            out.append((self.fno.forward(r.to(self.device), s.x[sl].to(self.device)) * self.fno.stats[3]
                        + self.fno.stats[2]).cpu())
        pred, counts = torch.cat(out), s.mask.sum(1).tolist()
        return [pred[i, :counts[i]].double().numpy() for i in range(len(s))]


def error(predict, ds, outputs) -> float:
    return float(ragged_relative_l2(predict(ds), per_sample(ds, outputs)).mean())


def budget_fit(method, train, val, outputs, budget: float, device, batch: int = 8, lr: float = 1e-3,
               max_epochs: int | None = None) -> list[dict]:
    """Train ``method`` epoch by epoch until ``budget`` seconds of training are spent (cosine from
    ``lr`` over the epochs the first epoch's time allows); returns the learning curve."""
    cache = method.cache(train)
    n = train.sizes["sample"]
    opt = torch.optim.Adam(method.net.parameters(), lr=lr, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(0)
    curve, spent, epochs = [], 0.0, None
    epoch = 0
    while spent < budget and (max_epochs is None or epoch < max_epochs):
        method.net.train()
        t0 = time.perf_counter()
        total = 0.0
        for idx in torch.randperm(n, generator=gen).split(batch):
            loss = method.batch_loss(cache, idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        harness.synchronize(device)
        spent += time.perf_counter() - t0
        if epochs is None:
            epochs = max(1, math.floor(budget / spent)) if max_epochs is None else max_epochs
        for g in opt.param_groups:
            g["lr"] = 0.5 * lr * (1 + math.cos(math.pi * min(epoch + 1, epochs) / epochs))
        method.net.eval()
        curve.append({"epoch": epoch, "seconds": spent, "train_loss": total / n,
                      "val_rel_l2": error(method.predict, val, outputs)})
        print(f"  epoch {epoch}: {spent:.0f} s, val {curve[-1]['val_rel_l2']:.4f}", flush=True)
        epoch += 1
    return curve


def enf2enf_curve(history: list[dict]) -> list[dict]:
    """Decoder epochs of a fit history against cumulative seconds (encoder epochs included)."""
    out, spent = [], 0.0
    for h in history:
        spent += h["seconds"]
        if h.get("stage") != "encoder":
            out.append({"epoch": h["epoch"], "seconds": spent, "train_loss": h["train_loss"],
                        "val_rel_l2": h["val_rel_l2"]})
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="case override PATH=VALUE")
    parser.add_argument("--gpu", action="store_true", help="the GPU job (paper widths and sizes, --device cuda)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda with --gpu, else cpu)")
    parser.add_argument("--budget", type=float, default=None,
                        help="GPU job: wall seconds of enf2enf training the epochs are sized for (default 240)")
    harness.add_output(parser)
    parser.add_argument("--render", type=Path, help="only rewrite the markdown and figure of this results JSON")
    args = parser.parse_args(argv)
    if args.render:
        record = json.loads(args.render.read_text())
        harness.write_text(args.render.with_suffix(".md"), markdown(record))
        return record
    device = torch.device(args.device or ("cuda" if args.gpu and not args.smoke else "cpu"))
    env = harness.start(args, __file__, argv, device=device, threads=1, seed=0)
    overrides = (GPU if args.gpu else []) + (SMOKE if args.smoke else []) + args.overrides
    if args.gpu and not args.smoke:
        scale = (args.budget or 240.0) / 240.0
        overrides += [f"{k}={max(1, round(v * scale))}" for k, v in GPU_EPOCHS.items()]
    resolved = load_case(CASE, overrides + [f"train.device={device.type}"])
    case, problem = resolved.case, resolved.problem
    d = case.data
    outputs = list(problem.outputs)
    t0 = time.perf_counter()
    data = add_splits(problem.generate(d.n_train + d.n_val + d.n_test, d.seed, resolution=d.resolution),
                      d.n_train, d.n_val, d.n_test)
    print(f"data: {time.perf_counter() - t0:.0f} s, {int(data['node_count'].max())} nodes per mesh", flush=True)
    train, val, test = (select_split(data, s) for s in ("train", "validation", "test"))

    torch.manual_seed(0)
    solver = resolved.make_solver()
    report = solver.fit(problem, data, Trainer(case.train, device))
    budget = sum(h["seconds"] for h in report.history)
    curves = {"enf2enf": enf2enf_curve(report.history)}
    print(f"enf2enf: {budget:.0f} s, val {report.best_val:.4f}", flush=True)
    tests = {"enf2enf": solver.score(problem, test)["test_rel_l2"]}
    params = {"enf2enf": solver.n_parameters()}
    for name, make in (("fno_raster", lambda: RasterBaseline(train, outputs, device)),
                       ("geo_fno", lambda: GeoFNOBaseline(train, list(problem.inputs), outputs, device))):
        torch.manual_seed(0)
        method = make()
        print(f"{name}: training for {budget:.0f} s", flush=True)
        curves[name] = budget_fit(method, train, val, outputs, budget, device,
                                  max_epochs=2 if args.smoke else None)
        method.net.eval()
        tests[name] = error(method.predict, test, outputs)
        params[name] = sum(p.numel() for p in method.net.parameters())
        print(f"{name}: test {tests[name]:.4f}", flush=True)
    b = case.backend
    record = {
        "benchmark": "enf2enf_schedule", "case": str(CASE.relative_to(ROOT.parent)), "overrides": overrides,
        "device": str(device), "gpu_job": args.gpu,
        "data": {"n_train": d.n_train, "n_val": d.n_val, "n_test": d.n_test,
                 "nodes": int(data["node_count"].max()), "mesh_size": problem.params.mesh_size},
        "enf2enf_protocol": {k: b[k] for k in ("geometry_code", "encoder_hidden", "decoder_hidden", "encoder_points",
                                                "decoder_points", "encoder_epochs", "query_inputs")}
        | {"decoder_epochs": case.train.epochs, "lr": case.train.lr},
        "budget_seconds": budget, "test_rel_l2": tests, "parameters": params, "curves": curves,
        "paper": PAPER, "environment": env,
    }
    name = "enf2enf_schedule" + ("_gpu" if args.gpu else "")
    harness.write_section(args.out, name, record, markdown(record))
    figure(record, args.out / f"{name}.png")
    return record


def figure(r: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, curve in r["curves"].items():
        ax.plot([c["seconds"] for c in curve], [c["val_rel_l2"] for c in curve], marker="o", ms=3, label=name)
    ax.set_xlabel("training wall time (s)")
    ax.set_ylabel("validation relative L2")
    ax.set_yscale("log")
    ax.set_title(f"elasticity_voids, corresponding nodes ({r['device']})")
    ax.legend()
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


def markdown(r: dict) -> str:
    env, p, d = r["environment"], r["enf2enf_protocol"], r["data"]
    where = "GPU" if r["device"].startswith("cuda") else "CPU (no GPU was lent)"
    rows = [{"method": m, "test rel. L2": f"{r['test_rel_l2'][m]:.4f}",
             "best val. rel. L2": f"{min(c['val_rel_l2'] for c in r['curves'][m]):.4f}",
             "epochs": len(r["curves"][m]), "train s": f"{r['curves'][m][-1]['seconds']:.0f}",
             "parameters": r["parameters"][m], "paper (Elasticity)": r["paper"][m]} for m in r["curves"]]
    best = min(r["test_rel_l2"], key=r["test_rel_l2"].get)
    return "\n".join([
        f"## enf2enf (node-coordinate code) against FNO and Geo-FNO-style operators, same training time ({where})",
        "", harness.provenance(env), "",
        f"Data: `elasticity_voids` on corresponding-node meshes (`mesh: deformed`, {d['nodes']} nodes, edge "
        f"{d['mesh_size']}), {d['n_train']} train / {d['n_val']} validation / {d['n_test']} test geometries. "
        f"enf2enf: `geometry_code: {p['geometry_code']}`, hidden {p['encoder_hidden']}/{p['decoder_hidden']}, "
        f"nodes per step {p['encoder_points'] or 'all'}/{p['decoder_points'] or 'all'}, {p['encoder_epochs']} "
        f"encoder + {p['decoder_epochs']} decoder epochs, lr {p['lr']}, query inputs {p['query_inputs']}; its "
        f"training time, {r['budget_seconds']:.0f} s, is the budget of the two grid operators.", "",
        markdown_table(rows),
        f"Lowest test error: **{best}**. Learning curves (validation error per epoch against cumulative "
        f"training seconds) are `curves` in the JSON and the figure `{Path(r['case']).stem and 'enf2enf_schedule'}"
        f"{'_gpu' if r['gpu_job'] else ''}.png`. The paper's figures are on its hyper-elastic Elasticity set "
        "(1000 train samples, 972 nodes; 1500 + 2500 epochs for enf2enf), not this linear-elastic stand-in: "
        "context only.", ""])


if __name__ == "__main__":
    main()
