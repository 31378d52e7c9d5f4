"""The one data path of operator training: pairs read on demand from a dataset split.

`FieldPairs` is a `torch.utils.data.Dataset` over an `xarray.Dataset` split in pdesolve's layout,
held in memory (a generator's output) or lazily on disk (`pdesolve.data.sources`). It yields the
pairs of `pdesolve.data.samples` -- ``MapPairs`` (inputs -> outputs, one per sample) and
``WindowPairs`` (``window`` frames -> the next ``horizon``, every start of every trajectory, in
that order) -- with the same values and layout: ``x: (b, window, c_in, *s)``,
``y: (b, horizon, c_out, *s)``, float32. In-memory variables are gathered in one fancy index;
lazy ones are read item by item, each read touching only its window of the file.

`PairLoader` feeds them through a `torch.utils.data.DataLoader` (worker processes, pinned memory
on CUDA) in the batches of `pdesolve.data.samples.batches`: a permutation drawn from the epoch's
generator, cut into ``batch_size`` chunks -- so a resumed run sees the same batches.

`scan` is the one streaming pass over a split: per-channel statistics for the normalisers and a
count of non-finite values, reading a bounded block of frames at a time.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import xarray as xr
from torch.utils.data import DataLoader, Dataset, Sampler

from pdesolve.data.sources.lazy import in_memory
from pdesolve.data.tensors import field_variables
from pdesolve.errors import UserError

BLOCK_VALUES = 1 << 22  # values read at once by `scan` (about 16 MB of float32)


def _source(data: xr.Dataset) -> str | None:
    return data.attrs.get("source_file")


def sample_label(data: xr.Dataset, i: int) -> str:
    """How to name sample ``i`` of a split: its index in the source file when known."""
    if "sample_index" in data.coords:
        return f"sample {int(data['sample_index'].values[i])} of the file"
    return f"sample {i} of the split"


class FieldPairs(Dataset):
    """Training pairs of one dataset split, read on demand (see module docstring).

    Args:
        data: one split, dims ``(sample, [time], *spatial)``.
        inputs, outputs: variable names; for trajectories both are the state variables.
        task: ``"map"`` or ``"trajectory"``.
        window, horizon, stride: trajectory pairs (as `WindowPairs`).
    """

    def __init__(self, data: xr.Dataset, inputs: Sequence[str], outputs: Sequence[str], *, task: str,
                 window: int = 1, horizon: int = 1, stride: int = 1):
        self.data, self.task = data, task
        self.inputs, self.outputs = list(inputs), list(outputs)
        if task == "trajectory":
            self.window, self.horizon = int(window), int(horizon)
            variables = field_variables(data, self.inputs)
            if "time" not in variables[0].dims:
                raise UserError(f"variables {self.inputs} have no time axis (expected trajectories)")
            n, t = data.sizes["sample"], data.sizes["time"]
            starts = t - self.window - self.horizon + 1
            if starts < 1:
                raise UserError(f"trajectories of {t} frames are too short for window {self.window} + "
                                f"horizon {self.horizon}")
            t0 = torch.arange(0, starts, stride)
            self.index = torch.stack(torch.meshgrid(torch.arange(n), t0, indexing="ij"), -1).reshape(-1, 2)
            self.in_vars = self.out_vars = variables
        else:
            self.window = self.horizon = 1
            self.in_vars, self.out_vars = field_variables(data, self.inputs), field_variables(data, self.outputs)
            a, b = self.in_vars[0], self.out_vars[0]
            if a.dims != b.dims or a.shape[1:] != b.shape[1:]:
                raise UserError(f"inputs {self.inputs} (sizes {dict(a.sizes)}) and outputs {self.outputs} (sizes "
                                f"{dict(b.sizes)}) are not on the same grid", source=_source(data))
            self.index = torch.arange(data.sizes["sample"])
        self._memory = {id(v): np.asarray(v.values) for v in (*self.in_vars, *self.out_vars) if in_memory(v)}

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def shard(self, rank: int, world: int) -> FieldPairs:
        """The pairs ``rank::world`` of these (a view sharing the data), e.g. one rank's validation pairs."""
        part = copy.copy(self)
        part.index = self.index[rank::world]
        return part

    @property
    def n_samples(self) -> int:
        return int(self.data.sizes["sample"])

    # --------------------------------------------------------------------------- reading
    def _gather(self, var: xr.Variable, samples: np.ndarray, starts: np.ndarray | None, length: int) -> np.ndarray:
        """``var[samples[k]]`` (maps) or ``var[samples[k], starts[k]:starts[k] + length]``, stacked."""
        values = self._memory.get(id(var))
        if values is not None:
            if starts is None:
                return values[samples]
            return values[samples[:, None], starts[:, None] + np.arange(length)]
        if starts is None:
            return np.stack([np.asarray(var[int(i)].values) for i in samples])
        return np.stack([np.asarray(var[int(i), int(t):int(t) + length].values) for i, t in zip(samples, starts,
                                                                                             strict=True)])

    def batch(self, index: torch.Tensor | Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Pairs ``index`` as ``(x: (b, window, c_in, *s), y: (b, horizon, c_out, *s))``."""
        index = torch.as_tensor(index, dtype=torch.long).reshape(-1)
        if self.task == "trajectory":
            i, t0 = (v.numpy() for v in self.index[index].unbind(-1))
            span = self.window + self.horizon
            frames = np.stack([self._gather(v, i, t0, span) for v in self.in_vars], axis=2)
            frames = torch.as_tensor(frames, dtype=torch.float32)
            return frames[:, :self.window], frames[:, self.window:]
        i = self.index[index].numpy()
        x = np.stack([self._gather(v, i, None, 1) for v in self.in_vars], axis=1)
        y = np.stack([self._gather(v, i, None, 1) for v in self.out_vars], axis=1)
        return (torch.as_tensor(x, dtype=torch.float32).unsqueeze(1),
                torch.as_tensor(y, dtype=torch.float32).unsqueeze(1))

    def __getitems__(self, index) -> tuple[torch.Tensor, torch.Tensor]:  # DataLoader's batched fetch
        return self.batch(index)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.batch([int(i)])
        return x[0], y[0]


# ----------------------------------------------------------------------------- batching
def shard_batch(index: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    """Rank ``rank``'s share ``index[rank::world]`` of a global batch; a rank the batch leaves
    without items gets its first one (`share_weight` 0), so every rank takes every step."""
    share = index[rank::world]
    return share if len(share) else index[:1]


def share_weight(size: int, rank: int, world: int) -> float:
    """The factor on rank ``rank``'s mean loss over its share of a global batch of ``size`` items
    such that the average over ranks (DDP's) is the mean over the global batch: items x world / size."""
    return len(range(rank, size, world)) * world / size


class EpochBatches(Sampler):
    """Index batches: a permutation from the epoch's generator (in order without one), cut into
    ``batch_size`` chunks -- the order of `pdesolve.data.samples.batches`; with ``world > 1``, rank
    ``rank``'s `shard_batch` of each."""

    def __init__(self, n: int, batch_size: int, rank: int = 0, world: int = 1):
        self.n, self.batch_size = int(n), int(batch_size)
        self.rank, self.world = int(rank), int(world)
        self.generator: torch.Generator | None = None

    def __iter__(self) -> Iterator[torch.Tensor]:
        order = torch.randperm(self.n, generator=self.generator) if self.generator is not None else torch.arange(self.n)
        for start in range(0, self.n, self.batch_size):
            batch = order[start:start + self.batch_size]
            yield batch if self.world == 1 else shard_batch(batch, self.rank, self.world)

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)


def _as_batch(batch):
    """The DataLoader's collate step: `FieldPairs.batch` already returns the batch."""
    return batch


class PairLoader:
    """Batches of `FieldPairs` through a `DataLoader`; call it with an epoch's generator.

    Args:
        pairs: the pairs.
        batch_size: pairs per batch.
        workers: DataLoader worker processes reading ahead (0: read in this process).
        pin_memory: page-locked batches for fast copies to a CUDA device.
        shard: ``(rank, world)``: each global batch of ``batch_size`` pairs yields this rank's share
            (`shard_batch`), for data-parallel training.
    """

    def __init__(self, pairs: FieldPairs, batch_size: int, *, workers: int = 0, pin_memory: bool = False,
                 shard: tuple[int, int] = (0, 1)):
        self.sampler = EpochBatches(len(pairs), batch_size, *shard)
        self.loader = DataLoader(pairs, batch_sampler=self.sampler, collate_fn=_as_batch, num_workers=int(workers),
                                 pin_memory=pin_memory, persistent_workers=workers > 0)

    def __call__(self, generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self.sampler.generator = generator
        return iter(self.loader)

    def __len__(self) -> int:
        return len(self.sampler)


# ------------------------------------------------------------------------------- scanning
@dataclass
class RunningMoments:
    """Count, mean and sum of squared deviations per channel, merged block by block (Chan et al.)."""

    channels: int
    count: np.ndarray = field(init=False)
    mean: np.ndarray = field(init=False)
    m2: np.ndarray = field(init=False)

    def __post_init__(self):
        self.count = np.zeros(self.channels)
        self.mean = np.zeros(self.channels)
        self.m2 = np.zeros(self.channels)

    def add(self, c: int, block: np.ndarray) -> None:
        values = block.astype(np.float64).reshape(-1)
        n_b = values.size
        if n_b == 0:
            return
        mean_b = values.mean()
        m2_b = float(np.square(values - mean_b).sum())
        n_a, n = self.count[c], self.count[c] + n_b
        delta = mean_b - self.mean[c]
        self.mean[c] += delta * n_b / n
        self.m2[c] += m2_b + delta * delta * n_a * n_b / n
        self.count[c] = n

    @property
    def std(self) -> np.ndarray:
        """Unbiased standard deviation (as `torch.std`)."""
        return np.sqrt(self.m2 / np.maximum(self.count - 1, 1))


@dataclass
class NonFinite:
    """Where a split holds NaN or inf: per variable, the count and the samples."""

    counts: dict[str, int] = field(default_factory=dict)
    samples: dict[str, list[int]] = field(default_factory=dict)

    def add(self, name: str, sample: int, block: np.ndarray) -> None:
        bad = int(block.size - np.count_nonzero(np.isfinite(block)))
        if bad:
            self.counts[name] = self.counts.get(name, 0) + bad
            if sample not in self.samples.setdefault(name, []):
                self.samples[name].append(sample)

    def raise_if_any(self, data: xr.Dataset, split: str) -> None:
        for name, count in self.counts.items():
            samples = self.samples[name]
            raise UserError(f"variable '{name}' has {count} NaN/inf value(s) in {len(samples)} sample(s) of the "
                            f"{split} split (first: {sample_label(data, samples[0])}); expected finite data",
                            source=_source(data))


@dataclass
class SplitScan:
    """What `scan` found: input / output channel moments (``None`` when not asked) and non-finite values."""

    inputs: RunningMoments | None
    outputs: RunningMoments | None
    non_finite: NonFinite


def sample_blocks(var: xr.Variable, i: int) -> Iterator[np.ndarray]:
    """Sample ``i`` of ``var``, a bounded block of frames at a time, as float32."""
    if "time" not in var.dims:
        yield np.asarray(var[i].values).astype(np.float32, copy=False)
        return
    frames = var.sizes["time"]
    per = max(1, BLOCK_VALUES // max(1, int(np.prod(var.shape[2:]))))
    for start in range(0, frames, per):
        yield np.asarray(var[i, start:start + per].values).astype(np.float32, copy=False)


def scan(pairs: FieldPairs, *, statistics: bool = True, increments: bool = False, split: str = "training"
         ) -> SplitScan:
    """One streaming pass over the samples of ``pairs``: per-channel moments of the inputs and of
    the outputs -- for trajectories, the state over every frame; with ``increments`` the outputs'
    are those of frame-to-frame changes -- and non-finite counts. Values are taken as the float32
    the pairs hold (increments computed in float32, like the in-memory path), moments accumulated
    in float64.

    Raises:
        UserError: the split holds NaN or inf (how many, which variable, which sample).
    """
    bad = NonFinite()
    traj = pairs.task == "trajectory"
    m_in = RunningMoments(len(pairs.inputs)) if statistics else None
    m_out = RunningMoments(len(pairs.outputs)) if statistics else None
    for i in range(pairs.n_samples):
        for c, (name, var) in enumerate(zip(pairs.inputs, pairs.in_vars, strict=True)):
            last = None
            for block in sample_blocks(var, i):
                bad.add(name, i, block)
                if m_in is None:
                    continue
                m_in.add(c, block)
                if traj and increments:
                    frames = block if last is None else np.concatenate([last, block])
                    m_out.add(c, frames[1:] - frames[:-1])
                    last = block[-1:]
                elif traj:
                    m_out.add(c, block)
        if not traj:
            for c, (name, var) in enumerate(zip(pairs.outputs, pairs.out_vars, strict=True)):
                block = next(sample_blocks(var, i))
                bad.add(name, i, block)
                if m_out is not None:
                    m_out.add(c, block)
    bad.raise_if_any(pairs.data, split)
    return SplitScan(m_in, m_out, bad)
