"""Symmetries of a problem's fields, and training-data augmentation by them (``train.augment``).

A problem declares the transformations that map one of its solutions to another (`Problem.symmetries`):
a shift along a periodic axis, or a reflection of one axis with the fields that change sign under
it (the velocity component along that axis). `Augmentation` applies a random element of the group
they generate to each training sample -- the input window and its target frames alike -- so a
model that is not equivariant by construction (positional features, as in IFactFormer) sees the
same flow in every position and orientation. Draws use torch's global generator, whose state the
training checkpoint holds, so a resumed training draws what an uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PeriodicShift:
    """``f(x) -> f(x - s)`` along the periodic axis ``axis``, by a whole number of cells drawn uniformly."""

    axis: str


@dataclass(frozen=True)
class Reflection:
    """``f(x) -> sign * f(-x)`` along ``axis``: the fields in ``odd`` change sign.

    ``periodic``: the axis is periodic with points at ``k * dx`` (index ``k -> -k mod n``); otherwise its
    points are symmetric about the axis' centre (index ``k -> n - 1 - k``: e.g. Chebyshev points between
    two walls).
    """

    axis: str
    odd: tuple[str, ...]
    periodic: bool


Symmetry = PeriodicShift | Reflection


class Augmentation:
    """A random symmetry per sample, the same for all its tensors.

    Args:
        symmetries: the problem's generators; each reflection applies with probability 1/2, each shift
            by a uniform whole number of cells.
        axes: the spatial axis names in array order, e.g. ``("x", "y", "z")``.
    """

    def __init__(self, symmetries: Sequence[Symmetry], axes: Sequence[str]):
        unknown = [s.axis for s in symmetries if s.axis not in axes]
        if unknown:
            raise ValueError(f"symmetries along axes {unknown} of a grid with axes {tuple(axes)}")
        self.symmetries, self.axes = tuple(symmetries), tuple(axes)

    def __call__(self, tensors: Sequence[tuple[torch.Tensor, Sequence[str]]]) -> list[torch.Tensor]:
        """``tensors``: ``(t, fields)`` pairs, ``t`` of shape ``(b, frames, channels, *spatial)`` with
        ``fields[c]`` the field of channel ``c``; returns them transformed, sample by sample."""
        out = [t.clone() for t, _ in tensors]
        for i in range(out[0].shape[0]):
            for symmetry in self.symmetries:
                dim = 2 + self.axes.index(symmetry.axis)  # in a sample (frames, channels, *spatial)
                if isinstance(symmetry, PeriodicShift):
                    shift = int(torch.randint(out[0].shape[dim + 1], ()))
                    for t in out:
                        t[i] = torch.roll(t[i], shift, dim)
                elif bool(torch.randint(2, ())):
                    for t, (_, fields) in zip(out, tensors, strict=True):
                        flipped = torch.flip(t[i], (dim,))
                        t[i] = torch.roll(flipped, 1, dim) if symmetry.periodic else flipped
                        for c, name in enumerate(fields):
                            if name in symmetry.odd:
                                t[i, :, c] = -t[i, :, c]
        return out
