#!/usr/bin/env python3
"""Run luigi exactly as the `luigi` command does (same arguments, same exit codes, [retcode]),
except that a worker sharing its run with other workers exits 0 when the run is complete.

    python scripts/run_luigi.py --module workflows.train TrainPipeline --scheduler-host 127.0.0.1 ...

luigi's exit code describes what this worker saw, not the run: on luigid, a task another worker
ran is one this worker "was not granted permission" to run (not_run, 25), or, if it saw it
running, one "run by another worker" (already_running, 10), even when every task succeeded. With
workers on several hosts (README "Running on several machines") all but one would end 25 or 10
every night. So when luigi's code is one of those two, this asks the root task itself: complete
(the run manifest is written) means the run succeeded, exit 0. Any other code stays as it is:
a task failed on this worker (30), a scheduling error (35), ... and a run that did not complete
(a task failed on another host, so the root never ran) keeps luigi's 25 or 10. If the root task
is still running on another worker when this one ends, it waits for that task to end first.
"""
from __future__ import annotations

import sys
import time

import luigi.interface
import luigi.rpc
from luigi.cmdline_parser import CmdlineParser
from luigi.retcodes import retcode, run_with_retcodes

POLL_SECONDS = 1.0


def luigi_exit_code(argv: list[str]) -> int:
    """What the `luigi` command would exit with for these arguments."""
    try:
        run_with_retcodes(argv)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    return 0


def root_running_elsewhere(scheduler: luigi.rpc.RemoteScheduler, task_id: str) -> bool:
    """Does luigid list the root task as RUNNING (on another worker: this one has ended)?"""
    try:
        found = scheduler.task_search(task_str=task_id)
    except luigi.rpc.RPCError:  # luigid is gone: nobody is running it any more
        return False
    return task_id in found.get("RUNNING", {})


def main(argv: list[str]) -> int:
    code = luigi_exit_code(argv)
    with CmdlineParser.global_instance(argv) as parser:
        codes = retcode()
        if code == 0 or code not in (codes.already_running, codes.not_run):
            return code
        root = parser.get_task_obj()
        core = luigi.interface.core()
        if not core.local_scheduler:
            url = core.scheduler_url or f"http://{core.scheduler_host}:{core.scheduler_port:d}/"
            scheduler = luigi.rpc.RemoteScheduler(url=url)
            while not root.complete() and root_running_elsewhere(scheduler, root.task_id):
                time.sleep(POLL_SECONDS)
        if root.complete():
            print(
                f"run_luigi.py: luigi's exit code {code} says other workers ran part of the run; "
                f"its root task {root} is complete: exit 0",
                file=sys.stderr,
            )
            return 0
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
