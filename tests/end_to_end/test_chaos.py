"""kill -9 at every task of the training DAG, rerun, and get exactly a clean run's outputs.

How a task is killed: tests/chaos_luigi.py runs luigi with `SortboxTask.atomic_output` wrapped so
that the worker process SIGKILLs itself once the task has written its whole output into its
temporary directory (`<output>-luigi-tmp-<n>`), just before the rename that would make it
complete: a crash mid-write, with a full-looking partial output on disk. Each kill is logged by
the task's output directory name, so the next run kills the next task.

The chain (one worker): run that until a run finishes (each run a fresh process forked from one
`tests.chaos_luigi --serve`, which has only imported what every run would import again). Every run
but the last must die by SIGKILL at exactly one new task, whose temporary directory holds its
partial output; the temporary outputs left are exactly those of the killed tasks that have not run
again yet (a task removes its killed attempt's leftover when it runs again, tasks/base.py). The last
run exits 0. The tasks killed must be exactly the task output directories of a clean run
(TrainPipeline and all its transitive requirements, the per-class GridSearch / CrossValidate /
FitClassifier fanned out by TrainClassifiers included), each killed once, so a task that is never
killed (e.g. one that stops writing through atomic_output) fails the test. With two workers, one
case kills the forked process running one class's grid search while the other worker goes on; the
rerun is plain `luigi`.

After the rerun, for both:
- no temporary output (`*-luigi-tmp-*`) is left anywhere under the output root;
- the same task output directories exist as in the clean run (run once per module), and every file
  in them is byte-identical to the clean run's: models, gensim files, features, out-of-fold scores,
  model.json, scores.csv, unscorable.csv, the summaries, the rule report, the training report and
  its plots, the manifest. Allowed to differ, and masked before
  comparing, is only what measures the run rather than its result:
  * `fit_seconds` (wall-clock seconds each grid-search candidate took) in grid.json and
    classes.json, and the matching "fit seconds" cells of report.html;
  * the output root itself where a file names another task's directory (classes.json): the two
    runs write under different roots.
  Nothing else is masked: the manifest holds no wall-clock time (its run date is a parameter).
"""
from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path
from subprocess import CompletedProcess
from typing import Callable, Iterator

import pytest

from sortbox.checkpoint import comparable_output
from tests.conftest import REPO_ROOT, TRAINING_FAMILIES

RUN_DATE = "2026-11-24"
ARGS = [
    "--module",
    "workflows.train",
    "TrainPipeline",
    "--local-scheduler",
    "--run-date",
    RUN_DATE,
    "--lsi-num-topics",
    "20",
    "--training-small-data-param-grid",
    '{"C": [0.1, 1.0]}',
    "--training-small-data-cv-repeats",
    "1",
]
TEMPORARY_MARK = "-luigi-tmp-"
SIGKILL_EXIT = -9
TASK_FAILED_EXIT = 30  # [retcode] task_failed: what luigi reports when a task's process dies
TIMEOUT = 300


def environment(database_url: str, kill_log: Path | None, only: str) -> dict[str, str]:
    env = {**os.environ, "SORTBOX_DB_URL": database_url, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("LUIGI_CONFIG_PATH", None)
    if kill_log:
        env.update({"SORTBOX_CHAOS_LOG": str(kill_log), "SORTBOX_CHAOS_ONLY": only})
    return env


def luigi(
    database_url: str, root: Path, *, workers: int, kill_log: Path | None = None, only: str = ""
) -> subprocess.CompletedProcess:
    """One run of the training DAG under `root`: plain luigi, or tests/chaos_luigi.py with a kill log."""
    program = "tests.chaos_luigi" if kill_log else "luigi"
    command = [sys.executable, "-m", program, *ARGS, "--workers", str(workers), "--paths-output-root", str(root)]
    return subprocess.run(
        command, cwd=REPO_ROOT, env=environment(database_url, kill_log, only), capture_output=True, text=True,
        timeout=TIMEOUT,
    )


@contextlib.contextmanager
def forked_chaos_luigi(database_url: str, root: Path, kill_log: Path) -> Iterator[Callable[[], CompletedProcess]]:
    """`tests.chaos_luigi --serve`; yields a function that makes one run of the training DAG (one
    worker) under `root` in a fresh process forked from it, and returns how that process ended."""
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.chaos_luigi", "--serve"], cwd=REPO_ROOT,
        env=environment(database_url, kill_log, ""), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        start_new_session=True,  # its own process group: a run that hangs goes with it
    )  # fmt: skip
    runs = 0

    def run() -> CompletedProcess:
        nonlocal runs
        runs += 1
        args = [*ARGS, "--workers", "1", "--paths-output-root", str(root)]
        output = {name: kill_log.with_name(f"run-{runs}.{name}") for name in ("stdout", "stderr")}
        server.stdin.write(json.dumps({"args": args, **{name: str(path) for name, path in output.items()}}) + "\n")
        server.stdin.flush()
        ready, _, _ = select.select([server.stdout], [], [], TIMEOUT)
        assert ready, f"run {runs} did not end within {TIMEOUT} s"
        answer = server.stdout.readline()
        assert answer, f"the chaos server died: exit {server.poll()}"
        return CompletedProcess(
            args, json.loads(answer)["returncode"], output["stdout"].read_text(), output["stderr"].read_text()
        )

    try:
        yield run
    finally:
        server.stdin.close()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def task_outputs(root: Path) -> list[str]:
    return sorted(p.name for p in (root / RUN_DATE).iterdir())


