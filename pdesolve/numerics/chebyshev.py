"""Chebyshev--Gauss--Lobatto collocation on ``[-1, 1]``: points, differentiation, quadrature, and the
clamped (``f = f' = 0`` at both ends) operators of Trefethen (2000, ch. 14) for wall-bounded flows.

Points are ``y_j = cos(pi j / N)``, ``j = 0 .. N`` (``y_0 = 1`` the upper wall), so a grid of
``N + 1`` points; "interior" means ``j = 1 .. N - 1``. All matrices are float64 numpy arrays.
"""

from __future__ import annotations

import numpy as np


def points(n: int) -> np.ndarray:
    """The ``n + 1`` Gauss--Lobatto points ``cos(pi j / n)``, descending from 1 to -1."""
    return np.cos(np.pi * np.arange(n + 1) / n)


def differentiation_matrix(n: int) -> np.ndarray:
    """First-derivative matrix ``D`` on the ``n + 1`` points, ``(n+1, n+1)`` (negative-sum trick on the diagonal)."""
    y = points(n)
    c = np.ones(n + 1)
    c[0] = c[-1] = 2.0
    c = c * (-1.0) ** np.arange(n + 1)
    dy = y[:, None] - y[None, :]
    d = np.outer(c, 1.0 / c) / (dy + np.eye(n + 1))
    return d - np.diag(d.sum(axis=1))


def quadrature_weights(n: int) -> np.ndarray:
    """Clenshaw--Curtis weights on the ``n + 1`` points: ``sum_j w_j f(y_j) = int_{-1}^{1} f dy``, exact to
    degree ``n``."""
    theta = np.pi * np.arange(n + 1) / n
    w = np.zeros(n + 1)
    interior = np.arange(1, n)
    v = np.ones(n - 1)
    if n % 2 == 0:
        w[0] = w[n] = 1.0 / (n**2 - 1)
        for k in range(1, n // 2):
            v -= 2.0 * np.cos(2 * k * theta[interior]) / (4 * k**2 - 1)
        v -= np.cos(n * theta[interior]) / (n**2 - 1)
    else:
        w[0] = w[n] = 1.0 / n**2
        for k in range(1, (n - 1) // 2 + 1):
            v -= 2.0 * np.cos(2 * k * theta[interior]) / (4 * k**2 - 1)
    w[interior] = 2.0 * v / n
    return w


def clamped_operators(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Second and fourth derivatives on the interior points of functions with ``f = f' = 0`` at both ends,
    ``(n-1, n-1)`` each: the interpolant is ``(1 - y^2) q(y)`` with ``q`` a degree-``n`` polynomial vanishing at
    the ends (Trefethen's ``cheb4c``), so both boundary conditions hold exactly."""
    y = points(n)
    d = differentiation_matrix(n)
    d2, d3, d4 = d @ d, d @ d @ d, d @ d @ d @ d
    s = 1.0 - y**2
    inner = slice(1, n)
    scale = np.diag(1.0 / s[inner])
    yi = y[inner]
    second = (np.diag(s[inner]) @ d2[inner, inner] - 4 * np.diag(yi) @ d[inner, inner] - 2 * np.eye(n - 1)) @ scale
    fourth = (np.diag(s[inner]) @ d4[inner, inner] - 8 * np.diag(yi) @ d3[inner, inner]
              - 12 * d2[inner, inner]) @ scale
    return second, fourth


def interpolation_matrix(n: int, y: np.ndarray) -> np.ndarray:
    """Values at ``y`` of the polynomial through the ``n + 1`` points: ``(len(y), n + 1)``, barycentric form
    (weights ``(-1)^j``, halved at the ends); rows of ``y`` on a point are that point's unit row."""
    nodes = points(n)
    w = (-1.0) ** np.arange(n + 1)
    w[0] *= 0.5
    w[-1] *= 0.5
    y = np.asarray(y, float)
    diff = y[:, None] - nodes[None, :]
    exact = np.isclose(diff, 0.0, atol=1e-14)
    diff[exact] = 1.0
    m = w / diff
    m /= m.sum(axis=1, keepdims=True)
    rows = exact.any(axis=1)
    m[rows] = exact[rows].astype(float)
    return m
