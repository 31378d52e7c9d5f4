"""2-D elastodynamics: the incremental potential's terms (rest state, constraints, gravity,
contact) and the evaluation metrics."""

import numpy as np
import pytest
import torch

from pdesolve.problems.elastodynamics_2d import SCENES, Elastodynamics2D


def rest(n=50):
    """Points of the body at rest, kept 0.1 above its bottom edge (away from the disc), and their
    singular values."""
    x = torch.rand(n, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    x[:, 1] = 0.9 * x[:, 1] + 0.1
    return x, torch.ones(n, 2, dtype=torch.float64)


def test_rest_state_has_zero_energy_but_for_loads():
    stretch = Elastodynamics2D({"scene": "stretch", "steps": 1})
    q, s = rest()
    edge = torch.zeros(10, 2, dtype=torch.float64)
    energy = stretch.potential(1, q, q, q, s, edge, edge)
    assert energy.item() == pytest.approx(SCENES["stretch"].weights["fix_right"] * 10 * 2.0**2)
    collide = Elastodynamics2D()
    assert collide.potential(3, q, q, q, s, edge, edge).item() == 0  # no force after step 2, no motion


def test_stretching_and_compression_cost_energy():
    problem = Elastodynamics2D({"scene": "stretch"})
    q, s = rest()
    edge = torch.zeros(10, 2, dtype=torch.float64)
    target = edge + torch.tensor([2.0, 0.0], dtype=torch.float64)
    base = problem.potential(1, q, q, q, s, edge, target).item()
    assert base == 0
    for singular in (1.3, 0.8):
        assert problem.potential(1, q, q, q, s * singular, edge, target).item() > 0


def test_gravity_rewards_falling_and_inertia_resists_it():
    problem = Elastodynamics2D()  # collide: body force (0, -200) during steps 1 and 2
    q, s = rest()
    edge = torch.zeros(10, 2, dtype=torch.float64)
    down = q - torch.tensor([0.0, 0.01], dtype=torch.float64)
    assert problem.potential(1, down, q, q, s, edge, edge) < 0
    assert problem.potential(3, down, q, q, s, edge, edge) > 0  # only kinetic cost once the force is off


def test_contact_pushes_out_of_the_disc():
    problem = Elastodynamics2D()
    inside = torch.tensor([[0.0, -1.5]], dtype=torch.float64)  # 0.5 above the disc centre (0, -2)
    up, down = inside + torch.tensor([0.0, 0.01]), inside - torch.tensor([0.0, 0.01])
    assert (
        problem.contact_work(up, (up - inside) / 0.1) < 0 < problem.contact_work(down, (down - inside) / 0.1)
    )
    outside = torch.tensor([[0.0, 0.5]], dtype=torch.float64)
    assert problem.contact_work(outside, torch.ones_like(outside)) == 0


def test_evaluate_on_rest_and_stretched_states():
    problem = Elastodynamics2D({"scene": "stretch", "steps": 1})
    ds = problem.generate(1, 0, resolution=21).isel(time=[0])  # the rest state
    assert set(ds.data_vars) == {"displacement_x", "displacement_y"} and ds.sizes["time"] == 1
    m = problem.evaluate(ds, ds)
    assert m["final_mean_area_ratio"] == pytest.approx(1.0) and m["final_right_edge_error"] == pytest.approx(
        2.0
    )
    stretched = ds.copy(deep=True)
    x = ds["x"].values[:, None] * np.ones((1, 21))
    stretched["displacement_x"].values[0, 0] = x + 1.0  # q_x = 2x + 1: right edge +2, left edge 0
    m = problem.evaluate(stretched, ds)
    assert m["final_mean_area_ratio"] == pytest.approx(2.0) and m["final_right_edge_error"] == pytest.approx(
        0.0
    )


def test_fem_reference_falls_onto_the_disc():
    """The collide reference (FEM, same potential and dt): finite at every step, the body falls under
    the force, is slowed by the disc (it penetrates it less than it would fall freely)."""
    problem = Elastodynamics2D({"scene": "collide", "steps": 2})
    ds = problem.generate(1, 0, resolution=6)
    assert ds.sizes["time"] == 3 and np.isfinite(ds["displacement_y"].values).all()
    centroid = ds["displacement_y"][0].mean(("x", "y")).values
    assert centroid[0] == 0 and centroid[2] < centroid[1] < 0
    free_fall = -(0.1 * 1.0 + 0.1 * 2.0)  # implicit Euler: the velocity grows by dt f / (2 w_kin) = 1 per step
    assert free_fall < centroid[2]
