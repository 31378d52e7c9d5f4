"""Registration by subclassing, shared by problems and backends.

A class hierarchy that wants a registry derives from `Registered`; every subclass that passes
``name=...`` in its class statement is registered under that name::

    class Darcy2D(GridProblem, name="darcy_2d"): ...

Lookups of unknown names raise a `UserError` that lists the names that exist.
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

from pdesolve.errors import UserError

R = TypeVar("R", bound="Registered")


class Registered:
    """Base of a registry. Each direct subclass of `Registered` owns one registry dict."""

    name: ClassVar[str] = ""
    _registry: ClassVar[dict[str, type]]
    registry_label: ClassVar[str] = "entry"

    def __init_subclass__(cls, name: str | None = None, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if Registered in cls.__bases__:
            cls._registry = {}
        if name is not None:
            if name in cls._registry:
                raise TypeError(f"{cls.registry_label} '{name}' registered twice")
            cls.name = name
            cls._registry[name] = cls

    @classmethod
    def lookup(cls: type[R], name: str, *, source: str | None = None, field: str | None = None) -> type[R]:
        """The registered class called ``name``."""
        if name not in cls._registry:
            known = ", ".join(sorted(cls._registry)) or "none"
            raise UserError(
                f"unknown {cls.registry_label} '{name}' (expected one of: {known})",
                source=source, field=field,
            )
        return cls._registry[name]

    @classmethod
    def registered(cls: type[R]) -> dict[str, type[R]]:
        """All registered classes by name (sorted)."""
        return dict(sorted(cls._registry.items()))
