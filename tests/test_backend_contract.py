"""The contract of every registered backend: fitted briefly through the public path (its shipped
case shrunk with ``--set``-style overrides, the solver's ``fit`` with the engine's `Trainer`),
saved, reloaded from a ``torch.load(..., weights_only=True)`` state, it solves the test inputs
exactly as the solver it was saved from. A new backend is covered as soon as it is registered and
has a shipped case (the test fails, naming it, if it has none)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from pdesolve.backends import Solver, list_backends
from pdesolve.config import load_case
from pdesolve.data.samples import select_split
from pdesolve.engines.data import load_or_generate
from pdesolve.engines.train import Trainer

CASES = Path(__file__).resolve().parents[1] / "cases"
# Every backend's fit: a few samples and one epoch (backends without an entry below get only these).
SMALL_DATA = ["data.n_train=2", "data.n_val=1", "data.n_test=1"]
ONE_EPOCH = "train.epochs=1"  # for the backends that train in epochs (INSR integrates time steps)
# Per backend: which of its shipped cases, and what shrinks it to seconds.
TINY: dict[str, tuple[str, list[str]]] = {
    "fno": ("burgers_1d", ["problem.resolution=128", "data.resolution=32", "backend.modes=4", "backend.width=8",
                           "backend.layers=2", "train.batch_size=2"]),
    "tfno": ("navier_stokes_2d_tfno", ["problem.resolution=16", "data.resolution=16", "problem.t_end=3",
                                       "backend.modes=2", "backend.width=4", "backend.layers=2",
                                       "backend.projection_channels=8"]),
    "mg-tfno": ("navier_stokes_2d_128_mgtfno", ["problem.resolution=32", "data.resolution=32", "problem.t_end=2",
                                                "backend.modes=2", "backend.width=4", "backend.layers=2",
                                                "backend.projection_channels=8"]),
    "lsm": ("darcy_2d_lsm", ["problem.resolution=33", "data.resolution=17", "backend.width=8", "backend.heads=2",
                             "backend.num_basis=2", "backend.projection_channels=8"]),
    "ifactformer": ("kolmogorov_2d_ifactformer", [
        "problem.resolution=32", "problem.spin_up=0.4", "problem.t_end=1.4", "problem.dt=0.01", "data.resolution=16",
        "backend.dim=8", "backend.heads=2", "backend.dim_head=4", "backend.layers=1"]),
    "gp-spectral": ("gp_quick", ["data.resolution=50", "backend.collocation=24", "backend.components=4",
                                 "backend.steps_per_epoch=5"]),
    "pinn": ("poisson_1d_pinn", ["data.resolution=50", "backend.collocation=24", "backend.width=8", "backend.depth=2",
                                 "backend.steps_per_epoch=5"]),
    "dcdm": ("poisson_dcdm_2d", ["problem.resolution=12", "problem.lanczos_steps=30", "problem.rhs_per_system=8",
                                 "problem.obstacles=[1, 2]", "problem.obstacle_size=[0.1, 0.2]", "backend.channels=4",
                                 "backend.max_iter=20"]),
    "um2n": ("helmholtz_um2n", ["problem.mesh_sizes=[0.1, 0.11]", "problem.reference_mesh_size=0.03",
                                "problem.unseen_mesh_size=0.09", "backend.decoder_widths=[14, 30, 14, 8, 6]",
                                "backend.decoder_heads=2", "backend.encoder_dim=16", "backend.encoder_heads=2",
                                "train.batch_size=2"]),
    "enf2enf": ("elasticity_enf2enf", ["backend.encoder_epochs=1", "backend.encoder_hidden=8",
                                       "backend.decoder_hidden=8", "backend.decoder_self_attention_layers=1",
                                       "backend.encoder_points=32", "backend.decoder_points=32", "train.batch_size=2"]),
    "insr": ("insr_advection_1d", ["problem.steps=2", "data.resolution=101", "backend.samples=64",
                                   "backend.max_iterations=5", "backend.initial_iterations=10"]),
}


def shipped_cases(backend: str) -> list[str]:
    """The shipped cases whose backend is ``backend``."""
    return sorted(p.stem for p in CASES.glob("*.yaml")
                  if (yaml.safe_load(p.read_text()).get("backend") or {}).get("name") == backend)


def timing(name: str, values) -> bool:
    """Wall-clock variables (seconds per mesh, per step) differ from call to call by nature."""
    return "seconds" in name or values.attrs.get("units") == "s"


@pytest.mark.parametrize("backend", sorted(list_backends()))
def test_fit_save_reload_solve_gives_the_same_output(backend, tmp_path):
    cases = shipped_cases(backend)
    assert cases, f"backend '{backend}' is registered but no case in cases/ uses it: ship one"
    case, tiny = TINY.get(backend, (cases[0], []))
    assert case in cases, f"TINY names '{case}', which is not a shipped case of '{backend}' ({cases})"
    overrides = [*SMALL_DATA, *tiny, f"data.cache_dir={tmp_path / 'data'}", f"output.runs_dir={tmp_path / 'runs'}",
                 "train.device=cpu"]
    resolved = load_case(case, overrides)
    if "epochs" not in resolved.backend_cls.unused_train_fields(resolved.problem, resolved.backend_options):
        resolved = load_case(case, [*overrides, ONE_EPOCH])
    problem = resolved.problem
    data, _, _ = load_or_generate(resolved)
    torch.manual_seed(0)
    solver = resolved.make_solver()
    report = solver.fit(problem, data, Trainer(resolved.case.train, "cpu"))
    assert report.epochs >= 1

    path = solver.save(tmp_path / "solver.pt")
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert state["backend"] == backend and isinstance(state["options"], str) and isinstance(state["setup"], str)
    reloaded = Solver.from_state_dict(state)
    assert type(reloaded) is type(solver) and reloaded.options == solver.options
    assert Solver.load(path).setup == solver.setup == reloaded.setup

    inputs = select_split(data, "test")
    original, again = solver.solve(problem, inputs), reloaded.solve(problem, inputs)
    compared = [name for name in original.variables if not timing(name, original[name])]
    assert compared and set(original.variables) == set(again.variables)
    for name in compared:  # exactly: the same tensors through the same code (coordinates too: moved nodes)
        np.testing.assert_array_equal(again[name].values, original[name].values, err_msg=f"{backend}: {name}")
