"""Readers of users' data: netCDF (and anything xarray opens), zarr, The Well and PDEBench HDF5,
``.npz`` and ``.pt`` arrays -- each opened lazily into pdesolve's layout (`open_source`).
Importing this package registers every reader module in it."""

import importlib
import pkgutil

from pdesolve.data.sources.base import (
    LayoutOptions,
    OpenedData,
    Reader,
    SourceInfo,
    VariableInfo,
    detect_format,
    open_source,
)

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("base", "layout", "lazy", "arrays", "hdf5"):
        importlib.import_module(f"{__name__}.{_module.name}")


def readers() -> list[type[Reader]]:
    """Every registered reader, in the order ``format: auto`` asks them."""
    return sorted(Reader.registered().values(), key=lambda cls: (cls.priority, cls.name))


__all__ = ["LayoutOptions", "OpenedData", "Reader", "SourceInfo", "VariableInfo", "detect_format", "open_source",
           "readers"]
