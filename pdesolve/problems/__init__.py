"""PDE families: one module per family with its parameters, reference solver, data generator
and classical baselines. Importing this package registers every problem module in it."""

import importlib
import pkgutil

from pdesolve.problems.base import Baseline, GridProblem, Problem, ProblemParams, list_problems

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_") and _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["Baseline", "GridProblem", "Problem", "ProblemParams", "list_problems"]
