"""Statistics of turbulent channel flow: averages over x, z, time and the two half-channels, the
friction velocity from the wall shear, profiles in wall units, 1-D spectra at chosen ``y+``.

Velocities are physical ``(..., 3, nx, ny, nz)`` on Chebyshev--Gauss--Lobatto points ``y_j = cos(pi j / N)``
(walls at ``y = +-1``, half-height 1), every leading index (samples, times) averaged. Wall units:
``u_tau = sqrt(nu |dU/dy|_wall)`` (mean of both walls), ``y+ = (1 - |y|) u_tau / nu``, ``U+ = U / u_tau``.
A half-channel profile runs from the wall (``j = N``, then mirrored ``j = 0``) to the centre.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pdesolve.numerics import chebyshev

#: Moser, Kim & Mansour (1999) mean profile at Re_tau 178.12 (``chan180.means``; les.md §2.2)
MKM_180_MEAN = {"y_plus": (0.86, 2.62, 5.34, 10.41, 15.28, 30.02, 55.30, 98.04, 147.67, 178.12),
                "u_plus": (0.856, 2.594, 5.113, 8.774, 10.967, 13.870, 15.569, 17.094, 18.103, 18.301)}
#: del Alamo & Jimenez Re_tau 180 peaks and centreline values (``Re180.prof``; les.md §2.2): (value, y+)
MKM_180_PEAKS = {"urms": (2.659, 14.2), "vrms": (0.850, 54.6), "wrms": (1.091, 34.9), "uv": (0.734, 31.4)}
MKM_180_CENTRE = {"u_plus": (18.28, 186.3), "urms": (0.789, 186.3), "vrms": (0.606, 186.3), "wrms": (0.607, 186.3)}


@dataclass(frozen=True)
class WallProfiles:
    """Half-channel profiles in wall units, wall to centre (index 0 = wall).

    Attributes:
        u_tau, re_tau: friction velocity and ``u_tau h / nu``.
        y_plus: ``(m,)``; u_plus: mean ``U+``; rms_plus: ``(3, m)`` rms of ``u', v', w'`` over ``u_tau``;
        uv_plus: ``-<u'v'>+`` (positive in the lower half's sense).
    """

    u_tau: float
    re_tau: float
    y_plus: np.ndarray
    u_plus: np.ndarray
    rms_plus: np.ndarray
    uv_plus: np.ndarray


def plane_mean(f: torch.Tensor) -> torch.Tensor:
    """Mean over x, z and every leading axis but the component: ``(..., c, nx, ny, nz)`` -> ``(c, ny)``."""
    c, ny = f.shape[-4], f.shape[-2]
    return f.movedim(-4, 0).movedim(-2, 1).reshape(c, ny, -1).mean(-1)


def fold(profile: np.ndarray, parity: float = 1.0) -> np.ndarray:
    """Average of the two halves of ``(..., ny)`` profiles, wall to centre: ``(f(-y) + parity f(y)) / 2``."""
    ny = profile.shape[-1]
    half = ny // 2 + 1
    lower = profile[..., ::-1][..., :half]  # from y = -1 up to the centre
    upper = profile[..., :half]  # from y = +1 down to the centre
    return 0.5 * (lower + parity * upper)


def friction_velocity(mean_u: np.ndarray, viscosity: float) -> float:
    """``u_tau = sqrt(nu (dU/dy(-1) - dU/dy(1)) / 2)`` of a mean profile ``(ny,)``."""
    d = chebyshev.differentiation_matrix(mean_u.shape[-1] - 1)
    shear = d @ mean_u
    return float(np.sqrt(viscosity * 0.5 * abs(shear[-1] - shear[0])))


def wall_profiles(u: torch.Tensor, viscosity: float) -> WallProfiles:
    """`WallProfiles` of velocities ``(..., 3, nx, ny, nz)`` (averaged over all leading axes, x, z, halves;
    ``ny`` odd, so the centre is a point)."""
    u = u.double()
    mean = plane_mean(u)  # (3, ny)
    fluct = u - mean[:, None, :, None]
    second = plane_mean(torch.stack((fluct[..., 0, :, :, :] ** 2, fluct[..., 1, :, :, :] ** 2,
                                     fluct[..., 2, :, :, :] ** 2, fluct[..., 0, :, :, :] * fluct[..., 1, :, :, :]),
                                    dim=-4)).cpu().numpy()
    mean = mean.cpu().numpy()
    u_tau = friction_velocity(mean[0], viscosity)
    y = chebyshev.points(mean.shape[1] - 1)
    y_plus = fold(1.0 - np.abs(y)) * u_tau / viscosity
    # lower half: -<u'v'> > 0; upper half: <u'v'> > 0 -> parity -1 on the upper half
    return WallProfiles(u_tau, u_tau / viscosity, y_plus, fold(mean[0]) / u_tau,
                        np.sqrt(fold(second[:3])) / u_tau, -fold(second[3], -1.0) / u_tau**2)


def one_d_spectra(u: torch.Tensor, viscosity: float, u_tau: float, y_plus: float, lx: float,
                  lz: float) -> dict[str, np.ndarray]:
    """Streamwise and spanwise 1-D spectra of ``u', v', w'`` at the plane pair nearest ``y_plus`` (both halves).

    Returns ``kx (nx//2+1,)``, ``kz``, ``E_x (3, nx//2+1)``, ``E_z (3, nz//2+1)`` (one-sided, so
    ``sum_k E_x(k) = <u_i'^2>`` at that plane) and the ``y_plus`` of the plane used.
    """
    u = u.double()
    ny = u.shape[-2]
    y = chebyshev.points(ny - 1)
    distance = (1.0 - np.abs(y)) * u_tau / viscosity
    j = int(np.argmin(np.abs(distance[: ny // 2 + 1] - y_plus)))
    planes = u[..., [j, ny - 1 - j], :]  # (..., 3, nx, 2, nz)
    planes = planes - planes.mean(dim=(-3, -1), keepdim=True)
    comps = planes.movedim(-4, 0).reshape(3, -1, *planes.shape[-3:])  # (3, m, nx, 2, nz)
    out = {}
    for name, dim, length in (("x", -3, lx), ("z", -1, lz)):
        n = comps.shape[dim]
        power = torch.fft.rfft(comps, dim=dim, norm="forward").abs() ** 2
        weight = torch.full((n // 2 + 1,), 2.0, dtype=torch.float64)
        weight[0] = 1.0
        if n % 2 == 0:
            weight[-1] = 1.0
        other = tuple(d for d in range(1, power.ndim) if d != power.ndim + dim)
        spectrum = power.mean(dim=other) * weight
        out[f"k{name}"] = 2 * np.pi / length * np.arange(n // 2 + 1)
        out[f"E_{name}"] = spectrum.numpy()
    out["y_plus"] = np.array(distance[j])
    return out


def landmarks(p: WallProfiles) -> dict[str, float]:
    """The Moser--Kim--Mansour landmarks of profiles: centre ``U+``, ``u'+`` peak and its ``y+``,
    ``-u'v'+`` peak and its ``y+`` (peaks of the Chebyshev interpolant of the half-channel profile)."""
    # mirrored about the centre, the half-channel points are the full channel's Chebyshev points: interpolate there
    eta = p.y_plus / p.re_tau - 1.0  # y in [-1, 0]
    y_full = np.concatenate((eta, -eta[-2::-1]))
    fine = np.linspace(-1.0, 0.0, 4001)

    def interp(f, parity):
        full = np.concatenate((f, parity * f[-2::-1]))
        coeffs = np.polynomial.chebyshev.chebfit(y_full, full, len(y_full) - 1)
        return np.polynomial.chebyshev.chebval(fine, coeffs)

    urms, uv = interp(p.rms_plus[0], 1.0), interp(p.uv_plus, -1.0)
    yp = (fine + 1.0) * p.re_tau
    iu, iv = int(np.argmax(urms)), int(np.argmax(uv))
    return {"u_plus_centre": float(p.u_plus[-1]), "urms_peak": float(urms[iu]), "urms_peak_y_plus": float(yp[iu]),
            "uv_peak": float(uv[iv]), "uv_peak_y_plus": float(yp[iv]), "re_tau": p.re_tau}
