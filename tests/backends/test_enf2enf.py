"""enf2enf: equivariance of the field decoder, the meta-learned inner loop, resolution transfer,
persistence, UGRID predictions and the shipped case."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pdesolve.backends.base import Solver, get_backend
from pdesolve.backends.enf2enf import MeshSamples
from pdesolve.config import TrainConfig, load_case
from pdesolve.data.mesh import Mesh
from pdesolve.data.mesh_samples import sample_mesh, sample_values, split_union
from pdesolve.data.netcdf import read_netcdf, write_netcdf
from pdesolve.data.samples import add_splits, select_split
from pdesolve.engines.train import Trainer
from pdesolve.nn.equivariant_fields import EquivariantCrossAttention, EquivariantNeuralField, latent_grid
from pdesolve.problems.elasticity_voids import ElasticityVoids

CASES = Path(__file__).resolve().parents[2] / "cases"
TINY = dict(encoder_hidden=16, decoder_hidden=24, decoder_self_attention_layers=1, fourier_features=8,
            encoder_epochs=16, encoder_batch_size=3, encoder_lr=3e-3, inner_lr=5.0, inner_lr_lr=1e-2,
            encoder_points=96, decoder_points=96)


@pytest.fixture(scope="module")
def problem():
    return ElasticityVoids({"mesh_size": 0.1})


@pytest.fixture(scope="module")
def data(problem):
    return add_splits(problem.generate(16, seed=3), 12, 0, 4)


@pytest.fixture(scope="module")
def fitted(problem, data):
    torch.manual_seed(0)
    s = get_backend("enf2enf", **TINY)
    config = TrainConfig(epochs=16, batch_size=4, lr=3e-3, loss="mse", seed=0)
    report = s.fit(problem, data, Trainer(config, "cpu"))
    return s, report


@pytest.fixture(scope="module")
def solver(fitted):
    return fitted[0]


def test_decoder_is_translation_equivariant():
    torch.manual_seed(0)
    field = EquivariantNeuralField(2, 8, hidden=16, heads=2, self_attention_layers=1, extra_dim=1,
                                   n_freq=8, freq_q=1.0, freq_v=1.0)
    x, extra = torch.rand(2, 50, 2) * 2 - 1, torch.randn(2, 50, 1)
    poses = latent_grid(3, [(-0.75, 0.75)] * 2).expand(2, -1, -1)
    contexts = torch.randn(2, 9, 8)
    shift = torch.tensor([0.7, -1.3])
    out = field(x, poses, contexts, 0.5, extra)
    moved = field(x + shift, poses + shift, contexts, 0.5, extra)
    torch.testing.assert_close(moved, out, atol=1e-5, rtol=1e-5)
    # absolute positions matter only through x - p: moving the queries alone changes the field
    assert (field(x + shift, poses, contexts, 0.5, extra) - out).abs().max() > 1e-3


def test_gaussian_window_localises_attention():
    """Latents farther than a few windows from a query receive no attention."""
    torch.manual_seed(0)
    cross = EquivariantCrossAttention(2, 0, 8, hidden=8, heads=1, n_freq=8)
    poses = torch.tensor([[[0.0, 0.0], [5.0, 0.0]]])
    x = torch.zeros(1, 1, 2)
    near = torch.randn(1, 1, 8)
    far_a, far_b = torch.randn(1, 1, 8), torch.randn(1, 1, 8)
    out_a = cross(x, poses, torch.cat([near, far_a], 1), window=0.5)
    out_b = cross(x, poses, torch.cat([near, far_b], 1), window=0.5)
    torch.testing.assert_close(out_a, out_b)
    wide_b = cross(x, poses, torch.cat([near, far_b], 1), window=50.0)
    assert (wide_b - out_a).abs().max() > 1e-4


def test_inner_loop_lowers_reconstruction_error(solver, data):
    m = solver.model
    s = MeshSamples(select_split(data, "test"), ["sdf"], None)
    x, a = m.coords(s.x), m.inputs(s.a)
    w = s.mask / s.mask.sum(1, keepdim=True)
    poses = m.sample_poses(x, s.mask)
    errors = []
    for steps in range(4):
        with torch.enable_grad():
            c = m.autodecode(x[:, None], a[:, None], w[:, None], poses, steps, create_graph=False) if steps \
                else torch.ones(len(s), m.n_latents, m.inner_lr.shape[0])
        with torch.no_grad():
            errors.append(float(m.reconstruction_error(x, a, w, poses, c).mean()))
    assert all(later < earlier for earlier, later in zip(errors, errors[1:], strict=False)), errors
    assert errors[-1] < 0.7 * errors[0]


def test_outer_gradient_flows_through_the_inner_loop(solver, data):
    """Second order: the Meta-SGD rates are only reached through the inner loop's gradients."""
    m = solver.model
    s = MeshSamples(select_split(data, "train"), ["sdf"], None)
    x, a = m.coords(s.x[:2]), m.inputs(s.a[:2])
    w = (s.mask[:2] / s.mask[:2].sum(1, keepdim=True)).float()
    poses = m.sample_poses(x, s.mask[:2])
    m.zero_grad()
    c = m.autodecode(x[:, None], a[:, None], w[:, None], poses, 3, create_graph=True)
    m.reconstruction_error(x, a, w, poses, c).mean().backward()
    assert m.inner_lr.grad is not None and m.inner_lr.grad.abs().sum() > 0
    assert all(p.grad is not None for p in m.encoder.cross.query.parameters())
    m.zero_grad()


