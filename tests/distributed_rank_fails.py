"""Makes one rank of a torchrun launch fail in its first training step, for tests/test_distributed.py.

Imported by a ``sitecustomize.py`` that the test puts on ``PYTHONPATH`` (so it reaches the processes
that torchrun starts), it reads ``PDESOLVE_TEST_FAIL=MODE:RANK``: ``raise`` (an exception) or
``kill`` (SIGKILL of the process) on rank ``RANK``.
"""

import os
import signal

from pdesolve.engines import train

mode, failing = os.environ["PDESOLVE_TEST_FAIL"].split(":")
original = train.Trainer._parallel_step


def failing_step(self, solver, stage):
    step = original(self, solver, stage)

    def fail(batch):
        if self.world.rank == int(failing):
            if mode == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError("injected failure")
        return step(batch)

    return fail


train.Trainer._parallel_step = failing_step
