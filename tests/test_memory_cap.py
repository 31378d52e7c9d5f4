"""Larger than memory: a file several times the memory training may use trains, through the
streaming path, to the weights of the in-memory path (which cannot load it under the same cap).

The cap is ``RLIMIT_DATA`` (heap and private mappings: what arrays read from a file occupy).
The fast test caps what this process may *add* while training; the slow one caps a whole
training process, imports included, at a quarter of the file."""

import ctypes
import gc
import os
import resource
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from tests.memory_cap import train_map
from tests.own_data import map_case, write_big_file

ROOT = Path(__file__).resolve().parents[1]


def _vm_data() -> int:
    """This process's data size in bytes, after freeing what it no longer uses: garbage collected and
    glibc's free heap handed back, so freed-but-kept memory (other tests', say) does not widen the cap."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/status") as f:
        return int(next(line.split()[1] for line in f if line.startswith("VmData"))) << 10


@contextmanager
def _capped(extra: int):
    """Soft ``RLIMIT_DATA`` at this process's present data size plus ``extra`` bytes, then restored."""
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    resource.setrlimit(resource.RLIMIT_DATA, (_vm_data() + extra, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def _equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_DATA and /proc are Linux's")
def test_a_file_four_times_the_memory_headroom_streams_to_the_in_memory_result(tmp_path):
    headroom = 28 << 20
    size = write_big_file(tmp_path / "big.hdf5", n=460, size=128, channels=3)
    assert size > 4 * headroom
    case = map_case(tmp_path / "big.hdf5", 3, n_train=452, n_test=8, batch_size=4)
    reference = train_map(case, in_memory=True)  # first, so the lazy imports of training are not under the cap
    with _capped(headroom):
        streamed = train_map(case, in_memory=False)
        with pytest.raises(MemoryError):  # under the cap, a copy of the file cannot even be allocated
            bytearray(size)
    _equal(reference, streamed)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_DATA is Linux's")
def test_a_training_process_capped_at_a_quarter_of_the_file(tmp_path):
    """2 GiB file, 512 MiB for the whole process (imports, model, data)."""
    limit_mb = 512
    size = write_big_file(tmp_path / "big.hdf5", n=490, size=256, channels=16)
    assert size > 4 * (limit_mb << 20)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PDESOLVE_PROGRESS": "0"}

    def run(mode, limit, out):
        return subprocess.run([sys.executable, "-m", "tests.memory_cap", "--file", str(tmp_path / "big.hdf5"),
                               "--mode", mode, "--limit-mb", str(limit), "--n-train", "482", "--n-test", "8",
                               "--channels", "16", "--out", str(out)], cwd=ROOT, env=env, capture_output=True,
                              text=True)

    streamed = run("stream", limit_mb, tmp_path / "stream.pt")
    assert streamed.returncode == 0, streamed.stderr[-2000:]
    assert run("memory", limit_mb, tmp_path / "none.pt").returncode != 0  # the file does not fit
    memory = run("memory", 0, tmp_path / "memory.pt")
    assert memory.returncode == 0, memory.stderr[-2000:]
    _equal(torch.load(tmp_path / "memory.pt", weights_only=True), torch.load(tmp_path / "stream.pt", weights_only=True))
