"""pdesolve: neural PDE solvers with verified reference data.

Python entry points (the CLI calls the same functions)::

    from pdesolve import load_case, train_case, get_backend, get_problem
    case = load_case("quickstart", ["train.epochs=2"])
    summary = train_case(case)
"""

from pdesolve.version import __version__


def load_case(ref, overrides=None):
    """A validated case from a YAML path or a shipped case name (see `pdesolve.config`)."""
    from pdesolve.config import load_case as _load

    return _load(ref, overrides)


def train_case(resolved=None, **kwargs):
    """Run ``pdesolve train`` from Python (see `pdesolve.engines.train.train_case`)."""
    from pdesolve.engines.train import train_case as _train

    return _train(resolved, **kwargs)


def get_backend(name, **options):
    """A fresh backend by registry name, e.g. ``get_backend("fno", modes=16, width=32)``."""
    from pdesolve.backends import get_backend as _get

    return _get(name, **options)


def get_problem(name, **params):
    """A problem by registry name with parameters, e.g. ``get_problem("burgers_1d", viscosity=0.05)``."""
    from pdesolve.problems import Problem

    return Problem.from_config({"name": name, **params})


__all__ = ["__version__", "get_backend", "get_problem", "load_case", "train_case"]
