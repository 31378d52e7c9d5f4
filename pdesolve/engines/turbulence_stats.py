"""Turbulence statistics of rollouts against filtered DNS, on the LES grid (`pdesolve compare`).

What the neural-operator LES papers read (Li et al. 2022/2023, Yang et al. 2024), computed for
every method over all test samples and all rollout steps:

* velocity energy spectrum ``E(k)`` (shells ``round|k|``, time- and sample-mean) and its mean
  ``|log10 E - log10 E_ref|`` over the shells the reference resolves;
* PDFs of longitudinal velocity increments ``du_r = u_i(x + r e_i) - u_i(x)`` pooled over the
  directions ``i``, at ``r = h, 2h, 4h`` (``h`` the LES grid spacing), normalised by the
  reference's rms velocity per component;
* PDF of the vorticity magnitude ``|omega| / omega_rms,ref``;
* time series of ``u_rms = sqrt(<u_i u_i> / d)``, ``omega_rms = sqrt(<omega_i omega_i>)``,
  ``K = <u_i u_i> / 2`` and the resolved dissipation ``eps = 2 nu <S_ij S_ij>``;
* scalars for the table: the spectrum log error, the L1 distance ``int |p - p_ref|`` of each PDF,
  and the time-mean relative error of each time series.

Inputs are velocities ``(n, T, d, *s)`` on a periodic grid (a method that stopped early has fewer
steps; its time series are NaN-padded).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr

from pdesolve.data.grid import Grid
from pdesolve.engines import figures
from pdesolve.engines.evaluation import Artifact
from pdesolve.engines.statistics_suites import StatisticsSuite
from pdesolve.metrics import energy_spectrum, spectrum_log_error
from pdesolve.numerics.sgs import symmetric_part, velocity_gradient
from pdesolve.numerics.spectral import rfft
from pdesolve.problems.turbulence import TurbulentFlow

SEPARATIONS = (1, 2, 4)  # increment separations in grid spacings
INCREMENT_EDGES = np.linspace(-8.0, 8.0, 101)
VORTICITY_EDGES = np.linspace(0.0, 8.0, 81)
SERIES = {
    "u_rms": "rms velocity per component",
    "omega_rms": "rms vorticity magnitude",
    "kinetic_energy": "kinetic energy <u.u>/2",
    "dissipation": "resolved dissipation 2 nu <S:S>",
}


# ------------------------------------------------------------------------ field statistics
def vorticity(u: torch.Tensor, grid: Grid) -> torch.Tensor:
    """Vorticity of velocities ``(n, d, *s)``: ``(n, 3, *s)`` in 3-D, ``(n, 1, *s)`` in 2-D."""
    g = velocity_gradient(rfft(u.double(), grid.ndim), grid)
    if grid.ndim == 2:
        return (g[:, 1, 0] - g[:, 0, 1])[:, None]
    return torch.stack((g[:, 2, 1] - g[:, 1, 2], g[:, 0, 2] - g[:, 2, 0], g[:, 1, 0] - g[:, 0, 1]), 1)


def dissipation(u: torch.Tensor, grid: Grid, viscosity: float) -> torch.Tensor:
    """Resolved dissipation ``2 nu <S_ij S_ij>`` (box mean) of velocities ``(n, d, *s)`` -> ``(n,)``."""
    s = symmetric_part(velocity_gradient(rfft(u.double(), grid.ndim), grid))
    return 2.0 * viscosity * (s**2).sum(dim=(1, 2)).flatten(1).mean(1)


def longitudinal_increments(u: torch.Tensor, separation: int) -> torch.Tensor:
    """``u_i(x + r e_i) - u_i(x)`` for every direction ``i`` of velocities ``(n, d, *s)`` on a periodic
    grid, ``r`` = ``separation`` grid points; all values flattened, ``(n * d * prod(s),)``."""
    d = u.shape[1]
    return torch.cat([(torch.roll(u[:, i], -separation, dims=1 + i) - u[:, i]).flatten() for i in range(d)])


def pdf(values: torch.Tensor, edges: np.ndarray) -> np.ndarray:
    """Probability density of ``values`` on the bins ``edges`` (values outside count in the total)."""
    counts, _ = np.histogram(values.double().cpu().numpy(), bins=edges)
    return counts / (max(values.numel(), 1) * np.diff(edges))


def pdf_distance(p: np.ndarray, q: np.ndarray, edges: np.ndarray) -> float:
    """``int |p - q| dx`` of two densities on the same bins (0 = equal, 2 = disjoint)."""
    return float(np.sum(np.abs(p - q) * np.diff(edges)))


def time_series(u: torch.Tensor, grid: Grid, viscosity: float) -> dict[str, np.ndarray]:
    """Sample-mean `SERIES` of velocity trajectories ``(n, T, d, *s)``, each ``(T,)``."""
    out = {name: [] for name in SERIES}
    for t in range(u.shape[1]):
        frame = u[:, t].double()
        energy = 0.5 * (frame**2).sum(1).flatten(1).mean(1)
        out["kinetic_energy"].append(energy.mean())
        out["u_rms"].append(torch.sqrt(2.0 * energy / u.shape[2]).mean())
        out["omega_rms"].append(torch.sqrt((vorticity(frame, grid) ** 2).sum(1).flatten(1).mean(1)).mean())
        out["dissipation"].append(dissipation(frame, grid, viscosity).mean())
    return {name: torch.stack(values).numpy() if values else np.zeros(0) for name, values in out.items()}


# ------------------------------------------------------------------------- per method
@dataclass
class FlowStatistics:
    """One method's statistics (arrays as in the module docstring)."""

    spectrum: np.ndarray               # (shells,)
    increment_pdfs: np.ndarray         # (len(SEPARATIONS), bins)
    vorticity_pdf: np.ndarray          # (bins,)
    series: dict[str, np.ndarray]      # name -> (T_method,)


