"""The channel's training data, cases and comparison (issue 20, stage 2), at tiny sizes: groups stored as
fluctuations about the mean of the groups not held out and labelled as a stand-in, the two-stage spin-up
(coarse LES, prolonged), the shipped cases, options a backend does not use, and train -> rollout ->
compare end to end with the wall-bounded statistics against DSM and WALE."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
from pdesolve.cli.app import app
from typer.testing import CliRunner

from pdesolve.config import load_case
from pdesolve.data.samples import add_splits
from pdesolve.engines.channel_stats import ChannelSuite
from pdesolve.engines.train import train_case
from pdesolve.errors import UserError
from pdesolve.numerics import chebyshev
from pdesolve.problems.channel_flow import ChannelFlow3D
from tests.helpers import write_case

CASES = Path(__file__).resolve().parents[1] / "cases"
#: the smallest wall-resolved channel the checks accept: 4h x 2h x 2h, reference 16x25x12, data 8x25x6
TINY = {"length_x": 4.0, "length_z": 2.0, "resolution": [16, 25, 12], "reference_model": "wale",
        "spin_up": 0.05, "spin_up_resolution": [8, 25, 6], "spin_up_coarse": 0.04, "t_end": 0.12,
        "snapshot_interval": 0.01, "dt": 0.004}
COLUMNS = ("u_plus_err", "urms_plus_err", "vrms_plus_err", "wrms_plus_err", "uv_plus_err", "spectra_log_err",
           "u_pdf_l1", "re_tau")


@pytest.fixture(scope="module")
def tiny_data():
    problem = ChannelFlow3D({**TINY, "t_end": 0.04})
    return problem, add_splits(problem.generate(3, 0, resolution=[8, 25, 6]), 1, 1, 1)


def test_groups_are_fluctuations_about_the_mean_of_the_groups_not_held_out(tiny_data):
    problem, ds = tiny_data
    assert ds["u"].shape == (3, 5, 8, 25, 6) and ds["u_mean"].dims == ("y",)
    assert ds.attrs["reference_is_stand_in"] == 1 and "STAND-IN" in ds.attrs["reference_label"]
    assert "STAND-IN" in ds.attrs["title"] and "fluctuations" in ds.attrs["target"]
    for name in ("u", "v", "w"):  # zero mean over the kept groups (float32 storage), not over the held-out one
        kept = ds[name].isel(sample=slice(0, 2)).mean(("sample", "time", "x", "z")).values
        assert np.abs(kept).max() < 1e-5 * max(1.0, float(np.abs(ds["u_mean"]).max()))
    held_out = ds["u"].isel(sample=2).mean(("time", "x", "z")).values
    assert np.abs(held_out).max() > 1e-4
    assert float(ds["u_mean"].max()) > 10 and ds["u_mean"].values[[0, -1]].tolist() == [0.0, 0.0]  # no slip
    assert np.all(np.isfinite(ds["u_tau"].values)) and np.all(ds["bulk_velocity"].values > 10)
    stored = torch.as_tensor(np.stack([ds[n].values for n in ("u", "v", "w")], 2))
    velocity = problem.physical_state(stored.double(), ds)
    assert torch.allclose(problem.stored_fields(velocity, ds), stored.double(), atol=1e-12)
    assert float(velocity[:, :, 0].mean()) > 10  # the mean flow is back
    # a DNS reference is not a stand-in; SGS constants are part of a stand-in's recipe, not of a DNS's
    dns = ChannelFlow3D({**TINY, "reference_model": None, "spin_up_coarse": 0.0})
    assert dns.reference_label.startswith("filtered DNS") and "les" not in dns.recipe(3, 0, [8, 25, 6])["params"]
    assert ChannelFlow3D(TINY).recipe(3, 0, None) != ChannelFlow3D({**TINY, "les": {"wale_cw": 0.3}}).recipe(3, 0, None)


def test_prolongation_and_chebyshev_interpolation_are_exact():
    y = np.linspace(-1, 1, 7)
    f = lambda t: 3 * t**5 - t**2 + 0.5  # noqa: E731
    assert np.allclose(chebyshev.interpolation_matrix(8, y) @ f(chebyshev.points(8)), f(y), atol=1e-13)
    problem = ChannelFlow3D({**TINY, "resolution": [16, 49, 12], "spin_up_resolution": [8, 25, 6]})
    fine, coarse = problem.solver_grid, problem.make_grid(8, 25, 6)
    u = problem.restrict(problem.sample_inputs(1, 0, 0, "cpu"), fine, coarse)
    up = problem.prolong(u, coarse, fine)
    assert up.shape == (1, 3, 16, 49, 12)
    assert torch.allclose(problem.restrict(up, fine, coarse), u, atol=1e-12)


def test_bad_spin_up_and_held_out_settings_are_one_line_errors():
    with pytest.raises(UserError, match="spin_up_coarse <= spin_up"):
        ChannelFlow3D({**TINY, "spin_up_coarse": 1.0})
    with pytest.raises(UserError, match="needs spin_up_resolution"):
        ChannelFlow3D({**TINY, "spin_up_resolution": None})
    with pytest.raises(UserError, match="not a decimation"):
        ChannelFlow3D({**TINY, "spin_up_resolution": [6, 25, 6]})
    problem = ChannelFlow3D({**TINY, "held_out_groups": 2, "t_end": 0.01})
    with pytest.raises(UserError, match="leave none for the mean"):
        problem.assemble(2, 0, [problem.generate_part(2, 0, 0, 1, resolution=[8, 25, 6])], resolution=[8, 25, 6])


def test_a_method_equal_to_the_reference_scores_zero(tiny_data):
    problem, ds = tiny_data
    ref = torch.as_tensor(np.stack([ds[n].values for n in ("u", "v", "w")], 2))[2:]
    result = ChannelSuite(problem, ds).compare(ref, {"same": ref.clone(), "damped": 0.5 * ref}, problem.make_grid(
        8, 25, 6), np.zeros(0))
    same, damped = result.row("same"), result.row("damped")
    assert all(same[c] == pytest.approx(0.0, abs=1e-12) for c in COLUMNS[:-1])
    assert same["re_tau"] == pytest.approx(result.reference.profiles.re_tau)
    assert result.verdict("same", ["damped"]) == ["same is closer to the reference than damped on 5 of 5 statistics: "
                                                  "U+, rms profiles, -u'v'+, 1-D spectra, u' PDF."]
    assert result.verdict("damped", ["same"])[0].startswith("damped is closer to the reference than same on 0 of 5")
    assert damped["urms_plus_err"] > 0.1 and damped["spectra_log_err"] == pytest.approx(np.log10(4), rel=0.05)
    stats = result.dataset()
    assert stats["rms_plus_reference"].dims == ("component", "wall_distance")
    assert stats["spectrum_x_same"].dims == ("spectrum_plane", "component", "kx")
    assert all("long_name" in stats[v].attrs and ("units" in stats[v].attrs or "flag_meanings" in stats[v].attrs)
               for v in stats.variables)


def test_channel_figures_are_written_with_the_label(tiny_data, tmp_path):
    problem, ds = tiny_data
    ref = torch.as_tensor(np.stack([ds[n].values for n in ("u", "v", "w")], 2))[2:]
    result = ChannelSuite(problem, ds).compare(ref, {"half": 0.5 * ref}, problem.make_grid(8, 25, 6), np.zeros(0))
    artifacts = result.artifacts(f"tiny [reference: {problem.reference_label}]")
    assert [a.name for a in artifacts] == ["channel_profiles.png", "channel_spectra.png", "u_pdf.png",
                                           "channel_snapshot.png"]
    for a in artifacts:
        assert a.write(tmp_path / a.name).stat().st_size > 0


@pytest.mark.parametrize("name", ["channel_180_ifactformer", "channel_180_fno"])
def test_shipped_channel_cases_resolve(name):
    resolved = load_case(CASES / f"{name}.yaml", ["train.epochs=0"])
    problem = resolved.problem
    assert problem.name == "channel_3d" and problem.params.reference_model == "wale"
    assert "STAND-IN" in problem.reference_label and "STAND-IN" in resolved.case.description.upper()
    assert resolved.case.data.resolution == [32, 33, 16] and resolved.case.data.n_test == 1
    assert {"dsm", "wale"} <= set(resolved.case.compare.baselines) <= set(problem.baselines())
    frames = len(problem.times)
    assert frames - resolved.backend_options.window >= 10 * resolved.case.train.unroll  # rollout >= 10x horizon
    if name.endswith("fno"):
        assert resolved.backend_options.index_space_axes == ["y"]


@pytest.mark.parametrize("override, message", [
    ("backend.index_space_axes=[y]", "backend.index_space_axes: unknown field"),  # ifactformer has no FFTs
])
def test_an_option_ifactformer_does_not_use_exits_2(override, message):
    result = CliRunner().invoke(app, ["train", str(CASES / "channel_180_ifactformer.yaml"), "--set", override])
    assert result.exit_code == 2 and message in result.output and len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("override, message", [
    ("backend.index_space_axes=[]", "axis y is not uniform"),
    ("backend.index_space_axes=[x]", "axis x is equally spaced"),
    ("backend.index_space_axes=[q]", "'q' is not an axis"),
    ("data.n_test=2", "data.n_test = 2, but problem.held_out_groups = 1"),
])
def test_fno_channel_bad_input_exits_2(override, message):
    result = CliRunner().invoke(app, ["train", str(CASES / "channel_180_fno.yaml"), "--set", override])
    assert result.exit_code == 2 and message in result.output and len(result.output.strip().splitlines()) == 1


def tiny_case(name: str, backend: dict) -> dict:
    return {"name": name, "problem": {"name": "channel_3d", **TINY},
            "data": {"n_train": 2, "n_val": 1, "n_test": 1, "resolution": [8, 25, 6], "seed": 0, "batch_size": 4},
            "backend": backend, "train": {"epochs": 1, "batch_size": 8, "lr": 1e-3, "seed": 0},
            "compare": {"baselines": ["dsm", "wale"]}, "output": {"figures": False}}


def test_tiny_channel_train_rollout_compare_end_to_end(tmp_path):
    """IFactFormer-m and an FNO (index space in y) on the same tiny stand-in data; `pdesolve compare` of the
    IFactFormer run with the FNO beside it against DSM and WALE: profiles, spectra, PDF, cost, the label."""
    ifactformer = tiny_case("tiny_channel", {"name": "ifactformer", "window": 2, "dim": 8, "heads": 2, "dim_head": 4,
                                             "layers": 2})
    fno = tiny_case("tiny_channel_fno", {"name": "fno", "window": 2, "predict_increment": True, "modes": [2, 4, 2],
                                         "width": 4, "layers": 1, "projection_channels": 4, "index_space_axes": ["y"]})
    m = train_case(load_case(write_case(tmp_path, ifactformer)), device="cpu")
    f = train_case(load_case(write_case(tmp_path, fno, "fno.yaml")), device="cpu", rollout=False)
    rollout = xr.open_dataset(m.run_dir / "rollout.nc")
    assert rollout["u"].shape == (1, 11, 8, 25, 6) and np.isfinite(rollout["u"].values).all()
    result = CliRunner().invoke(app, ["rollout", str(f.run_dir), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, ["compare", str(m.run_dir), "--model", str(f.run_dir), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    out = m.run_dir / "compare"
    table = json.loads((out / "table.json").read_text())
    rows = {r["method"]: r for r in table["rows"]}
    assert list(rows) == ["ifactformer-m", "fno", "dsm", "wale"]
    for row in rows.values():
        assert all(np.isfinite(row[c]) for c in (*COLUMNS, "rel_l2", "s per time unit per sample")), row
    markdown = (out / "table.md").read_text()
    assert "ifactformer-m is closer to the reference than dsm, wale on" in markdown
    assert "STAND-IN" in markdown.splitlines()[0] and "11 steps" in markdown and "11x the training horizon" in markdown
    stats = xr.open_dataset(out / "statistics.nc")
    assert stats.attrs["Conventions"].startswith("CF") and "u_plus_dsm" in stats and "u_pdf_wale" in stats
    assert stats["dns_u_plus"].size == 10
