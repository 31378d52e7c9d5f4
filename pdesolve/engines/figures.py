"""Matplotlib figures of rollouts and comparisons (PNG, headless)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from pdesolve.data.fields import FieldSpec  # noqa: E402
from pdesolve.data.grid import Grid  # noqa: E402
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


def field_label(spec: FieldSpec | None, name: str) -> str:
    """``long name [units]`` for colour bars and axes (``[1]``: non-dimensional)."""
    if spec is None:
        return name
    return f"{spec.long_name} [{spec.units}]"


def _axes_labels(ax, grid: Grid | None, spatial: int) -> None:
    """Coordinate labels (name and units) of the plotted axes."""
    if grid is None:
        ax.set_xticks([])
        ax.set_yticks([])
        return
    axes = grid.axes
    ax.set_xlabel(f"{axes[0].name} [{axes[0].units}]", fontsize=7)
    if spatial >= 2:
        ax.set_ylabel(f"{axes[1].name} [{axes[1].units}]", fontsize=7)
    ax.tick_params(labelsize=6)


def _extent(grid: Grid | None) -> list[float] | None:
    """``imshow`` extent ``[x0, x1, y0, y1]`` of the first two axes."""
    if grid is None:
        return None
    x, y = grid.axes[0].coords(), grid.axes[1].coords()
    return [float(x[0]), float(x[-1]), float(y[0]), float(y[-1])]


def slice_note(grid: Grid | None, field: np.ndarray) -> str:
    """Where a 3-D field is cut (`_plane`): ``"slice z = 0.5"``; empty for 1-D and 2-D."""
    if field.ndim != 3:
        return ""
    if grid is None or grid.ndim < 3:
        return f"slice at index {field.shape[-1] // 2} of the last axis"
    axis = grid.axes[2]
    return f"slice {axis.name} = {axis.coords()[field.shape[-1] // 2]:.3g} {axis.units}"


def rollout_figure(reference: np.ndarray, prediction: np.ndarray, times: Sequence[float],
                   errors: np.ndarray, path: Path, *, name: str, title: str, columns: int = 4,
                   spec: FieldSpec | None = None, grid: Grid | None = None) -> Path:
    """Reference, prediction and error of one sample at a few times, plus the error curve.

    Args:
        reference, prediction: ``(steps, *spatial)`` of one sample and one field (1-D, 2-D or 3-D).
        times: the time of each step.
        errors: mean relative L2 error per step, ``(steps,)``.
        name: the field's name for labels; ``spec`` (its long name and units) labels the colour bars
            and ``grid`` the spatial axes.
    """
    label = field_label(spec, name)
    steps = prediction.shape[0]
    picks = sorted(set(np.linspace(0, steps - 1, min(columns, steps)).round().astype(int)))
    spatial = prediction.ndim - 1
    if spatial == 1:
        fig, axes = plt.subplots(1, len(picks) + 1, figsize=(3.2 * (len(picks) + 1), 2.8))
        for ax, i in zip(axes[:-1], picks, strict=False):
            x = grid.axes[0].coords() if grid is not None else np.arange(reference.shape[-1])
            ax.plot(x, reference[i], "k-", lw=1.5, label="reference")
            ax.plot(x, prediction[i], "C1--", lw=1.2, label="prediction")
            ax.set_title(f"t = {times[i]:.3g}")
            _axes_labels(ax, grid, 1)
        axes[0].legend(fontsize=7)
        axes[0].set_ylabel(label, fontsize=7)
        curve_ax = axes[-1]
    else:
        n = len(picks)
        fig = plt.figure(figsize=(2.6 * n + 4.4, 7.2))
        layout = fig.add_gridspec(3, n + 3, width_ratios=[1] * n + [0.07, 0.95, 1.6], wspace=0.12)
        vmax = _limit(reference[picks]) or _limit(prediction[picks]) or 1.0
        emax = _limit(prediction[picks] - reference[picks]) or 1.0
        rows = (("RdBu_r", vmax, "reference", label), ("RdBu_r", vmax, "prediction", label),
                ("PuOr_r", emax, "error", f"error of {label}"))
        for r, (cmap, lim, row, bar_label) in enumerate(rows):
            for c, i in enumerate(picks):
                data = (reference[i], prediction[i], prediction[i] - reference[i])[r]
                ax = fig.add_subplot(layout[r, c])
                im = ax.imshow(_plane(data).T, origin="lower", cmap=cmap, vmin=-lim, vmax=lim,
                               extent=_extent(grid), aspect="auto")
                _axes_labels(ax, grid if (r == 2 and c == 0) else None, 2)
                if r == 0:
                    ax.set_title(f"t = {times[i]:.3g}")
                if c == 0:
                    ax.set_ylabel(row if r < 2 or grid is None else ax.get_ylabel())
            fig.colorbar(im, cax=fig.add_subplot(layout[r, n])).set_label(bar_label, fontsize=7)
        note = slice_note(grid, prediction[0])
        if note:
            title = f"{title} ({note})"
        curve_ax = fig.add_subplot(layout[:, n + 2])
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
    ax.set_xlabel("wavenumber |k| (integer shells, units of 2 pi / L)")
    ax.set_ylabel("E(k)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return _save(fig, path)


def field_panels(panels: Mapping[str, np.ndarray], path: Path, *, title: str, spec: FieldSpec | None = None,
                 grid: Grid | None = None) -> Path:
    """Side-by-side images (or lines, for 1-D) of the same field from several methods, on one colour
    scale with a labelled colour bar (``spec``: long name and units) and coordinate axes (``grid``)."""
    names = list(panels)
    first = next(iter(panels.values()))
    label = field_label(spec, "value")
    if first.ndim == 1:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        x = grid.axes[0].coords() if grid is not None else np.arange(first.shape[0])
        for n in names:
            ax.plot(x, panels[n], label=n, lw=2 if n == "reference" else 1.2)
        ax.legend()
        ax.set_ylabel(label)
        _axes_labels(ax, grid, 1)
        ax.set_title(title)
        return _save(fig, path)
    fig, axes = plt.subplots(1, len(names), figsize=(3 * len(names) + 1.0, 3.4), squeeze=False)
    axes = axes[0]
    vmax = _limit(panels.get("reference", first)) or 1.0
    for ax, n in zip(axes, names, strict=True):
        im = ax.imshow(_plane(panels[n]).T, origin="lower", cmap="RdBu_r", vmin=-vmax, vmax=vmax,
                       extent=_extent(grid), aspect="auto")
        ax.set_title(n)
        _axes_labels(ax, grid, 2)
    fig.colorbar(im, ax=list(axes), shrink=0.85).set_label(label)
    note = slice_note(grid, first)
    fig.suptitle(f"{title} ({note})" if note else title)
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


def training_curves(records: Sequence[Mapping], path: Path, *, title: str) -> Path:
    """Losses per metrics record (``train_loss``, ``val_rel_l2`` and every ``*_loss``; log scale)
    and the learning rate (right axis), one line per stage; stage boundaries dotted."""
    fig, ax = plt.subplots(figsize=(7, 4))
    lr_ax = None
    stages = list(dict.fromkeys(r.get("stage") for r in records))
    keys = list(dict.fromkeys(k for r in records for k in r
                              if k in ("train_loss", "val_rel_l2") or (k.endswith("_loss") and k != "last_loss")))
    for s_index, stage in enumerate(stages):
        index = [i for i, r in enumerate(records) if r.get("stage") == stage]
        prefix = f"{stage}: " if stage else ""
        for k_index, key in enumerate(keys):
            values = np.array([float(records[i].get(key, np.nan)) for i in index])
            if np.isfinite(values).any() and (values[np.isfinite(values)] > 0).any():
                ax.plot(index, values, "o-" if len(index) < 40 else "-", ms=2.5, color=f"C{k_index}",
                        alpha=1.0 if s_index == len(stages) - 1 else 0.6, label=f"{prefix}{key}")
        lrs = np.array([float(records[i].get("lr", np.nan)) for i in index])
        if np.isfinite(lrs).any():
            lr_ax = lr_ax or ax.twinx()
            lr_ax.plot(index, lrs, ":", color="gray", lw=1)
        if s_index:
            ax.axvline(index[0] - 0.5, color="k", ls=":", lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("metrics record (epoch, or time step for INSR)")
    ax.set_ylabel("loss / validation error")
    if lr_ax is not None:
        lr_ax.set_ylabel("learning rate (dotted)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    ax.set_title(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    return _save(fig, path)


def _style(name: str) -> dict:
    """The reference drawn thick and black, methods in the colour cycle."""
    return {"lw": 2, "color": "k"} if name == "reference" else {"lw": 1.2}


def wall_profile_panels(panels: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]], path: Path, *,
                        title: str, dns: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
                        dns_label: str = "DNS") -> Path:
    """One panel per profile ``label -> {method -> (y+, values)}`` on a log ``y+`` axis (the wall point
    ``y+ = 0`` left out), with DNS points ``dns[label] = (y+, values)`` where given."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.4), squeeze=False)
    for ax, (label, curves) in zip(axes[0], panels.items(), strict=True):
        for name, (y, v) in curves.items():
            inside = np.asarray(y) > 0
            ax.semilogx(np.asarray(y)[inside], np.asarray(v)[inside], label=name, **_style(name))
        if dns and label in dns:
            ax.semilogx(*dns[label], "o", mfc="none", color="0.3", ms=5, label=dns_label)
        ax.set_title(label)
        ax.set_xlabel("y+")
        ax.grid(alpha=0.3, which="both")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def spectra_panels(panels: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]], path: Path, *,
                   title: str, xlabel: str = "wavenumber k", ylabel: str = "E(k)") -> Path:
    """One log-log panel per entry ``label -> {method -> (k, E)}`` (``k = 0`` and empty modes left out)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3.8 * len(panels), 3.4), squeeze=False)
    for ax, (label, curves) in zip(axes[0], panels.items(), strict=True):
        for name, (k, e) in curves.items():
            e = np.where(np.asarray(e) > 0, e, np.nan)
            ax.loglog(np.asarray(k)[1:], e[1:], label=name, **_style(name))
        ax.set_title(label, fontsize=9)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3, which="both")
    axes[0, 0].set_ylabel(ylabel)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def plane_panels(rows: Mapping[str, Mapping[str, np.ndarray]], coords: Mapping[str, tuple[np.ndarray, np.ndarray]],
                 path: Path, *, title: str, labels: Mapping[str, tuple[str, str]], colorbar: str) -> Path:
    """Planes of one field, a row per cut ``cut -> {method -> (n1, n2) values}`` on the cut's (possibly
    non-uniform) coordinates ``coords[cut] = (c1, c2)`` (axis names ``labels[cut]``), one colour scale per row."""
    methods = list(next(iter(rows.values())))
    fig, axes = plt.subplots(len(rows), len(methods), figsize=(3.2 * len(methods) + 1, 2.6 * len(rows)),
                             squeeze=False)
    for r, (cut, planes) in enumerate(rows.items()):
        lim = max(_limit(p) for p in planes.values()) or 1.0
        c1, c2 = coords[cut]
        for c, name in enumerate(methods):
            ax = axes[r, c]
            mesh = ax.pcolormesh(c1, c2, planes[name].T, cmap="RdBu_r", vmin=-lim, vmax=lim, shading="nearest")
            ax.set_title(f"{name} ({cut})", fontsize=8)
            ax.set_xlabel(labels[cut][0], fontsize=7)
            ax.set_ylabel(labels[cut][1], fontsize=7)
            ax.tick_params(labelsize=6)
        fig.colorbar(mesh, ax=axes[r].tolist()).set_label(colorbar, fontsize=7)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)
