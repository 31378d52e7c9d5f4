"""Named size presets of model families, as PDEArena names its model variants (``fno-small``,
``fno-paper-ns``).

A family declares its size fields as a frozen dataclass and its presets in a `PresetTable`::

    @dataclass(frozen=True)
    class MyNetSize:
        width: int
        layers: int

    PRESETS = PresetTable("mynet", MyNetSize, [
        Preset("mynet-small", MyNetSize(width=16, layers=2), "CPU-sized: the shipped case"),
        Preset("mynet-paper", MyNetSize(width=128, layers=8), "the paper's main table"),
    ])

The size fields carry the names of the backend options they fill: a case's ``preset: NAME``
(`pdesolve.backends.base.PresetOptions`) sets every size field the case does not set itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pdesolve.errors import UserError

S = TypeVar("S")


@dataclass(frozen=True)
class Preset(Generic[S]):
    """One named size: ``size`` is the family's size dataclass; ``source`` says where the
    numbers come from (a paper's setting, a shipped case)."""

    name: str
    size: S
    source: str

    def sizes(self) -> dict[str, Any]:
        """The size fields by name (JSON-able values: tuples become lists)."""
        return {f.name: _plain(getattr(self.size, f.name)) for f in dataclasses.fields(self.size)}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


class PresetTable(Generic[S]):
    """The presets of one model family, every one a complete ``size`` dataclass.

    Args:
        family: the prefix of every preset name (``"fno"`` for ``fno-small``).
        size: the frozen dataclass of the family's size fields.
        presets: the presets, in the order they are listed.
    """

    def __init__(self, family: str, size: type[S], presets: Iterable[Preset[S]]):
        if not dataclasses.is_dataclass(size):
            raise TypeError(f"{size!r} is not a dataclass of size fields")
        self.family = family
        self.size = size
        self._presets: dict[str, Preset[S]] = {}
        for preset in presets:
            if type(preset.size) is not size:
                raise TypeError(f"preset '{preset.name}' has a {type(preset.size).__name__}, expected {size.__name__}")
            if not preset.name.startswith(f"{family}-"):
                raise ValueError(f"preset '{preset.name}' must be named '{family}-...'")
            if preset.name in self._presets:
                raise ValueError(f"preset '{preset.name}' declared twice")
            self._presets[preset.name] = preset

    @property
    def fields(self) -> tuple[str, ...]:
        """The size fields a preset sets."""
        return tuple(f.name for f in dataclasses.fields(self.size))

    def names(self) -> list[str]:
        return list(self._presets)

    def __iter__(self) -> Iterator[Preset[S]]:
        return iter(self._presets.values())

    def __len__(self) -> int:
        return len(self._presets)

    def get(self, name: str) -> Preset[S]:
        """The preset called ``name`` (or ``family-name``); a `UserError` on field ``backend.preset``
        listing the known ones."""
        full = name if name in self._presets else f"{self.family}-{name}"  # short names: "small"
        if full not in self._presets:
            raise UserError(f"unknown preset '{name}' (expected one of: {', '.join(self._presets)})",
                            field="backend.preset")
        return self._presets[full]

    def fill(self, name: str, given: dict[str, Any]) -> dict[str, Any]:
        """``given`` (a backend section) with preset ``name``'s sizes where ``given`` has none."""
        return {**self.get(name).sizes(), **given}
