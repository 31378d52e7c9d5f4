"""Case files: the typed schema of a YAML case and its loading, overriding and resolving.

A case has seven sections::

    name: quickstart
    problem:  {name: navier_stokes_2d, viscosity: 1.0e-3, ...}   # validated by the problem's Params
    data:     {n_train: 64, n_test: 16, resolution: 32, ...}
    backend:  {name: fno, window: 10, modes: 12, ...}            # validated by the backend's Options
    train:    {epochs: 20, batch_size: 16, lr: 1.0e-3, ...}
    rollout:  {steps: null}
    compare:  {baselines: [coarse]}
    output:   {runs_dir: runs, figures: true}

Every error names the file, the dotted field path and what was expected (`UserError`). Numbers
must be finite in every section (problem and backend sections too: their bases forbid inf and NaN).
"""

from __future__ import annotations

import copy
import importlib.util
import os
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pdesolve.errors import UserError, validation_error
from pdesolve.limits import MemoryEstimate


class Section(BaseModel):
    """A case section: unknown keys are errors, numbers must be finite, values are validated on
    assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


Device = Literal["auto", "cpu", "cuda"]


class DataConfig(Section):
    """How reference data is generated and split into samples."""

    n_train: int = Field(64, gt=0, description="training samples (trajectories or input/output pairs)")
    n_val: int = Field(8, ge=0, description="validation samples (best-checkpoint selection)")
    n_test: int = Field(16, gt=0, description="test samples (reported errors, rollouts, compare)")
    seed: int = Field(0, description="base seed; sample i depends only on (seed, i)")
    resolution: int | list[int] | None = Field(
        None, description="stored grid size (a subsampling of the solver grid); null = solver grid")
    cache_dir: str = Field(
        default_factory=lambda: os.environ.get("PDESOLVE_DATA_DIR", "data"),
        description="where generated files are cached by content hash: relative to the working directory; "
                    "default $PDESOLVE_DATA_DIR if set (one cache shared across projects), else ./data")
    device: Device = Field("auto", description="device for the reference solver")
    batch_size: int = Field(32, gt=0, description="samples solved together while generating")


class TrainConfig(Section):
    """Optimisation settings shared by every backend that trains by gradient descent."""

    epochs: int = Field(20, ge=0, description="0 trains nothing: the run holds the initialised model, tested as such")
    batch_size: int = Field(16, gt=0, description="larger than the training set: clamped to it (one batch per "
                                                  "epoch), with a note in the summary")
    lr: float | None = Field(
        None, gt=0, description="learning rate; null = the backend's default (1e-3 unless the backend's docs say "
                                "otherwise), filled in the resolved case")
    weight_decay: float = Field(1e-4, ge=0)
    optimizer: Literal["adam", "adamw"] = "adamw"
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    step_size: int = Field(100, gt=0, description="epochs between decays of the step schedule")
    gamma: float = Field(0.5, gt=0, le=1, description="decay factor of the step schedule")
    grad_clip: float | None = Field(1.0, gt=0, description="max gradient norm; null = no clipping")
    loss: Literal["relative_l2", "mse"] = "relative_l2"
    unroll: int = Field(1, ge=1, description="autoregressive steps per training sample")
    backprop: Literal["all", "last"] = Field(
        "all", description="unrolled training: gradients through all steps, or the last (pushforward)")
    augment: bool = Field(False, description="each training sample transformed by a random symmetry of the "
                                             "problem (its periodic shifts and reflections); problems "
                                             "declaring none refuse it")
    amp: Literal["auto", "bf16", "off"] = Field("auto", description="auto = bf16 autocast on CUDA only")
    seed: int = 0
    device: Device = "auto"
    patience: int | None = Field(
        None, gt=0, description="stop after this many epochs without a better validation error")
    threads: int | None = Field(None, gt=0, description="torch CPU threads; null = torch's default")
    workers: int = Field(0, ge=0, description="DataLoader processes reading training batches ahead "
                                               "(0: read in the training process)")
    log_to: list[Literal["csv", "tensorboard"]] = Field(
        default_factory=list, description="metrics also to metrics.csv and/or TensorBoard (RUN/tensorboard)")

    @field_validator("log_to")
    @classmethod
    def _tensorboard_installed(cls, kinds: list[str]) -> list[str]:
        if "tensorboard" in kinds and importlib.util.find_spec("tensorboard") is None:
            raise ValueError("TensorBoard logging needs the tensorboard package (pip install tensorboard)")
        return list(dict.fromkeys(kinds))


class RolloutConfig(Section):
    """Autoregressive prediction from the test initial conditions."""

    steps: int | None = Field(None, gt=0, description="steps to predict; null = to the end of the test data")
    blowup_factor: float = Field(
        100.0, gt=1, description="stop when |prediction| exceeds this times the largest reference value")


class CompareConfig(Section):
    """`pdesolve compare`: which classical baselines to run against the model."""

    baselines: list[str] = Field(default_factory=lambda: ["coarse"])


class OutputConfig(Section):
    runs_dir: str = Field("runs", description="parent folder of run directories")
    figures: bool = Field(True, description="write PNG figures")


class Case(Section):
    """A whole case. ``problem`` and ``backend`` are validated by the classes they name."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    problem: dict[str, Any]
    data: DataConfig = Field(default_factory=DataConfig)
    backend: dict[str, Any]
    train: TrainConfig = Field(default_factory=TrainConfig)
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)
    compare: CompareConfig = Field(default_factory=CompareConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)


