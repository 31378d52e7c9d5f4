"""The one data path: pairs read on demand give the batches of the in-memory pairs, in memory or
from a file, with or without DataLoader workers; one streaming pass gives the normalisers'
statistics and refuses NaN; training on a file equals training in memory."""

import numpy as np
import pytest
import torch

from pdesolve.backends import get_backend
from pdesolve.config import TrainConfig
from pdesolve.data import Grid, read_netcdf, streaming, write_netcdf
from pdesolve.data.fields import FieldSpec
from pdesolve.data.samples import MapPairs, WindowPairs, add_splits, batches, select_split
from pdesolve.data.sources.lazy import in_memory
from pdesolve.data.streaming import FieldPairs, PairLoader, scan
from pdesolve.data.tensors import to_dataset, to_tensor
from pdesolve.engines.train import Trainer
from pdesolve.errors import UserError
from pdesolve.nn.normalizer import ChannelNormalizer

SPECS = {n: FieldSpec(n, "1", n) for n in ("u", "v", "a", "p")}


def _data(tmp_path, n=7, t=6):
    """A trajectory (u, v) and a map (a -> p) dataset with splits, in memory and as a lazy file."""
    g = torch.Generator().manual_seed(0)
    grid = Grid.uniform(2, (8, 6))
    traj = to_dataset({"u": torch.randn(n, t, 8, 6, generator=g), "v": torch.randn(n, t, 8, 6, generator=g) * 3 + 1},
                      grid, SPECS, times=np.arange(t) * 0.5)
    maps = to_dataset({"a": torch.rand(n, 8, 6, generator=g), "p": torch.randn(n, 8, 6, generator=g)}, grid, SPECS)
    out = {}
    for name, ds in (("traj", traj), ("map", maps)):
        ds = add_splits(ds, n - 3, 2, 1)
        lazy = read_netcdf(write_netcdf(ds, tmp_path / f"{name}.nc"), lazy=True)
        out[name] = (ds, lazy)
    return out


def _same(a, b):
    assert len(a) == len(b)
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        assert xa.dtype == xb.dtype == torch.float32
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_in_memory_and_streaming_paths_give_the_same_batches(tmp_path):
    data = _data(tmp_path)
    for task, names, reference in (
            ("trajectory", (["u", "v"], ["u", "v"]), lambda ds: WindowPairs(to_tensor(ds, ["u", "v"]), 2, 3)),
            ("map", (["a"], ["p"]), lambda ds: MapPairs(to_tensor(ds, ["a"]), to_tensor(ds, ["p"])))):
        memory, lazy = (select_split(ds, "train") for ds in data["traj" if task == "trajectory" else "map"])
        kwargs = {"task": task, "window": 2, "horizon": 3} if task == "trajectory" else {"task": task}
        in_mem, streamed = FieldPairs(memory, *names, **kwargs), FieldPairs(lazy, *names, **kwargs)
        assert in_memory(in_mem.in_vars[0]) and not in_memory(streamed.in_vars[0])
        ref = reference(memory)
        assert len(in_mem) == len(streamed) == len(ref)
        expected = list(batches(ref, 3, generator=torch.Generator().manual_seed(7)))
        _same(expected, list(PairLoader(in_mem, 3)(torch.Generator().manual_seed(7))))
        _same(expected, list(PairLoader(streamed, 3)(torch.Generator().manual_seed(7))))
        _same(expected, list(PairLoader(streamed, 3, workers=2)(torch.Generator().manual_seed(7))))
        _same(list(batches(ref, 4)), list(PairLoader(streamed, 4)()))  # unshuffled (validation)


