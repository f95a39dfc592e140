"""Same data and parameters give byte-identical model JSON and scores; ScoreBatch scores a fresh
window with a published model, without retraining."""
import csv
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from luigi.execution_summary import _summary_dict

from sortbox.publish import publish_release, release_files
from tests.conftest import REPO_ROOT, SMALL_TRAINING, run_luigi
from workflows.score import ScoreBatch
from workflows.train import TrainPipeline

RUN_DATE = dt.date(2026, 11, 23)
SMALL = {
    "lsi": {"num_topics": "40"},
    "training": SMALL_TRAINING,
}


def run_small_training(luigi_config, root, **source):
    luigi_config({**SMALL, "paths": {"output_root": str(root)}, "source": {"since": "", "until": "", **source}})
    result = run_luigi([TrainPipeline(run_date=RUN_DATE)])
    assert result.scheduling_succeeded, result.summary_text
    manifest_path = TrainPipeline(run_date=RUN_DATE).manifest_path()
    return manifest_path, json.loads(manifest_path.read_text())


def test_two_runs_are_byte_identical(sample_sqlite, pipeline_env, luigi_config, tmp_path):
    pipeline_env(sample_sqlite)
    outputs = []
    for name in ("first", "second"):
        manifest_path, manifest = run_small_training(
            luigi_config, tmp_path / name, sample_fraction="0.3", sample_seed="5"
        )
        outputs.append(
            {
                key: (manifest_path.parent / manifest["artifacts"][key]).read_bytes()
                for key in ("model_json", "scores_csv", "unscorable_csv")
            }
        )
    assert outputs[0] == outputs[1]
    model = json.loads(outputs[0]["model_json"])
    assert "T" not in model["run_date"] and model["model_id"]  # a date, no wall-clock time

    # What demo.sh prints after the run, for the same arguments: absolute paths, the manifest last.
    arguments = [
        "--run-date",
        RUN_DATE.isoformat(),
        "--paths-output-root",
        str(tmp_path / "second"),
        "--source-sample-fraction",
        "0.3",
        "--source-sample-seed",
        "5",
        "--source-since",
        "-",
        "--source-until",
        "-",
        "--lsi-num-topics",
        "40",
        "--training-folds",
        "3",
        "--training-param-grid",
        '{"C": [0.1, 1.0]}',
        "--training-small-data-param-grid",
        '{"C": [0.1, 1.0]}',
        "--training-small-data-cv-repeats",
        "1",
    ]
    printed = subprocess.run(
        [sys.executable, "scripts/print_manifest_path.py", *arguments],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != "LUIGI_CONFIG_PATH"},
    )
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.splitlines()
    assert [line.split(": ")[0] for line in lines[:-1]] == ["report", "rule report", "scores"]
    assert lines[-1] == str(manifest_path.resolve())
    for line in lines[:-1]:
        path = Path(line.split(": ", 1)[1])
        assert path.is_absolute() and path.is_file(), line


