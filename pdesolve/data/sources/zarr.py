"""zarr stores (v2 and v3, consolidated or not, a folder or a ``.zarr`` path) through xarray."""

from __future__ import annotations

from pathlib import Path

from pdesolve.data.sources.base import LayoutOptions, OpenedData, Reader
from pdesolve.data.sources.layout import to_layout
from pdesolve.data.sources.netcdf import raw_with_xarray

MARKERS = (".zgroup", ".zarray", ".zattrs", ".zmetadata", "zarr.json")


class ZarrReader(Reader, name="zarr"):
    """zarr stores."""

    suffixes = (".zarr",)
    priority = 20
    description = "zarr stores (v2/v3), through xarray"

    @classmethod
    def detect(cls, path: Path) -> bool:
        return path.suffix.lower() in cls.suffixes or (path.is_dir() and any((path / m).exists() for m in MARKERS))

    def files_in(self, folder: Path) -> list[Path]:
        return sorted(p for p in folder.iterdir() if p.is_dir() and self.detect(p))

    def open(self, path: Path, options: LayoutOptions) -> OpenedData:
        return to_layout(raw_with_xarray(path, "zarr"), options, path=str(path), fmt=self.name)
