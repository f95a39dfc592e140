"""Invalidate a stage: remove the outputs of a task and of everything downstream of it in one
night's DAG, and nothing else, so that the next run of that night recomputes exactly those.

    python -m workflows.invalidate TASK --run-date 2026-01-28 [--dry-run] [--workflow nightly|train]

The DAG is luigi's own: the workflow's task for that date (NightlyRetrain, or TrainPipeline), its
`requires()` walked with `luigi.task.flatten`, plus the dependencies that `run()` yields once its
inputs exist (TrainClassifiers' per-class chains, GridSearch's splits, NightlyRetrain's scoring of the day).
sortbox.downstream picks TASK (every instance: all classes of a per-class task) and what requires
it. Prints one line per task, dependents first: task name, output, what is (or would be) done.
An output that is not a file (ExportScores' marker row) is kept: removing it would make the next
run write that night's scores into the database a second time. Published releases are never
touched (scripts/rollback.sh does that).

Refused (exit 75) while a nightly run holds the lock (scripts/_lock.sh: flock on
$SORTBOX_LOCK_DIR/nightly.lock, default var/lock); the lock is held here while outputs are removed,
so no night starts meanwhile. An unknown task name exits 2 naming the tasks of the DAG.
(`python -m sortbox.invalidate` was the issue's name: sortbox/ never imports luigi, even lazily,
and this command needs luigi's graph, so it lives with the other workflows.)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import os
import shutil
import sys
import uuid
from pathlib import Path
from typing import Iterator

import luigi
from luigi.task import flatten, getpaths

from sortbox.downstream import UnknownTask, downstream_of
from sortbox.sweep import TEMPORARY_MARK
from tasks import REPO_ROOT
from tasks.config import paths
from tasks.train import GridSearch, TrainClassifiers
from workflows.nightly import NightlyRetrain
from workflows.train import TrainPipeline

WORKFLOWS = {"nightly": lambda date: NightlyRetrain(date=date), "train": lambda date: TrainPipeline(run_date=date)}
#: How many times each task's run() yields dependencies. The code before each of those yields only
#: reads upstream outputs, so the generator is driven that far to learn them, and never further
#: (what follows the last one writes the output).
DYNAMIC_YIELDS = {TrainClassifiers: 1, GridSearch: 1, NightlyRetrain: 2}
LOCKED_EXIT = 75


class Locked(RuntimeError):
    """A nightly run (or a rollback) holds the lock."""


def yielded_requires(task: luigi.Task) -> list[luigi.Task]:
    """The dependencies `task.run()` yields, as far as its upstream outputs exist (none before)."""
    count = DYNAMIC_YIELDS.get(type(task), 0)
    found: list[luigi.Task] = []
    if not count:
        return found
    run = task.run()
    try:
        value = next(run)
        for number in range(count):
            found.extend(flatten(value))
            if number + 1 < count:
                value = run.send(getpaths(value))
    except (FileNotFoundError, StopIteration):
        pass  # an input is missing: the task never ran, so it yielded nothing that has an output
    finally:
        run.close()
    return found


def task_graph(root: luigi.Task) -> tuple[dict[str, list[str]], dict[str, luigi.Task]]:
    """(task id -> ids it requires, task id -> task) of every task reachable from `root`."""
    requires: dict[str, list[str]] = {}
    tasks: dict[str, luigi.Task] = {}
    stack = [root]
    while stack:
        task = stack.pop()
        if task.task_id in tasks:
            continue
        needs = flatten(task.requires()) + yielded_requires(task)
        tasks[task.task_id], requires[task.task_id] = task, [need.task_id for need in needs]
        stack.extend(needs)
    return requires, tasks


@contextlib.contextmanager
def nightly_lock() -> Iterator[Path]:
    """Hold the nightly lock (as scripts/_lock.sh + `flock -n 9`), or raise Locked at once."""
    lock_dir = Path(os.environ.get("SORTBOX_LOCK_DIR") or REPO_ROOT / "var" / "lock").absolute()
    lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = lock_dir / "nightly.lock"
    if lock.is_symlink():
        raise Locked(f"the lock file {lock} is a symbolic link; remove it")
    descriptor = os.open(lock, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Locked(f"a nightly run holds the lock {lock}; try again when it has finished") from None
        yield lock
    finally:
        os.close(descriptor)


def plan(name: str, date: dt.date, workflow: str) -> list[tuple[str, luigi.Target]]:
    """(task name, output) of `name` and everything downstream of it, dependents first."""
    requires, tasks = task_graph(WORKFLOWS[workflow](date))
    chosen = downstream_of(requires, {task_id: task.get_task_family() for task_id, task in tasks.items()}, name)
    return [(tasks[task_id].get_task_family(), tasks[task_id].output()) for task_id in chosen]


def remove(path: Path, root: Path) -> None:
    """Rename the output aside in one step (a half-removed directory would count as complete), then
    delete it. Only ever under the output root."""
    if not path.resolve().is_relative_to(root.resolve()):
        raise RuntimeError(f"{path} is not under the output root {root}: not removed")
    aside = path.with_name(f"{path.name}{TEMPORARY_MARK}invalidated-{uuid.uuid4().hex[:8]}")
    path.rename(aside)
    shutil.rmtree(aside)


def invalidate(name: str, date: dt.date, *, workflow: str = "nightly", dry_run: bool = False) -> list[str]:
    """The report lines (task, output, action); removes the outputs unless `dry_run`."""
    with nightly_lock():
        root = Path(paths().output_root)
        lines = []
        for family, target in plan(name, date, workflow):
            if not isinstance(target, luigi.LocalTarget):
                lines.append(
                    f"{family}\t{target.__class__.__name__} {getattr(target, 'update_id', '')}\tkept: not a file"
                )
                continue
            path = Path(target.path)
            if not path.exists():
                lines.append(f"{family}\t{path}\tabsent")
            elif dry_run:
                lines.append(f"{family}\t{path}\twould remove")
            else:
                remove(path, root)
                lines.append(f"{family}\t{path}\tremoved")
        return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workflows.invalidate", description=__doc__.splitlines()[0])
    parser.add_argument("task", help="task name, e.g. LabelMessages")
    parser.add_argument("--run-date", required=True, type=dt.date.fromisoformat, help="the night, YYYY-MM-DD")
    parser.add_argument("--workflow", choices=sorted(WORKFLOWS), default="nightly", help="whose DAG (default nightly)")
    parser.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")
    args = parser.parse_args(argv)
    try:
        lines = invalidate(args.task, args.run_date, workflow=args.workflow, dry_run=args.dry_run)
    except UnknownTask as exc:
        print(f"invalidate: {exc}", file=sys.stderr)
        return 2
    except Locked as exc:
        print(f"invalidate: {exc} (exit {LOCKED_EXIT})", file=sys.stderr)
        return LOCKED_EXIT
    print("\n".join(lines))
    done = "would remove" if args.dry_run else "removed"
    count = sum(line.endswith(f"\t{done}") for line in lines)
    print(
        f"invalidate: {args.task} on the {args.workflow} DAG of {args.run_date}: "
        f"{len(lines)} tasks, {done} {count} outputs",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
