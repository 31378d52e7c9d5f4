"""INSR backend (Chen et al., ICML 2023): `solver` holds the registered `INSRSolver` and its
options, `schemes` the per-problem time integrators (networks, per-step losses, sampling)."""

from pdesolve.backends.insr.solver import FieldHistory, INSROptions, INSRSolver

__all__ = ["FieldHistory", "INSROptions", "INSRSolver"]