def test_both_stages_learn_and_the_model_checkpoints(fitted, problem, data, tmp_path):
    solver, report = fitted
    encoder = [h["train_loss"] for h in report.history if h.get("stage") == "encoder"]
    decoder = [h["train_loss"] for h in report.history if "stage" not in h]
    assert len(encoder) == TINY["encoder_epochs"] and len(decoder) == 16
    assert encoder[-1] < 0.5 * encoder[0]
    # each epoch's loss is on random node subsets: compare the first and last epochs in pairs
    assert sum(decoder[-2:]) < 0.97 * sum(decoder[:2])
    test = select_split(data, "test")
    err = solver.score(problem, test)["test_rel_l2"]
    path = solver.save(tmp_path / "enf.pt")
    state = torch.load(path, weights_only=True)
    again = Solver.from_state_dict(state)
    assert again.score(problem, test)["test_rel_l2"] == pytest.approx(err, rel=1e-6)


def test_prediction_follows_a_translated_geometry(solver, problem, data):
    test = select_split(data, "test")
    moved = test.copy(deep=True)
    moved["node_x"] = test["node_x"] + 0.37
    moved["node_y"] = test["node_y"] - 0.21
    a, b = solver.solve(problem, test), solver.solve(problem, moved)
    np.testing.assert_allclose(b["von_mises"].values, a["von_mises"].values, atol=1e-4, equal_nan=True)


def test_resolution_transfer(solver, problem, data):
    """Trained on node subsets of coarse meshes, evaluated on all nodes of meshes twice as fine."""
    test = select_split(data, "test")
    fine = problem.samples(test["sample_index"].values, seed=3, resolution=20)
    assert fine["node_count"].min() > 2 * test["node_count"].max()
    coarse_err = solver.score(problem, test)["test_rel_l2"]
    fine_err = solver.score(problem, fine)["test_rel_l2"]
    assert fine_err < 1.2 * coarse_err + 0.02, (coarse_err, fine_err)
    # the geometry code hardly depends on the mesh it was fitted on
    c_coarse = solver.encode(MeshSamples(test, ["sdf"], None))
    c_fine = solver.encode(MeshSamples(fine, ["sdf"], None))
    assert (c_fine - c_coarse).norm() < 0.15 * c_coarse.norm()


def test_predictions_round_trip_as_ugrid(solver, problem, data, tmp_path):
    from pdesolve.engines.evaluation import EvaluationContext
    from pdesolve.engines.evaluations.mesh_maps import MeshMapEvaluation

    class Resolved:  # the part of a ResolvedCase the rollout reads
        name = "elasticity"

    resolved = Resolved()
    resolved.problem = problem
    test = select_split(data, "test")
    result = MeshMapEvaluation(EvaluationContext(resolved, solver)).rollout(test, None)
    ds, metrics = result.dataset, result.metrics
    assert ds["mesh"].attrs["cf_role"] == "mesh_topology"
    path = write_netcdf(ds, tmp_path / "rollout.nc")
    back = read_netcdf(path)
    assert isinstance(Mesh.from_ugrid(back), Mesh)
    meshes, fields = split_union(back, ["von_mises", "von_mises_reference"])
    assert len(meshes) == test.sizes["sample"]
    for i, mesh in enumerate(meshes):
        ref_mesh = sample_mesh(test, i)
        np.testing.assert_array_equal(mesh.cells, ref_mesh.cells)
        np.testing.assert_allclose(mesh.nodes, ref_mesh.nodes)
        np.testing.assert_allclose(fields["von_mises_reference"][i], sample_values(test, "von_mises", i))
    err = back["rel_l2_error"].values
    assert err.shape == (test.sizes["sample"],)
    assert metrics["rollout_rel_l2"] == pytest.approx(float(err.mean()), rel=1e-5)


@pytest.mark.parametrize("case", ["elasticity_enf2enf.yaml", "channel_obstacles_enf2enf.yaml"])
def test_shipped_case_loads(case):
    resolved = load_case(CASES / case, ["train.epochs=0"])
    assert resolved.backend_cls.name == "enf2enf"
    assert resolved.problem.task == "mesh_map"


def test_rejects_grid_problems():
    from pdesolve.errors import UserError

    with pytest.raises(UserError, match="mesh_map"):
        load_case(CASES / "elasticity_enf2enf.yaml", ["problem={name: darcy_2d}", "compare.baselines=[]"])


