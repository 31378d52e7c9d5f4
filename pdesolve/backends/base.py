"""The common solver interface and the registry of backends.

Every backend is a `Solver` subclass registered by name::

    class FNOSolver(OperatorSolver, name="fno"):
        Options = FNOOptions          # pydantic model of the case's ``backend`` section
        def build_network(self, in_channels, out_channels, grid): ...

The interface (scikit-learn-like):

* ``fit(problem, data, trainer) -> FitReport`` -- learn from the problem's data (or its physics);
  ``trainer`` is the engine's training loop (`Trainer` protocol below), so backends never import
  engines.
* ``solve(problem, inputs) -> xr.Dataset`` -- outputs on the problem's grid or mesh.
* ``state_dict()`` / ``Solver.from_state_dict(state)`` -- everything needed to rebuild: JSON
  options and setup plus tensors, loadable with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import json
import pickle
import warnings
from abc import abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

import torch
import xarray as xr
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from torch import nn

from pdesolve.data.netcdf import atomic_replace
from pdesolve.errors import UserError, validation_error
from pdesolve.limits import MemoryEstimate
from pdesolve.models.presets import PresetTable
from pdesolve.registry import Registered

STATE_FORMAT = 1


class BackendOptions(BaseModel):
    """Base of every backend's options: unknown keys are errors, numbers must be finite."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class PresetOptions(BackendOptions):
    """Options of a backend whose model family has named size presets (`pdesolve.models.presets`).

    ``preset: NAME`` fills every size field of the family that the section does not set itself;
    explicit fields win. The resolved options keep both the name and the sizes, so a run's
    ``case.yaml`` and checkpoint rebuild the same network even if a preset changes later.
    """

    presets: ClassVar[PresetTable]
    preset: str | None = Field(
        None, description="named model size (`pdesolve backends --presets`); fills the size fields not set")

    @model_validator(mode="before")
    @classmethod
    def _fill_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("preset") is not None:
            return cls.presets.fill(str(data["preset"]), data)
        return data


@dataclass
class FitReport:
    """What a fit did.

    Attributes:
        epochs: epochs completed (including those before a resume).
        best_epoch: epoch of the best validation error (0-based), or -1 without validation.
        best_val: best validation error (relative L2 unless the backend says otherwise).
        seconds: wall time of this fit call.
        stopped: why training ended early (``"non-finite loss"``, ``"patience"``) or ``None``.
        history: per-epoch metrics.
        notes: what the user should know about how the case was run (e.g. a batch size clamped to
            the training set).
    """

    epochs: int = 0
    best_epoch: int = -1
    best_val: float = float("nan")
    seconds: float = 0.0
    stopped: str | None = None
    history: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


DEFAULT_LR = 1e-3  # train.lr when neither the case nor the backend (`Solver.default_lr`) sets one


@dataclass
class PlateauSchedule:
    """A learning rate cut by ``factor`` after ``patience`` optimiser steps without a lower loss
    (``ReduceLROnPlateau`` stepped every iteration on the loss term ``"main"``), down to ``min_lr``;
    with ``early_stop`` the stage ends once the rate has reached ``min_lr``."""

    patience: int
    factor: float
    min_lr: float
    early_stop: bool = True


