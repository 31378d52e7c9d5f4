"""Plain arrays (``.npz``, ``.pt``): no dim names in the file, so the case states the axis order.

``layout: [sample, x, y]`` applies to every array; ``layout: {coeff: [sample, x, y], u: [sample,
time, x, y]}`` gives each its own. 1-D arrays named ``x``, ``y``, ``z`` or ``t``/``time`` are the
coordinates. Arrays the layout does not cover are listed, not used.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import xarray as xr
from xarray.backends import BackendArray

from pdesolve.data.sources.base import LayoutOptions, OpenedData, VariableInfo
from pdesolve.data.sources.layout import ROLES, to_layout
from pdesolve.data.sources.lazy import lazy_variable
from pdesolve.errors import UserError

ARRAY_FORMATS = ("npz", "pt")  # the formats whose axis order the case states (problem.layout)
COORD_NAMES = {"x": "x", "y": "y", "z": "z", "t": "time", "time": "time"}


def arrays_to_layout(arrays: Mapping[str, BackendArray], options: LayoutOptions, *, path: str, fmt: str
                     ) -> OpenedData:
    """Named arrays (lazy) and the case's ``layout`` -> pdesolve's layout."""
    layout = options.layout
    coords, data_vars, extras = {}, {}, {}
    for name, array in arrays.items():
        if name in COORD_NAMES and len(array.shape) == 1:
            axis = COORD_NAMES[name]
            coords[axis] = xr.Variable((axis,), np.asarray(array[_all(array)]), {"units": "1"})
            continue
        dims = layout.get(name) if isinstance(layout, Mapping) else layout
        if dims is None:
            extras[name] = VariableInfo(name, (), tuple(array.shape), str(array.dtype), on_grid=False,
                                        note="arrays have no named axes: set problem.layout (e.g. [sample, x, y])")
            continue
        dims = tuple(dims)
        bad = [d for d in dims if d not in ROLES]
        if bad:
            raise UserError(f"layout of '{name}' names {bad}; expected some of {', '.join(ROLES)}", source=path,
                            field="problem.layout")
        if len(dims) != len(array.shape):
            raise UserError(f"array '{name}' has {len(array.shape)} axes {tuple(array.shape)}, the layout "
                            f"{list(dims)} has {len(dims)}", source=path, field="problem.layout")
        data_vars[name] = lazy_variable(dims, array, {"units": "1", "long_name": name})
    if isinstance(layout, Mapping):
        missing = [k for k in layout if k not in arrays]
        if missing:
            raise UserError(f"layout names {missing}, not in the file (it has: {', '.join(arrays)})", source=path,
                            field="problem.layout")
    raw = xr.Dataset(data_vars, coords=coords)
    roles = {r: r for r in ROLES}
    return to_layout(raw, options, path=path, fmt=fmt, roles=roles, extra_variables=extras)


def _all(array) -> object:
    from xarray.core import indexing

    return indexing.BasicIndexer((slice(None),) * len(array.shape))