# ------------------------------------------------------------- geometry codes and presets (issue 23)
@pytest.fixture(scope="module")
def deformed():
    problem = ElasticityVoids({"mesh_size": 0.1, "mesh": "deformed"})
    return problem, add_splits(problem.generate(14, seed=3), 10, 2, 2)


def test_node_coordinate_code_reconstructs_the_nodes(deformed):
    problem, data = deformed
    torch.manual_seed(0)
    s = get_backend("enf2enf", geometry_code="node_coordinates", query_inputs=False,
                    **{**TINY, "encoder_epochs": 12, "encoder_points": 64, "decoder_points": None})
    report = s.fit(problem, data, Trainer(TrainConfig(epochs=2, batch_size=4, lr=3e-3, loss="mse"), "cpu"))
    assert s.setup["reference_nodes"] == int(data["node_count"][0])
    enc = [h["train_loss"] for h in report.history if h.get("stage") == "encoder"]
    assert enc[-1] < 0.25 * enc[0]  # the meta-learned inner loop fits the coordinate field (0.33 -> 0.035)
    train = MeshSamples(select_split(data, "train"), ["sdf"], ["von_mises"])
    # the reference is the training mean of the corresponding nodes; the code's target the nodes
    np.testing.assert_allclose(s.model.reference.numpy(), train.x.mean(0).numpy(), atol=1e-6)
    q, target, _ = s.code_fields(train, slice(0, 2))
    torch.testing.assert_close(target, s.model.coords(train.x[:2]))
    torch.testing.assert_close(q[0], q[1])
    # contexts differ between geometries and the fitted field is closer to the sample's own nodes
    c = s.encode(train)
    assert (c[0] - c[1]).abs().max() > 1e-3
    poses = s.model.sample_poses(q, train.mask[:2])
    w = torch.full(q.shape[:2], 1.0 / q.shape[1])
    own = s.model.reconstruction_error(q, target, w, poses, c[:2])
    swapped = s.model.reconstruction_error(q, target, w, poses, c[[1, 0]])
    assert (own < swapped).all()


def test_node_coordinate_code_refuses_meshes_without_corresponding_nodes(problem, data):
    from pdesolve.errors import UserError

    s = get_backend("enf2enf", geometry_code="node_coordinates", **TINY)
    with pytest.raises(UserError, match="corresponding nodes"):
        s.fit(problem, data, Trainer(TrainConfig(epochs=1, batch_size=4, lr=3e-3), "cpu"))


def test_zeroed_code_trains_only_the_decoder(problem, data):
    torch.manual_seed(0)
    s = get_backend("enf2enf", geometry_code="none", **TINY)
    report = s.fit(problem, data, Trainer(TrainConfig(epochs=2, batch_size=4, lr=3e-3, loss="mse"), "cpu"))
    assert not [h for h in report.history if h.get("stage") == "encoder"]
    test = MeshSamples(select_split(data, "test"), ["sdf"], ["von_mises"])
    assert torch.count_nonzero(s.encode(test)) == 0


def test_presets_by_short_name_and_the_authors_learning_rate():
    paper = get_backend("enf2enf", preset="paper").options
    assert (paper.encoder_hidden, paper.decoder_hidden, paper.encoder_points, paper.decoder_points) == (128, 256,
                                                                                                       None, None)
    small = get_backend("enf2enf", preset="small").options
    assert (small.encoder_hidden, small.decoder_hidden, small.decoder_points) == (32, 64, 256)
    resolved = load_case(CASES / "elasticity_enf2enf_nodes.yaml", ["train.lr=null", "backend.preset=paper"])
    assert resolved.case.train.lr == 1e-4
    assert resolved.case.backend["decoder_hidden"] == 256 and resolved.case.backend["encoder_points"] is None


@pytest.mark.slow
def test_node_coordinate_case_through_the_cli(tmp_path):
    from pdesolve.cli.app import app
    from typer.testing import CliRunner

    runner = CliRunner()
    case = CASES / "elasticity_enf2enf_nodes.yaml"
    tiny = ["data.n_train=8", "data.n_val=2", "data.n_test=2", "problem.mesh_size=0.1", "backend.encoder_epochs=1",
            "train.epochs=1", "backend.encoder_hidden=8", "backend.decoder_hidden=8", "backend.fourier_features=4"]
    run_dir = tmp_path / "run"
    sets = [a for kv in tiny for a in ("--set", kv)]
    tr = runner.invoke(app, ["train", str(case), "--run-dir", str(run_dir), "--device", "cpu", *sets])
    assert tr.exit_code == 0, tr.output
    ro = runner.invoke(app, ["rollout", str(run_dir), "--out", str(tmp_path / "r.nc")])
    assert ro.exit_code == 0, ro.output
    assert "von_mises_reference" in read_netcdf(tmp_path / "r.nc").data_vars
    cmp = runner.invoke(app, ["compare", str(run_dir)])
    assert cmp.exit_code == 0, cmp.output
