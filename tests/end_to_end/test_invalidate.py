"""python -m workflows.invalidate: LabelMessages and exactly what is downstream of it are listed (dry
run), then removed, and a rerun recreates exactly those; refused while the nightly lock is held;
an unknown task name is one line."""

import datetime as dt
import fcntl
import os
import re
import subprocess
import sys

import pytest
from luigi.execution_summary import _summary_dict

from tests.conftest import REPO_ROOT, SMALL_TRAINING, run_luigi
from workflows.invalidate import invalidate
from workflows.train import TrainPipeline

RUN_DATE = dt.date(2026, 11, 23)
SMALL = {
    "lsi": {"num_topics": "20"},
    "training": {**SMALL_TRAINING, "param_grid": '{"C": [1.0]}', "small_data_param_grid": '{"C": [1.0]}'},
}
DOWNSTREAM_OF_LABELS = {
    "LabelMessages", "RuleReport", "EmbedMessages", "GridSearchFold",
    "GridSearch", "CrossValidate", "FitClassifier", "TrainClassifiers",
    "ExportModelJson", "ScoreShard", "ScoreMessages", "TrainingReport", "TrainPipeline", "ReviewSample",
    "EvaluateFeedback",
}  # fmt: skip
UPSTREAM_OR_BESIDE = {
    "ReadFeedback",
    "PlanShards",
    "ExtractShard",
    "ExtractMessages",
    "CleanShard",
    "CleanMessages",
    "LabelShard",
    "TokenizeShard",
    "TokenizeMessages",
    "BuildDictionary",
    "FitTfidf",
    "FitLsi",
}


def family(directory_name: str) -> str:
    return directory_name.split("-")[0]


def outputs(root):
    """output directory name -> (inode, ctime): a recreated directory has a new pair (the inode
    alone is not enough: a file system may give a removed directory's inode to the new one)."""
    return {
        path.name: (path.stat().st_ino, path.stat().st_ctime_ns) for path in (root / RUN_DATE.isoformat()).iterdir()
    }


def test_invalidating_labelling_lists_removes_and_reruns_exactly_what_is_downstream(
    sample_sqlite, pipeline_env, luigi_config, tmp_path, monkeypatch
):
    root = pipeline_env(sample_sqlite)
    monkeypatch.setenv("SORTBOX_LOCK_DIR", str(tmp_path / "lock"))
    luigi_config({**SMALL, "source": {"since": "", "until": "", "sample_fraction": "0.2"}})
    assert run_luigi([TrainPipeline(run_date=RUN_DATE)]).scheduling_succeeded
    before = outputs(root)
    assert {family(name) for name in before} == DOWNSTREAM_OF_LABELS | UPSTREAM_OR_BESIDE
    classes = len([name for name in before if family(name) == "FitClassifier"])
    folds = len([name for name in before if family(name) == "GridSearchFold"])
    assert classes == 3 and folds == classes * 3

    listed = [line.split("\t") for line in invalidate("LabelMessages", RUN_DATE, workflow="train", dry_run=True)]
    assert {task for task, _, _ in listed} == DOWNSTREAM_OF_LABELS
    # The per-class tasks once per class, the grid-search folds once per fold.
    assert len(listed) == len(DOWNSTREAM_OF_LABELS) + 3 * (classes - 1) + (folds - 1)
    assert {action for _, _, action in listed} == {"would remove"}
    assert outputs(root) == before  # a dry run removes nothing

    removed = [line.split("\t") for line in invalidate("LabelMessages", RUN_DATE, workflow="train")]
    assert [(task, path) for task, path, _ in removed] == [(task, path) for task, path, _ in listed]
    assert {action for _, _, action in removed} == {"removed"}
    after = outputs(root)
    assert {family(name) for name in after} == UPSTREAM_OR_BESIDE
    assert after == {name: inode for name, inode in before.items() if family(name) in UPSTREAM_OR_BESIDE}

    again = run_luigi([TrainPipeline(run_date=RUN_DATE)])
    assert again.scheduling_succeeded, again.summary_text
    assert {task.get_task_family() for task in _summary_dict(again.worker)["completed"]} == DOWNSTREAM_OF_LABELS
    rerun = outputs(root)
    assert set(rerun) == set(before)  # the same outputs (same hashes) ...
    assert {name for name in rerun if rerun[name] != before[name]} == set(before) - set(after)  # ... only those new


