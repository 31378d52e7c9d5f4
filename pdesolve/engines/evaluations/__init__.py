"""The registered evaluations (`pdesolve.engines.evaluation.Evaluation`), one module per family of
(solver kind, problem task) pairs; importing this package registers them all."""

from pdesolve.engines.evaluations import fields, grid_operators, linear_systems, mesh_maps, mesh_movement

__all__ = ["fields", "grid_operators", "linear_systems", "mesh_maps", "mesh_movement"]
