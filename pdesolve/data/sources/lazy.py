"""Arrays read from disk only when indexed: the backing of every dataset a reader opens.

Each class is an xarray backend array (the pattern xarray documents for backends:
``indexing.LazilyIndexedArray`` over a ``BackendArray`` whose ``__getitem__`` goes through
``explicit_indexing_adapter``), so ``isel``, ``transpose`` and splits compose without reading, and
``ds[name][i, t0:t1].values`` reads just that window. ``Dataset.chunk()`` turns them into dask
arrays for out-of-core work (``pdesolve convert``).

Files are opened on first use *in each process* (keyed by the process id, shared by the arrays of
one file) and never pickled -- an array holds only how to open its file -- so a dataset handed to
`torch.utils.data.DataLoader` workers, forked or spawned, reads safely: no HDF5 handle crosses a
``fork``.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from xarray.backends import BackendArray
from xarray.core import indexing

from pdesolve.errors import UserError

BASIC = indexing.IndexingSupport.BASIC


def lazy_variable(dims: Sequence[str], array: BackendArray, attrs: dict | None = None) -> xr.Variable:
    """An xarray variable over ``array`` that reads nothing until it is indexed."""
    return xr.Variable(tuple(dims), indexing.LazilyIndexedArray(array), attrs or {})


def in_memory(variable: xr.Variable) -> bool:
    """True when ``variable``'s values are a numpy array in memory (not on disk, not dask)."""
    return bool(variable._in_memory)  # noqa: SLF001 (xarray's own flag; there is no public one)


class _Array(BackendArray):
    """Shared machinery: shape and dtype up front, basic reads through ``_read``.

    ``_read(key)`` receives a tuple of one int or slice per axis and returns a numpy array; the
    composite arrays below call their parts' ``_read`` with such full keys.
    """

    shape: tuple[int, ...]
    dtype: np.dtype

    def __getitem__(self, key):
        return indexing.explicit_indexing_adapter(key, self.shape, BASIC, self._read)

    def _read(self, key: tuple) -> np.ndarray:
        raise NotImplementedError

    def _sub_shape(self, key: tuple) -> tuple[int, ...]:
        """Shape of ``self[key]`` for a basic key."""
        return tuple(len(range(*k.indices(n))) for k, n in zip(key, self.shape, strict=True)
                     if isinstance(k, slice))


_HANDLES: OrderedDict = OrderedDict()
MAX_HANDLES = 64


def _handle(opener: Callable[[], object], path: str):
    """The open handle ``opener()`` of ``path`` in this process, shared by every array of the file.

    Keyed by process id (a forked DataLoader worker opens its own) and by the file's inode and
    modification time (a file replaced on disk is reopened, never read through a stale handle);
    the least recently used handles beyond `MAX_HANDLES` are closed.
    """
    try:
        st = os.stat(path)
        stamp = (st.st_ino, st.st_mtime_ns)
    except OSError as err:
        raise UserError(f"cannot read the file any more ({err.strerror})", source=path) from None
    key = (os.getpid(), opener, stamp)
    if key in _HANDLES:
        _HANDLES.move_to_end(key)
        return _HANDLES[key]
    handle = _HANDLES[key] = opener()
    while len(_HANDLES) > MAX_HANDLES:
        _, old = _HANDLES.popitem(last=False)
        close = getattr(old, "close", None)
        if close is not None:
            close()
    return handle


CHUNK_CACHE_BYTES = 1 << 20  # per dataset: reads are windows at random, a large cache only holds memory


@dataclass(frozen=True)
class _OpenH5:
    """Opener of one HDF5 file (read-only); hashable, so arrays of a file share its handle. The chunk
    cache is `CHUNK_CACHE_BYTES` per dataset (HDF5 2.0's default, 8 MiB, times many fields would
    be most of what a streaming trainer holds)."""

    path: str

    def __call__(self):
        import h5py

        return h5py.File(self.path, "r", rdcc_nbytes=CHUNK_CACHE_BYTES)


