"""Matplotlib figures of rollouts and comparisons (PNG, headless)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from pdesolve.data.netcdf import atomic_replace  # noqa: E402


def _save(fig, path: Path) -> Path:
    path = Path(path)
    atomic_replace(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png"))
    plt.close(fig)
    return path


def _limit(values: np.ndarray) -> float:
    """The largest finite ``|value|`` (0 when there is none)."""
    finite = np.abs(values[np.isfinite(values)])
    return float(finite.max()) if finite.size else 0.0


def _plane(field: np.ndarray) -> np.ndarray:
    """A 2-D view of a 2-D or 3-D field (the middle z-plane of 3-D)."""
    return field[..., field.shape[-1] // 2] if field.ndim == 3 else field


def rollout_figure(reference: np.ndarray, prediction: np.ndarray, times: Sequence[float],
                   errors: np.ndarray, path: Path, *, name: str, title: str, columns: int = 4) -> Path:
    """Reference, prediction and error of one sample at a few times, plus the error curve.

    Args:
        reference, prediction: ``(steps, *spatial)`` of one sample and one field (1-D, 2-D or 3-D).
        times: the time of each step.
        errors: mean relative L2 error per step, ``(steps,)``.
        name: the field's name for labels.
    """
    steps = prediction.shape[0]
    picks = sorted(set(np.linspace(0, steps - 1, min(columns, steps)).round().astype(int)))
    spatial = prediction.ndim - 1
    if spatial == 1:
        fig, axes = plt.subplots(1, len(picks) + 1, figsize=(3.2 * (len(picks) + 1), 2.8))
        for ax, i in zip(axes[:-1], picks, strict=False):
            ax.plot(reference[i], "k-", lw=1.5, label="reference")
            ax.plot(prediction[i], "C1--", lw=1.2, label="prediction")
            ax.set_title(f"t = {times[i]:.3g}")
        axes[0].legend(fontsize=7)
        curve_ax = axes[-1]
    else:
        n = len(picks)
        fig = plt.figure(figsize=(2.6 * n + 4.4, 7.2))
        grid = fig.add_gridspec(3, n + 3, width_ratios=[1] * n + [0.07, 0.75, 1.6], wspace=0.08)
        vmax = _limit(reference[picks]) or _limit(prediction[picks]) or 1.0
        emax = _limit(prediction[picks] - reference[picks]) or 1.0
        for r, (cmap, lim, label) in enumerate((("RdBu_r", vmax, "reference"), ("RdBu_r", vmax, "prediction"),
                                                ("PuOr_r", emax, "error"))):
            for c, i in enumerate(picks):
                data = (reference[i], prediction[i], prediction[i] - reference[i])[r]
                ax = fig.add_subplot(grid[r, c])
                im = ax.imshow(_plane(data).T, origin="lower", cmap=cmap, vmin=-lim, vmax=lim)
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title(f"t = {times[i]:.3g}")
                if c == 0:
                    ax.set_ylabel(label)
            fig.colorbar(im, cax=fig.add_subplot(grid[r, n]))
        curve_ax = fig.add_subplot(grid[:, n + 2])
    curve_ax.plot(times[: len(errors)], errors, "o-", ms=3)
    curve_ax.set_xlabel("time")
    curve_ax.set_ylabel("relative L2 error")
    curve_ax.set_title("error per step")
    curve_ax.grid(alpha=0.3)
    fig.suptitle(f"{title}: {name}")
    return _save(fig, path)


def error_curves(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], path: Path, *, title: str,
                 ylabel: str = "relative L2 error", log: bool = True) -> Path:
    """One line per method: ``name -> (times, values)``."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, (t, v) in curves.items():
        ax.plot(t, v, "o-", ms=3, label=name)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("time")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return _save(fig, path)


def spectra(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], path: Path, *, title: str) -> Path:
    """Energy spectra on log-log axes: ``name -> (k, E)`` (the k = 0 shell is skipped)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, (k, e) in curves.items():
        ax.loglog(k[1:], e[1:], label=name, lw=2 if name == "reference" else 1.2,
                  color="k" if name == "reference" else None)
    ax.set_xlabel("wavenumber k")
    ax.set_ylabel("E(k)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return _save(fig, path)


def field_panels(panels: Mapping[str, np.ndarray], path: Path, *, title: str) -> Path:
    """Side-by-side images (or lines, for 1-D) of the same field from several methods."""
    names = list(panels)
    first = next(iter(panels.values()))
    if first.ndim == 1:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        for n in names:
            ax.plot(panels[n], label=n, lw=2 if n == "reference" else 1.2)
        ax.legend()
        ax.set_title(title)
        return _save(fig, path)
    fig, axes = plt.subplots(1, len(names), figsize=(3 * len(names), 3.2))
    axes = np.atleast_1d(axes)
    vmax = float(np.nanmax(np.abs(panels.get("reference", first)))) or 1.0
    for ax, n in zip(axes, names, strict=True):
        ax.imshow(_plane(panels[n]).T, origin="lower", cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        ax.set_title(n)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title)
    return _save(fig, path)


def pdf_panels(panels: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]], path: Path, *,
               xlabel: str, title: str) -> Path:
    """One panel per entry ``panel -> {method -> (x, density)}``, densities on a log axis."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, (label, curves) in zip(axes[0], panels.items(), strict=True):
        for name, (x, p) in curves.items():
            ref = name == "reference"
            ax.semilogy(x, np.where(p > 0, p, np.nan), label=name, lw=2 if ref else 1.2,
                        color="k" if ref else None)
        ax.set_title(label)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3, which="both")
    axes[0, 0].set_ylabel("PDF")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title)
    return _save(fig, path)


def series_panels(panels: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]], path: Path, *,
                  title: str) -> Path:
    """One panel per quantity ``name -> {method -> (times, values)}`` on linear axes."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, (label, curves) in zip(axes[0], panels.items(), strict=True):
        for name, (t, v) in curves.items():
            ref = name == "reference"
            ax.plot(t, v, label=name, lw=2 if ref else 1.2, color="k" if ref else None)
        ax.set_title(label)
        ax.set_xlabel("time")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title)
    return _save(fig, path)


def residual_histories(curves: Mapping[str, Sequence[np.ndarray]], path: Path, *, title: str,
                       tolerances: Sequence[float] = ()) -> Path:
    """Relative residual against iteration, log scale: ``method -> one history per system``
    (the first system's line is labelled; dotted lines mark ``tolerances``)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for c, (name, histories) in enumerate(curves.items()):
        for i, h in enumerate(histories):
            ax.semilogy(np.arange(len(h)), h, color=f"C{c}", lw=1.4 if i == 0 else 0.6,
                        alpha=1.0 if i == 0 else 0.5, label=name if i == 0 else None)
    for t in tolerances:
        ax.axhline(t, color="k", ls=":", lw=0.8)
    ax.set_xlabel("iteration")
    ax.set_ylabel("relative residual ||b - A x|| / ||b||")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return _save(fig, path)
