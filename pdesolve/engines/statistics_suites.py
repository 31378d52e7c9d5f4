"""Flow statistics that `pdesolve compare` adds for a family of problems: one registry keyed by the
problem's class.

A suite registers for a problem base class in its class statement::

    class TurbulenceSuite(StatisticsSuite, problem=TurbulentFlow):
        legend = {...}                      # table column -> meaning, units, which way is better
        def compare(self, reference, predictions, grid, times) -> SuiteResult: ...

`suite_for` returns the suite of the nearest registered class in the problem's hierarchy (or
``None``); the trajectory evaluation adds its `SuiteResult` to the table (`row`), to
``statistics.nc`` (`dataset`) and to the figures (`artifacts`). Suites: periodic turbulence
(`pdesolve.engines.turbulence_stats`), the channel (`pdesolve.engines.channel_stats`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Protocol

import numpy as np
import torch
import xarray as xr

from pdesolve.data.grid import Grid
from pdesolve.engines.evaluation import Artifact


class SuiteResult(Protocol):
    """Statistics of the reference and of every method."""

    def row(self, name: str) -> dict[str, float]:
        """Table scalars of method ``name`` against the reference."""

    def dataset(self) -> xr.Dataset:
        """Every statistic as netCDF variables with CF attributes."""

    def artifacts(self, title: str) -> list[Artifact]:
        """Figures, each titled with ``title``."""

    def verdict(self, model: str, baselines: list[str]) -> list[str]:
        """Sentences on how ``model`` ranks against the ``baselines`` (none when the suite states none)."""


class StatisticsSuite:
    """The statistics of one problem family; built with the problem and the case's data."""

    legend: ClassVar[dict[str, str]] = {}
    _registry: ClassVar[dict[type, type[StatisticsSuite]]] = {}

    def __init_subclass__(cls, *, problem: type | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        if problem is not None:
            if problem in StatisticsSuite._registry:
                raise TypeError(f"a statistics suite for {problem.__name__} is registered twice")
            StatisticsSuite._registry[problem] = cls

    def __init__(self, problem, data: xr.Dataset):
        self.problem, self.data = problem, data

    def compare(self, reference: torch.Tensor, predictions: Mapping[str, torch.Tensor], grid: Grid,
                times: np.ndarray) -> SuiteResult:
        """Statistics of stored fields ``(n, T, c, *s)``: the reference and each method's prediction."""
        raise NotImplementedError


def suite_for(problem, data: xr.Dataset) -> StatisticsSuite | None:
    """The registered suite of ``problem``'s nearest class, built for ``data``; ``None`` when none is."""
    import pdesolve.engines.channel_stats  # noqa: F401  (each module registers its suite)
    import pdesolve.engines.turbulence_stats  # noqa: F401

    for cls in type(problem).__mro__:
        if cls in StatisticsSuite._registry:
            return StatisticsSuite._registry[cls](problem, data)
    return None
