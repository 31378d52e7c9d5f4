"""Multi-grid domain decomposition (MG-TFNO; Kossaifi et al., TMLR 2024, section "multi-grid").

A periodic field ``(B, C, *N)`` is cut into ``n = 2^levels`` patches per axis of ``s = N / n``
points. Each patch is padded by ``p = round(N * padding_fraction)`` points of its neighbours on
every side (window ``w = s + 2 p``) and given, as extra channels, ``levels`` coarse views of its
surroundings: at level ``j`` the field subsampled by ``2^j`` (plain striding, as the paper's code),
cut into windows of the same ``w`` points centred on the patch, so each covers ``2^j`` times more of
the domain -- at ``j = levels`` the whole domain and its periodic images. The operator runs on the
``B n^d`` windows ``(B n^d, C (levels + 1), *w)`` as one batch (or in chunks), and the centres of
its outputs are stitched back into ``(B, C_out, *N)``.

Neighbours are taken across the boundary (periodic wrap), so the decomposition is only correct
on periodic domains; callers must refuse others. ``N`` must be divisible by ``4^levels`` (so every
level's window stride is a whole number of points).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from pdesolve.errors import UserError


@dataclass(frozen=True)
class PatchGeometry:
    """Sizes of the decomposition of one axis of ``size`` points (all in points)."""

    size: int
    patches: int
    patch: int
    padding: int

    @property
    def window(self) -> int:
        """Points per axis of every window the operator sees: ``patch + 2 padding``."""
        return self.patch + 2 * self.padding

    def index(self, level: int) -> torch.Tensor:
        """``(patches, window)`` indices into the axis subsampled by ``2^level``, wrapping periodically."""
        stride = self.patch >> level
        start = -math.ceil((self.window - stride) / 2)
        k = torch.arange(self.patches).unsqueeze(1)
        return (k * stride + start + torch.arange(self.window)) % (self.size >> level)


class MultigridPatching:
    """Cut periodic fields into multi-grid patches and stitch operator outputs back.

    Args:
        levels: coarse levels (``2^levels`` patches per axis); 0 = one patch, no coarse context.
        padding_fraction: padding of every patch, as a fraction of the domain size per axis.
    """

    def __init__(self, levels: int, padding_fraction: float):
        if levels < 0 or not 0 <= padding_fraction < 0.5:
            raise UserError("expected levels >= 0 and 0 <= padding_fraction < 0.5, "
                            f"got {levels}, {padding_fraction}")
        self.levels = levels
        self.padding_fraction = padding_fraction

    @property
    def patches_per_axis(self) -> int:
        return 2 ** self.levels

    def geometry(self, shape: tuple[int, ...]) -> list[PatchGeometry]:
        """Per-axis sizes for fields of spatial ``shape``; a `UserError` unless each size is
        divisible by ``4^levels``."""
        n, divisor = self.patches_per_axis, 4 ** self.levels
        if any(size % divisor for size in shape):
            raise UserError(f"multi-grid patching with {self.levels} level(s) needs grid sizes divisible by "
                            f"{divisor}, got {tuple(shape)}")
        return [PatchGeometry(size, n, size // n, round(size * self.padding_fraction)) for size in shape]

    def window_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Spatial shape of every window the operator sees."""
        return tuple(g.window for g in self.geometry(shape))

    def input_compression(self, shape: tuple[int, ...]) -> float:
        """Points of the whole field per point of one window (the paper's input compression)."""
        return math.prod(shape) / math.prod(self.window_shape(shape))

    def patch(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, *N) -> (B n^d, C (levels + 1), *w)``; patch ``k`` of sample ``b`` is row ``b n^d + k``
        (patches in row-major order over the patch grid)."""
        nd = x.ndim - 2
        geometry = self.geometry(tuple(x.shape[2:]))
        views = []
        for level in range(self.levels + 1):
            coarse = x[(slice(None), slice(None), *[slice(None, None, 2 ** level)] * nd)]
            index = []
            for d, g in enumerate(geometry):
                shape = [1] * (2 * nd)
                shape[d], shape[nd + d] = g.patches, g.window
                index.append(g.index(level).to(x.device).reshape(shape))
            windows = coarse[(slice(None), slice(None), *index)]  # (B, C, *patches, *window)
            order = (0, *range(2, 2 + nd), 1, *range(2 + nd, 2 + 2 * nd))
            views.append(windows.permute(order).reshape(-1, x.shape[1], *[g.window for g in geometry]))
        return torch.cat(views, dim=1)

    def stitch(self, y: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        """Centres of the windows ``(B n^d, C, *w)`` put back together: ``(B, C, *shape)``."""
        nd = len(shape)
        geometry = self.geometry(shape)
        centre = y[(slice(None), slice(None), *[slice(g.padding, g.padding + g.patch) for g in geometry])]
        n = self.patches_per_axis
        grid = centre.reshape(-1, *[n] * nd, y.shape[1], *[g.patch for g in geometry])  # (B, *patches, C, *s)
        order = (0, nd + 1, *[i for d in range(nd) for i in (1 + d, nd + 2 + d)])
        return grid.permute(order).reshape(-1, y.shape[1], *shape)


class MultigridPatchedOperator(nn.Module):
    """Run ``network`` on multi-grid patches and stitch: ``(B, C, *N) -> (B, C_out, *N)``.

    Args:
        network: maps ``(b, C (levels + 1), *w) -> (b, C_out, *w)``.
        patching: the decomposition.
        patches_per_pass: windows evaluated in one forward pass of ``network`` (``None``: all at
            once); fewer lowers the peak memory of inference.
    """

    def __init__(self, network: nn.Module, patching: MultigridPatching, patches_per_pass: int | None = None):
        super().__init__()
        self.network = network
        self.patching = patching
        self.patches_per_pass = patches_per_pass

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        windows = self.patching.patch(x)
        if self.patches_per_pass is None:
            y = self.network(windows)
        else:
            y = torch.cat([self.network(chunk) for chunk in windows.split(self.patches_per_pass)])
        return self.patching.stitch(y, tuple(x.shape[2:]))

    def extra_repr(self) -> str:
        return (f"levels={self.patching.levels}, padding_fraction={self.patching.padding_fraction}, "
                f"patches_per_pass={self.patches_per_pass}")
