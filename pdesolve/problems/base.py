"""What a problem (a PDE family) provides, and the registry of problems.

A problem module owns: its parameters (a pydantic model, validated from the case file's
``problem`` section), its fields' metadata, its reference numerical solver, its data generator and
its classical baselines. Subclass `GridProblem` for fields on rectilinear grids::

    class Darcy2D(GridProblem, name="darcy_2d"):
        Params = DarcyParams
        task = "map"
        ...

Tasks (what a sample is, and which solver kinds can learn it):

* ``"map"``        -- input fields -> output fields (Darcy: permeability -> pressure).
* ``"trajectory"`` -- a time series of state fields; models step it forward (Navier--Stokes).
* ``"field"``      -- one PDE instance, solved by fitting a representation (GP, INSR).
* ``"linear"``     -- a family of linear systems ``A x = b`` (DCDM).
* ``"mesh"``       -- meshes with movement targets (UM2N).
* ``"mesh_map"``   -- a geometry -> steady fields, every sample on its own mesh (enf2enf); see
  `pdesolve.problems.mesh_map`.
"""

from __future__ import annotations

import hashlib
import json
import math
from abc import abstractmethod
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import xarray as xr
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from pdesolve.data.fields import FieldSpec
from pdesolve.data.grid import Grid
from pdesolve.data.symmetries import Symmetry
from pdesolve.data.tensors import to_dataset
from pdesolve.errors import UserError, validation_error
from pdesolve.limits import MemoryEstimate, Size
from pdesolve.progress import make_progress
from pdesolve.registry import Registered
from pdesolve.version import __version__

Task = Literal["map", "trajectory", "field", "linear", "mesh", "mesh_map"]
SPLITS = ("train", "validation", "test")


