"""Wall-bounded turbulence statistics of channel rollouts against the reference data on the coarse grid
(`pdesolve compare` on `channel_3d`), the quantities of the IUFNO / IFactFormer-m channel papers.

For the reference and every method, over all test samples and rollout steps, of the velocity (the
stored fluctuations plus the stored mean profile, `ChannelFlow3D.physical_state`), averaged over x,
z and both half-channels (`pdesolve.numerics.channel_statistics`):

* profiles in wall units of the method's own friction velocity (wall shear): ``U+``, ``u'+``,
  ``v'+``, ``w'+`` (rms) and ``-u'v'+``;
* streamwise and spanwise 1-D spectra of ``u', v', w'`` at the plane pair nearest each
  `SPECTRA_Y_PLUS` (``y+`` in the reference's wall units, so every method is read on the same planes);
* the PDF of ``u'`` at the plane pair nearest `PDF_Y_PLUS`, over the reference's rms there.

Table columns: the relative L2 distance of each profile to the reference's over the half-channel
points, the mean ``|log10 E - log10 E_ref|`` of the spectra over the modes the coarse grid keeps
(2/3 rule), the L1 distance of the PDF, and the method's ``Re_tau``. Figures: the profiles on a log
``y+`` axis with the DNS of Moser--Kim--Mansour / del Alamo--Jimenez (unfiltered, a guide), the
spectra, the PDF, and a snapshot of ``u'`` (an x-z plane near the wall and an x-y plane).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr

from pdesolve.data.grid import Grid
from pdesolve.engines import figures
from pdesolve.engines.evaluation import Artifact
from pdesolve.engines.statistics_suites import StatisticsSuite
from pdesolve.numerics import chebyshev
from pdesolve.numerics.channel_statistics import (
    MKM_180_CENTRE,
    MKM_180_MEAN,
    MKM_180_PEAKS,
    WallProfiles,
    one_d_spectra,
    wall_profiles,
)
from pdesolve.problems.channel_flow import ChannelFlow3D

SPECTRA_Y_PLUS = (15.0, 100.0)
PDF_Y_PLUS = 15.0
PDF_EDGES = np.linspace(-6.0, 6.0, 121)
COMPONENTS = ("u", "v", "w")
#: table column -> (profile label in figures, `WallProfiles` values of a method)
PROFILES = {
    "u_plus": ("U+", lambda p: p.u_plus),
    "urms_plus": ("u'+ (rms)", lambda p: p.rms_plus[0]),
    "vrms_plus": ("v'+ (rms)", lambda p: p.rms_plus[1]),
    "wrms_plus": ("w'+ (rms)", lambda p: p.rms_plus[2]),
    "uv_plus": ("-u'v'+", lambda p: p.uv_plus),
}
#: the five statistics of the verdict -> their table columns (the rms profiles averaged)
STATISTICS = {"U+": ("u_plus_err",), "rms profiles": ("urms_plus_err", "vrms_plus_err", "wrms_plus_err"),
              "-u'v'+": ("uv_plus_err",), "1-D spectra": ("spectra_log_err",), "u' PDF": ("u_pdf_l1",)}
LOG_FLOOR = 1e-30  # spectra below are read as this (a mode a method lost costs a large, finite error)


def plane_index(ny: int, u_tau: float, viscosity: float, y_plus: float) -> int:
    """Index ``j`` (solver order, from the upper wall; the same index from the lower wall in the stored
    ascending order) of the point nearest ``y_plus`` in the half-channel."""
    distance = (1.0 - np.abs(chebyshev.points(ny - 1))) * u_tau / viscosity
    return int(np.argmin(np.abs(distance[: ny // 2 + 1] - y_plus)))


@dataclass
class ChannelStatistics:
    """One method's statistics: profiles, spectra by target ``y+``, the ``u'`` PDF, a snapshot of ``u'``
    (``xz``: ``(nx, nz)`` plane near the lower wall, ``xy``: ``(nx, ny)`` plane at mid ``z``, last step of sample 0)
    and the ``u'`` rms the PDF is scaled by."""

    profiles: WallProfiles
    spectra: dict[float, dict[str, np.ndarray]]
    u_pdf: np.ndarray
    snapshot: dict[str, np.ndarray]
    u_scale: float


