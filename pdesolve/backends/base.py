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
from abc import abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import torch
import xarray as xr
from pydantic import BaseModel, ConfigDict, ValidationError
from torch import nn

from pdesolve.data.netcdf import atomic_replace
from pdesolve.errors import UserError, validation_error
from pdesolve.registry import Registered

STATE_FORMAT = 1


class BackendOptions(BaseModel):
    """Base of every backend's options: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


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
    """

    epochs: int = 0
    best_epoch: int = -1
    best_val: float = float("nan")
    seconds: float = 0.0
    stopped: str | None = None
    history: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


class Trainer(Protocol):
    """The training loop the engine hands to `Solver.fit` (see `pdesolve.engines.train`)."""

    device: torch.device
    batch_size: int
    unroll: int
    backprop: str
    run: Any            # the run directory (`pdesolve.engines.runs.RunDir`) or None: for backends
                        # that run their own loop and checkpoint through it (INSR)
    resume: dict | None  # the checkpoint to continue from (``checkpoint.pt`` contents) or None
    workers: int         # DataLoader processes reading training batches ahead (``train.workers``)

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
    ) -> FitReport:
        """Optimise ``module``'s parameters on ``step_loss`` over epochs of ``train_batches``."""


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
            options = self.validate_options({**options.model_dump(), **overrides})
        self.options = options
        self.setup: dict[str, Any] = {}

    # -------------------------------------------------------------------- checks
    @classmethod
    def validate_options(cls, config: dict, *, source: str | None = None) -> BackendOptions:
        try:
            return cls.Options(**config)
        except ValidationError as err:
            raise validation_error(err, source=source, prefix="backend") from None

    @classmethod
    def check_problem(cls, problem, options: BackendOptions, *, horizon: int = 1) -> None:
        """Raise a `UserError` unless this backend, with ``options``, can learn ``problem``.

        ``horizon`` is the number of future frames a training sample needs (``train.unroll``).
        """
        if problem.task not in cls.tasks:
            raise UserError(
                f"backend '{cls.name}' ({cls.kind}) does not solve '{problem.task}' problems like "
                f"'{problem.name}'; it accepts: {', '.join(cls.tasks)}", field="backend.name")

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
        """Load a solver saved by `save` (or a run's ``best.pt``)."""
        path = Path(path)
        if not path.is_file():
            raise UserError("file not found (expected a saved solver)", source=str(path))
        state = torch.load(path, map_location=map_location, weights_only=True)
        return Solver.from_state_dict(state.get("solver", state))


def list_backends() -> dict[str, type[Solver]]:
    """All registered backends by name."""
    import pdesolve.backends  # noqa: F401  (imports every backend module)

    return Solver.registered()


def get_backend(name: str, **options) -> Solver:
    """A fresh backend ``name`` built with ``options``."""
    return list_backends().get(name, Solver.lookup(name))(options)