@dataclass(frozen=True)
class _OpenXarray:
    """Opener of a file through xarray (lazy, whole arrays never cached)."""

    path: str
    engine: str | None
    group: str | None = None

    def __call__(self):
        kwargs = {"group": self.group} if self.group else {}
        if self.engine == "zarr":
            return xr.open_zarr(self.path, chunks=None, consolidated=zarr_consolidated(Path(self.path)), **kwargs)
        if self.engine == "netcdf4":  # the chunk cache of the variables of this file (then the default back)
            import netCDF4

            default = netCDF4.get_chunk_cache()
            netCDF4.set_chunk_cache(CHUNK_CACHE_BYTES, default[1], default[2])
            try:
                return xr.open_dataset(self.path, engine=self.engine, cache=False, **kwargs)
            finally:
                netCDF4.set_chunk_cache(*default)
        return xr.open_dataset(self.path, engine=self.engine, cache=False, **kwargs)


def open_with_xarray(path: str, engine: str | None, group: str | None = None) -> xr.Dataset:
    """The file opened lazily by xarray (zarr stores with their consolidated metadata, if any)."""
    return _OpenXarray(path, engine, group)()


def zarr_consolidated(path: Path) -> bool:
    """Whether a zarr store has consolidated metadata (v2 ``.zmetadata``, v3 in ``zarr.json``)."""
    if (path / ".zmetadata").exists():
        return True
    root = path / "zarr.json"
    if root.exists():
        try:
            return json.loads(root.read_text()).get("consolidated_metadata") is not None
        except (OSError, ValueError):
            return False
    return False


@dataclass(frozen=True)
class _LoadNpzMember:
    path: str
    name: str

    def __call__(self):
        with np.load(self.path, allow_pickle=False) as f:
            return f[self.name]


class HDF5Array(_Array):
    """The HDF5 dataset ``name`` (a path inside the file) of ``path``, read through h5py."""

    def __init__(self, path: str, name: str, shape: tuple[int, ...], dtype: np.dtype):
        self.path, self.name = str(path), name
        self.shape, self.dtype = tuple(int(s) for s in shape), np.dtype(dtype)
        self.opener = _OpenH5(self.path)
        self._dataset = (None, None)  # (the file handle it came from, the h5py dataset)

    def _read(self, key):
        f = _handle(self.opener, self.path)
        if self._dataset[0] is not f:  # look the dataset up once per handle (a lookup costs a read's time)
            self._dataset = (f, f[self.name])
        return np.asarray(self._dataset[1][key])

    def __getstate__(self):
        return {**self.__dict__, "_dataset": (None, None)}


class XarrayFileArray(_Array):
    """Variable ``name`` of a file xarray opens (netCDF, HDF5-netCDF, zarr), decoded by xarray
    (scale factors, fill values to NaN)."""

    def __init__(self, path: str, name: str, engine: str | None, shape, dtype, group: str | None = None):
        self.path, self.name = str(path), name
        self.shape, self.dtype = tuple(int(s) for s in shape), np.dtype(dtype)
        self.opener = _OpenXarray(self.path, engine, group)

    def _read(self, key):
        return np.asarray(_handle(self.opener, self.path)[self.name].variable[key].values)


class NpzArray(_Array):
    """Array ``name`` of a ``.npz`` file: the member is read whole on first use in each process
    (npz members cannot be memory-mapped), then indexed in memory."""

    def __init__(self, path: str, name: str, shape, dtype):
        self.path, self.name = str(path), name
        self.shape, self.dtype = tuple(int(s) for s in shape), np.dtype(dtype)
        self.opener = _LoadNpzMember(self.path, name)

    def _read(self, key):
        return np.asarray(_handle(self.opener, self.path)[key])


class ConcatArray(_Array):
    """``parts`` joined along axis 0 (files of one dataset, splits of a case)."""

    def __init__(self, parts: Sequence[BackendArray]):
        first = parts[0]
        for p in parts[1:]:
            if tuple(p.shape[1:]) != tuple(first.shape[1:]):
                raise UserError(f"parts of shapes {tuple(first.shape)} and {tuple(p.shape)} do not join "
                                "along the sample axis")
        self.parts = list(parts)
        self.offsets = np.cumsum([0] + [p.shape[0] for p in parts])
        self.shape = (int(self.offsets[-1]), *first.shape[1:])
        self.dtype = np.result_type(*(p.dtype for p in parts))

    def _read(self, key):
        lead, rest = key[0], key[1:]
        if isinstance(lead, (int, np.integer)):
            part = int(np.searchsorted(self.offsets, lead, side="right") - 1)
            return np.asarray(self.parts[part]._read((int(lead - self.offsets[part]), *rest)), self.dtype)
        wanted = range(*lead.indices(self.shape[0]))
        pieces = []
        for part, lo, hi in zip(self.parts, self.offsets[:-1], self.offsets[1:], strict=True):
            local = [i - lo for i in wanted if lo <= i < hi]
            if local:
                step = wanted.step
                pieces.append(np.asarray(part._read((slice(local[0], local[-1] + 1, step), *rest)), self.dtype))
        if not pieces:
            return np.empty(self._sub_shape(key), self.dtype)
        return np.concatenate(pieces)


