"""Domain padding for spectral layers on non-periodic axes (Li et al. pad Darcy by 9 points)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DomainPadding(nn.Module):
    """Zero-pad the high end of the non-periodic axes before the Fourier layers and crop after.

    Args:
        fraction: padding as a fraction of each padded axis' size (at least one point).
        periodic: per spatial axis, whether it is periodic (periodic axes are not padded).
    """

    def __init__(self, fraction: float, periodic: tuple[bool, ...]):
        super().__init__()
        self.fraction = float(fraction)
        self.periodic = tuple(periodic)

    def amounts(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(0 if p or self.fraction == 0 else max(1, round(self.fraction * n))
                     for n, p in zip(shape, self.periodic, strict=True))

    def pad(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
        """The padded tensor and the amounts added per axis (to give to `unpad`)."""
        pads = self.amounts(tuple(x.shape[-len(self.periodic):]))
        spec = []
        for p in reversed(pads):  # F.pad wants the last axis first
            spec += [0, p]
        return (F.pad(x, spec) if any(pads) else x), pads

    @staticmethod
    def unpad(x: torch.Tensor, pads: tuple[int, ...]) -> torch.Tensor:
        nd = len(pads)
        index = (...,) + tuple(slice(0, x.shape[d - nd] - p) if p else slice(None) for d, p in enumerate(pads))
        return x[index]