def flow_statistics(u: torch.Tensor, grid: Grid, viscosity: float, u_rms_ref: float, omega_rms_ref: float
                    ) -> FlowStatistics:
    """Statistics of velocity trajectories ``(n, T, d, *s)`` normalised by the reference's rms values."""
    frames = u.flatten(0, 1).double()
    _, spectrum = energy_spectrum(frames, grid.ndim, grid.lengths)
    increments = np.stack([pdf(longitudinal_increments(frames, r) / u_rms_ref, INCREMENT_EDGES)
                           for r in SEPARATIONS])
    magnitude = vorticity(frames, grid).norm(dim=1) / omega_rms_ref
    return FlowStatistics(spectrum.numpy(), increments, pdf(magnitude, VORTICITY_EDGES),
                          time_series(u, grid, viscosity))


def _centres(edges: np.ndarray) -> np.ndarray:
    return 0.5 * (edges[1:] + edges[:-1])


@dataclass
class TurbulenceComparison:
    """Statistics of the reference (filtered DNS) and of every method, with their summaries."""

    grid: Grid
    times: np.ndarray
    wavenumbers: np.ndarray
    methods: dict[str, FlowStatistics]   # "reference" first

    def row(self, name: str) -> dict[str, float]:
        """Table scalars of method ``name`` against the reference."""
        ref, stats = self.methods["reference"], self.methods[name]
        row = {"velocity_spectrum_log_err": spectrum_log_error(torch.as_tensor(stats.spectrum),
                                                               torch.as_tensor(ref.spectrum))}
        for r, p, q in zip(SEPARATIONS, stats.increment_pdfs, ref.increment_pdfs, strict=True):
            row[f"increment_pdf_l1_r{r}h"] = pdf_distance(p, q, INCREMENT_EDGES)
        row["vorticity_pdf_l1"] = pdf_distance(stats.vorticity_pdf, ref.vorticity_pdf, VORTICITY_EDGES)
        for key, series in stats.series.items():
            expected = ref.series[key][: len(series)]
            row[f"{key}_rel_err"] = float(np.mean(np.abs(series - expected) / expected))
        return row

    def dataset(self) -> xr.Dataset:
        """Every statistic as netCDF variables ``<statistic>_<method>`` with CF attributes."""
        def var(dims, values, long_name):
            return xr.Variable(dims, values, {"units": "1", "long_name": long_name})

        ds = xr.Dataset(coords={
            "wavenumber": var(("wavenumber",), self.wavenumbers, "angular wavenumber"),
            "separation": var(("separation",), np.array(SEPARATIONS) * self.grid.spacing[0],
                              "increment separation r"),
            "increment": var(("increment",), _centres(INCREMENT_EDGES),
                             "longitudinal increment / reference u_rms"),
            "vorticity_magnitude": var(("vorticity_magnitude",), _centres(VORTICITY_EDGES),
                                       "|omega| / reference omega_rms"),
        })
        for name, s in self.methods.items():
            ds[f"velocity_spectrum_{name}"] = var(("wavenumber",), s.spectrum,
                                                  f"velocity energy spectrum E(k) of {name}")
            ds[f"increment_pdf_{name}"] = var(("separation", "increment"), s.increment_pdfs,
                                              f"PDF of longitudinal velocity increments of {name}")
            ds[f"vorticity_pdf_{name}"] = var(("vorticity_magnitude",), s.vorticity_pdf,
                                              f"PDF of the vorticity magnitude of {name}")
            for key, long_name in SERIES.items():
                values = np.full(len(self.times), np.nan)
                values[: len(s.series[key])] = s.series[key]
                ds[f"{key}_{name}"] = var(("time",), values, f"{long_name} of {name}")
        return ds

    def verdict(self, model: str, baselines: list[str]) -> list[str]:
        """None: the table's columns speak for themselves."""
        return []

    def artifacts(self, title: str) -> list[Artifact]:
        """PNG figures: velocity spectra, increment PDFs, vorticity PDF, time series."""
        m = self.methods
        increments = {f"r = {r}h": {n: (_centres(INCREMENT_EDGES), s.increment_pdfs[i]) for n, s in m.items()}
                      for i, r in enumerate(SEPARATIONS)}
        vorticity_pdf = {"|omega|": {n: (_centres(VORTICITY_EDGES), s.vorticity_pdf) for n, s in m.items()}}
        series = {key: {n: (self.times[: len(s.series[key])], s.series[key]) for n, s in m.items()}
                  for key in SERIES}
        spectra = {n: (self.wavenumbers, s.spectrum) for n, s in m.items()}
        return [
            Artifact("velocity_spectra.png", lambda p: figures.spectra(
                spectra, p, title=f"{title}: velocity spectrum (rollout mean)")),
            Artifact("increment_pdfs.png", lambda p: figures.pdf_panels(
                increments, p, xlabel="du_r / u_rms (reference)", title=f"{title}: longitudinal velocity increments")),
            Artifact("vorticity_pdf.png", lambda p: figures.pdf_panels(
                vorticity_pdf, p, xlabel="|omega| / omega_rms (reference)", title=f"{title}: vorticity magnitude")),
            Artifact("time_series.png", lambda p: figures.series_panels(series, p, title=f"{title}: time series")),
        ]


