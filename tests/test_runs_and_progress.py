"""Runs you can see (`pdesolve runs`, `pdesolve show`, training curves, CSV metrics), long work that
is never silent without a terminal, and a failed start that leaves no run directory."""

import os
import subprocess
import sys

import pytest
import torch
from pdesolve.cli.app import app
from typer.testing import CliRunner

from tests.helpers import TINY_NS, write_case

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("runs")
    case = write_case(tmp, {**TINY_NS, "train": {**TINY_NS["train"], "log_to": ["csv"]}})
    result = runner.invoke(app, ["train", str(case), "--run-dir", str(tmp / "runs" / "a"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    return tmp


def test_a_run_has_its_training_curve_and_csv_metrics(trained):
    run = trained / "runs" / "a"
    assert (run / "figures" / "training.png").stat().st_size > 5000
    lines = (run / "metrics.csv").read_text().splitlines()
    assert lines[0].split(",")[:3] == ["epoch", "train_loss", "val_rel_l2"] and len(lines) == 1 + 2


def test_runs_lists_the_run_with_its_status_and_show_diffs_its_case(trained):
    listing = runner.invoke(app, ["runs", str(trained / "runs")])
    assert listing.exit_code == 0 and "tiny_ns" in listing.output and "finished" in listing.output
    (trained / "runs" / "b").mkdir()
    (trained / "runs" / "b" / "case.yaml").write_text((trained / "runs" / "a" / "case.yaml").read_text())
    torch.save({}, trained / "runs" / "b" / "checkpoint.pt")
    assert "interrupted" in runner.invoke(app, ["runs", str(trained / "runs")]).output
    shown = runner.invoke(app, ["show", str(trained / "runs" / "a")])
    assert shown.exit_code == 0 and "metrics.jsonl" in shown.output and "finished" in shown.output


def test_show_lists_what_differs_from_the_shipped_case(tmp_path):
    result = runner.invoke(app, ["train", "quickstart", "--run-dir", str(tmp_path / "q"), "--device", "cpu",
                                 "--set", "data.n_train=2", "--set", "data.n_val=1", "--set", "data.n_test=1",
                                 "--set", "train.epochs=1", "--set", f"data.cache_dir={tmp_path / 'data'}",
                                 "--set", "output.figures=false", "--no-rollout"])
    assert result.exit_code == 0, result.output
    shown = runner.invoke(app, ["show", str(tmp_path / "q")])
    assert "train.epochs" in shown.output and "data.n_train" in shown.output


def test_without_a_terminal_progress_is_printed_and_logged(tmp_path):
    case = write_case(tmp_path, TINY_NS)
    env = {**os.environ, "PDESOLVE_PROGRESS": "1", "PDESOLVE_PROGRESS_INTERVAL": "0"}
    out = subprocess.run([sys.executable, "-m", "pdesolve.cli.app", "train", str(case), "--run-dir",
                          str(tmp_path / "run"), "--device", "cpu", "--no-rollout"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if line.startswith(("generate", "train "))]
    assert any("elapsed" in line and "/s" in line for line in lines), out.stdout
    assert "progress: train" in (tmp_path / "run" / "log.txt").read_text()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_a_failed_start_leaves_no_run_directory(tmp_path):
    case = write_case(tmp_path, TINY_NS)
    result = runner.invoke(app, ["train", str(case), "--run-dir", str(tmp_path / "run"), "--device", "cuda"])
    assert result.exit_code == 2 and "CUDA" in result.output
    assert not (tmp_path / "run").exists()


def test_tensorboard_logging_writes_event_files(tmp_path):
    case = write_case(tmp_path, {**TINY_NS, "train": {**TINY_NS["train"], "log_to": ["tensorboard"]}})
    result = runner.invoke(app, ["train", str(case), "--run-dir", str(tmp_path / "run"), "--device", "cpu",
                                 "--no-rollout"])
    assert result.exit_code == 0, result.output
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    from pdesolve.engines.runs import RunDir

    expected = [r["train_loss"] for r in RunDir(tmp_path / "run").metrics()]
    assert [e.value for e in events.Scalars("train/train_loss")] == pytest.approx(expected, rel=1e-6)
