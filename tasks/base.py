"""The base class of every sortbox task: dated, hashed output directories written atomically.

Output layout (gokart's idea): `{output_root}/{run_date}/{TaskName}-{hash}/`, where the hash
covers the task's significant parameters, the configuration that shapes its result, the content
of files it reads (rule files) and the hashes of its upstream tasks. Changing any of those gives
a new directory, so exactly the tasks that depend on the change run again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator

import luigi
from luigi.task import flatten

from sortbox.sweep import TEMPORARY_MARK
from tasks.config import check_settings, paths, significant_values

logger = logging.getLogger("luigi-interface")

HASH_LENGTH = 12

#: Variables a user sets to choose the threads of the numeric libraries; when any is set, sortbox
#: leaves the threads to them.
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_USER_CHOSE_THREADS = any(os.environ.get(name) for name in THREAD_VARIABLES)


_BLAS_LIMITED_IN: list[int] = []  # the process (pid) whose BLAS is limited already


def one_blas_thread() -> None:
    """Limit this process's BLAS and OpenMP libraries to one thread, those loaded already and
    those loaded later, unless the user chose the threads (THREAD_VARIABLES).

    Determinism: OpenBLAS splits its sums between its threads, and by default it runs as many as
    the process has cores, so the LSI's bytes depended on how many cores the process had (one
    worker, two workers, a host of another size: measured, `features.npy` and everything after
    it differed between one and two workers). Speed: with `--workers N` each of N task processes
    would run a thread per core, and OpenBLAS's idle threads spin."""
    if not _USER_CHOSE_THREADS and _BLAS_LIMITED_IN != [os.getpid()]:
        for name in THREAD_VARIABLES:  # libraries this process loads later (scipy's OpenBLAS) read these
            os.environ[name] = "1"
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)  # those loaded already (numpy's OpenBLAS)
        _BLAS_LIMITED_IN[:] = [os.getpid()]


@dataclass(frozen=True)
class Artifact:
    """One file a task writes into its output directory: its name, said once, by the task that
    writes it, and how a consumer reads it (`read`, e.g. `read_json`; None for files read in
    streams or by path, such as Parquet). `file` may be a template (`review-{class_name}.csv`)."""

    file: str
    read: Callable[[Path], Any] | None = None


