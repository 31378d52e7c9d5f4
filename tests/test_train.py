"""Training engine: resume equivalence, non-finite loss handling, checkpoints."""

import json
import math

import pytest
import torch

from pdesolve.config import TrainConfig, load_case
from pdesolve.engines.runs import RunDir
from pdesolve.engines.train import Trainer, train_case
from pdesolve.errors import NonFiniteError
from tests.helpers import TINY_NS, write_case


def _weights(run_dir):
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    return state["solver"]["tensors"]


def test_resumed_run_reaches_the_same_weights(tmp_path, monkeypatch):
    """A run interrupted after epoch 1 and resumed ends with the weights of an uninterrupted run."""
    case = write_case(tmp_path, TINY_NS)
    train_case(load_case(case, ["train.epochs=4"]), run_dir=tmp_path / "straight", device="cpu", rollout=False)

    original = Trainer._checkpoint

    def interrupt_after_epoch_1(self, solver, optimizer, scheduler, epoch, *args):
        original(self, solver, optimizer, scheduler, epoch, *args)
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_checkpoint", interrupt_after_epoch_1)
    with pytest.raises(KeyboardInterrupt):
        train_case(load_case(case, ["train.epochs=4"]), run_dir=tmp_path / "split", device="cpu", rollout=False)
    monkeypatch.setattr(Trainer, "_checkpoint", original)
    train_case(resume=tmp_path / "split", device="cpu", rollout=False)
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "split")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    la = [json.loads(x)["train_loss"] for x in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    lb = [json.loads(x)["train_loss"] for x in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert la == lb


class _Toy(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))


class _ToySolver:
    """Just enough of a solver for the trainer's checkpoints."""

    def __init__(self, module):
        self.module = module

    def state_dict(self):
        return {"tensors": {k: v.clone() for k, v in self.module.state_dict().items()}}


def test_non_finite_loss_keeps_last_good_state(tmp_path):
    module = _Toy()
    run = RunDir.create(tmp_path, "toy", "toy", tmp_path / "run")
    calls = {"n": 0}

    def step_loss(batch):
        calls["n"] += 1
        if calls["n"] > 3:  # two batches per epoch: epoch 0 is fine, epoch 1 diverges
            return module.w.sum() * float("nan")
        return (module.w - 3.0).pow(2).sum()

    trainer = Trainer(TrainConfig(epochs=5, lr=0.1, grad_clip=None), "cpu", run)
    report = trainer.fit(_ToySolver(module), module, step_loss, lambda g: [0, 1],
                         validate=lambda: float(module.w.detach()))
    assert report.stopped == "non-finite loss"
    assert report.epochs == 1
    saved = torch.load(run.checkpoint_file, weights_only=True)
    assert torch.isfinite(module.w).all()
    assert torch.equal(saved["solver"]["tensors"]["w"], module.w.detach())


def test_divergence_in_first_epoch_is_an_error():
    module = _Toy()
    trainer = Trainer(TrainConfig(epochs=2), "cpu")
    with pytest.raises(NonFiniteError, match="first epoch"):
        trainer.fit(_ToySolver(module), module, lambda b: module.w.sum() * float("inf"), lambda g: [0])


def test_run_directory_is_reproducible(tmp_path):
    case = write_case(tmp_path, TINY_NS)
    s = train_case(load_case(case), run_dir=tmp_path / "run", device="cpu", rollout=False)
    run = RunDir.open(s.run_dir)
    env = json.loads(run.environment_file.read_text())
    assert env["seed"] == 0 and env["torch"] == torch.__version__
    resolved = run.load_case()
    assert resolved.case.backend["width"] == 8 and resolved.case.problem["viscosity"] == 1e-3
    solver = run.load_solver()
    assert solver.n_parameters() > 0 and solver.window == 2


def test_resume_with_more_epochs_extends_the_cosine_schedule(tmp_path):
    """``--resume --set train.epochs=N`` continues the cosine over N epochs (not the saved T_max,
    which would restart it from a learning rate near 0)."""
    case = write_case(tmp_path, TINY_NS)
    run = tmp_path / "run"
    train_case(load_case(case, ["train.epochs=2"]), run_dir=run, device="cpu", rollout=False)
    train_case(resume=run, overrides=["train.epochs=4"], device="cpu", rollout=False)
    lrs = [json.loads(x)["lr"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert lrs[:2] == pytest.approx([5e-4, 0.0], abs=1e-12)      # the first run's 2-epoch cosine
    assert lrs[2:] == pytest.approx([1e-3 * (1 + math.cos(math.pi * 3 / 4)) / 2, 0.0], abs=1e-9)
