"""Error metrics and spectra on channel-first tensors.

Conventions (documented in docs/metrics.md):

* `relative_l2` -- per sample ``||pred - ref||_2 / ||ref||_2`` over every non-batch axis
  (channels, time and space together), returned per sample; papers average it over samples
  (the FNO/LSM convention).
* `nrmse` -- PDEBench's normalised RMSE: RMSE / RMS(ref) per sample and channel (and frame), then
  averaged over channels (and frames).
* `vrmse` -- The Well's variance-normalised RMSE: sqrt(MSE / Var(ref)) per sample and channel.
* `energy_spectrum` -- shell-summed spectral energy ``E(k) = 1/2 sum_{k-1/2 <= |n| < k+1/2} |u_hat(n)|^2``
  over integer wavenumber shells, summed over channels (so velocity components give the kinetic
  energy spectrum); mean over the batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1).double()


def relative_l2(pred: torch.Tensor, ref: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Per-sample relative L2 error, shape ``(batch,)``."""
    diff = _flat(pred) - _flat(ref)
    return diff.norm(dim=1) / _flat(ref).norm(dim=1).clamp_min(eps)


def relative_l2_loss(pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of the per-sample relative L2 error (a differentiable training loss)."""
    diff = (pred - ref).reshape(pred.shape[0], -1)
    return (diff.norm(dim=1) / ref.reshape(ref.shape[0], -1).norm(dim=1).clamp_min(1e-12)).mean()


def mse_loss(pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return torch.mean((pred - ref) ** 2)


LOSSES = {"relative_l2": relative_l2_loss, "mse": mse_loss}


def nrmse(pred: torch.Tensor, ref: torch.Tensor, spatial_ndim: int, eps: float = 1e-12) -> torch.Tensor:
    """PDEBench nRMSE per sample, shape ``(batch,)``: RMSE/RMS(ref) per channel (and frame), averaged."""
    dims = tuple(range(-spatial_ndim, 0))
    err = ((pred.double() - ref.double()) ** 2).mean(dim=dims).sqrt()
    scale = (ref.double() ** 2).mean(dim=dims).sqrt().clamp_min(eps)
    return (err / scale).reshape(pred.shape[0], -1).mean(dim=1)


def vrmse(pred: torch.Tensor, ref: torch.Tensor, spatial_ndim: int, eps: float = 1e-7) -> torch.Tensor:
    """The Well's VRMSE per sample, shape ``(batch,)``: sqrt(MSE/Var(ref)) per channel, averaged."""
    dims = tuple(range(-spatial_ndim, 0))
    mse = ((pred.double() - ref.double()) ** 2).mean(dim=dims)
    var = ref.double().var(dim=dims, unbiased=False)
    return (mse / (var + eps)).sqrt().reshape(pred.shape[0], -1).mean(dim=1)


def energy_spectrum(u: torch.Tensor, spatial_ndim: int, lengths: tuple[float, ...] | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Shell-summed energy spectrum of periodic fields.

    Args:
        u: ``(batch, channels, *spatial)``; channels are summed (e.g. velocity components).
        spatial_ndim: number of spatial axes.
        lengths: domain length per axis (default 1); wavenumbers are ``2 pi n / L``.

    Returns:
        ``(k, E)``: shell wavenumbers ``2 pi n / L`` (``n = 0..n_max``, of the first axis' length)
        and the batch-mean spectrum, both ``(n_max + 1,)``. ``sum(E)`` equals the mean of ``u^2/2``
        over the domain (Parseval) summed over channels.
    """
    shape = u.shape[-spatial_ndim:]
    dims = tuple(range(-spatial_ndim, 0))
    u_hat = torch.fft.fftn(u.double(), dim=dims, norm="forward")
    power = 0.5 * (u_hat.abs() ** 2).sum(dim=1).mean(dim=0)  # (*spatial)
    idx = [torch.fft.fftfreq(n, d=1.0 / n, dtype=torch.float64, device=u.device) for n in shape]
    grids = torch.meshgrid(*idx, indexing="ij")
    radius = torch.sqrt(sum(g**2 for g in grids))
    shell = torch.round(radius).long()
    n_max = min(shape) // 2
    spectrum = torch.zeros(int(shell.max()) + 1, dtype=torch.float64, device=u.device)
    spectrum.scatter_add_(0, shell.reshape(-1), power.reshape(-1))
    length = (lengths or (1.0,))[0]
    k = (2 * math.pi / length) * torch.arange(n_max + 1, dtype=torch.float64)
    return k, spectrum[: n_max + 1].cpu()


def spectrum_log_error(e_pred: torch.Tensor, e_ref: torch.Tensor, rel_floor: float = 1e-8) -> float:
    """Mean absolute difference of ``log10 E`` over shells ``k >= 1`` whose reference energy is
    above ``rel_floor`` times the largest (round-off shells beyond the dealiasing cutoff are left out)."""
    eps = 1e-300
    ref, pred = e_ref[1:], e_pred[1:]
    keep = ref > rel_floor * ref.max()
    return float((torch.log10(pred[keep].clamp_min(eps)) - torch.log10(ref[keep])).abs().mean())


def ragged_relative_l2(pred: Sequence[np.ndarray], ref: Sequence[np.ndarray]) -> np.ndarray:
    """Per-sample relative L2 error of samples of different sizes (one mesh each): arrays ``(n_i, c)``
    or ``(n_i,)``, result ``(samples,)`` (float64; a zero reference counts as norm 1e-12)."""
    return np.array([np.linalg.norm(np.asarray(p, np.float64) - r) / max(np.linalg.norm(r), 1e-12)
                     for p, r in zip(pred, ref, strict=True)])