def test_score_batch_on_a_fresh_window(sample_sqlite, pipeline_env, luigi_config, tmp_path, capsys):
    pipeline_env(sample_sqlite)
    # Train on the first ~4,000 messages (7 minutes apart from 2026-01-01 08:00) ...
    manifest_path, manifest = run_small_training(luigi_config, tmp_path / "train", until="2026-01-20 12:00")
    published = tmp_path / "published" / "model.json"
    published.parent.mkdir()
    shutil.copy(manifest_path.parent / manifest["artifacts"]["model_json"], published)
    # ... then score only the later ones with the published model, no retraining.
    luigi_config(
        {"source": {"since": "2026-01-20 12:00", "until": ""}, "paths": {"output_root": str(tmp_path / "score")}}
    )
    result = run_luigi([ScoreBatch(run_date=RUN_DATE, model_json=str(published))])
    assert result.scheduling_succeeded, result.summary_text
    families = {task.get_task_family() for task in _summary_dict(result.worker)["completed"]}
    assert families == {
        "PlanShards",
        "ExtractShard",
        "ExtractMessages",
        "ScoreShard",
        "ScoreMessages",
        "ExportScores",
        "ReviewSample",
        "ReadFeedback",
        "EvaluateFeedback",
        "ScoreBatch",
    }
    (batch_path,) = (tmp_path / "score").rglob("batch.json")
    batch = json.loads(batch_path.read_text())
    rows = batch["rows"]
    assert rows["extracted"] == 5574 - manifest["rows"]["extracted"]
    assert rows["scored"] + rows["unscorable"] == rows["extracted"]
    with (
        open(batch_path.parent / batch["artifacts"]["scores_csv"]) as scores,
        open(batch_path.parent / batch["artifacts"]["unscorable_csv"]) as bad,
    ):
        assert len(list(csv.DictReader(scores))) + len(list(csv.DictReader(bad))) == rows["extracted"]
    assert batch["model_id"] == json.loads(published.read_text())["model_id"]
    printed = capsys.readouterr().out.splitlines()
    assert printed[-3:] == [f"scores.csv: {(batch_path.parent / batch['artifacts']['scores_csv']).resolve()}",
                            f"unscorable.csv: {(batch_path.parent / batch['artifacts']['unscorable_csv']).resolve()}",
                            f"batch.json: {batch_path.resolve()}"]

    # A release directory (published/current) scores with every class it holds.
    model = json.loads(published.read_text())
    files, classes = release_files(
        model, {}, {name: {"decision": "publish", "reason": "test"} for name in model["classes"]}
    )
    publish_release(tmp_path / "releases", "2026-01-20-test", files, {"classes": classes}, keep=5)
    luigi_config({"paths": {"output_root": str(tmp_path / "score-release")}})
    result = run_luigi([ScoreBatch(run_date=RUN_DATE, model_json=str(tmp_path / "releases" / "current"))])
    assert result.scheduling_succeeded, result.summary_text
    (release_batch_path,) = (tmp_path / "score-release").rglob("batch.json")
    release_batch = json.loads(release_batch_path.read_text())
    assert release_batch["rows"] == rows
    assert release_batch["model_json"] == str((tmp_path / "releases" / "releases" / "2026-01-20-test").resolve())
    with open(release_batch_path.parent / release_batch["artifacts"]["scores_csv"]) as scores:
        header = next(csv.reader(scores))
    assert header == ["id"] + [
        f"{name}_{column}" for name in sorted(model["classes"]) for column in ("score", "decision")
    ]


def test_score_batch_with_a_missing_model_fails(sample_sqlite, pipeline_env, tmp_path, caplog):
    pipeline_env(sample_sqlite)
    assert not run_luigi([ScoreBatch(run_date=RUN_DATE, model_json=str(tmp_path / "nope.json"))]).scheduling_succeeded
    assert "nope.json' does not exist" in caplog.text
    assert not run_luigi([ScoreBatch(run_date=RUN_DATE, model_json=str(tmp_path))]).scheduling_succeeded
    assert "is a directory but not a release (it has no release.json)" in caplog.text


def completed(result) -> set[str]:
    return {task.get_task_family() for task in _summary_dict(result.worker)["completed"]}


def test_editing_one_rule_reruns_labelling_and_downstream_only(sample_sqlite, pipeline_env, luigi_config, tmp_path):
    pipeline_env(sample_sqlite)
    rules = tmp_path / "labels"
    shutil.copytree(REPO_ROOT / "dictionaries" / "labels", rules)
    luigi_config({"labelling": {"rules_dir": str(rules)}})
    run_small_training(luigi_config, tmp_path / "runs", sample_fraction="0.3")
    assert completed(run_luigi([TrainPipeline(run_date=RUN_DATE)])) == set()  # nothing changed: no-op

    spam = rules / "spam.txt"
    spam.write_text(spam.read_text() + "\\bbonus\\b\n")
    again = run_luigi([TrainPipeline(run_date=RUN_DATE)])
    assert again.scheduling_succeeded
    assert completed(again) == {
        "LabelShard", "LabelMessages", "RuleReport", "EmbedMessages", "GridSearchFold",
        "GridSearch", "CrossValidate", "FitClassifier", "TrainClassifiers",
        "ExportModelJson", "ScoreShard", "ScoreMessages", "TrainingReport", "TrainPipeline", "ReviewSample",
        "EvaluateFeedback",
    }
