"""What the HDF5-based readers share: recognising an HDF5 file and looking inside it cheaply."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
HDF5_SUFFIXES = (".h5", ".hdf5", ".he5", ".hdf")


def file_header(path: Path, n: int = 8) -> bytes:
    """The first ``n`` bytes of a file (empty for folders and unreadable files)."""
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


def probe_hdf5(path: Path, test: Callable[[object], bool]) -> bool:
    """``test(h5py.File)`` for an HDF5 file (opened read-only), False for anything else."""
    if path.is_dir() or file_header(path) != HDF5_MAGIC:
        return False
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return bool(test(f))
    except OSError:
        return False
