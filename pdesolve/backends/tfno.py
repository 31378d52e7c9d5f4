"""Tensorized FNO (TFNO) and multi-grid TFNO (MG-TFNO): Kossaifi, Kovachki, Azizzadenesheli,
Anandkumar, "Multi-Grid Tensorized Fourier Neural Operator for High-Resolution PDEs", TMLR 2024.

``tfno``: our `FNO` whose spectral weights are low-rank Tucker, CP or TT tensors
(`pdesolve.nn.factorized_spectral_conv`), one per layer or -- the paper's original, "global"
form -- one tensor for all layers (``joint_factorization``). ``rank`` is the fraction of the
dense spectral parameters kept (0.1 keeps about 10 %); the rest of the network is the FNO's.

``mg-tfno``: the same network applied to multi-grid patches (`pdesolve.nn.multigrid_patching`):
periodic coordinates ``cos/sin(2 pi x)`` are appended to the input so every patch knows where it
sits, the field is cut into ``2^levels`` patches per axis with ``levels`` coarse context views,
the TFNO runs on the windows (non-periodic, so its domain padding applies) and the outputs are
stitched. Periodic domains only: walls are refused when the case is loaded.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from torch import nn

from pdesolve.backends.fno import FNO, FNOOptions, fno_from_options, fno_modes
from pdesolve.backends.operator import OperatorSolver
from pdesolve.data.grid import Grid
from pdesolve.errors import UserError
from pdesolve.nn.embeddings import PeriodicGridEmbedding
from pdesolve.nn.factorized_spectral_conv import FactorizedSpectralConv
from pdesolve.nn.multigrid_patching import MultigridPatchedOperator, MultigridPatching

PAPER = "Kossaifi et al., Multi-Grid Tensorized Fourier Neural Operator for High-Resolution PDEs, TMLR 2024"


class TFNOOptions(FNOOptions):
    factorization: Literal["tucker", "cp", "tt"] = Field(
        "tucker", description="low-rank form of the spectral weights")
    rank: float = Field(0.1, gt=0, le=1, description="fraction of the dense spectral parameters kept")
    joint_factorization: bool = Field(
        False, description="one factorized tensor for all layers (the paper's form) instead of one per layer")
    implementation: Literal["factorized", "reconstructed"] = Field(
        "factorized", description="contract with the factors, or rebuild the dense weight first")


def tfno_from_options(options: TFNOOptions, in_channels: int, out_channels: int, grid: Grid) -> FNO:
    """An `FNO` with factorized spectral weights configured by ``options``."""
    conv = {"factorization": options.factorization, "rank": options.rank,
            "implementation": options.implementation}
    if options.joint_factorization:
        joint = FactorizedSpectralConv(options.width, options.width, fno_modes(options, grid),
                                       layers=options.layers, **conv)
        return fno_from_options(options, in_channels, out_channels, grid, spectral_layers=joint)
    return fno_from_options(options, in_channels, out_channels, grid,
                            spectral_conv=FactorizedSpectralConv, **conv)


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
        inner_in = (in_channels + 2 * grid.ndim) * (opts.levels + 1)
        inner = tfno_from_options(opts, inner_in, out_channels, window)
        return nn.Sequential(PeriodicGridEmbedding(grid.ndim),
                             MultigridPatchedOperator(inner, patching, opts.patches_per_pass))
