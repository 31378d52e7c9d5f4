"""Training engine: resume equivalence, non-finite loss handling, checkpoints."""

import json
import math

import pytest
import torch

from pdesolve.backends.base import Stage
from pdesolve.config import TrainConfig, load_case
from pdesolve.engines.runs import RunDir
from pdesolve.engines.train import Trainer, train_case
from pdesolve.errors import NonFiniteError, UserError
from tests.helpers import TINY_NS, train_interrupted_then_resumed, write_case


def _weights(run_dir):
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    return state["solver"]["tensors"]


def test_resumed_run_reaches_the_same_weights(tmp_path, monkeypatch):
    """A run interrupted after epoch 1 and resumed ends with the weights of an uninterrupted run."""
    case = write_case(tmp_path, TINY_NS)
    train_case(load_case(case, ["train.epochs=4"]), run_dir=tmp_path / "straight", device="cpu", rollout=False)

    train_interrupted_then_resumed(case, ["train.epochs=4"], tmp_path / "split", monkeypatch)
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


# ------------------------------------------------------------------ train.* fields per backend
@pytest.mark.parametrize("case, override, field", [
    ("insr_advection_1d", "train.epochs=5", "train.epochs"),
    ("insr_advection_1d", "train.patience=3", "train.patience"),
    ("poisson_dcdm_2d", "train.loss=mse", "train.loss"),
    ("darcy_2d", "train.unroll=2", "train.unroll"),
    ("poisson_1d_gp", "train.batch_size=7", "train.batch_size"),
])
def test_a_train_field_the_backend_does_not_use_is_rejected(case, override, field):
    with pytest.raises(UserError, match="does not use this field") as err:
        load_case(case, [override])
    assert err.value.field == field


def test_train_lr_defaults_to_the_backend_s_and_is_written_to_the_resolved_case():
    assert load_case("insr_elasticity_2d", ["train.lr=null"]).case.train.lr == pytest.approx(1e-5)  # the paper's
    assert load_case("insr_advection_1d", ["train.lr=null"]).case.train.lr == pytest.approx(1e-4)
    assert load_case("navier_stokes_2d", ["train.lr=null"]).case.train.lr == pytest.approx(1e-3)
    assert load_case("navier_stokes_2d", ["train.unroll=2"]).case.train.unroll == 2  # used on trajectories


# --------------------------------------------------------------------------- staged fits
class _TwoStageSolver(_ToySolver):
    """Stage "first" pulls w towards 1, the main stage towards 3 (two batches per epoch)."""

    def modules(self):
        return self.module

    def stages(self, epochs):
        w = self.module.w
        yield Stage(name="first", module=self.module, step_loss=lambda i: (w - 1.0).pow(2).sum() * (1 + i.sum()),
                    items=2, batch_size=1, epochs=epochs, schedule="constant")
        yield Stage(module=self.module, step_loss=lambda i: (w - 3.0).pow(2).sum() * (1 + i.sum()), items=2,
                    batch_size=1, validate=lambda: float((w.detach() - 3.0).abs()))


def test_a_staged_fit_resumes_inside_its_second_stage_and_skips_the_first(tmp_path, monkeypatch):
    cfg = TrainConfig(epochs=4, lr=0.05, grad_clip=None, seed=0)
    straight = _TwoStageSolver(_Toy())
    report = Trainer(cfg, "cpu", RunDir.create(tmp_path, "t", "t", tmp_path / "a")).fit_stages(
        straight, straight.stages(3))
    assert [r.get("stage") for r in report.history] == ["first"] * 3 + [None] * 4

    original = Trainer._checkpoint

    def interrupt(self, solver, optimizer, scheduler, epoch, *args):
        original(self, solver, optimizer, scheduler, epoch, *args)
        if args[-2] is None and epoch == 1:  # the main stage's second epoch
            raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_checkpoint", interrupt)
    run = RunDir.create(tmp_path, "t", "t", tmp_path / "b")
    split = _TwoStageSolver(_Toy())
    with pytest.raises(KeyboardInterrupt):
        Trainer(cfg, "cpu", run).fit_stages(split, split.stages(3))
    monkeypatch.setattr(Trainer, "_checkpoint", original)
    state = run.load_checkpoint()
    assert state["stage"] is None and state["completed"] == ["first"] and state["epoch"] == 1
    resumed = _TwoStageSolver(_Toy())
    report = Trainer(cfg, "cpu", run, resume=state).fit_stages(resumed, resumed.stages(3))
    assert [r.get("stage") for r in report.history] == [None, None]  # the first stage is not rerun
    assert torch.equal(resumed.module.w, straight.module.w)
    assert [r["train_loss"] for r in run.metrics()] == [r["train_loss"] for r in RunDir(tmp_path / "a").metrics()]