def run_command(*args, cwd, lock_dir):
    return subprocess.run(
        [sys.executable, "-m", "workflows.invalidate", *args],
        cwd=cwd,
        env={**os.environ, "SORTBOX_LOCK_DIR": str(lock_dir), "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )


LOCKED = r"^invalidate: a nightly run holds the lock .*/nightly\.lock; try again when it has finished \(exit 75\)$"
UNKNOWN = r"^invalidate: unknown task 'LabelMesages': the DAG has BuildDictionary, CleanMessages, .*, TrainingReport$"
BAD_DATE = r"argument --run-date: invalid fromisoformat value: '23/11/2026'$"


@pytest.mark.parametrize(
    "args, locked, code, message",
    [
        (["LabelMessages", "--run-date", "2026-11-23"], True, 75, LOCKED),
        (["LabelMessages", "--run-date", "2026-11-23", "--dry-run"], True, 75, LOCKED),
        (["LabelMesages", "--run-date", "2026-11-23"], False, 2, UNKNOWN),
        (["LabelMessages", "--run-date", "23/11/2026"], False, 2, BAD_DATE),
    ],
)
def test_bad_requests_are_refused_with_one_line(tmp_path, args, locked, code, message):
    lock_dir = tmp_path / "lock"
    lock_dir.mkdir(mode=0o700)
    holder = os.open(lock_dir / "nightly.lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        if locked:  # as scripts/nightly.sh holds it for the whole night
            fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        done = run_command(*args, cwd=tmp_path, lock_dir=lock_dir)
    finally:
        os.close(holder)
    assert done.returncode == code, done.stderr
    assert done.stdout == ""
    assert re.search(message, done.stderr.strip().splitlines()[-1]), done.stderr


def test_the_nightly_dag_has_the_days_scoring_and_export_once_published(
    tiny_sqlite, pipeline_env, tmp_path, monkeypatch
):
    """NightlyRetrain yields the day's ScoreMessages and ExportScores from run(), once PublishModels
    has written publish.json: they are in the DAG from then on; the export's marker row is kept."""
    from tasks.publish import PublishModels

    pipeline_env(tiny_sqlite)
    monkeypatch.setenv("SORTBOX_LOCK_DIR", str(tmp_path / "lock"))
    with pytest.raises(ValueError, match="unknown task 'ExportScores'"):  # nothing published yet
        invalidate("ExportScores", RUN_DATE, dry_run=True)

    release = tmp_path / "release"
    release.mkdir()
    (release / "release.json").write_text("{}")
    publish_dir = PublishModels(run_date=RUN_DATE, nightly=True).output_dir()  # as NightlyRetrain requires it
    publish_dir.mkdir(parents=True)
    (publish_dir / "publish.json").write_text(f'{{"release_dir": "{release}"}}')

    listed = [line.split("\t") for line in invalidate("ExportScores", RUN_DATE, dry_run=True)]
    assert [(task, action) for task, _, action in listed] == [
        ("NightlyRetrain", "absent"),
        ("ExportScores", "kept: not a file"),
    ]
    scoring = {
        task for task, _, _ in (line.split("\t") for line in invalidate("ScoreMessages", RUN_DATE, dry_run=True))
    }
    # The feedback figures judge the scores; the training report and the gate read them.
    assert scoring == {
        "ScoreMessages", "ExportScores", "ReviewSample", "EvaluateFeedback", "TrainingReport", "GateModels",
        "PublishModels", "TrainPipeline", "NightlyRetrain",
    }
    assert publish_dir.is_dir()  # dry runs