class StackArray(_Array):
    """Arrays of equal shape stacked along a new leading axis (one HDF5 group per sample)."""

    def __init__(self, parts: Sequence[BackendArray]):
        self.parts = list(parts)
        shapes = {tuple(p.shape) for p in parts}
        if len(shapes) != 1:
            raise UserError(f"per-sample arrays have different shapes {sorted(shapes)}")
        self.shape = (len(parts), *shapes.pop())
        self.dtype = np.result_type(*(p.dtype for p in parts))

    def _read(self, key):
        lead, rest = key[0], key[1:]
        if isinstance(lead, (int, np.integer)):
            return np.asarray(self.parts[int(lead)]._read(rest), self.dtype)
        rows = [np.asarray(self.parts[i]._read(rest), self.dtype) for i in range(*lead.indices(self.shape[0]))]
        return np.stack(rows) if rows else np.empty(self._sub_shape(key), self.dtype)


class ComponentArray(_Array):
    """Component ``index`` of the trailing axes of ``base`` (a vector or tensor field's entry, or a
    channel of a channel-last array): shape ``base.shape[:-len(index)]``."""

    def __init__(self, base: BackendArray, index: tuple[int, ...]):
        self.base, self.index = base, tuple(int(i) for i in index)
        self.shape = tuple(base.shape[:len(base.shape) - len(self.index)])
        self.dtype = base.dtype

    def _read(self, key):
        return np.asarray(self.base._read((*key, *self.index)))


class BroadcastArray(_Array):
    """``base`` repeated along the axes it does not vary on: ``kept[i]`` says whether axis ``i`` of
    ``shape`` is stored (The Well's ``sample_varying`` / ``dim_varying`` flags)."""

    def __init__(self, base: BackendArray, shape: Sequence[int], kept: Sequence[bool]):
        self.base, self.kept = base, tuple(bool(k) for k in kept)
        self.shape, self.dtype = tuple(int(s) for s in shape), base.dtype
        stored = tuple(s for s, k in zip(self.shape, self.kept, strict=True) if k)
        if stored != tuple(base.shape):
            raise UserError(f"stored shape {tuple(base.shape)} does not match {stored}")

    def _read(self, key):
        values = np.asarray(self.base._read(tuple(k for k, kept in zip(key, self.kept, strict=True) if kept)))
        # a length-1 axis for every repeated axis the key keeps (a slice), then broadcast
        shape, j = [], 0
        for k, kept in zip(key, self.kept, strict=True):
            if isinstance(k, slice):
                shape.append(values.shape[j] if kept else 1)
                j += int(kept)
        return np.broadcast_to(values.reshape(shape), self._sub_shape(key))


class LeadingAxisArray(_Array):
    """``base`` with a new leading axis of length 1 (a file holding one sample)."""

    def __init__(self, base: BackendArray):
        self.base = base
        self.shape, self.dtype = (1, *base.shape), base.dtype

    def _read(self, key):
        lead, rest = key[0], key[1:]
        values = np.asarray(self.base._read(rest))
        return values if isinstance(lead, (int, np.integer)) else values[None][lead]


class MemoryArray(_Array):
    """An array already in memory behind the same interface (memory-mapped ``.pt`` tensors)."""

    def __init__(self, values: np.ndarray):
        self.values = values
        self.shape, self.dtype = values.shape, values.dtype

    def _read(self, key):
        return np.asarray(self.values[key])


class VariableArray(_Array):
    """An xarray variable (lazy or in memory) behind this interface, to be joined with others."""

    def __init__(self, variable: xr.Variable):
        self.variable = variable
        self.shape, self.dtype = tuple(variable.shape), np.dtype(variable.dtype)

    def _read(self, key):
        return np.asarray(self.variable[key].values)