def channel_statistics(stored: torch.Tensor, velocity: torch.Tensor, viscosity: float, lx: float, lz: float,
                       reference: WallProfiles | None, u_scale: float | None) -> ChannelStatistics:
    """Statistics of stored fields and velocities ``(n, T, 3, nx, ny, nz)`` (stored ascending ``y``).

    ``reference``: the reference's profiles (its ``u_tau`` picks the planes; ``None`` for the reference
    itself), ``u_scale``: the reference's ``u'`` rms at the PDF plane (``None``: this is the reference).
    """
    frames = ChannelFlow3D.to_ascending(velocity.flatten(0, 1).double())  # solver order: y from +1 down
    profiles = wall_profiles(frames, viscosity)
    u_tau = (reference or profiles).u_tau
    spectra = {y: one_d_spectra(frames, viscosity, u_tau, y, lx, lz) for y in SPECTRA_Y_PLUS}
    ny = frames.shape[-2]
    j = plane_index(ny, u_tau, viscosity, PDF_Y_PLUS)
    planes = frames[:, 0][..., [j, ny - 1 - j], :]
    fluct = planes - planes.mean(dim=(0, 1, 3))[None, None, :, None]
    scale = u_scale if u_scale is not None else float(fluct.pow(2).mean().sqrt())
    counts, _ = np.histogram((fluct / scale).flatten().numpy(), bins=PDF_EDGES)
    u_pdf = counts / (max(fluct.numel(), 1) * np.diff(PDF_EDGES))
    last = stored[0, -1, 0].double().numpy()
    snapshot = {"xz": last[:, j, :], "xy": last[:, :, last.shape[-1] // 2]}
    return ChannelStatistics(profiles, spectra, u_pdf, snapshot, scale)


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def _centres(edges: np.ndarray) -> np.ndarray:
    return 0.5 * (edges[1:] + edges[:-1])


@dataclass
class ChannelComparison:
    """Statistics of the reference and every method (``"reference"`` first) on the coarse grid."""

    grid: Grid
    methods: dict[str, ChannelStatistics]

    @property
    def reference(self) -> ChannelStatistics:
        return self.methods["reference"]

    def row(self, name: str) -> dict[str, float]:
        ref, s = self.reference, self.methods[name]
        row = {f"{key}_err": _relative(values(s.profiles), values(ref.profiles))
               for key, (_, values) in PROFILES.items()}
        errors = []
        for y in SPECTRA_Y_PLUS:
            for axis in ("x", "z"):
                e, e_ref = s.spectra[y][f"E_{axis}"], ref.spectra[y][f"E_{axis}"]
                kept = (self.grid.shape[0 if axis == "x" else 2] - 1) // 3  # the 2/3 rule's modes
                e, e_ref = e[:, 1:kept + 1], e_ref[:, 1:kept + 1]
                good = e_ref > LOG_FLOOR
                errors.append(np.abs(np.log10(np.maximum(e, LOG_FLOOR)) - np.log10(e_ref))[good])
        row["spectra_log_err"] = float(np.mean(np.concatenate(errors)))
        row["u_pdf_l1"] = float(np.sum(np.abs(s.u_pdf - ref.u_pdf) * np.diff(PDF_EDGES)))
        row["re_tau"] = s.profiles.re_tau
        return row

    def verdict(self, model: str, baselines: list[str]) -> list[str]:
        """On how many of the five statistics (U+, the rms profiles, -u'v'+, spectra, u' PDF) ``model`` is
        closer to the reference than every baseline (the IFactFormer-m paper's claim)."""
        if not baselines:
            return []
        rows = {name: self.row(name) for name in (model, *baselines)}
        closer = [label for label, columns in STATISTICS.items()
                  if all(np.mean([rows[model][c] for c in columns]) < np.mean([rows[b][c] for c in columns])
                         for b in baselines)]
        return [f"{model} is closer to the reference than {', '.join(baselines)} on {len(closer)} of "
                f"{len(STATISTICS)} statistics{': ' + ', '.join(closer) if closer else ''}."]

    def dataset(self) -> xr.Dataset:
        """Profiles, spectra, PDF and friction velocity per method, and the DNS points, with CF attributes."""
        def var(dims, values, long_name, units="1"):
            return xr.Variable(dims, np.asarray(values, float), {"units": units, "long_name": long_name})

        ref = self.reference
        first = ref.spectra[SPECTRA_Y_PLUS[0]]
        ds = xr.Dataset(coords={
            "wall_distance": var(("wall_distance",), ref.profiles.y_plus / ref.profiles.re_tau,
                                 "distance from the wall, half-channel points (1 - |y|)", "h"),
            "component": xr.Variable(("component",), np.arange(3, dtype=np.int8), {
                "long_name": "velocity component", "flag_values": np.arange(3, dtype=np.int8),
                "flag_meanings": " ".join(COMPONENTS)}),
            "spectrum_plane": var(("spectrum_plane",), SPECTRA_Y_PLUS, "target y+ of the spectra planes "
                                  "(reference wall units)"),
            "kx": var(("kx",), first["kx"], "streamwise angular wavenumber", "1/h"),
            "kz": var(("kz",), first["kz"], "spanwise angular wavenumber", "1/h"),
            "u_fluctuation": var(("u_fluctuation",), _centres(PDF_EDGES),
                                 f"u' / reference u' rms at y+ ~ {PDF_Y_PLUS:g}"),
            "dns_y_plus": var(("dns_y_plus",), MKM_180_MEAN["y_plus"], "y+ of the MKM 1999 mean profile"),
        })
        ds["dns_u_plus"] = var(("dns_y_plus",), MKM_180_MEAN["u_plus"], "U+ of the DNS of Moser, Kim & Mansour "
                               "(1999), Re_tau 178 (unfiltered)")
        for name, s in self.methods.items():
            p = s.profiles
            ds[f"y_plus_{name}"] = var(("wall_distance",), p.y_plus, f"y+ in the wall units of {name}")
            ds[f"u_plus_{name}"] = var(("wall_distance",), p.u_plus, f"mean velocity U+ of {name}")
            ds[f"rms_plus_{name}"] = var(("component", "wall_distance"), p.rms_plus, f"rms velocity fluctuations "
                                         f"in wall units of {name}")
            ds[f"uv_plus_{name}"] = var(("wall_distance",), p.uv_plus, f"Reynolds shear stress -u'v'+ of {name}")
            ds[f"u_tau_{name}"] = var((), p.u_tau, f"friction velocity from the wall shear of {name}", "u_tau")
            ds[f"spectrum_x_{name}"] = var(("spectrum_plane", "component", "kx"),
                                           [s.spectra[y]["E_x"] for y in SPECTRA_Y_PLUS],
                                           f"streamwise 1-D spectrum of {name} (one-sided, sums to the variance)")
            ds[f"spectrum_z_{name}"] = var(("spectrum_plane", "component", "kz"),
                                           [s.spectra[y]["E_z"] for y in SPECTRA_Y_PLUS],
                                           f"spanwise 1-D spectrum of {name} (one-sided, sums to the variance)")
            ds[f"spectrum_plane_y_plus_{name}"] = var(("spectrum_plane",), [float(s.spectra[y]["y_plus"])
                                                                           for y in SPECTRA_Y_PLUS],
                                                      f"y+ (reference wall units) of the planes used for {name}")
            ds[f"u_pdf_{name}"] = var(("u_fluctuation",), s.u_pdf, f"PDF of u' at y+ ~ {PDF_Y_PLUS:g} of {name}")
        return ds

    def artifacts(self, title: str) -> list[Artifact]:
        """Profiles with the DNS, spectra, the u' PDF and a snapshot of u'."""
        m, ref = self.methods, self.reference
        profiles = {label: {n: (s.profiles.y_plus, values(s.profiles)) for n, s in m.items()}
                    for label, values in PROFILES.values()}
        dns = {"U+": (MKM_180_MEAN["y_plus"], MKM_180_MEAN["u_plus"])}
        for key, label in (("urms", "u'+ (rms)"), ("vrms", "v'+ (rms)"), ("wrms", "w'+ (rms)")):
            dns[label] = ((MKM_180_PEAKS[key][1], MKM_180_CENTRE[key][1]), (MKM_180_PEAKS[key][0],
                                                                            MKM_180_CENTRE[key][0]))
        dns["-u'v'+"] = ((MKM_180_PEAKS["uv"][1],), (MKM_180_PEAKS["uv"][0],))
        spectra = {f"E_uu(k{axis}) at y+ = {float(ref.spectra[y]['y_plus']):.0f}":
                   {n: (s.spectra[y][f"k{axis}"], s.spectra[y][f"E_{axis}"][0]) for n, s in m.items()}
                   for y in SPECTRA_Y_PLUS for axis in ("x", "z")}
        pdf = {f"u' at y+ ~ {PDF_Y_PLUS:g}": {n: (_centres(PDF_EDGES), s.u_pdf) for n, s in m.items()}}
        x, y, z = (a.coords() for a in self.grid.axes)
        rows = {"x-z plane near the wall": {n: s.snapshot["xz"] for n, s in m.items()},
                "x-y plane, mid z": {n: s.snapshot["xy"] for n, s in m.items()}}
        coords = {"x-z plane near the wall": (x, z), "x-y plane, mid z": (x, y)}
        labels = {"x-z plane near the wall": ("x [h]", "z [h]"), "x-y plane, mid z": ("x [h]", "y [h]")}
        return [
            Artifact("channel_profiles.png", lambda p: figures.wall_profile_panels(
                profiles, p, title=f"{title}: profiles in wall units (rollout mean)", dns=dns,
                dns_label="MKM / del Alamo-Jimenez DNS (unfiltered)")),
            Artifact("channel_spectra.png", lambda p: figures.spectra_panels(
                spectra, p, title=f"{title}: 1-D spectra of u' (rollout mean)", xlabel="k [1/h]")),
            Artifact("u_pdf.png", lambda p: figures.pdf_panels(
                pdf, p, xlabel="u' / u'_rms (reference)", title=f"{title}: PDF of u'")),
            Artifact("channel_snapshot.png", lambda p: figures.plane_panels(
                rows, coords, p, title=f"{title}: u' (stored fluctuation), test sample 0, last step", labels=labels,
                colorbar="u' [u_tau]")),
        ]


LEGEND = {
    **{f"{key}_err": f"relative L2 distance of the {label} profile to the reference's over the half-channel points "
                     "(lower is better)" for key, (label, _) in PROFILES.items()},
    "spectra_log_err": f"mean |log10 E - log10 E_ref| of the streamwise and spanwise 1-D spectra of u', v', w' at "
                       f"y+ ~ {', '.join(f'{y:g}' for y in SPECTRA_Y_PLUS)} over the kept modes (lower is better)",
    "u_pdf_l1": f"L1 distance of the PDF of u' at y+ ~ {PDF_Y_PLUS:g} to the reference (0..2, lower is better)",
    "re_tau": "friction Reynolds number from the method's mean wall shear (the reference's is the target)",
}


class ChannelSuite(StatisticsSuite, problem=ChannelFlow3D):
    """`ChannelComparison` of the velocities of `channel_3d` rollouts (stored fluctuations + mean profile)."""

    legend = LEGEND

    def compare(self, reference, predictions, grid, times):
        p, data = self.problem, self.data
        nu, lx, lz = p.viscosity, p.params.length_x, p.params.length_z

        def stats(u, ref_profiles, scale):
            return channel_statistics(u, p.physical_state(u.double(), data), nu, lx, lz, ref_profiles, scale)

        ref = stats(reference, None, None)
        return ChannelComparison(grid, {"reference": ref, **{name: stats(u, ref.profiles, ref.u_scale)
                                                             for name, u in predictions.items()}})
