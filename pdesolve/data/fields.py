"""Field metadata: what a variable in a dataset is (its CF ``units`` and ``long_name``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldSpec:
    """A named physical field.

    Attributes:
        name: variable name in datasets and case files (``"vorticity"``).
        units: CF units string (``"1"`` for non-dimensional, ``"s-1"``, ``"m s-1"``).
        long_name: human-readable description for plots and ncdump.
        standard_name: CF standard name, where one exists.
    """

    name: str
    units: str
    long_name: str
    standard_name: str | None = None

    def attrs(self) -> dict[str, str]:
        """The netCDF attributes of a variable holding this field."""
        out = {"units": self.units, "long_name": self.long_name}
        if self.standard_name:
            out["standard_name"] = self.standard_name
        return out