@dataclass
class Stage:
    """One optimisation problem of a fit, run by `Trainer.fit_stages`.

    Attributes:
        module: the parameters optimised (unless ``param_groups`` says otherwise); restored to the
            last good state on a non-finite loss.
        step_loss: batch -> scalar loss, or a dict of loss terms (summed; ``"main"`` drives a
            plateau schedule), called under autocast.
        items: draw batches of ``batch_size`` (``None``: ``train.batch_size``) indices ``(b,)`` from
            a permutation of ``range(items)`` seeded by (seed, epoch) -- or give ``batches`` instead.
        batches: generator -> one epoch of batches (for losses that sample their own points).
        size: with ``batches``, the number of training items they are drawn from, when there is
            one: a batch size above it is clamped to it (one batch per epoch), with a note.
        n_batches: batches per epoch (progress bar), when known.
        validate: -> validation error (lower is better), after every epoch: best checkpoints,
            ``train.patience``.
        name: labels metrics records and checkpoints; ``None`` for the fit's main stage.
        epochs, lr, weight_decay, optimizer, schedule: ``None`` means ``train.*``.
        grad_clip: a max gradient norm, ``None`` for none, ``"train"`` for ``train.grad_clip``.
        param_groups: optimiser parameter groups (e.g. another learning rate for some parameters).
        plateau: a per-iteration plateau schedule instead of the per-epoch one.
        autocast: run ``step_loss`` under the case's autocast (bf16 on CUDA).
        checkpoint: write ``checkpoint.pt`` after every epoch of this stage.
        log: append one metrics record per epoch.
        on_end: called with the last epoch's record when the stage completes (before its
            checkpoint); returns further metrics records to append.
        sharded: with ``batches`` and ``size``: they yield this rank's share (`Trainer.shard`,
            `pdesolve.data.streaming.shard_batch`) of global batches of ``batch_size`` cut from
            ``size`` items -- what data-parallel training needs of a ``batches`` stage (``items``
            stages are sharded by the trainer).
    """

    module: nn.Module
    step_loss: Callable[[Any], torch.Tensor | dict[str, torch.Tensor]]
    items: int | None = None
    batch_size: int | None = None
    batches: Callable[[torch.Generator], Iterable[Any]] | None = None
    size: int | None = None
    n_batches: int | None = None
    validate: Callable[[], float] | None = None
    name: str | None = None
    epochs: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    optimizer: str | None = None
    schedule: str | None = None
    grad_clip: float | None | Literal["train"] = "train"
    param_groups: list[dict] | None = None
    plateau: PlateauSchedule | None = None
    autocast: bool = True
    checkpoint: bool = True
    log: bool = True
    on_end: Callable[[dict], list[dict]] | None = None
    sharded: bool = False

    def __post_init__(self):
        if (self.items is None) == (self.batches is None):
            raise ValueError("a Stage takes either items or batches")


class Trainer(Protocol):
    """The training loop the engine hands to `Solver.fit` (see `pdesolve.engines.train`)."""

    device: torch.device
    batch_size: int
    unroll: int
    backprop: str
    augment: bool        # train.augment: a random symmetry of the problem per training sample
    lr: float | None     # train.lr (None: the backend's `Solver.default_lr`)
    resume: dict | None  # the checkpoint to continue from (``checkpoint.pt`` contents) or None
    workers: int         # DataLoader processes reading training batches ahead (``train.workers``)
    shard: tuple[int, int]  # (rank, world size) of data-parallel training; (0, 1) in one process

    def gather(self, values: torch.Tensor) -> list[torch.Tensor]:
        """Every rank's ``values`` (on the CPU), in rank order (``[values]`` in one process)."""

    def loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The case's training loss."""

    def fit(
        self,
        solver: Solver,
        module: nn.Module,
        step_loss: Callable[[Any], torch.Tensor],
        train_batches: Callable[[torch.Generator], Iterable[Any]],
        validate: Callable[[], float] | None = None,
        n_batches: int | None = None,
        items: int | None = None,
    ) -> FitReport:
        """Optimise ``module``'s parameters on ``step_loss`` over epochs of ``train_batches`` (drawn
        from ``items`` training items, when known: `Stage.size`)."""

    def fit_stages(self, solver: Solver, stages: Iterable[Stage]) -> FitReport:
        """Run a sequence of optimisation stages (a generator may build each from the last)."""


