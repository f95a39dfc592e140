"""kill -9 at every task of the training DAG, rerun, and get exactly a clean run's outputs.

The chain: run the DAG with tests/chaos_luigi.py, which SIGKILLs the worker when the next task not
killed yet has written its whole output into its temporary directory (just before the rename).
Rerun the same command: finished tasks are skipped, the killed one runs again (removing the
temporary directory its killed attempt left), and the next task is killed. Repeat until a run
finishes. Then every task of the DAG has been killed once, every rerun has recovered, and:

- every file of every task output is byte-identical to a clean run's, except for what measures the
  run rather than its result: the seconds each grid-search candidate took to fit (`fit_seconds`
  in grid.json and classes.json, the "fit seconds" cells of report.html), which are masked before
  comparing, and the output root itself where a file names another task's directory (the two
  runs write under different roots); everything else (models, gensim files, features, scores, the manifest) must be equal;
- no temporary directory (`*-luigi-tmp-*`) is left anywhere under the output root.

The same chain with --workers 2 kills the forked task processes instead of the whole worker.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

RUN_DATE = "2026-11-24"
ARGS = ["--module", "workflows.train", "TrainPipeline", "--local-scheduler", "--run-date", RUN_DATE, "--lsi-num-topics", "20"]
SIGKILL_EXIT = -9
TIMEOUT = 300


def env_for(database_url: str, kill_log: Path | None = None) -> dict:
    env = {**os.environ, "SORTBOX_DB_URL": database_url, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("LUIGI_CONFIG_PATH", None)
    if kill_log:
        env["SORTBOX_CHAOS_LOG"] = str(kill_log)
    return env


def files_of(root: Path) -> dict[str, bytes]:
    """Every output file's bytes, with the fit timings masked (see the module docstring)."""
    return {str(p.relative_to(root)): masked(p, root) for p in sorted(root.rglob("*")) if p.is_file()}


def masked(path: Path, root: Path) -> bytes:
    data = path.read_bytes().replace(str(root).encode(), b"<output root>")  # classes.json names its inputs' directories
    if path.name in ("grid.json", "classes.json"):
        return re.sub(rb'"fit_seconds": [0-9.e-]+', b'"fit_seconds": "masked"', data)
    if path.name == "report.html":
        return re.sub(rb"<td class='num seconds'>[^<]*</td>", b"<td class='num seconds'>masked</td>", data)
    return data


@pytest.fixture(scope="module")
def clean_run(sample_sqlite, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clean") / "runs"
    done = subprocess.run([sys.executable, "-m", "luigi", *ARGS, "--paths-output-root", str(root)], cwd=REPO_ROOT, env=env_for(sample_sqlite), capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    return root


def task_outputs(root: Path) -> list[str]:
    return sorted(p.name for p in (root / RUN_DATE).iterdir())


@pytest.mark.parametrize("workers", [1, 2])
def test_kill_9_at_every_task_then_rerun_gives_the_clean_outputs(clean_run, sample_sqlite, tmp_path, workers):
    root, kill_log = tmp_path / "runs", tmp_path / "killed.txt"
    command = [sys.executable, "-m", "tests.chaos_luigi", *ARGS, "--workers", str(workers), "--paths-output-root", str(root)]
    expected_tasks = task_outputs(clean_run)
    runs = []
    for _ in range(2 * len(expected_tasks) + 2):
        done = subprocess.run(command, cwd=REPO_ROOT, env=env_for(sample_sqlite, kill_log), capture_output=True, text=True, timeout=TIMEOUT)
        runs.append(done.returncode)
        if done.returncode == 0:
            break
        # Killed: the whole worker (one worker), or a task process, which luigi reports as a failed task.
        assert done.returncode in (SIGKILL_EXIT, 30), done.stderr[-3000:]
        killed = kill_log.read_text().split()[-1]
        assert list(root.rglob("*-luigi-tmp-*")), f"the kill of {killed} left no temporary output: it did not hit mid-write"
    else:
        pytest.fail(f"the chain never finished: exit codes {runs}")

    killed = kill_log.read_text().split()
    assert len(killed) == len(set(killed)) == len(expected_tasks), (killed, expected_tasks)
    assert {task.split("_")[0] for task in killed} >= {"ExtractMessages", "CleanMessages", "LabelMessages", "RuleReport", "TokenizeMessages", "BuildDictionary", "FitTfidf", "FitLsi", "EmbedMessages", "GridSearch", "CrossValidate", "FitClassifier", "TrainClassifiers", "ExportModelJson", "ScoreMessages", "TrainingReport", "TrainPipeline"}
    assert task_outputs(root) == expected_tasks
    assert not list(root.rglob("*-luigi-tmp-*"))
    clean, chaos = files_of(clean_run), files_of(root)
    assert clean.keys() == chaos.keys()
    assert [name for name in clean if clean[name] != chaos[name]] == []
