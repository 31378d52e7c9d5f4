"""Tensorized FNO (TFNO) and multi-grid TFNO (MG-TFNO): Kossaifi, Kovachki, Azizzadenesheli,
Anandkumar, "Multi-Grid Tensorized Fourier Neural Operator for High-Resolution PDEs", TMLR 2024.

`TFNO`: the `FNO` whose spectral weights are low-rank Tucker, CP or TT tensors
(`pdesolve.nn.factorized_spectral_conv`), one per layer or -- the paper's original, "global"
form -- one tensor for all layers (``joint_factorization``). ``rank`` is the fraction of the
dense spectral parameters kept (0.1 keeps about 10 %); the rest of the network is the FNO's.

`MGTFNO`: a network (a TFNO) applied to multi-grid patches (`pdesolve.nn.multigrid_patching`):
periodic coordinates ``cos/sin(2 pi x)`` are appended to the input so every patch knows where it
sits, the field is cut into ``2^levels`` patches per axis with ``levels`` coarse context views,
the inner network runs on the windows and the outputs are stitched. Periodic domains only.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from pdesolve.models.fno import FNO
from pdesolve.models.presets import Preset, PresetTable
from pdesolve.nn.embeddings import PeriodicGridEmbedding
from pdesolve.nn.factorized_spectral_conv import FactorizedSpectralConv
from pdesolve.nn.multigrid_patching import MultigridPatchedOperator, MultigridPatching


@dataclass(frozen=True)
class TFNOSize:
    """Size fields of a `TFNO`: the FNO's and the kept fraction ``rank`` of the spectral weights."""

    modes: int
    width: int
    layers: int
    projection_channels: int
    rank: float


PRESETS = PresetTable("tfno", TFNOSize, [
    Preset("tfno-small", TFNOSize(modes=12, width=32, layers=4, projection_channels=128, rank=0.1),
           "CPU-sized: the shipped 64^2 / 128^2 Navier-Stokes cases"),
    Preset("tfno-paper", TFNOSize(modes=32, width=64, layers=4, projection_channels=256, rank=0.1),
           "neuraloperator's Navier-Stokes TFNO: n_modes 64x64 (32 per sign), width 64, "
           "projection ratio 4, Tucker rank 0.1"),
])


class TFNO(FNO):
    """An `FNO` with factorized spectral weights: ``(b, in_channels, *s) -> (b, out_channels, *s)``.

    Args:
        factorization: ``"tucker"``, ``"cp"`` or ``"tt"``.
        rank: fraction of the dense spectral parameters kept.
        joint_factorization: one tensor ``(layers, width, width, ...)`` for all layers.
        implementation: ``"factorized"`` or ``"reconstructed"`` (see `FactorizedSpectralConv`).
        fno_kwargs: the remaining `FNO` arguments (``projection_channels``, ``padding``, ...).
    """

    def __init__(self, in_channels: int, out_channels: int, modes: tuple[int, ...], width: int = 32,
                 layers: int = 4, *, factorization: str = "tucker", rank: float = 0.1,
                 joint_factorization: bool = False, implementation: str = "factorized", **fno_kwargs):
        conv = {"factorization": factorization, "rank": rank, "implementation": implementation}
        if joint_factorization:
            joint = FactorizedSpectralConv(width, width, tuple(modes), layers=layers, **conv)
            super().__init__(in_channels, out_channels, modes, width, layers, spectral_layers=joint, **fno_kwargs)
        else:
            super().__init__(in_channels, out_channels, modes, width, layers,
                             spectral_conv=FactorizedSpectralConv, **conv, **fno_kwargs)


class MGTFNO(nn.Sequential):
    """``(b, c, *s) -> (b, out, *s)`` on periodic grids: ``cos/sin(2 pi x)`` of every axis appended
    (module ``0``), multi-grid patches through ``inner`` and stitched (module ``1``).

    Args:
        inner: maps ``(b, inner_channels(c, ndim, levels), *w) -> (b, out, *w)`` on the windows
            ``patching.window_shape(s)``.
        ndim: spatial dimensions.
        patches_per_pass: windows per forward pass of ``inner`` (``None``: all).
    """

    def __init__(self, inner: nn.Module, ndim: int, patching: MultigridPatching,
                 patches_per_pass: int | None = None):
        super().__init__(PeriodicGridEmbedding(ndim), MultigridPatchedOperator(inner, patching, patches_per_pass))

    @staticmethod
    def inner_channels(in_channels: int, ndim: int, levels: int) -> int:
        """Input channels of the inner network: fields and periodic coordinates, at every level."""
        return (in_channels + 2 * ndim) * (levels + 1)