def temporaries(root: Path) -> list[tuple[str, str]]:
    """(parent directory, owning output name) of every temporary output under `root`."""
    return sorted((p.parent.name, p.name.split(TEMPORARY_MARK)[0]) for p in root.rglob(f"*{TEMPORARY_MARK}*"))


def killed_so_far(kill_log: Path) -> list[str]:
    return kill_log.read_text().split() if kill_log.exists() else []


def files_of(root: Path) -> dict[str, bytes]:
    """Every output file's bytes, with the fit timings masked (see the module docstring)."""
    return {str(p.relative_to(root)): comparable_output(p, root) for p in sorted(root.rglob("*")) if p.is_file()}


def assert_same_outputs_as(clean: Path, root: Path) -> None:
    assert temporaries(root) == [], "a temporary output survived the rerun"
    assert task_outputs(root) == task_outputs(clean)
    expected, actual = files_of(clean), files_of(root)
    assert expected.keys() == actual.keys()
    assert [name for name in expected if expected[name] != actual[name]] == []


@pytest.fixture(scope="module")
def clean_run(sample_sqlite, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clean") / "runs"
    done = luigi(sample_sqlite, root, workers=1)
    assert done.returncode == 0, done.stderr[-3000:]
    assert {name.split("-")[0] for name in task_outputs(root)} >= TRAINING_FAMILIES
    return root


def test_kill_9_at_every_task_in_turn_then_rerun_gives_the_clean_outputs(clean_run, sample_sqlite, tmp_path):
    root, kill_log = tmp_path / "runs", tmp_path / "killed.txt"
    expected_tasks = task_outputs(clean_run)
    killed: list[str] = []
    with forked_chaos_luigi(sample_sqlite, root, kill_log) as chaos_luigi:
        for _ in range(len(expected_tasks) + 1):
            done = chaos_luigi()
            new = killed_so_far(kill_log)[len(killed):]
            if done.returncode == 0:
                assert new == [], "a task was killed but the run succeeded"
                break
            assert done.returncode == SIGKILL_EXIT, (
                f"after killing {killed}: exit {done.returncode}\n{done.stderr[-3000:]}"
            )
            assert len(new) == 1, new
            (victim,) = new
            (partial,) = root.rglob(f"{victim}{TEMPORARY_MARK}*")
            assert partial.is_dir() and any(partial.iterdir()), f"{partial}: the kill did not hit mid-write"
            killed.append(victim)
            # A killed task never counts as complete; once it has run again, its partial output is gone
            # (removed when it started again); until then its one partial output waits for it.
            waiting = [name for name in killed if not (root / RUN_DATE / name).exists()]
            assert victim in waiting, f"{victim} counts as complete although it was killed"
            assert temporaries(root) == sorted((RUN_DATE, name) for name in waiting), f"killed at {victim}"
        else:
            pytest.fail(f"the chain never finished; killed: {killed}")

    assert sorted(killed) == expected_tasks, "every task of the DAG must be killed exactly once"
    assert_same_outputs_as(clean_run, root)


def test_kill_9_of_a_task_process_with_two_workers_then_rerun_gives_the_clean_outputs(
    clean_run, sample_sqlite, tmp_path
):
    root, kill_log = tmp_path / "runs", tmp_path / "killed.txt"
    searched = [name for name in task_outputs(clean_run) if name.startswith("GridSearch-")
                and json.loads((clean_run / RUN_DATE / name / "grid.json").read_text())["status"] == "searched"]
    assert len(searched) >= 2, "two classes must train for the two workers to overlap"
    victim = searched[0]

    done = luigi(sample_sqlite, root, workers=2, kill_log=kill_log, only=victim)
    assert done.returncode == TASK_FAILED_EXIT, done.stderr[-3000:]
    assert "died unexpectedly with exit code -9" in done.stderr
    assert killed_so_far(kill_log) == [victim]
    assert temporaries(root) == [(RUN_DATE, victim)]
    # The worker survived the death of the task's process: the other classes' chains finished.
    for other in searched[1:]:
        label = other[len("GridSearch-"):].rsplit("-", 1)[0]
        assert list((root / RUN_DATE).glob(f"FitClassifier-{label}-*")), f"the chain of {other} did not go on"
    assert not list((root / RUN_DATE).glob("TrainClassifiers-*"))

    rerun = luigi(sample_sqlite, root, workers=2)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert_same_outputs_as(clean_run, root)
