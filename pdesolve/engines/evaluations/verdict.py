"""Sentences a comparison owes its reader: when a classical baseline beats the model outright."""

from __future__ import annotations

import math
from collections.abc import Sequence

FAR_BETTER = 10.0  # "orders of magnitude": at least this factor in error, at most this factor in cost


def baseline_verdict(rows: Sequence[dict], model: str, baselines: Sequence[str], error: str, cost: str
                     ) -> list[str]:
    """One sentence per baseline whose ``error`` is at least `FAR_BETTER` times lower than the
    ``model``'s while its ``cost`` (time) is at most `FAR_BETTER` times higher."""
    by_name = {r["method"]: r for r in rows}
    m = by_name.get(model)
    if m is None or not _finite(m.get(error)):
        return []
    out = []
    for name in baselines:
        b = by_name.get(name)
        if b is None or not (_finite(b.get(error)) and _finite(b.get(cost)) and _finite(m.get(cost))):
            continue
        if b[error] * FAR_BETTER <= m[error] and b[cost] <= FAR_BETTER * m[cost]:
            ratio = m[error] / b[error] if b[error] > 0 else math.inf
            out.append(
                f"The classical baseline '{name}' is {ratio:.3g}x more accurate than {model} "
                f"({error} {b[error]:.3g} vs {m[error]:.3g}) at {b[cost] / m[cost]:.2g}x its cost: for this case "
                f"the classical method is the better tool; the model pays off only where it is much cheaper or "
                f"the classical method cannot run.")
    return out


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
