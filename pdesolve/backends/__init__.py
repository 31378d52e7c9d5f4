"""Backends: one module (or small package) per method, each registered by subclassing `Solver`
with ``name=...``. Importing this package imports every module in it, which registers them."""

import importlib
import pkgutil

from pdesolve.backends.base import (
    BackendOptions,
    FitReport,
    PresetOptions,
    Solver,
    Trainer,
    get_backend,
    list_backends,
)

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_") and _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["BackendOptions", "FitReport", "PresetOptions", "Solver", "Trainer", "get_backend", "list_backends"]
