"""Triangle meshes of planar domains with holes, and signed distances to polygons.

No external mesher: nodes are the boundary polygons resampled at spacing ``h`` plus a hexagonal
lattice of spacing ``h`` kept a band away from every boundary; a Delaunay triangulation of them
(scipy/Qhull) is cut to the domain by dropping triangles whose centroid lies outside it. The
result is deterministic for a given geometry and ``h``, has near-equilateral interior cells, and
its boundary edges follow the polygons exactly (each polygon edge is split into pieces of length
at most ``h``).

Polygons are ``(m, 2)`` vertex arrays, counter-clockwise or not, the closing edge implied.
Boundary tags of the returned `Mesh`: 1 on the outer boundary, ``2 + k`` on hole ``k``.
Polygon makers: `rectangle`, `star_polygon`, `random_square_polygon` (UM2N's random domains).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import Delaunay

from pdesolve.data.mesh import Mesh
from pdesolve.errors import UserError

OUTER_TAG = 1
HOLE_TAG = 2


def rectangle(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """The counter-clockwise corners of ``[x0, x1] x [y0, y1]``, shape ``(4, 2)``."""
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def random_star_coefficients(rng: np.random.Generator, radius: tuple[float, float], modes: int,
                             amplitude: float) -> tuple[float, np.ndarray, np.ndarray]:
    """A random `star_polygon` shape: the mean radius ``r0`` uniform in ``radius``, then ``a_k`` and
    ``b_k`` uniform in ``+- r0 amplitude / (k - 1)`` for ``k = 2 .. modes + 1`` (``a_1 = b_1 = 0``).
    Returns ``(r0, cos_coeffs, sin_coeffs)``, drawn from ``rng`` in that order."""
    r0 = rng.uniform(*radius)
    k = np.arange(2, modes + 2)
    a = np.concatenate([[0.0], r0 * rng.uniform(-1, 1, modes) * amplitude / (k - 1)])
    b = np.concatenate([[0.0], r0 * rng.uniform(-1, 1, modes) * amplitude / (k - 1)])
    return r0, a, b


def star_polygon(center: tuple[float, float], radius: float, cos_coeffs: np.ndarray,
                 sin_coeffs: np.ndarray, n_vertices: int = 64) -> np.ndarray:
    """A smooth star-shaped polygon ``r(t) = radius + sum_k a_k cos(k t) + b_k sin(k t)``.

    ``cos_coeffs[k-1] = a_k``, ``sin_coeffs[k-1] = b_k`` (k = 1, 2, ...). Returns
    ``(n_vertices, 2)``, counter-clockwise. Raises `UserError` if the radius is not positive.
    """
    t = np.linspace(0.0, 2.0 * np.pi, n_vertices, endpoint=False)
    k = np.arange(1, len(cos_coeffs) + 1)[:, None]
    r = radius + (np.asarray(cos_coeffs)[:, None] * np.cos(k * t)).sum(0) \
        + (np.asarray(sin_coeffs)[:, None] * np.sin(k * t)).sum(0)
    if r.min() <= 0:
        raise UserError("star polygon radius must stay positive")
    return np.stack([center[0] + r * np.cos(t), center[1] + r * np.sin(t)], axis=1)


# ------------------------------------------------------------------------------ geometry
def _segments(polygon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(polygon, np.float64)
    return a, np.roll(a, -1, axis=0)


def distance_to_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Unsigned distance of ``points (n, 2)`` to the edges of ``polygon``, shape ``(n,)``."""
    a, b = _segments(polygon)
    ab = b - a
    ap = points[:, None, :] - a[None]
    s = np.clip((ap * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-300), 0.0, 1.0)
    d = ap - s[..., None] * ab
    return np.sqrt((d * d).sum(-1)).min(axis=1)


def inside_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd rule: whether each of ``points (n, 2)`` lies inside ``polygon``, shape ``(n,)``."""
    a, b = _segments(polygon)
    px, py = points[:, 0:1], points[:, 1:2]
    crosses = (a[None, :, 1] > py) != (b[None, :, 1] > py)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (b[None, :, 0] - a[None, :, 0]) / (b[None, :, 1] - a[None, :, 1])
        x_at = a[None, :, 0] + (py - a[None, :, 1]) * slope
    return ((crosses & (px < x_at)).sum(axis=1) % 2) == 1


def signed_distance(points: np.ndarray, polygons: list[np.ndarray]) -> np.ndarray:
    """Signed distance to the union of ``polygons`` (negative inside one), shape ``(n,)``."""
    points = np.asarray(points, np.float64)
    dist = np.min([distance_to_polygon(points, p) for p in polygons], axis=0)
    inside = np.any([inside_polygon(points, p) for p in polygons], axis=0)
    return np.where(inside, -dist, dist)


def resample_polygon(polygon: np.ndarray, h: float) -> np.ndarray:
    """The polygon's vertices plus points splitting every edge into pieces of length <= ``h``."""
    a, b = _segments(polygon)
    out = []
    for p, q in zip(a, b, strict=True):
        n = max(int(np.ceil(np.linalg.norm(q - p) / h)), 1)
        out.append(p + (q - p) * (np.arange(n)[:, None] / n))
    return np.concatenate(out)