class SortboxTask(luigi.Task):
    """A task whose output is one directory, renamed into place once everything is written.

    `artifacts` declares the files in that directory (key -> Artifact): the file names live there
    and nowhere else. The task writes `out / self.artifact("summary")`; a downstream task reads
    `self.input_path("clean", "clean")` or `self.read_input("clean", "summary")`, by key, and
    code outside the DAG asks the producing class (`ExportModelJson.artifact("model")`).
    tests/test_layout.py checks that no file name of a declaration is spelled anywhere else.
    """

    artifacts: ClassVar[dict[str, Artifact]] = {}
    #: The configuration this task's output depends on: each entry a section class (all of its
    #: significant options) or (section class, option names). Their values make part of the hash.
    reads: ClassVar[tuple] = ()

    run_date = luigi.DateParameter(default=dt.date.today(), description="Date of the run (part of every output path).")
    nightly = luigi.BoolParameter(
        default=False,
        description="Part of the night run_date (NightlyRetrain): extraction reads rows before run_date + 1 day "
        "([nightly] window_days back).",
    )

    def same_run(self) -> dict:
        """The parameters every upstream task shares with this one: `Upstream(**self.same_run())`."""
        return {"run_date": self.run_date, "nightly": self.nightly}

    @property
    def retry_count(self) -> int:
        """Failures before the scheduler disables this task: [scheduler] retry_count of the
        project's configuration (1: no retry), sent with the task to whichever scheduler runs
        it, so that a luigid with other settings cannot keep a failed night alive retrying."""
        from luigi.scheduler import scheduler

        return scheduler().retry_count

    def significant_config(self) -> dict:
        """Configuration values (not parameters) that change this task's result: the options
        declared in `reads`, by section name, and `config_extras()`."""
        values: dict[str, dict] = {}
        for entry in self.reads:
            section, names = entry if isinstance(entry, tuple) else (entry, None)
            values.setdefault(section.get_task_family(), {}).update(significant_values(section(), names))
        return {**values, **self.config_extras()}

    def config_extras(self) -> dict:
        """Values that change this task's result besides its configuration options (the content
        of a word list, a digest of the database URL). Rule files: `content_fingerprint`."""
        return {}

    def content_fingerprint(self) -> str:
        """A digest of files this task reads besides its inputs (e.g. rule files)."""
        return ""

    def output_hash(self, _known: dict[str, str] | None = None) -> str:
        """Hash of parameters, significant configuration, content and upstream hashes.

        `_known` (task id -> hash) is shared down one call, so a task that several others require
        is hashed once per call, not once per path to it (hundreds of times for a night's DAG).
        Nothing is kept between calls: the configuration may change between two runs."""
        known = {} if _known is None else _known
        if self.task_id in known:
            return known[self.task_id]
        upstream = sorted(task.output_hash(known) for task in flatten(self.requires()) if isinstance(task, SortboxTask))
        payload = {
            "task": self.get_task_family(),
            "params": {
                name: value
                for name, value in self.to_str_params(only_significant=True).items()
                if (name, value) != ("nightly", "False")
            },
            "config": self.significant_config(),
            "content": self.content_fingerprint(),
            "upstream": upstream,
        }
        blob = json.dumps(payload, sort_keys=True, default=str).encode()
        known[self.task_id] = hashlib.sha256(blob).hexdigest()[:HASH_LENGTH]
        return known[self.task_id]

    def path_label(self) -> str:
        """A readable tag for the directory name (e.g. the class of a per-class task)."""
        return ""

    def output_dir(self, _known: dict[str, str] | None = None) -> Path:
        """Where this task's output directory lives once complete (`_known`: see output_hash)."""
        label = f"{self.path_label()}-" if self.path_label() else ""
        return (
            Path(paths().output_root)
            / self.run_date.isoformat()
            / f"{self.get_task_family()}-{label}{self.output_hash(_known)}"
        )

    def complete(self) -> bool:
        """luigi asks this first of the task it is given, while it schedules the DAG: a bad
        setting raises here, which stops the whole run (exit 35, [retcode] scheduling_error)
        before anything is read or written. Checks that only matter when a task is going to run
        (`check_before_run`, e.g. the training grid, which loads scikit-learn) and its `warm_up`
        are made for every task upstream of this one that luigi is going to run: not complete,
        and not upstream of a complete task. A no-op rerun pays for none of them.

        One walk: each task on the way is hashed once (a shared cache of output hashes), and the
        walk stops at complete tasks, so a task yielded late in a run (a class's grid search)
        costs a look at its direct inputs, not at the whole DAG above them."""
        check_settings()
        known: dict[str, str] = {}
        if self.output_exists(known):
            return True
        stack, seen = list(flatten(self.requires())), set()
        while stack:
            task = stack.pop()
            if not isinstance(task, SortboxTask) or task.task_id in seen:
                continue
            seen.add(task.task_id)
            if task.output_exists(known):
                continue  # luigi runs nothing upstream of a complete task
            task.check_before_run()
            task.warm_up()
            stack.extend(flatten(task.requires()))
        return False

    def output_exists(self, _known: dict[str, str] | None = None) -> bool:
        """luigi's completeness (the output exists), with `_known` shared as in output_hash."""
        if type(self).output is SortboxTask.output:
            return self.output_dir(_known).exists()
        return super().complete()

    def check_before_run(self) -> None:
        """Settings this task needs that are worth checking only when it will run."""

    def warm_up(self) -> None:
        """Work that every run of this task starts with and that is the same in every process
        (importing gensim, the Unicode tables of the cleaning), done while the DAG is scheduled,
        for the tasks that are going to run: with `--workers N` each task runs in a process forked
        from the scheduling one, which then inherits it instead of doing it again (with one
        worker it is the same work, done earlier). Only what the run does anyway belongs here."""

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(str(self.output_dir()))

    def inputs(self) -> dict:
        """`self.input()`: the output targets of the upstream tasks, by their names in `requires()`.

        While the task runs (from luigi's START event to its SUCCESS or FAILURE) they are worked
        out once: each costs hashing the DAG upstream of it, rule files included (0.1 to 0.2 s),
        and a task asks for its inputs' files several times."""
        while_running = self.__dict__.get("_inputs_while_running")
        if while_running is None:
            return self.input()
        if not while_running:
            while_running.update(self.input())
        return while_running

    def input_dir(self, name: str) -> Path:
        """The output directory of the upstream task called `name` in `requires()`."""
        return Path(self.inputs()[name].path)

    @classmethod
    def artifact(cls, key: str, **fields: str) -> str:
        """The file name of this task's artifact `key` (a template filled with `fields`)."""
        try:
            declared = cls.artifacts[key]
        except KeyError:
            raise KeyError(
                f"{cls.__name__} declares no artifact {key!r} (it declares {', '.join(sorted(cls.artifacts))})"
            ) from None
        return declared.file.format(**fields) if fields else declared.file

    def output_path(self, key: str, **fields: str) -> Path:
        """Where this task's artifact `key` lives once the task is complete."""
        return self.output_dir() / self.artifact(key, **fields)

    def input_path(self, name: str, key: str, **fields: str) -> Path:
        """The artifact `key` of the upstream task called `name` in `requires()`."""
        return self.input_dir(name) / self.requires()[name].artifact(key, **fields)

    def read_input(self, name: str, key: str) -> Any:
        """The artifact `key` of the upstream task `name`, read by its declared reader."""
        path = self.input_path(name, key)
        upstream = type(self.requires()[name])
        reader = upstream.artifacts[key].read
        if reader is None:
            raise TypeError(f"{upstream.__name__} artifact {key!r} declares no reader: use input_path()")
        return reader(path)

    @contextlib.contextmanager
    def atomic_output(self) -> Iterator[Path]:
        """A fresh temporary directory that becomes the output directory in one rename.

        If the body fails, the temporary directory is removed and nothing counts as complete.
        A worker killed with SIGKILL cannot clean up: its temporary directory stays, and is
        removed here the next time the same task runs, before its new one is made. That is safe
        because no other process can be writing it: luigi's scheduler (one run's local
        scheduler, or luigid across runs) runs one instance of a task at a time, and
        scripts/nightly.sh holds a lock for the whole night. (Two hand-started runs with
        --local-scheduler on the same output root are coordinated by nothing; do not do that.)
        `python -m sortbox.sweep` removes the leftovers of tasks that never run again.
        tests/end_to_end/test_chaos.py kills the worker at each task and checks the rerun.
        """
        output = self.output_dir()
        for directory in (output.parent.parent, output.parent):  # the output root and the run date
            if not directory.exists():
                directory.mkdir(parents=True, exist_ok=True)
                os.chmod(directory, 0o755)  # created here: not group/world-writable whatever the umask
        for leftover in output.parent.glob(f"{glob.escape(output.name)}{TEMPORARY_MARK}*"):
            logger.warning(
                "%s: removing the temporary output %s left by an interrupted earlier attempt", self.task_id, leftover
            )
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
        with self.output().temporary_path() as temporary:
            path = Path(temporary)
            path.mkdir(parents=True)
            # Outputs are not group- or world-writable whatever the umask (others read, never write).
            os.chmod(path, 0o755)
            try:
                yield path
            except BaseException:
                shutil.rmtree(path, ignore_errors=True)
                raise
            for written in path.rglob("*"):  # ... nor is anything written inside it
                if not written.is_symlink():
                    os.chmod(written, written.stat().st_mode & ~0o022)

    def report_progress(self, done: int, total: int, message: str) -> None:
        """Tell the scheduler (and the visualiser) how far this task is."""
        percentage = 100 if total <= 0 else min(100, int(100 * done / total))
        self.set_progress_percentage(percentage)
        self.set_status_message(message)

    def progress_between(self, low: int, high: int, what: str) -> Callable[[int, int], None]:
        """A `progress(done, total)` callback for a sortbox function (which cannot import luigi),
        mapped onto [low, high] percent of this task."""

        def report(done: int, total: int) -> None:
            share = 1.0 if total <= 0 else min(1.0, done / total)
            self.set_progress_percentage(int(low + (high - low) * share))
            self.set_status_message(f"{what}: {done:,} of {total:,}")

        return report


@SortboxTask.event_handler(luigi.Event.START)
def _one_blas_thread(task: SortboxTask) -> None:
    """Runs in the process that runs the task (with several workers, a process of its own)."""
    one_blas_thread()


@SortboxTask.event_handler(luigi.Event.START)
def _remember_inputs(task: SortboxTask) -> None:
    """The configuration cannot change while a task runs: its inputs' targets are kept (`inputs`)."""
    task._inputs_while_running = {}


@SortboxTask.event_handler(luigi.Event.SUCCESS)
@SortboxTask.event_handler(luigi.Event.FAILURE)
def _forget_inputs(task: SortboxTask, *_) -> None:
    """The same task object may run again later in this process, after the configuration changed."""
    task._inputs_while_running = None