class Solver(Registered):
    """A numerical method behind the common interface.

    Class attributes:
        kind: ``"operator"``, ``"field"``, ``"linear"`` or ``"mesh"``.
        tasks: the problem tasks it accepts (see `pdesolve.problems.base`).
        Options: its options model (the case's ``backend`` section minus ``name``).
        description: one line for ``pdesolve backends``.
        paper: the reference of the method it implements.
    """

    registry_label: ClassVar[str] = "backend"
    kind: ClassVar[str]
    tasks: ClassVar[tuple[str, ...]]
    Options: ClassVar[type[BackendOptions]] = BackendOptions
    description: ClassVar[str] = ""
    paper: ClassVar[str] = ""

    def __init__(self, options: BackendOptions | dict | None = None, **overrides):
        if not isinstance(options, BackendOptions):
            options = self.validate_options({**(options or {}), **overrides})
        elif overrides:
            options = self.validate_options({**options.model_dump(exclude_unset=True), **overrides})
        self.options = options
        self.setup: dict[str, Any] = {}

    # -------------------------------------------------------------------- checks
    @classmethod
    def validate_options(cls, config: dict, *, source: str | None = None) -> BackendOptions:
        try:
            return cls.Options(**config)
        except ValidationError as err:
            raise validation_error(err, source=source, prefix="backend") from None
        except UserError as err:  # an unknown preset
            raise err.located(source) from None

    @classmethod
    def check_problem(cls, problem, options: BackendOptions, *, horizon: int = 1) -> None:
        """Raise a `UserError` unless this backend, with ``options``, can learn ``problem``.

        ``horizon`` is the number of future frames a training sample needs (``train.unroll``).
        """
        if problem.task not in cls.tasks:
            raise UserError(
                f"backend '{cls.name}' ({cls.kind}) does not solve '{problem.task}' problems like "
                f"'{problem.name}'; it accepts: {', '.join(cls.tasks)}", field="backend.name")

    @classmethod
    def unused_train_fields(cls, problem, options: BackendOptions) -> dict[str, str]:
        """The case's ``train.*`` fields this backend does not use on ``problem``, each with the reason
        (the case loader rejects them when set to anything but their default). By default the
        autoregressive ones: only operator backends on trajectories unroll."""
        reason = f"only autoregressive training on trajectories unrolls; '{problem.name}' is a {problem.task} problem"
        return {"unroll": reason, "backprop": reason,
                "augment": "only operator backends on trajectories augment their training samples"}

    def default_lr(self, problem) -> float:
        """``train.lr`` when the case leaves it null."""
        return DEFAULT_LR

    def memory_estimates(self, problem, resolution, batch_size: int) -> list[MemoryEstimate]:
        """What training on ``problem`` (data at ``resolution``, batches of ``batch_size``) holds at
        once, checked by `pdesolve.limits.check_memory` before training; none by default."""
        return []

    def size_field(self) -> str:
        """The option a memory estimate of the network blames: the largest integer option."""
        sizes = {k: v for k, v in self.options.model_dump().items() if isinstance(v, int) and not isinstance(v, bool)}
        return f"backend.{max(sizes, key=sizes.get)}" if sizes else "backend"

    # ----------------------------------------------------------------- interface
    @abstractmethod
    def fit(self, problem, data: xr.Dataset, trainer: Trainer) -> FitReport:
        """Learn from ``data`` (a dataset with train/validation/test splits)."""

    @abstractmethod
    def solve(self, problem, inputs: xr.Dataset) -> xr.Dataset:
        """Outputs for ``inputs`` on the problem's grid or mesh."""

    @abstractmethod
    def score(self, problem, data: xr.Dataset) -> dict[str, float]:
        """Headline test metrics of the fitted solver on ``data`` (one split), by name."""

    @abstractmethod
    def modules(self) -> nn.Module:
        """All learned tensors as one module (saved by `state_dict`, moved by `to`)."""

    @abstractmethod
    def build(self, setup: dict[str, Any]) -> None:
        """Create untrained modules from ``setup`` (JSON-able facts of the problem and data)."""

    @property
    def label(self) -> str:
        """The method's name in comparison tables and figures (the backend name, unless a variant
        adds to it)."""
        return self.name

    def to(self, device: torch.device | str) -> Solver:
        self.modules().to(device)
        return self

    @property
    def device(self) -> torch.device:
        p = next(iter(self.modules().state_dict().values()), None)
        return p.device if p is not None else torch.device("cpu")

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.modules().parameters())

    # -------------------------------------------------------------- persistence
    def state_dict(self) -> dict[str, Any]:
        """Options and setup as JSON strings, tensors on the CPU: ``weights_only``-loadable."""
        return {
            "format": STATE_FORMAT,
            "backend": self.name,
            "options": self.options.model_dump_json(),
            "setup": json.dumps(self.setup),
            "tensors": {k: v.detach().cpu() for k, v in self.modules().state_dict().items()},
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> Solver:
        """Rebuild any registered solver from a `state_dict` (dispatches on ``state["backend"]``)."""
        if state.get("format") != STATE_FORMAT:
            raise UserError(f"unsupported solver state format {state.get('format')!r}")
        solver_cls = Solver.lookup(state["backend"])
        solver = solver_cls(json.loads(state["options"]))
        solver.setup = json.loads(state["setup"])
        solver.build(solver.setup)
        solver.modules().load_state_dict(state["tensors"])
        return solver

    def save(self, path: str | Path) -> Path:
        """Write `state_dict` to ``path`` atomically."""
        return atomic_replace(Path(path), lambda tmp: torch.save(self.state_dict(), tmp))

    @staticmethod
    def load(path: str | Path, map_location: str | torch.device = "cpu") -> Solver:
        """Load a solver saved by `save` (or a run's ``best.pt`` / ``checkpoint.pt``).

        Raises:
            UserError: the file is missing, damaged or not a pdesolve checkpoint (`read_checkpoint`).
        """
        state = read_checkpoint(path, map_location)
        try:
            return Solver.from_state_dict(state["solver"])
        except UserError as err:
            raise err.located(str(path)) from None
        except (KeyError, TypeError, ValueError, RuntimeError) as err:  # JSON, options, tensor shapes
            raise UserError(f"not a pdesolve checkpoint of a solver: its state does not rebuild one "
                            f"({type(err).__name__}: {str(err).splitlines()[0][:200]})", source=str(path)) from None


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The contents of a pdesolve checkpoint, read with ``torch.load(..., weights_only=True)``,
    normalised to ``{"solver": state, ...}`` (a bare `Solver.state_dict` file is wrapped).

    Raises:
        UserError: the file is missing, truncated or otherwise unreadable, holds pickled objects
            (refused, never unpickled), or is not a pdesolve solver state.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError("file not found (expected a pdesolve checkpoint)", source=str(path))
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickle protocols: the error says it all
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if "GLOBAL" in str(err):
            raise UserError("not a pdesolve checkpoint: it holds Python objects that pdesolve never writes "
                            "(refused without running them)", source=str(path)) from None
        raise UserError("damaged or not a pdesolve checkpoint (not a torch file)", source=str(path)) from None
    except Exception as err:  # torch reports truncation and foreign bytes with many types
        raise UserError(f"damaged or not a pdesolve checkpoint (unreadable: {type(err).__name__})",
                        source=str(path)) from None
    solver = state.get("solver", state) if isinstance(state, dict) else None
    if not isinstance(solver, dict) or not isinstance(solver.get("tensors"), dict):
        raise UserError("not a pdesolve checkpoint (no solver state: expected the file of a run's best.pt, "
                        "checkpoint.pt or Solver.save)", source=str(path))
    return state if "solver" in state else {"solver": state}


def list_backends() -> dict[str, type[Solver]]:
    """All registered backends by name."""
    import pdesolve.backends  # noqa: F401  (imports every backend module)

    return Solver.registered()


def get_backend(name: str, **options) -> Solver:
    """A fresh backend ``name`` built with ``options``."""
    return list_backends().get(name, Solver.lookup(name))(options)
