"""Parity of our LSM with the authors' implementation (thuml/Latent-Spectral-Models, models/LSM_2D.py
and LSM_3D.py): the same weights give the same outputs.

The authors' modules are imported from a checkout given on the command line (nothing of theirs is
copied here); their hard-coded ``.cuda()`` calls are made no-ops so they run on the CPU. Each
case builds their model with the paper's padding/patch arguments, copies its weights into ours
(their channels-last ``Linear`` layers become our pointwise convolutions; their interleaved
key/value convolution is split into our key and value halves), and compares outputs in eval mode.
Writes ``benchmarks/results/lsm_parity.{json,md}`` (``--smoke``: the first case only, into ``--out``).

    git clone https://github.com/thuml/Latent-Spectral-Models /tmp/lsm-authors
    .venv/bin/python benchmarks/lsm_parity.py /tmp/lsm-authors
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import types
from pathlib import Path

import harness
import torch

from pdesolve.engines.tables import markdown_table
from pdesolve.models.lsm import LSM

NAME = "lsm_parity"
# (their module, spatial shape, --patch-size, --padding): their padding lists the LAST axis first
CASES = [
    ("LSM_2D", (85, 85), "6,6", "11,11"),   # the paper's Darcy setting
    ("LSM_2D", (51, 61), "4,4", "3,13"),    # unequal padding: 61 -> 64 (last axis), 51 -> 64
    ("LSM_3D", (20, 30, 10), "2,2,1", "6,2,12"),
]
WIDTH, IN, OUT = 16, 3, 2


def load_module(repo: Path, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(f"authors_{name}", repo / "models" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def their_weights_in_our_layout(theirs: dict, ndim: int) -> dict:
    """Their ``state_dict`` renamed and reshaped into the keys and shapes of our `LSM`."""
    def as_pointwise(w):
        return w.reshape(*w.shape, *([1] * ndim))

    ours = {"lift.weight": as_pointwise(theirs["fc0.weight"]), "lift.bias": theirs["fc0.bias"],
            "out.weight": theirs["outc.conv.weight"], "out.bias": theirs["outc.conv.bias"],
            "project.net.0.weight": as_pointwise(theirs["fc1.weight"]), "project.net.0.bias": theirs["fc1.bias"],
            "project.net.2.weight": as_pointwise(theirs["fc2.weight"]), "project.net.2.bias": theirs["fc2.bias"]}
    blocks = {"inc.double_conv": "encoder.0.net",
              **{f"down{i}.maxpool_conv.1.double_conv": f"encoder.{i}.net.1.net" for i in range(1, 5)},
              **{f"up{i + 1}.conv.double_conv": f"decoder.{i}.conv.net" for i in range(4)}}
    for prefix, target in blocks.items():
        for key, value in theirs.items():
            if key.startswith(prefix + "."):
                ours[target + key[len(prefix):]] = value
    for i in range(5):
        p, q = f"process{i + 1}.", f"spectral.{i}."
        kv_w, kv_b = theirs[p + "encoder_attn.weight"].flatten(1), theirs[p + "encoder_attn.bias"]
        ours[q + "key_value.weight"] = torch.cat([kv_w[0::2], kv_w[1::2]])  # (.., 2) interleaved
        ours[q + "key_value.bias"] = torch.cat([kv_b[0::2], kv_b[1::2]])
        ours[q + "query.weight"] = theirs[p + "decoder_attn.weight"].flatten(1)
        ours[q + "query.bias"] = theirs[p + "decoder_attn.bias"]
        ours[q + "latent"] = theirs[p + "latent"]
        ours[q + "transition.weight"] = theirs[p + "weights"]
    return ours


def markdown(result: dict) -> str:
    rows = [{"their module": r["model"], "shape": "x".join(map(str, r["shape"])), "patch": r["patch"],
             "padding (last axis first)": r["padding"], "parameters (theirs / ours)":
             f"{r['parameters_theirs']:,} / {r['parameters_ours']:,}",
             "max abs difference": f"{r['max_abs_difference']:.2e}", "max abs output": f"{r['max_abs_output']:.3g}"}
            for r in result["cases"]]
    return "\n".join(["## LSM: parity with the authors' implementation", "", harness.provenance(result["environment"]),
                      "", "Their weights copied into our `LSM`, outputs compared in eval mode:", "",
                      markdown_table(rows)])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("authors_repo", type=Path, help="a checkout of thuml/Latent-Spectral-Models")
    harness.add_output(parser)
    args = parser.parse_args(argv)
    env = harness.start(args, __file__, argv, seed=0)
    cuda = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *a, **k: self  # their basis buffers call .cuda()
    try:
        records = compare(args.authors_repo, CASES[:1] if args.smoke else CASES)
    finally:
        torch.Tensor.cuda = cuda
    result = {"command": env["command"], "cases": records, "environment": env}
    harness.write_section(args.out, NAME, result, markdown(result), indent=1)
    return result


def compare(repo: Path, cases: list[tuple]) -> list[dict]:
    """Per case: their model and ours with their weights, outputs on one random input."""
    torch.manual_seed(0)
    records = []
    for name, shape, patch, padding in cases:
        ndim = len(shape)
        config = types.SimpleNamespace(in_dim=IN, out_dim=OUT, d_model=WIDTH, num_token=4, num_basis=12,
                                       patch_size=patch, padding=padding)
        theirs = load_module(repo, name).Model(config).eval()
        ours = LSM(IN, OUT, ndim, width=WIDTH, endpoint=(True,) * ndim).eval()  # they use linspace(0, 1)
        ours.load_state_dict(their_weights_in_our_layout(theirs.state_dict(), ndim))
        x = torch.randn(2, *shape, IN)
        with torch.no_grad():
            reference = theirs(x).movedim(-1, 1)
            output = ours(x.movedim(-1, 1))
        record = {"model": name, "shape": shape, "patch": patch, "padding": padding,
                  "our_patch_and_padded_shape": ours.patch_and_padded_shape(shape),
                  "parameters_theirs": sum(p.numel() for p in theirs.parameters()),
                  "parameters_ours": sum(p.numel() for p in ours.parameters()),
                  "max_abs_difference": float((output - reference).abs().max()),
                  "max_abs_output": float(reference.abs().max())}
        print(json.dumps(record))
        records.append(record)
    return records


if __name__ == "__main__":
    main()