def test_streaming_statistics_equal_the_in_memory_normaliser(tmp_path, monkeypatch):
    monkeypatch.setattr(streaming, "BLOCK_VALUES", 100)  # several blocks per trajectory
    data = _data(tmp_path)
    memory, lazy = data["traj"]
    train = select_split(lazy, "train")
    traj = to_tensor(select_split(memory, "train"), ["u", "v"])
    for increments in (False, True):
        found = scan(FieldPairs(train, ["u", "v"], ["u", "v"], task="trajectory"), increments=increments)
        ref_in = ChannelNormalizer(2, 2).fit(traj)
        ref_out = ChannelNormalizer(2, 2).fit(traj[:, 1:] - traj[:, :-1] if increments else traj)
        for moments, ref in ((found.inputs, ref_in), (found.outputs, ref_out)):
            assert np.allclose(moments.mean, ref.mean.double().numpy(), rtol=1e-6, atol=1e-7)
            assert np.allclose(moments.std, ref.std.double().numpy(), rtol=1e-6)
    maps_memory, maps_lazy = data["map"]
    found = scan(FieldPairs(select_split(maps_lazy, "train"), ["a"], ["p"], task="map"))
    for moments, name in ((found.inputs, "a"), (found.outputs, "p")):
        ref = ChannelNormalizer(1, 2).fit(to_tensor(select_split(maps_memory, "train"), [name]))
        assert np.allclose(moments.mean, ref.mean.numpy(), rtol=1e-6)
        assert np.allclose(moments.std, ref.std.numpy(), rtol=1e-6)


def test_non_finite_values_are_found_by_the_streaming_pass(tmp_path):
    memory, _ = _data(tmp_path)["traj"]
    u = memory["u"].values.copy()
    u[1, 2, 3, 4] = np.nan
    u[3, 0, 0, 0] = np.inf
    u[3, 5, 1, 1] = np.nan
    lazy = read_netcdf(write_netcdf(memory.assign(u=(memory["u"].dims, u)), tmp_path / "bad.nc"), lazy=True)
    pairs = FieldPairs(select_split(lazy, "train"), ["u", "v"], ["u", "v"], task="trajectory")
    with pytest.raises(UserError, match=r"variable 'u' has 3 NaN/inf value\(s\) in 2 sample\(s\) of the training "
                                        r"split \(first: sample 1 of the split\)"):
        scan(pairs)


def _fit(data, workers=0):
    torch.manual_seed(0)
    solver = get_backend("fno", modes=3, width=8, layers=2, projection_channels=8, window=2)

    class Problem:
        task, name, inputs, outputs, times = "trajectory", "toy", ("u", "v"), ("u", "v"), np.arange(6.0)

    trainer = Trainer(TrainConfig(epochs=2, batch_size=3, seed=0), "cpu")
    trainer.workers = workers
    solver.fit(Problem, data, trainer)
    return solver.model.state_dict()


def test_training_on_a_file_equals_training_in_memory(tmp_path):
    memory, lazy = _data(tmp_path)["traj"]
    ref = _fit(memory)
    for other in (_fit(lazy), _fit(lazy, workers=2)):
        assert ref.keys() == other.keys()
        for k in ref:
            assert torch.equal(ref[k], other[k]), k


def test_train_workers_read_the_same_batches(tmp_path):
    """``train.workers`` DataLoader processes read ahead; the run's weights are those without them."""
    from pdesolve.config import load_case
    from pdesolve.engines.train import train_case
    from tests import own_data as od
    from tests.helpers import write_case

    path = od.write_the_well(tmp_path / "w.hdf5", od.fields())
    case = write_case(tmp_path, {
        "name": "workers", "problem": {"name": "dataset", "path": str(path), "task": "trajectory", "inputs": ["u"]},
        "data": {"n_train": 4, "n_val": 1, "n_test": 1}, "output": {"figures": False},
        "backend": {"name": "fno", "modes": 2, "width": 8, "layers": 1, "projection_channels": 8, "window": 2},
        "train": {"epochs": 2, "batch_size": 3}})
    weights = []
    for workers in (0, 2):
        run = train_case(load_case(case, [f"train.workers={workers}"]), run_dir=tmp_path / f"run{workers}",
                         device="cpu", rollout=False).run_dir
        weights.append(torch.load(run / "checkpoint.pt", weights_only=True)["solver"]["tensors"])
    for k in weights[0]:
        assert torch.equal(weights[0][k], weights[1][k]), k