LEGEND = {
    "velocity_spectrum_log_err": "mean |log10 E - log10 E_ref| of the velocity spectrum over the rollout (lower is "
                                 "better)",
    **{f"increment_pdf_l1_r{r}h": f"L1 distance of the PDF of velocity increments at r = {r}h to the reference "
                                  "(0..2, lower is better)" for r in SEPARATIONS},
    "vorticity_pdf_l1": "L1 distance of the PDF of |omega| to the reference (0..2, lower is better)",
    **{f"{key}_rel_err": f"time-mean relative error of the {name} (lower is better)" for key, name in SERIES.items()},
}


def compare_turbulence(reference: torch.Tensor, predictions: Mapping[str, torch.Tensor], grid: Grid,
                       viscosity: float, times: np.ndarray) -> TurbulenceComparison:
    """Statistics of the reference and of each prediction; all velocities ``(n, T, d, *s)``."""
    u_rms_ref = float(torch.sqrt((reference.double() ** 2).mean()))
    omega_rms_ref = float(torch.sqrt((vorticity(reference.flatten(0, 1), grid) ** 2).sum(1).mean()))
    methods = {"reference": flow_statistics(reference, grid, viscosity, u_rms_ref, omega_rms_ref)}
    for name, u in predictions.items():
        methods[name] = flow_statistics(u, grid, viscosity, u_rms_ref, omega_rms_ref)
    k, _ = energy_spectrum(reference[:1, 0].double(), grid.ndim, grid.lengths)
    return TurbulenceComparison(grid, np.asarray(times, float), k.numpy(), methods)


class TurbulenceSuite(StatisticsSuite, problem=TurbulentFlow):
    """`compare_turbulence` of the velocities of a periodic `TurbulentFlow`."""

    legend = LEGEND

    def compare(self, reference, predictions, grid, times):
        p = self.problem
        return compare_turbulence(p.velocity(reference, grid), {n: p.velocity(u, grid) for n, u in predictions.items()},
                                  grid, p.viscosity, times)
