"""Where outputs go: checks that a file or folder can be written there, run before any work.

Every command that writes (``--out``, ``--run-dir``, ``output.runs_dir``, ``data.cache_dir``, the
default places beside a run or a system file) checks its destinations first, so a bad location
is a one-line `UserError` naming the path the user gave, not a failure after minutes of work.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pdesolve.errors import UserError


def _writable_folder(folder: Path, *, source: str | None, field: str | None) -> None:
    """``folder`` exists and can be written in, or can be created (its nearest existing ancestor is a
    writable folder)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"cannot create the folder {folder}: {existing} is a file, not a folder",
                        source=source, field=field)
    try:  # os.access says yes to root on a read-only file system: try it
        fd, probe = tempfile.mkstemp(prefix=".pdesolve-write-check.", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise UserError(f"cannot write in {existing} ({err.strerror or err})", source=source,
                        field=field) from None


def check_file_destination(path: str | os.PathLike, *, source: str | None = None,
                           field: str | None = None) -> Path:
    """Raise a `UserError` unless a file can be written at ``path``: not an existing folder, and
    its folder exists (or can be made) and is writable. ``source``/``field``: where the path came
    from (``"--out"``, or the case file and its field)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a folder (expected the name of a file to write)", source=source, field=field)
    _writable_folder(path.parent, source=source, field=field)
    return path


def check_folder_destination(path: str | os.PathLike, *, source: str | None = None,
                             field: str | None = None) -> Path:
    """Raise a `UserError` unless ``path`` is a writable folder or one that can be created."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{path} is a file (expected a folder)", source=source, field=field)
    _writable_folder(path, source=source, field=field)
    return path
