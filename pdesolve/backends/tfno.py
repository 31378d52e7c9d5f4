"""The ``tfno`` and ``mg-tfno`` backends (Kossaifi, Kovachki, Azizzadenesheli, Anandkumar,
"Multi-Grid Tensorized Fourier Neural Operator for High-Resolution PDEs", TMLR 2024): the
networks of `pdesolve.models.tfno` as operator solvers.

``tfno``: every ``fno`` option plus the factorization of the spectral weights. ``mg-tfno``: the
TFNO on multi-grid patches of periodic domains (its windows are not periodic, so the TFNO's domain
padding applies); walls are refused when the case is loaded.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from pdesolve.backends.fno import FNOOptions, fno_arguments
from pdesolve.backends.operator import OperatorSolver
from pdesolve.data.grid import Grid
from pdesolve.errors import UserError
from pdesolve.models.presets import PresetTable
from pdesolve.models.tfno import MGTFNO, PRESETS, TFNO
from pdesolve.nn.multigrid_patching import MultigridPatching

PAPER = "Kossaifi et al., Multi-Grid Tensorized Fourier Neural Operator for High-Resolution PDEs, TMLR 2024"


class TFNOOptions(FNOOptions):
    presets: ClassVar[PresetTable] = PRESETS
    factorization: Literal["tucker", "cp", "tt"] = Field(
        "tucker", description="low-rank form of the spectral weights")
    rank: float = Field(0.1, gt=0, le=1, description="fraction of the dense spectral parameters kept")
    joint_factorization: bool = Field(
        False, description="one factorized tensor for all layers (the paper's form) instead of one per layer")
    implementation: Literal["factorized", "reconstructed"] = Field(
        "factorized", description="contract with the factors, or rebuild the dense weight first")


def tfno_from_options(options: TFNOOptions, in_channels: int, out_channels: int, grid: Grid) -> TFNO:
    """A `TFNO` for ``grid`` configured by ``options``."""
    return TFNO.for_grid(in_channels, out_channels, grid, **fno_arguments(options, grid),
                         factorization=options.factorization, rank=options.rank,
                         joint_factorization=options.joint_factorization,
                         implementation=options.implementation)


class TFNOSolver(OperatorSolver, name="tfno"):
    """Tensorized Fourier Neural Operator."""

    Options = TFNOOptions
    uniform_grid = True
    description = "Tensorized FNO: Tucker/CP/TT low-rank spectral weights, per layer or joint (1-D/2-D/3-D)"
    paper = PAPER

    def build_network(self, in_channels, out_channels, grid):
        return tfno_from_options(self.options, in_channels, out_channels, grid)


class MGTFNOOptions(TFNOOptions):
    levels: int = Field(1, ge=1, description="coarse levels; 2^levels patches per axis")
    padding_fraction: float = Field(
        0.125, ge=0, lt=0.5, description="patch padding as a fraction of the domain size per axis")
    patches_per_pass: int | None = Field(
        None, gt=0, description="patches per forward pass of the TFNO (null: all); fewer lowers peak memory")


class MGTFNOSolver(OperatorSolver, name="mg-tfno"):
    """TFNO on multi-grid patches of periodic domains."""

    Options = MGTFNOOptions
    uniform_grid = True
    description = "Multi-grid TFNO: TFNO on padded patches with coarse context, stitched (periodic grids)"
    paper = PAPER

    @classmethod
    def check_problem(cls, problem, options, *, horizon=1):
        super().check_problem(problem, options, horizon=horizon)
        grid = getattr(problem, "solver_grid", None)
        if grid is None or not grid.periodic:
            raise UserError(
                "multi-grid patching takes patch neighbours across periodic boundaries, and "
                f"'{problem.name}' is not periodic on every axis (walls); use backend 'tfno'",
                field="backend.name")

    def build_network(self, in_channels, out_channels, grid):
        if not grid.periodic:
            raise UserError("multi-grid patching needs a grid that is periodic on every axis",
                            field="backend.name")
        opts = self.options
        patching = MultigridPatching(opts.levels, opts.padding_fraction)
        window = Grid.uniform(grid.ndim, patching.window_shape(grid.shape), layout="cells")
        inner = tfno_from_options(opts, MGTFNO.inner_channels(in_channels, grid.ndim, opts.levels),
                                  out_channels, window)
        return MGTFNO(inner, grid.ndim, patching, opts.patches_per_pass)
