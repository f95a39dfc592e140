"""`luigi` with a crash in it, for tests/end_to_end/test_chaos.py (never used in production).

    SORTBOX_CHAOS_LOG=killed.txt python -m tests.chaos_luigi --module workflows.train TrainPipeline ...

Runs luigi exactly as the `luigi` command does, except that the first task (in run order) not yet
listed in $SORTBOX_CHAOS_LOG gets SIGKILL the moment it has written its whole output into its
temporary directory, just before the rename that would make it complete: the worst moment to die,
with a full-looking partial output on disk. The task's output directory name
(`<Task>-[<class>-]<hash>`) is appended to the log first, so the next run kills the next task.
With --workers N the kill hits the forked process running the task.

$SORTBOX_CHAOS_ONLY (optional, space-separated output directory names) limits the kills to those
tasks; the others run normally.

The hook wraps `SortboxTask.atomic_output` in this process only, so production code carries none.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path

import luigi.cmdline

from tasks.base import SortboxTask

KILL_LOG = Path(os.environ["SORTBOX_CHAOS_LOG"])
ONLY = set(os.environ.get("SORTBOX_CHAOS_ONLY", "").split())
_atomic_output = SortboxTask.atomic_output


@contextlib.contextmanager
def atomic_output_then_die(self):
    with _atomic_output(self) as path:
        yield path
        name = self.output_dir().name
        killed = KILL_LOG.read_text().split() if KILL_LOG.exists() else []
        if name not in killed and (not ONLY or name in ONLY):
            with open(KILL_LOG, "a") as log:
                log.write(name + "\n")
            os.kill(os.getpid(), signal.SIGKILL)


SortboxTask.atomic_output = atomic_output_then_die

if __name__ == "__main__":
    luigi.cmdline.luigi_run(sys.argv[1:])