def hex_lattice(lo: np.ndarray, hi: np.ndarray, h: float) -> np.ndarray:
    """Points of a hexagonal lattice with spacing ``h`` covering the box ``[lo, hi]``."""
    dy = h * np.sqrt(3.0) / 2.0
    rows = []
    for i, y in enumerate(np.arange(lo[1], hi[1] + dy, dy)):
        xs = np.arange(lo[0] + (0.5 * h if i % 2 else 0.0), hi[0] + h, h)
        rows.append(np.stack([xs, np.full_like(xs, y)], axis=1))
    return np.concatenate(rows)


# -------------------------------------------------------------------------------- meshing
def mesh_with_holes(outer: np.ndarray, holes: list[np.ndarray], h: float, *,
                    band: float = 0.6, units: str = "1") -> Mesh:
    """A triangle mesh of the region inside ``outer`` and outside every polygon of ``holes``.

    Args:
        outer: the outer boundary polygon.
        holes: hole polygons, inside ``outer`` and disjoint.
        h: target edge length (coordinates' units).
        band: lattice points closer than ``band * h`` to a boundary are dropped (boundary quality).
        units: CF units of the coordinates.

    Returns:
        a `Mesh` with boundary tags 1 (outer) and ``2 + k`` (hole ``k``), counter-clockwise cells.
    """
    if h <= 0:
        raise UserError(f"mesh size h must be positive, got {h}")
    outer = np.asarray(outer, np.float64)
    holes = [np.asarray(p, np.float64) for p in holes]
    boundary_pts = [resample_polygon(outer, h)] + [resample_polygon(p, h) for p in holes]
    tags = np.concatenate([np.full(len(p), OUTER_TAG if i == 0 else HOLE_TAG + i - 1, np.int32)
                           for i, p in enumerate(boundary_pts)])
    lattice = hex_lattice(outer.min(0), outer.max(0), h)
    keep = inside_polygon(lattice, outer)
    for p in holes:
        keep &= ~inside_polygon(lattice, p)
    lattice = lattice[keep]
    near = np.min([distance_to_polygon(lattice, p) for p in [outer, *holes]], axis=0)
    lattice = lattice[near > band * h]
    nodes = np.concatenate([*boundary_pts, lattice])
    tags = np.concatenate([tags, np.zeros(len(lattice), np.int32)])

    cells = Delaunay(nodes).simplices
    centroids = nodes[cells].mean(axis=1)
    inside = inside_polygon(centroids, outer)
    for p in holes:
        inside &= ~inside_polygon(centroids, p)
    cells = cells[inside]
    v = nodes[cells[:, 1:]] - nodes[cells[:, :1]]
    area = 0.5 * (v[:, 0, 0] * v[:, 1, 1] - v[:, 0, 1] * v[:, 1, 0])
    cells = cells[np.abs(area) > 1e-10 * h * h]
    area = area[np.abs(area) > 1e-10 * h * h]
    cells[area < 0] = cells[area < 0][:, [0, 2, 1]]
    used = np.unique(cells)
    renumber = np.full(len(nodes), -1, np.int64)
    renumber[used] = np.arange(len(used))
    return Mesh(nodes[used], renumber[cells], tags[used], units)


def random_square_polygon(rng: np.random.Generator, split_probability: float = 0.3) -> np.ndarray:
    """A random convex polygon inscribed in the unit square, as UM2N's random polygonal domains:
    every side of the square carries one vertex at ``0.5 +- 1/3`` or, with ``split_probability``,
    two vertices at ``0.25 +- 1/8`` and ``0.75 +- 1/8``; the polygon joins them in order.

    Returns ``(m, 2)`` counter-clockwise vertices, ``4 <= m <= 8``.
    """
    def side() -> list[float]:
        if rng.uniform() < split_probability:
            return [rng.uniform(0.25 - 0.125, 0.25 + 0.125), rng.uniform(0.75 - 0.125, 0.75 + 0.125)]
        return [rng.uniform(0.5 - 1 / 3, 0.5 + 1 / 3)]

    bottom, right, top, left = side(), side(), side(), side()
    points = ([(s, 0.0) for s in bottom] + [(1.0, s) for s in right]
              + [(s, 1.0) for s in reversed(top)] + [(0.0, s) for s in reversed(left)])
    return np.array(points, dtype=np.float64)