class ResolvedCase:
    """A validated case with its problem and backend built.

    Attributes:
        case: the validated `Case`, ``problem`` and ``backend`` with every default filled in.
        problem: the `Problem` instance.
        backend_cls: the registered solver class; `make_solver` builds a fresh one.
        source: the file the case came from (for messages).
    """

    def __init__(self, case: Case, source: str):
        from pdesolve.backends import Solver
        from pdesolve.problems import Problem

        self.source = source
        self.problem = Problem.from_config(case.problem, source=source)
        backend = dict(case.backend)
        name = backend.pop("name", None)
        if not name:
            raise UserError("required field is missing", source=source, field="backend.name")
        self.backend_cls = Solver.lookup(str(name), source=source, field="backend.name")
        self.backend_options = self.backend_cls.validate_options(backend, source=source)
        try:
            if hasattr(self.problem, "data_grid"):
                self.problem.data_grid(case.data.resolution)
        except UserError as err:
            raise err.located(source, "data.resolution") from None
        try:
            self.problem.check_data(case.data)  # e.g. a problem reading a file: the split against it
        except UserError as err:
            raise err.located(source, "data") from None
        try:
            self.backend_cls.check_problem(self.problem, self.backend_options, horizon=case.train.unroll)
        except UserError as err:
            raise err.located(source, "backend") from None
        defaults = self.problem.default_baselines()  # e.g. a file has no reference solver for "coarse"
        if defaults is not None and "baselines" not in case.compare.model_fields_set:
            case = case.model_copy(update={"compare": CompareConfig(baselines=defaults)})
        self._check_train_fields(case.train, source)
        if case.train.augment and not self.problem.symmetries:
            raise UserError(f"problem '{self.problem.name}' declares no symmetries to augment by; remove it",
                            source=source, field="train.augment")
        self._check_rollout_steps(case, source)
        if case.train.lr is None:
            case = case.model_copy(update={"train": case.train.model_copy(
                update={"lr": self.backend_cls(self.backend_options).default_lr(self.problem)})})
        for baseline in case.compare.baselines:
            known = self.problem.baselines()
            if baseline not in known:
                raise UserError(
                    f"unknown baseline '{baseline}' for problem '{self.problem.name}' "
                    f"(expected one of: {', '.join(sorted(known)) or 'none'})",
                    source=source, field="compare.baselines")
        self.case = case.model_copy(update={
            "problem": {"name": self.problem.name, **self.problem.params.model_dump(mode="json")},
            "backend": {"name": self.backend_cls.name, **self.backend_options.model_dump(mode="json")},
        })

    def _check_train_fields(self, train: TrainConfig, source: str) -> None:
        """A ``train.*`` field the backend does not use, set to anything but its default, is an error."""
        unused = self.backend_cls.unused_train_fields(self.problem, self.backend_options)
        for name, reason in unused.items():
            default = TrainConfig.model_fields[name].default
            if getattr(train, name) != default:
                raise UserError(f"backend '{self.backend_cls.name}' does not use this field ({reason}); "
                                f"remove it (default {default!r})", source=source, field=f"train.{name}")

    def _check_rollout_steps(self, case: Case, source: str) -> None:
        """``rollout.steps`` beyond the test trajectories (their frames after the first window) is an
        error: there is no reference to judge the extra steps by."""
        steps = case.rollout.steps
        if steps is None or self.problem.task != "trajectory":
            return
        available = len(self.problem.times) - getattr(self.backend_options, "window", 1)
        if steps > available:
            raise UserError(f"{steps} steps asked; the test trajectories have {available} frames after the "
                            f"first window (expected at most {available}, or null for all)",
                            source=source, field="rollout.steps")

    def data_memory_estimates(self) -> list[MemoryEstimate]:
        """What generating the case's data holds in memory at once (`pdesolve.limits`)."""
        d = self.case.data
        return self.problem.memory_estimates(d.n_train + d.n_val + d.n_test, d.resolution, d.batch_size)

    def model_memory_estimates(self) -> list[MemoryEstimate]:
        """What training the case's model holds in memory at once (`pdesolve.limits`)."""
        return self.make_solver().memory_estimates(self.problem, self.case.data.resolution,
                                                   self.case.train.batch_size)

    @property
    def name(self) -> str:
        return self.case.name

    def make_solver(self):
        """A fresh, untrained solver with this case's options."""
        return self.backend_cls(self.backend_options)

    def to_yaml(self) -> str:
        """The resolved case as YAML (what a run directory's ``case.yaml`` holds)."""
        return yaml.safe_dump(self.case.model_dump(mode="json"), sort_keys=False)