class ProblemParams(BaseModel):
    """Base of every problem's parameter model: unknown keys are errors, numbers must be finite."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class SnapshotParams(ProblemParams):
    """Base of the parameters of problems stored every ``snapshot_interval`` up to ``t_end`` (both
    declared by the subclass): ``t_end`` must be a whole multiple of the interval."""

    @model_validator(mode="after")
    def _whole_number_of_snapshots(self):
        ratio = self.t_end / self.snapshot_interval
        if abs(ratio - round(ratio)) > 1e-9 * max(ratio, 1.0):
            raise ValueError(f"t_end ({self.t_end}) must be a whole multiple of "
                             f"snapshot_interval ({self.snapshot_interval})")
        return self


class Problem(Registered):
    """A PDE family with its reference solver. Instances hold validated parameters."""

    registry_label: ClassVar[str] = "problem"
    Params: ClassVar[type[ProblemParams]] = ProblemParams
    task: ClassVar[Task]
    description: ClassVar[str] = ""
    fields: ClassVar[dict[str, FieldSpec]] = {}
    #: Version of the reference solver, part of the recipe (so of the content hash): bump it in the
    #: problem's class whenever a change alters generated values, and cached files regenerate.
    solver_version: ClassVar[int] = 1
    #: transformations mapping a solution to another (`pdesolve.data.symmetries`): what ``train.augment``
    #: draws from; none by default
    symmetries: ClassVar[tuple[Symmetry, ...]] = ()

    def __init__(self, params: ProblemParams | dict | None = None, *, source: str | None = None):
        if not isinstance(params, ProblemParams):
            try:
                params = self.Params(**(params or {}))
            except ValidationError as err:
                raise validation_error(err, source=source, prefix="problem") from None
        self.params = params

    @classmethod
    def from_config(cls, config: dict, *, source: str | None = None) -> Problem:
        """Build the problem named by ``config["name"]`` with the remaining keys as parameters."""
        config = dict(config)
        name = config.pop("name", None)
        if not name:
            raise UserError("required field is missing", source=source, field="problem.name")
        return cls.lookup(str(name), source=source, field="problem.name")(config, source=source)

    def param_attrs(self) -> dict[str, object]:
        """PDE parameters as netCDF global attributes (scalars as such, the rest as JSON)."""
        out: dict[str, object] = {"problem": self.name, "problem_params": self.params.model_dump_json()}
        for key, value in self.params.model_dump().items():
            if isinstance(value, bool):
                out[key] = int(value)
            elif isinstance(value, (int, float, str)):
                out[key] = value
            elif value is not None:
                out[key] = json.dumps(value)
        return out

    def recipe(self, n: int, seed: int, resolution) -> dict:
        """Everything that determines generated data (the `solver_version` included); its hash names
        the cached file."""
        return {"problem": self.name, "params": self.params.model_dump(mode="json"),
                "n": n, "seed": seed, "resolution": resolution, "data_format": 1,
                "solver_version": self.solver_version}

    @staticmethod
    def recipe_hash(recipe: dict) -> str:
        """SHA-256 of a recipe (the ``content_hash`` attribute of generated files)."""
        return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()

    @classmethod
    def recipe_attrs(cls, recipe: dict) -> dict[str, str]:
        """The recipe and its hash as global attributes: ``content_hash``, ``generation_recipe``."""
        return {"content_hash": cls.recipe_hash(recipe), "generation_recipe": json.dumps(recipe, sort_keys=True)}

    def dataset_attrs(self, *, source: str, title: str | None = None, recipe: dict | None = None,
                      **facts: object) -> dict[str, object]:
        """CF global attributes of a generated dataset: provenance (``source``: the solver or the
        formula), ``facts`` of this file (seed, sizes, ...), the pdesolve version and creation time,
        the PDE parameters and, given the generation ``recipe``, its content hash."""
        attrs: dict[str, object] = {
            "Conventions": "CF-1.10",
            "title": title or f"{self.name} reference data",
            "institution": "generated locally with pdesolve",
            "source": source,
            **facts,
            "pdesolve_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "description": self.description,
            **self.param_attrs(),
        }
        if recipe is not None:
            attrs.update(self.recipe_attrs(recipe))
        return attrs

    @abstractmethod
    def generate(
        self, n: int, seed: int, *, resolution: int | Sequence[int] | None = None,
        device: str | torch.device = "cpu", batch_size: int = 32,
    ) -> xr.Dataset:
        """``n`` reference samples as a self-describing dataset (see docs/data-format.md)."""

    def generate_part(self, n: int, seed: int, rank: int, world: int, *, resolution=None,
                      device: str | torch.device = "cpu", batch_size: int = 32) -> Any:
        """Rank ``rank``'s part of `generate` over ``world`` processes, sent to rank 0 (picklable);
        `assemble` puts the parts together. By default rank 0 generates everything (problems whose
        samples are solved independently share them out)."""
        if rank != 0:
            return None
        return self.generate(n, seed, resolution=resolution, device=device, batch_size=batch_size)

    def assemble(self, n: int, seed: int, parts: list, *, resolution=None) -> xr.Dataset:
        """The dataset of `generate` from every rank's `generate_part`, in rank order."""
        return parts[0]

    def physical_state(self, stored: torch.Tensor, data: xr.Dataset) -> torch.Tensor:
        """Stored fields ``(..., c, *s)`` of ``data`` -> the state `simulate` and the baselines take
        (identity unless the data store, e.g., fluctuations about a mean)."""
        return stored

    def stored_fields(self, state: torch.Tensor, data: xr.Dataset) -> torch.Tensor:
        """The inverse of `physical_state`: solver states ``(..., c, *s)`` -> the fields ``data`` stores."""
        return state

    def baselines(self) -> dict[str, Baseline]:
        """Classical baselines that `pdesolve compare` can run, by name."""
        return {}

    def default_baselines(self) -> list[str] | None:
        """``compare.baselines`` when the case does not set it (``None``: the schema's default)."""
        return None

    def check_data(self, data) -> None:
        """Raise a `UserError` if the case's ``data`` section cannot be served (before any work)."""

    def stored_data(self, n_train: int, n_val: int, n_test: int, seed: int, resolution=None
                    ) -> tuple[xr.Dataset, Path] | None:
        """A problem that reads its samples from a file (``dataset``) returns them with their
        splits and the file; generators return ``None`` (`generate` makes theirs)."""
        return None

    def memory_estimates(self, n: int, resolution: int | Sequence[int] | None,
                         batch_size: int) -> list[MemoryEstimate]:
        """What generating ``n`` samples (``batch_size`` solved together) holds in memory at once,
        checked by `pdesolve.limits.check_memory` before generation; none by default."""
        return []


