"""channel_obstacles: the Stokes reference solver and the generated data."""

from __future__ import annotations

import numpy as np
import pytest

from pdesolve.data.mesh_samples import sample_mesh, sample_values
from pdesolve.errors import UserError
from pdesolve.numerics.fem import stokes_channel
from pdesolve.numerics.meshing import mesh_with_holes, rectangle
from pdesolve.problems.channel_obstacles import ChannelObstacles


def test_empty_channel_gives_poiseuille_flow():
    mesh = mesh_with_holes(rectangle(0, 0, 2, 1), [], 0.15)
    sol = stokes_channel(mesh, lambda x: x[0] < 1e-9, lambda p: 4 * p[1] * (1 - p[1]),
                         lambda x: x[0] > 2 - 1e-9)
    x, y = mesh.nodes.T
    np.testing.assert_allclose(sol.velocity[:, 0], 4 * y * (1 - y), atol=1e-10)
    np.testing.assert_allclose(sol.velocity[:, 1], 0, atol=1e-10)
    np.testing.assert_allclose(sol.pressure, 8 * (2 - x), atol=1e-9)  # dp/dx = u_yy = -8, p = 0 at the outlet


def test_flow_past_an_obstacle_conserves_mass():
    problem = ChannelObstacles()
    ds = problem.generate(2, seed=0)
    for i in range(2):
        mesh = sample_mesh(ds, i)
        outlet = np.flatnonzero(np.abs(mesh.nodes[:, 0] - problem.params.length) < 1e-9)
        order = outlet[np.argsort(mesh.nodes[outlet, 1])]
        flux = np.trapezoid(sample_values(ds, "u", i)[order], mesh.nodes[order, 1])
        assert flux == pytest.approx(2 / 3, rel=1e-2)
        on_obstacle = mesh.boundary == 2
        assert np.abs(sample_values(ds, "u", i)[on_obstacle]).max() < 1e-6  # no slip
        assert (sample_values(ds, "sdf", i) >= -1e-9).all()


def test_obstacle_must_fit():
    with pytest.raises(UserError, match="radius"):
        ChannelObstacles({"radius": [0.1, 0.45]})