# --------------------------------------------------------------------------------- loading
def shipped_cases() -> dict[str, Path]:
    """Case files shipped with the package, by name (file stem)."""
    root = resources.files("pdesolve.cases")
    return {Path(p.name).stem: Path(str(p)) for p in root.iterdir() if p.name.endswith(".yaml")}


def find_case(ref: str | Path) -> Path:
    """A case file from a path, or the name of a shipped case (``quickstart``)."""
    path = Path(ref)
    if path.is_file():
        return path
    shipped = shipped_cases()
    if str(ref) in shipped:
        return shipped[str(ref)]
    raise UserError(
        f"no such case file or shipped case (shipped: {', '.join(sorted(shipped))})", source=str(ref))


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.epochs=2"`` -> (``["train", "epochs"]``, ``2``); the value is parsed as YAML."""
    if "=" not in text:
        raise UserError(f"expected PATH=VALUE, got '{text}'", source="--set")
    path, value = text.split("=", 1)
    keys = [k for k in path.strip().split(".") if k]
    if not keys:
        raise UserError(f"empty field path in '{text}'", source="--set")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    return keys, parsed


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """A copy of ``raw`` with each ``a.b.c=value`` override set (sections are created as needed)."""
    out = copy.deepcopy(raw)
    for text in overrides:
        keys, value = parse_override(text)
        node = out
        for i, key in enumerate(keys[:-1]):
            child = node.get(key)
            if child is None:
                child = node[key] = {}
            if not isinstance(child, dict):
                raise UserError(f"'{'.'.join(keys[: i + 1])}' is not a section", source="--set")
            node = child
        node[keys[-1]] = value
    return out


def read_yaml(path: Path) -> dict:
    """Parse a YAML mapping, with the line of any syntax error in the message."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise UserError(f"cannot read file ({err.strerror})", source=str(path)) from None
    except UnicodeDecodeError as err:
        raise UserError(f"not a text file (byte {err.start} is not UTF-8; expected a YAML case)",
                        source=str(path)) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise UserError(f"invalid YAML{where}: {problem}", source=str(path)) from None
    if not isinstance(raw, dict):
        raise UserError("expected a mapping of sections (problem, data, backend, ...)", source=str(path))
    return raw


def load_case(ref: str | Path, overrides: list[str] | None = None) -> ResolvedCase:
    """Read, override, validate and resolve a case file.

    Args:
        ref: a path to a YAML case, or the name of a shipped case.
        overrides: ``"a.b=value"`` strings applied before validation (``--set``).

    Raises:
        UserError: naming the file, the field and what was expected.
    """
    path = find_case(ref)
    raw = apply_overrides(read_yaml(path), overrides or [])
    raw.setdefault("name", path.stem)
    for section in ("problem", "backend"):
        if section in raw and not isinstance(raw[section], dict):
            raise UserError("expected a mapping with a 'name' key", source=str(path), field=section)
    try:
        case = Case(**raw)
    except ValidationError as err:
        raise validation_error(err, source=str(path)) from None
    return ResolvedCase(case, str(path))