class Baseline:
    """A classical method run from the same inputs as a model, on the model's grid."""

    name: ClassVar[str]
    description: ClassVar[str]

    def run(self, problem: GridProblem, inputs: torch.Tensor, grid: Grid, t0: float,
            times: Sequence[float]) -> torch.Tensor:
        """Outputs from ``inputs`` on ``grid``; same layout as `GridProblem.simulate`."""
        raise NotImplementedError


class UnderResolved(Baseline):
    """The reference solver itself, run at the model's (coarse) resolution."""

    name = "coarse"
    description = "reference solver at the model's resolution (under-resolved)"

    def run(self, problem, inputs, grid, t0, times):
        return problem.simulate(inputs, grid, t0=t0, times=times)


class GridProblem(Problem):
    """A problem whose fields live on a rectilinear grid (tasks ``map`` and ``trajectory``).

    Subclasses define `solver_grid`, `sample_inputs` and `simulate`; generation, restriction to
    the data grid and dataset assembly are shared.

    Class attributes:
        inputs: fields a model receives (for trajectories: the state fields).
        outputs: fields a model predicts (for trajectories: the same state fields).
        baseline_types: classical baselines offered by `pdesolve compare`.
        statistics: per-sample scalars that `solver_statistics` stores with generated data.
    """

    inputs: ClassVar[tuple[str, ...]]
    outputs: ClassVar[tuple[str, ...]]
    baseline_types: ClassVar[tuple[type[Baseline], ...]] = (UnderResolved,)
    statistics: ClassVar[dict[str, FieldSpec]] = {}
    solver_name: ClassVar[str] = ""

    # --------------------------------------------------------------- what subclasses define
    @property
    @abstractmethod
    def solver_grid(self) -> Grid:
        """The grid the reference solver runs on."""

    @property
    def times(self) -> np.ndarray:
        """Snapshot times of a trajectory (empty for ``map`` problems)."""
        return np.zeros(0)

    @abstractmethod
    def sample_inputs(self, n: int, seed: int, first_index: int, device) -> torch.Tensor:
        """Random inputs (initial states or coefficients), ``(n, len(inputs), *solver_grid.shape)``.

        Sample ``first_index + i`` must depend only on ``seed`` and its own index.
        """

    @abstractmethod
    def simulate(self, inputs: torch.Tensor, grid: Grid, *, t0: float = 0.0,
                 times: Sequence[float] | None = None) -> torch.Tensor:
        """Run the reference solver on ``grid`` from ``inputs``.

        Returns:
            ``map``: outputs, ``(n, len(outputs), *grid.shape)``;
            ``trajectory``: states at ``times`` (default `times`), ``(n, T, len(outputs), *grid.shape)``,
            starting from ``inputs`` at time ``t0`` (a time equal to ``t0`` returns the input).
        """

    # ----------------------------------------------------------------------------- shared
    def reference_solution(self, inputs: torch.Tensor) -> torch.Tensor:
        """The reference data of `sample_inputs` on the solver grid, as `simulate` lays it out; by default
        `simulate` on the solver grid (a problem may spin up elsewhere first)."""
        return self.simulate(inputs, self.solver_grid)

    def data_grid(self, resolution: int | Sequence[int] | None) -> Grid:
        """The grid data is stored on: the solver grid, or a subsampling of it."""
        if resolution is None:
            return self.solver_grid
        grid = self.solver_grid.resized(resolution if isinstance(resolution, int) else tuple(resolution))
        self.solver_grid.strides_to(grid)  # raises a UserError when not a subsampling
        return grid

    def restrict(self, u: torch.Tensor, grid: Grid, target: Grid) -> torch.Tensor:
        """Values of ``u`` on ``target`` by strided subsampling (both grids cover the same domain)."""
        strides = grid.strides_to(target)
        index = (...,) + tuple(slice(None, None, s) for s in strides)
        return u[index]

    def baselines(self) -> dict[str, Baseline]:
        return {b.name: b() for b in self.baseline_types}

    def solver_statistics(self, outputs: torch.Tensor, grid: Grid) -> dict[str, torch.Tensor]:
        """Per-sample scalars (``name -> (n,)``, names in `statistics`) of ``simulate`` outputs on the
        solver grid, stored with the data (e.g. a DNS's Reynolds number); none by default."""
        return {}

    def recipe(self, n, seed, resolution):
        return super().recipe(n, seed, list(self.data_grid(resolution).shape))

    def memory_estimates(self, n, resolution, batch_size):
        """The stored data (every sample, frame and field on the data grid, float64) and one batch
        of reference solutions on the solver grid (every frame, as `simulate` returns them)."""
        resolution_field = "problem.resolution" if "resolution" in type(self.params).model_fields else "problem"
        frames = [Size("problem.t_end", "frames", len(self.times))] if self.task == "trajectory" else []
        channels = self.outputs if self.task == "trajectory" else (*self.inputs, *self.outputs)
        fields = Size("problem.name", "fields", len(channels))
        stored = MemoryEstimate("the reference data", [
            Size("data.n_train", "samples (n_train + n_val + n_test)", n), *frames, fields,
            Size("data.resolution" if resolution is not None else resolution_field, "grid points",
                 math.prod(self.data_grid(resolution).shape))], 8)
        solving = MemoryEstimate("one batch of reference solutions", [
            Size("data.batch_size", "samples", min(batch_size, n)), *frames, fields,
            Size(resolution_field, "solver grid points", math.prod(self.solver_grid.shape))], 8)
        return [stored, solving]

    def generate(self, n, seed, *, resolution=None, device="cpu", batch_size=32):
        part = self.generate_part(n, seed, 0, 1, resolution=resolution, device=device, batch_size=batch_size)
        return self.assemble(n, seed, [part], resolution=resolution)

    def generate_part(self, n, seed, rank, world, *, resolution=None, device="cpu", batch_size=32):
        """The batches ``rank, rank + world, ...`` of ``batch_size`` samples (sample ``i`` depends only on
        ``seed`` and ``i``; each batch solved as in one process): ``[(batch, inputs, outputs, stats)]``
        on the data grid, on the CPU."""
        grid = self.data_grid(resolution)
        mine = range(rank, math.ceil(n / batch_size), world)
        part = []
        with make_progress() as bar:
            task = bar.add_task(f"generate {self.name}", total=sum(min(batch_size, n - b * batch_size) for b in mine),
                                status="")
            for b in mine:
                first = b * batch_size
                count = min(batch_size, n - first)
                x = self.sample_inputs(count, seed, first, device)
                y = self.reference_solution(x)
                stats = {k: v.cpu() for k, v in self.solver_statistics(y, self.solver_grid).items()}
                part.append((b, self.restrict(x, self.solver_grid, grid).cpu(),
                             self.restrict(y, self.solver_grid, grid).cpu(), stats))
                bar.advance(task, count)
        return part

    def assemble(self, n, seed, parts, *, resolution=None):
        batches = sorted((b for part in parts for b in part), key=lambda b: b[0])
        x, y = torch.cat([b[1] for b in batches]), torch.cat([b[2] for b in batches])
        stats = [b[3] for b in batches]
        ds = self.to_dataset(x, y, self.data_grid(resolution), seed=seed, recipe=self.recipe(n, seed, resolution))
        for name, spec in self.statistics.items():
            values = torch.cat([s[name] for s in stats]).double().cpu().numpy()
            ds[name] = xr.Variable(("sample",), values, spec.attrs())
            ds.attrs[f"mean_{name}"] = float(values.mean())
        return ds

    def to_dataset(self, x: torch.Tensor, y: torch.Tensor, grid: Grid, *, seed: int,
                   recipe: dict | None = None) -> xr.Dataset:
        """Assemble inputs ``x`` and outputs ``y`` (layouts of `simulate`) into a dataset."""
        if self.task == "trajectory":
            fields = {name: y[:, :, i] for i, name in enumerate(self.outputs)}
            times = self.times
        else:
            fields = {name: x[:, i] for i, name in enumerate(self.inputs)}
            fields.update({name: y[:, i] for i, name in enumerate(self.outputs)})
            times = None
        attrs = self.dataset_attrs(source=self.solver_name, recipe=recipe, seed=seed,
                                   solver_grid=json.dumps(list(self.solver_grid.shape)))
        return to_dataset(fields, grid, self.fields, times=times, attrs=attrs)


def list_problems() -> dict[str, type[Problem]]:
    """All registered problems by name."""
    import pdesolve.problems  # noqa: F401  (imports every problem module)

    return Problem.registered()
