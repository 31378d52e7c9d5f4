"""The benchmark scripts: every one imports without running, runs its whole path at its tiniest size
(``main(["--smoke", "--out", tmp])``) without touching benchmarks/results/, and the recorded
sections re-render from their JSON exactly (so the figures in RESULTS.md are the measured ones).

A script added to benchmarks/ is picked up automatically; one that takes more than ~10 s in its
smoke run goes into `SLOW`.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
RESULTS = BENCHMARKS / "results"
sys.path.insert(0, str(BENCHMARKS))  # the scripts import their siblings (harness, les_report) by name

HELPERS = {"harness", "les_report"}  # modules the scripts share, not scripts
SCRIPTS = sorted(p.stem for p in BENCHMARKS.glob("*.py") if p.stem not in HELPERS)
# smoke runs of more than ~3 s in the test process on the shared 2-core machine (3.5-7 s; pytest --durations=0)
SLOW = {"channel", "channel_compare", "dcdm", "distributed", "enf2enf", "enf2enf_schedule",
        "enf2enf_zero_code", "hit_les", "ifactformer", "um2n_gpu"}
# arguments a smoke run needs besides --smoke --out
EXTRA = {"gpu_check": ["--device", "cpu"]}


def script(name: str):
    return importlib.import_module(name)


def environment_records(value) -> list[dict]:
    """Every environment record (`harness.environment`) inside a results JSON."""
    if isinstance(value, dict):
        found = [value] if {"torch_threads", "command", "created", "git_revision"} <= value.keys() else []
        return found + [r for v in value.values() for r in environment_records(v)]
    if isinstance(value, list):
        return [r for v in value for r in environment_records(v)]
    return []


def snapshot(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_imports_without_running_and_has_a_main_with_help(name, capsys):
    module = script(name)
    assert capsys.readouterr().out == "", f"{name} prints on import"
    assert callable(getattr(module, "main", None)), f"benchmarks/{name}.py has no main(argv=None)"
    with pytest.raises(SystemExit) as exit_:
        module.main(["--help"])
    assert exit_.value.code == 0
    assert "--smoke" in capsys.readouterr().out


def smoke_args(name: str) -> list[str]:
    if name == "lsm_parity":  # compares with the authors' code: a checkout of thuml/Latent-Spectral-Models
        repo = os.environ.get("LSM_AUTHORS_REPO")
        if not repo:
            pytest.skip("set LSM_AUTHORS_REPO to a checkout of thuml/Latent-Spectral-Models")
        return [repo]
    return EXTRA.get(name, [])


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in SCRIPTS])
def test_script_runs_at_its_tiniest_size(name, tmp_path):
    before = snapshot(RESULTS), (BENCHMARKS / "RESULTS.md").stat().st_mtime_ns
    script(name).main([*smoke_args(name), "--smoke", "--out", str(tmp_path)])
    assert (snapshot(RESULTS), (BENCHMARKS / "RESULTS.md").stat().st_mtime_ns) == before, \
        f"{name} --smoke wrote into benchmarks/"
    sections = [p for p in tmp_path.glob("*.md")]
    assert sections, f"{name} --smoke wrote no markdown section into --out"
    if name == "collect_results":  # the page assembled from the recorded sections is the committed one
        assert (tmp_path / "RESULTS.md").read_text() == (BENCHMARKS / "RESULTS.md").read_text(), \
            "benchmarks/RESULTS.md is out of date: run python benchmarks/collect_results.py"
        return
    records = [r for p in tmp_path.glob("*.json") for r in environment_records(json.loads(p.read_text()))]
    assert records, f"{name} records no environment (harness.environment) in its JSON"
    assert all(r["smoke"] for r in records) and all(r["torch_threads"] >= 1 for r in records)
    assert all("--smoke" in r["command"] for r in records)


@pytest.mark.slow
@pytest.mark.parametrize("flags", [[], ["--gpu"]], ids=["cpu", "gpu"])
def test_dcdm_paper_protocol_runs_at_its_tiniest_size(flags, tmp_path):
    """``dcdm.py --protocol paper`` (and the prepared GPU job, on the CPU at toy sizes): a section with
    rows at N and 2N per dimension, a figure per size, nothing written into benchmarks/."""
    before = snapshot(RESULTS)
    record = script("dcdm").main(["--protocol", "paper", *flags, "--smoke", "--out", str(tmp_path)])
    assert snapshot(RESULTS) == before
    assert sorted(record["jobs"]) == (["3d-sphere-gpu"] if flags else ["2d-sphere-cpu", "3d-sphere-cpu"])
    for key, job in record["jobs"].items():
        sizes = sorted({r["n"] for r in job["rows"]})
        assert len(sizes) == 2 and sizes[1] == 2 * sizes[0] == 2 * job["training"]["resolution"]
        assert {r["method"] for r in job["rows"]} == {"cg", "ic_pcg", "amg_pcg", "dcdm_k2"}
        assert all(r["cap"] == 100 for r in job["rows"] if r["method"] == "dcdm_k2")
        assert job["environment"]["smoke"] and "--protocol paper" in job["environment"]["command"]
        obstacle = job["training"]["paper_obstacle"]
        assert all((tmp_path / f"dcdm_paper_residuals_{key[:2]}_{obstacle}_{n}.png").is_file() for n in sizes)
    text = (tmp_path / "dcdm_paper.md").read_text()
    assert "CPU rows" in text and "is **" in text


def test_dcdm_gpu_flag_belongs_to_the_paper_protocol():
    with pytest.raises(SystemExit) as exit_:
        script("dcdm").main(["--gpu", "--smoke"])
    assert exit_.value.code == 2


@pytest.mark.slow
def test_dcdm_mask_runs_at_its_tiniest_size(tmp_path):
    """``dcdm.py --mask``: the geometry-aware network (2 input channels) trained and tested at toy
    sizes, its own section and figures, nothing written into benchmarks/."""
    before = snapshot(RESULTS)
    record = script("dcdm").main(["--mask", "--smoke", "--out", str(tmp_path)])
    assert snapshot(RESULTS) == before
    assert record["meta"]["training"]["2d"]["geometry_input"] is True
    assert {r["method"] for r in record["rows"]} == {"cg", "ic_pcg", "amg_pcg", "dcdm", "dcdm_k10"}
    assert all((tmp_path / f"dcdm_geometries_mask_residuals_2d_{n}.png").is_file() for n in (12, 16))
    assert not (tmp_path / "dcdm.md").exists()
    assert "Target (issue 21" in (tmp_path / "dcdm_geometries_mask.md").read_text()


@pytest.mark.slow
def test_dcdm_across_sizes_runs_at_its_tiniest_size(tmp_path):
    """``dcdm.py --mask --across-sizes``: trained on containers of two sizes on one grid, tested on
    geometries filling the grid, its own section."""
    before = snapshot(RESULTS)
    record = script("dcdm").main(["--mask", "--across-sizes", "--smoke", "--out", str(tmp_path)])
    assert snapshot(RESULTS) == before
    assert record["meta"]["training"]["2d"]["container_sizes"] == [12, 16]
    assert {r["n"] for r in record["rows"]} == {12, 16}
    held = {r["method"] for r in record["rows"] if r["n"] == 12 and r["method"].endswith("_as_container")}
    assert held == {"dcdm_as_container", "dcdm_k10_as_container"}  # 12^2 systems as the 16^2 grid holds them
    assert all((tmp_path / f"dcdm_geometries_sizes_residuals_2d_{n}.png").is_file() for n in (12, 16))
    text = (tmp_path / "dcdm_geometries_sizes.md").read_text()
    assert "Trained across sizes" in text and "on containers of 12, 16 cells" in text
    assert "held as containers of the 16^2 training grid" in text


@pytest.mark.parametrize("flags", [["--protocol", "paper"], ["--dims", "3"]])
def test_dcdm_mask_flag_belongs_to_the_2d_geometries_protocol(flags):
    with pytest.raises(SystemExit) as exit_:
        script("dcdm").main(["--mask", *flags, "--smoke"])
    assert exit_.value.code == 2


def test_across_sizes_is_an_option_of_mask():
    with pytest.raises(SystemExit) as exit_:
        script("dcdm").main(["--across-sizes", "--smoke"])
    assert exit_.value.code == 2


# ------------------------------------------------------------------ recorded sections re-render
def same_text(a: str, b: str) -> bool:
    """Equal up to runs of spaces (table cells) and a tuple printed as a list (a load average)."""
    def norm(text):
        return re.sub(r"\(([-\d.e, ]+)\)", r"[\1]", re.sub(r" +", " ", text))
    return norm(a) == norm(b)


def copied(tmp: Path, *names: str) -> Path:
    for name in names:
        for path in RESULTS.glob(name):
            shutil.copy(path, tmp / path.name)
    return tmp


def rendered(name: str, tmp: Path) -> dict[str, str]:
    """Section file -> the markdown its script renders from the recorded JSON alone."""
    r = lambda stem: json.loads((RESULTS / f"{stem}.json").read_text())  # noqa: E731
    if name in ("taylor_green", "hit_les"):
        script(name).main(["--from-json", str(RESULTS / f"{name}.json"), "--out", str(tmp)])
        return {f"{name}.md": (tmp / f"{name}.md").read_text()}
    if name == "ifactformer":
        script(name).main(["report", "--out", str(copied(tmp, "ifactformer.json"))])
        return {"ifactformer.md": (tmp / "ifactformer.md").read_text()}
    if name == "mg_tfno":
        script(name).main(["report", "--results", str(copied(tmp, "mg_tfno.json"))])
        return {"mg_tfno.md": (tmp / "mg_tfno.md").read_text()}
    if name == "lsm_vs_fno":
        script(name).main(["--merge", str(RESULTS / "lsm.json"), "--results", str(tmp)])
        return {"lsm.md": (tmp / "lsm.md").read_text()}
    if name == "gp_spectral":
        script(name).main(["--merge", str(RESULTS / "gp_spectral.json"), "--out-dir", str(tmp)])
        return {"gp_spectral.md": (tmp / "gp_spectral.md").read_text()}
    if name == "enf2enf":
        copied(tmp, "enf2enf.json", "enf2enf_short.json")
        for stem in ("enf2enf", "enf2enf_short"):
            script(name).main(["--render", str(tmp / f"{stem}.json")])
        return {f"{stem}.md": (tmp / f"{stem}.md").read_text() for stem in ("enf2enf", "enf2enf_short")}
    if name in ("enf2enf_zero_code", "enf2enf_schedule"):
        script(name).main(["--render", str(copied(tmp, f"{name}.json") / f"{name}.json")])
        return {f"{name}.md": (tmp / f"{name}.md").read_text()}
    if name == "dcdm":
        script(name).main(["--markdown-only", "--out", str(copied(tmp, "dcdm.json", "dcdm_residuals_*.png"))])
        return {"dcdm.md": (tmp / "dcdm.md").read_text()}
    if name == "dcdm_geometries_mask":
        script("dcdm").main(["--mask", "--markdown-only", "--out",
                             str(copied(tmp, f"{name}.json", f"{name}_residuals_*.png"))])
        return {f"{name}.md": (tmp / f"{name}.md").read_text()}
    if name == "dcdm_geometries_sizes":
        script("dcdm").main(["--mask", "--across-sizes", "--markdown-only", "--out",
                             str(copied(tmp, f"{name}.json", f"{name}_residuals_*.png"))])
        return {f"{name}.md": (tmp / f"{name}.md").read_text()}
    if name == "dcdm_paper":
        script("dcdm").main(["--protocol", "paper", "--markdown-only", "--out",
                             str(copied(tmp, "dcdm_paper.json", "dcdm_paper_residuals_*.png"))])
        return {"dcdm_paper.md": (tmp / "dcdm_paper.md").read_text()}
    if name == "um2n":
        return {"um2n.md": script(name).report(r("um2n"))}
    if name == "lsm_step_time":
        return {"lsm_step_time.md": script(name).markdown(r("lsm_step_time"))}
    if name == "insr":
        return {"insr.md": script(name).markdown(r("insr"))}
    if name == "channel":
        return {"channel.md": script(name).render(r("channel"))}
    if name == "channel_compare":
        return {"channel_compare.md": script(name).markdown(r("channel_compare"))}
    raise AssertionError(name)


RENDERED = ["taylor_green", "hit_les", "ifactformer", "mg_tfno", "lsm_vs_fno", "gp_spectral", "enf2enf",
            "enf2enf_zero_code", "enf2enf_schedule", "dcdm", "dcdm_paper", "dcdm_geometries_mask",
            "dcdm_geometries_sizes", "um2n",
            "lsm_step_time", "insr", "channel", "channel_compare"]


@pytest.mark.parametrize("name", RENDERED)
def test_recorded_sections_render_from_their_json(name, tmp_path):
    for section, text in rendered(name, tmp_path).items():
        assert same_text(text, (RESULTS / section).read_text()), \
            f"benchmarks/results/{section} is not what {name}.py renders from its JSON"
