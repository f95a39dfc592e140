"""ScoreMessages: the run's own model reuses the run's cleaned rows; any other model cleans again; any id
round-trips; a bad model file fails the task naming the file."""
import csv
import datetime as dt
import json
import os
import sqlite3

from luigi.execution_summary import LuigiStatusCode

from sortbox.clean import same_cleaning
from sortbox.export import model_json_bytes
from sortbox.model_file import ModelFileError, read_model_file
from sortbox.portable_scorer import csv_unescape
from sortbox.scoring import ModelSet
from tasks.config import cleaning
from tasks.export import ExportModelJson
from tasks.score import ScoreMessages, ScoreShard, load_models
from tests.conftest import run_luigi, run_luigi_command
from tests.model_fuzz import KINDS, mutations
from tests.unit.test_export_scoring import tiny_model
from tests.unit.test_portable_scorer_io import HOSTILE_IDS, texts_for
from workflows.score import ScoreBatch

RUN_DATE = dt.date(2026, 11, 24)


def rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return sorted(map(tuple, csv.reader(handle)))


def test_the_runs_own_model_cleans_like_the_run_even_after_json(sample_sqlite, pipeline_env, luigi_config):
    pipeline_env(sample_sqlite)
    luigi_config({"lsi": {"num_topics": "20"}})
    result = run_luigi([ScoreMessages(run_date=RUN_DATE)])
    assert result.scheduling_succeeded, result.summary_text
    model_path = ExportModelJson(run_date=RUN_DATE).output_path("model")
    # The model's cleaning spec has been through JSON (tuples became lists): still the same cleaning.
    assert same_cleaning(ModelSet(load_models(model_path)).cleaning_options(), cleaning().options())
    assert "clean" in ScoreShard(run_date=RUN_DATE, shard=0).requires()
    assert "clean" not in ScoreShard(run_date=RUN_DATE, shard=0, model_json=str(model_path)).requires()

    # The same model given as a file cleans the extracted rows again: the same rows either way.
    again = run_luigi([ScoreMessages(run_date=RUN_DATE, model_json=str(model_path))])
    assert again.scheduling_succeeded, again.summary_text
    reused, recleaned = (
        ScoreMessages(run_date=RUN_DATE).output_dir(),
        ScoreMessages(run_date=RUN_DATE, model_json=str(model_path)).output_dir(),
    )
    assert reused != recleaned
    for name in ("scores.csv", "unscorable.csv"):
        assert rows(reused / name) == rows(recleaned / name)
    summary = json.loads((reused / "summary.json").read_text())
    assert summary["unscorable"] > 0 and summary["scored"] + summary["unscorable"] == summary["extracted"]


def test_other_cleaning_settings_are_not_the_same_cleaning(luigi_config):
    luigi_config({"cleaning": {"lowercase": "false"}})
    changed = cleaning().options()
    luigi_config({"cleaning": {"lowercase": "true"}})
    assert not same_cleaning(changed, cleaning().options())


def test_any_id_round_trips_through_score_messages(tmp_path, pipeline_env, luigi_config):
    database = tmp_path / "ids.sqlite"
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE messages (id TEXT PRIMARY KEY, body TEXT)")
        conn.executemany("INSERT INTO messages VALUES (?, ?)", texts_for(HOSTILE_IDS))
    pipeline_env(f"sqlite:///{database}")
    luigi_config({"source": {"timestamp_column": "", "label_column": "", "since": "", "until": ""}})
    model = tmp_path / "model.json"
    model.write_bytes(model_json_bytes(tiny_model()))
    task = ScoreMessages(run_date=dt.date(2026, 11, 24), model_json=str(model))
    result = run_luigi([task])
    assert result.scheduling_succeeded, result.summary_text
    with (
        open(task.output_dir() / "scores.csv", newline="", encoding="utf-8") as scores,
        open(task.output_dir() / "unscorable.csv", newline="", encoding="utf-8") as bad,
    ):
        scored, unscorable = list(csv.reader(scores)), list(csv.reader(bad))
    assert all(len(row) == 3 for row in scored) and all(len(row) == 2 for row in unscorable)
    assert sorted(csv_unescape(row[0]) for row in scored[1:]) == sorted(HOSTILE_IDS[0::3])
    assert sorted((csv_unescape(i), r) for i, r in unscorable[1:]) == sorted(
        [(i, "no_known_term") for i in HOSTILE_IDS[1::3]] + [(i, "quarantined:empty_text") for i in HOSTILE_IDS[2::3]])


def test_score_batch_fails_on_fuzzed_model_files_naming_them(tiny_sqlite, pipeline_env, luigi_config, tmp_path, caplog):
    """A sample of the fuzz test's mutated model files (3 of each kind, tests/model_fuzz.py): each bad
    one fails ScoreMessages with one line naming the file; the harmless edits score."""
    pipeline_env(tiny_sqlite)
    luigi_config({"source": {"since": "", "until": ""}})
    for number, (kind, data) in enumerate(mutations(tiny_model(), 3 * len(KINDS), seed=29)):
        path = tmp_path / f"{number:02d}-{kind}.json"
        path.write_bytes(data)
        try:
            read_model_file(path)
            expected = None
        except ModelFileError as refused:
            expected = str(refused)
        caplog.clear()
        result = run_luigi([ScoreBatch(run_date=RUN_DATE, model_json=str(path))])
        if expected is None:
            assert result.status == LuigiStatusCode.SUCCESS, (path, result.summary_text)
        else:
            assert result.status == LuigiStatusCode.FAILED, (path, result.summary_text)
            assert f"ModelFileError: {expected}\n" in caplog.text, (path, caplog.text[-2000:])
    assert expected is None  # the last kind is the harmless edit


def test_score_batch_command_line_exits_30_naming_a_bad_model_file(tiny_sqlite, tmp_path):
    path = tmp_path / "hostile.json"
    model = json.loads(model_json_bytes(tiny_model()))
    model["tokenizer"]["pattern"] = "(a+)+$"
    path.write_text(json.dumps(model))
    done = run_luigi_command(
        [
            "--module",
            "workflows.score",
            "ScoreBatch",
            "--local-scheduler",
            "--run-date",
            "2026-11-24",
            "--model-json",
            str(path),
            "--paths-output-root",
            str(tmp_path / "runs"),
            "--source-since",
            "",
            "--source-until",
            "",
        ],
        env={**os.environ, "SORTBOX_DB_URL": tiny_sqlite},
    )
    assert done.returncode == 30, done.stderr[-3000:]
    assert f"ModelFileError: model file {path}: tokenizer.pattern: must be the pattern sortbox writes" in done.stderr
