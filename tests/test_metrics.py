"""Metrics on inputs with known answers."""

import math

import torch

from pdesolve.metrics import energy_spectrum, nrmse, relative_l2, spectrum_log_error, vrmse


def test_relative_l2_per_sample():
    ref = torch.ones(2, 1, 4, 4)
    pred = ref.clone()
    pred[1] *= 1.5
    assert torch.allclose(relative_l2(pred, ref), torch.tensor([0.0, 0.5], dtype=torch.float64))


def test_nrmse_and_vrmse():
    ref = torch.tensor([[[1.0, -1.0, 1.0, -1.0]]], dtype=torch.float64)  # mean 0, variance 1, rms 1
    pred = ref + 0.1
    assert math.isclose(float(nrmse(pred, ref, 1)), 0.1, rel_tol=1e-9)
    assert math.isclose(float(vrmse(pred, ref, 1)), 0.1 / math.sqrt(1 + 1e-7), rel_tol=1e-9)
    assert math.isclose(float(vrmse(torch.zeros_like(ref), ref, 1)), 1.0, rel_tol=1e-6)


def test_energy_spectrum_of_single_modes_and_parseval():
    n = 32
    x = torch.arange(n, dtype=torch.float64) / n
    X, Y = torch.meshgrid(x, x, indexing="ij")
    u = (torch.cos(2 * math.pi * 3 * X) + 0.5 * torch.sin(2 * math.pi * 5 * Y))[None, None]
    k, e = energy_spectrum(u, 2)
    assert math.isclose(float(e[3]), 0.25, rel_tol=1e-9)  # (1/2) * amplitude^2 / 2
    assert math.isclose(float(e[5]), 0.0625, rel_tol=1e-9)
    assert math.isclose(float(e.sum()), float((u.double() ** 2).mean() / 2), rel_tol=1e-9)
    assert math.isclose(float(k[1]), 2 * math.pi)
    assert spectrum_log_error(e, e) == 0.0
    assert math.isclose(spectrum_log_error(10 * e, e), 1.0, rel_tol=1e-9)
