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

    SORTBOX_CHAOS_LOG=killed.txt python -m tests.chaos_luigi --serve

runs the same luigi many times, each in a fresh process forked from this one: one run per line read
on stdin (a JSON object: `args`, the luigi arguments; `stdout` and `stderr`, the files the run's
output goes to), answered by one line on stdout, `{"returncode": N}` (negative: killed by signal -N,
as subprocess reports it). The server imports what every run would import again (luigi, the DAG's
modules, and the libraries that scheduling and the tasks load: about 3 s of CPU a run) and nothing
else: it builds no task object and runs nothing, so each forked run starts from the disk alone, as a
new `luigi` process does. The kill chain of tests/end_to_end/test_chaos.py is some 30 runs.

The hook wraps `SortboxTask.atomic_output` in this process only, so production code carries none.
"""
from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import sys
import traceback
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

#: What a run of the training DAG imports (scheduling checks the settings with scikit-learn and
#: nltk; the tasks import the rest), loaded once by `--serve` before it forks.
PRELOADED = (
    "workflows.train",
    "nltk.stem.snowball",
    "sklearn.linear_model",
    "sklearn.model_selection",
    "sklearn.metrics",
    "sklearn.pipeline",
    "sklearn.preprocessing",
    "gensim.corpora",
    "gensim.models",
    "pyarrow.parquet",
    "pyarrow.compute",
    "sortbox.training_report",
)


def serve() -> None:
    for module in PRELOADED:
        importlib.import_module(module)
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            run_forked(request)  # never returns
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}), flush=True)


def run_forked(request: dict) -> None:
    """In the forked process: luigi with `args`, its output to the request's files; then exit."""
    code = 1
    try:
        for stream, path in ((1, request["stdout"]), (2, request["stderr"])):
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(handle, stream)
            os.close(handle)
        luigi.cmdline.luigi_run(request["args"])  # exits with luigi's return code
        code = 0
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        luigi.cmdline.luigi_run(sys.argv[1:])
