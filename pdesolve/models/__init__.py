"""Whole networks, one module per model family, built from the layers in `pdesolve.nn`.

Models know nothing of cases or solvers: a backend (`pdesolve.backends`) is the adapter that
builds a model from its options and the problem, and fits it. Each family may declare named size
presets (`pdesolve.models.presets`); `pdesolve backends --presets` lists them.
"""
