"""Where a run's per-epoch metrics go besides ``metrics.jsonl``: ``train.log_to`` (off by default).

* ``csv`` -- ``metrics.csv`` in the run, one row per record, columns in order of appearance
  (rewritten atomically from the records on every append, so it is always complete);
* ``tensorboard`` -- event files in ``RUN/tensorboard/`` through the ecosystem's standard writer
  (`torch.utils.tensorboard.SummaryWriter`; needs the ``tensorboard`` package):
  ``tensorboard --logdir runs/`` shows every run. Scalars are tagged ``<stage>/<metric>``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
from typing import Protocol

from pdesolve.data.netcdf import atomic_replace


class MetricSink(Protocol):
    def write(self, record: dict) -> None: ...
    def close(self) -> None: ...


class CSVSink:
    """``metrics.csv`` beside ``metrics.jsonl``."""

    def __init__(self, run):
        self.run = run

    def write(self, record: dict) -> None:
        records = self.run.metrics()
        columns = list(dict.fromkeys(k for r in records for k in r))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(records)
        atomic_replace(self.run.path / "metrics.csv", lambda tmp: tmp.write_text(buffer.getvalue()))

    def close(self) -> None:
        pass


class TensorBoardSink:
    """TensorBoard event files in ``RUN/tensorboard/``."""

    def __init__(self, run):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(run.path / "tensorboard"))
        self.step = len(run.metrics())

    def write(self, record: dict) -> None:
        stage = record.get("stage") or "train"
        for key, value in record.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
                    and key not in ("epoch", "step"):
                self.writer.add_scalar(f"{stage}/{key}", value, self.step)
        self.step += 1
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


SINKS = {"csv": CSVSink, "tensorboard": TensorBoardSink}


@contextlib.contextmanager
def metric_sinks(run, kinds: list[str]):
    """Attach the sinks named in ``kinds`` to ``run`` (its `append_metrics` feeds them) while active."""
    sinks = [SINKS[kind](run) for kind in kinds]
    run.sinks = sinks
    try:
        yield sinks
    finally:
        for sink in sinks:
            sink.close()
        run.sinks = []
