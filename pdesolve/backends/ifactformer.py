"""Implicit factorized transformer, IFactFormer-m (Yang, Wang, Wang, "Implicit factorized
transformer approach to fast prediction of turbulent channel flows", Sci. China Phys. Mech. Astron.
2026, arXiv 2412.18840) and IFactFormer-o (Yang, Li, Wang, Wang, TAML 2024), in 1-D, 2-D and 3-D.

The network is `pdesolve.models.ifactformer.IFactFormer` (sizes by preset ``ifactformer-small``
/ ``ifactformer-medium`` or explicitly). With ``predict_increment`` (the default, as in the
papers: target ``u_{t+1} - u_t``) the `OperatorModel` adds the prediction to the last input frame.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from pdesolve.backends.base import PresetOptions
from pdesolve.backends.operator import OperatorOptions, OperatorSolver
from pdesolve.data.grid import Grid
from pdesolve.errors import UserError
from pdesolve.models.ifactformer import PRESETS, IFactFormer
from pdesolve.models.presets import PresetTable


class IFactFormerOptions(OperatorOptions, PresetOptions):
    presets: ClassVar[PresetTable] = PRESETS
    window: int = Field(5, ge=1, description="input frames per prediction (the papers: 5); 1 for maps")
    predict_increment: bool = Field(
        True, description="trajectories: predict the change from the last input frame")
    variant: Literal["m", "o"] = Field(
        "m", description="m: axial kernels in parallel (IFactFormer-m); o: chained (IFactFormer-o)")
    dim: int = Field(64, gt=1, description="channels of the transformer")
    heads: int = Field(4, gt=0, description="attention heads")
    dim_head: int = Field(32, gt=0, description="value channels per head")
    kernel_multiplier: int = Field(
        3, gt=0, description="query/key width per head = kernel_multiplier * dim_head")
    layers: int = Field(10, gt=0, description="implicit depth L: applications of the one shared block")
    rotary: bool = Field(True, description="rotary position encoding of the axis coordinates in the kernels")
    fourier_scale: float = Field(4.0, gt=0, description="std of the positional encoding's frequencies, "
                                                         "cycles per domain length")

    @model_validator(mode="after")
    def _even_widths(self):
        if self.dim % 2:
            raise ValueError(f"dim ({self.dim}) must be even (sin/cos positional features)")
        if self.rotary and (self.kernel_multiplier * self.dim_head) % 2:
            raise ValueError("rotary encoding needs an even kernel_multiplier * dim_head")
        return self


class IFactFormerSolver(OperatorSolver, name="ifactformer"):
    """Implicit factorized transformer (variant m: parallel axial kernels; o: chained)."""

    Options = IFactFormerOptions
    description = ("Implicit factorized transformer: one shared factorized-attention block iterated L times, "
                   "parallel (m) or chained (o) axial kernels (1-D/2-D/3-D)")
    paper = ("Yang, Wang, Wang, Implicit factorized transformer approach to fast prediction of turbulent "
             "channel flows, Sci. China Phys. Mech. Astron. 2026 (arXiv 2412.18840)")

    @property
    def label(self) -> str:
        return f"ifactformer-{self.options.variant}"

    def build_network(self, in_channels: int, out_channels: int, grid: Grid) -> IFactFormer:
        o = self.options
        if grid.ndim not in (1, 2, 3):
            raise UserError(f"ifactformer works on 1-D, 2-D and 3-D grids, got {grid.ndim}-D",
                            field="backend")
        window = self.setup["window"]
        return IFactFormer(window, in_channels // window, out_channels, grid.ndim, o.dim, o.heads, o.dim_head,
                           o.kernel_multiplier, o.layers, o.variant, o.rotary, o.fourier_scale,
                           tuple(a.layout == "nodes" for a in grid.axes))
