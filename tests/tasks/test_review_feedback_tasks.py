"""ReviewSample, ReadFeedback, EvaluateFeedback and `[labelling] source = rules+feedback` on small data."""

import csv
import datetime as dt
import json
import sqlite3

import pyarrow.parquet as pq
import pytest
from luigi.task_register import Register

from sortbox.feedback import FeedbackError
from sortbox.portable_scorer import csv_unescape
from sortbox.settings import SettingsError
from tasks.config import check_settings
from tasks.feedback import ReadFeedback
from tasks.label import LabelMessages
from tasks.review import EvaluateFeedback, ReviewSample
from tests.conftest import run_luigi

RUN_DATE = dt.date(2026, 11, 25)


def write_csv(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def test_review_sample_and_feedback_figures_on_the_sample(sample_sqlite, pipeline_env, luigi_config, tmp_path):
    runs = pipeline_env(sample_sqlite)
    truth = dict(
        sqlite3.connect(sample_sqlite.removeprefix("sqlite:///")).execute(
            "select cast(id as text), truth from messages where id <= 40"
        )
    )
    feedback_csv = write_csv(
        tmp_path / "reviewed.csv",
        [
            ["id", "class", "verdict"],
            *[[i, "spam", "yes" if t == "spam" else "no"] for i, t in truth.items()],
            ["no-such-id", "spam", "yes"],
            ["3", "promo", "no"],
        ],
    )
    luigi_config(
        {
            "lsi": {"num_topics": "20"},
            "review": {"size": "12", "seed": "3"},
            "feedback": {"path": str(feedback_csv)},
            "publish": {"root": str(tmp_path / "published")},
        }
    )
    result = run_luigi([ReviewSample(run_date=RUN_DATE), EvaluateFeedback(run_date=RUN_DATE)])
    assert result.scheduling_succeeded, result.summary_text

    review_dir = ReviewSample(run_date=RUN_DATE).output_dir()
    assert review_dir.is_relative_to(runs) and not (tmp_path / "published").exists()
    summary = json.loads((review_dir / "summary.json").read_text())
    assert set(summary["classes"]) == {"notification", "personal", "spam"}
    for name in summary["classes"]:
        with open(review_dir / f"review-{name}.csv", encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert 5 <= len(rows) <= 12 and len({r["id"] for r in rows}) == len(rows)
        assert all(
            r["class"] == name and r["verdict"] == "" and r["decision"] in ("yes", "no") and r["text"] for r in rows
        )
        kinds = {k for r in rows for k in r["sample"].split("+")}
        assert {"highest", "threshold", "random_positive", "random_negative"} <= kinds
        assert "<table>" in (review_dir / f"review-{name}.html").read_text(encoding="utf-8")

    figures = json.loads((EvaluateFeedback(run_date=RUN_DATE).output_dir() / "feedback.json").read_text())
    assert figures["unknown_ids"] == 1 and figures["unknown_classes"] == {"promo": 1}
    assert figures["examples"] == {"unknown_id": [f"{feedback_csv}:42"], "unknown_class": [f"{feedback_csv}:43"]}
    scores_dir = EvaluateFeedback(run_date=RUN_DATE).requires()["scores"].output_dir()
    with open(scores_dir / "scores.csv", encoding="utf-8", newline="") as handle:
        decided = {
            csv_unescape(r["id"]): r["spam_decision"] == "1"
            for r in csv.DictReader(handle)
            if csv_unescape(r["id"]) in truth
        }
    spam = figures["classes"]["spam"]
    tp = sum(decided[i] and truth[i] == "spam" for i in decided)
    assert spam["reviewed"] == len(decided) and spam["reviewed_yes"] == sum(truth[i] == "spam" for i in decided)
    assert spam["precision"]["count"] == sum(decided.values()) and spam["recall"]["value"] == pytest.approx(
        tp / spam["reviewed_yes"]
    )
    assert figures["classes"]["notification"]["reviewed"] == 0


def labelled(run_date=RUN_DATE) -> dict:
    table = pq.read_table(LabelMessages(run_date=run_date).output_dir() / "labels.parquet", columns=["id", "labels"])
    return dict(zip(table.column("id").to_pylist(), table.column("labels").to_pylist()))


def test_rules_plus_feedback_overrides_the_rules_for_reviewed_ids(tiny_sqlite, pipeline_env, luigi_config, tmp_path):
    pipeline_env(tiny_sqlite)
    luigi_config({"labelling": {"source": "rules"}})
    assert run_luigi([LabelMessages(run_date=RUN_DATE)]).scheduling_succeeded
    by_rules = labelled()
    assert "spam" in by_rules["1"] and "spam" not in by_rules["2"]
    feedback_csv = write_csv(
        tmp_path / "fb.csv",
        [
            ["id", "class", "verdict", "reviewed_at"],
            ["1", "spam", "yes", "2026-01-01"],
            ["1", "spam", "no", "2026-01-02"],
            ["2", "spam", "yes", ""],
            ["77", "spam", "yes", ""],
            ["4", "promo", "yes", ""],
        ],
    )
    luigi_config({"labelling": {"source": "rules+feedback"}, "feedback": {"path": str(feedback_csv)}})
    assert run_luigi([LabelMessages(run_date=RUN_DATE)]).scheduling_succeeded
    with_feedback = labelled()
    assert "spam" not in with_feedback["1"] and "spam" in with_feedback["2"]
    assert {i: v for i, v in with_feedback.items() if i not in ("1", "2")} == {
        i: v for i, v in by_rules.items() if i not in ("1", "2")
    }
    summary = json.loads((LabelMessages(run_date=RUN_DATE).output_dir() / "summary.json").read_text())
    assert summary["source"] == "rules+feedback"
    assert summary["feedback"] == {
        "applied": 2,
        "unknown_ids": 1,
        "unknown_classes": {"promo": 1},
        "examples": {"unknown_id": [f"{feedback_csv}:5"], "unknown_class": [f"{feedback_csv}:6"]},
    }


@pytest.mark.parametrize(
    "content, message",
    [
        (b'id,class,verdict\n1,spam,yes\n2,spam,"no\n', r"fb\.csv:\d+: not valid CSV"),
        (b"id,class,verdict\n1,spam,yes\n2,spam,perhaps\n", r"fb\.csv:3: verdict 'perhaps' is not yes or no"),
        (b"id,class\n1,spam\n", r"fb\.csv:1: no verdict column"),
    ],
)
def test_a_bad_feedback_file_fails_naming_file_and_line(
    tiny_sqlite, pipeline_env, luigi_config, tmp_path, content, message
):
    pipeline_env(tiny_sqlite)
    (tmp_path / "fb.csv").write_bytes(content)
    luigi_config({"feedback": {"path": str(tmp_path / "fb.csv")}})
    with pytest.raises(FeedbackError, match=message):
        ReadFeedback(run_date=RUN_DATE).run()
    result = run_luigi([ReadFeedback(run_date=RUN_DATE)])
    assert not result.scheduling_succeeded or result.status.name != "SUCCESS"
    assert not ReadFeedback(run_date=RUN_DATE).output_dir().exists()


def test_the_feedback_table_is_read_and_later_verdicts_win(tiny_sqlite, pipeline_env, luigi_config):
    pipeline_env(tiny_sqlite)
    with sqlite3.connect(tiny_sqlite.removeprefix("sqlite:///")) as conn:
        conn.execute("create table feedback (id text, class text, verdict text, reviewer text, reviewed_at text)")
        conn.executemany(
            "insert into feedback values (?, ?, ?, ?, ?)",
            [
                ("5", "notification", "no", "ann", "2026-01-02 09:00"),
                ("5", "notification", "yes", "bob", "2026-01-03 09:00"),
                ("1", "spam", "YES", "ann", None),
                ("2", "spam", None, "ann", None),
            ],
        )
    luigi_config({"feedback": {"table": "feedback"}})
    assert run_luigi([ReadFeedback(run_date=RUN_DATE)]).scheduling_succeeded
    read = json.loads((ReadFeedback(run_date=RUN_DATE).output_dir() / "verdicts.json").read_text())
    assert sorted(map(tuple, (v[:3] for v in read["verdicts"]))) == [("1", "spam", True), ("5", "notification", True)]
    assert read["superseded"] == 1
    luigi_config({"feedback": {"table": "no_such_table"}})
    with pytest.raises(FeedbackError, match=r"\[feedback\] table 'no_such_table' does not exist"):
        ReadFeedback(run_date=RUN_DATE).run()


@pytest.mark.parametrize(
    "values, message",
    [
        (
            {"labelling": {"source": "rules+feedback"}},
            r"\[labelling\] source = 'rules\+feedback' is not allowed: must be rules or column when neither",
        ),
        ({"feedback": {"min_precision": "1.5"}}, r"\[feedback\] min_precision = 1.5 is not allowed"),
        (
            {"feedback": {"path": "/no/such/feedback.csv"}},
            r"\[feedback\] path = '/no/such/feedback.csv' is not allowed",
        ),
        ({"review": {"size": "2"}}, r"\[review\] size = 2 is not allowed"),
    ],
)
def test_bad_feedback_and_review_settings_are_refused_while_scheduling(luigi_config, values, message):
    luigi_config(values)
    Register.clear_instance_cache()  # a section read earlier with the same values is cached with its checks done
    with pytest.raises(SettingsError, match=message):
        check_settings()


def test_the_gate_keeps_a_class_below_the_feedback_minimum(sample_sqlite, pipeline_env, luigi_config, tmp_path):
    from tasks.publish import GateModels

    pipeline_env(sample_sqlite)
    with sqlite3.connect(sample_sqlite.removeprefix("sqlite:///")) as conn:
        truth = conn.execute("select cast(id as text), truth from messages where id <= 300").fetchall()
    # ham reviewed as the truth says; spam reviewed the wrong way round (every verdict flipped)
    rows = [[i, "ham", "yes" if t == "ham" else "no"] for i, t in truth]
    rows += [[i, "spam", "no" if t == "spam" else "yes"] for i, t in truth]
    feedback_csv = write_csv(tmp_path / "reviewed.csv", [["id", "class", "verdict"], *rows])
    luigi_config(
        {
            "lsi": {"num_topics": "20"},
            "labelling": {"source": "column"},
            "publish": {"root": str(tmp_path / "published")},
            "feedback": {"path": str(feedback_csv), "min_precision": "0.8"},
        }
    )
    result = run_luigi([GateModels(run_date=RUN_DATE)])
    assert result.scheduling_succeeded, result.summary_text
    gate = json.loads((GateModels(run_date=RUN_DATE).output_dir() / "gate.json").read_text())["classes"]
    assert gate["ham"]["decision"] == "publish", gate["ham"]
    assert gate["spam"]["decision"] == "keep"
    assert (
        "precision against" in gate["spam"]["reason"]
        and "below [feedback] min_precision = 0.8" in gate["spam"]["reason"]
    )


def test_score_batch_writes_a_review_sample_and_judges_by_the_feedback(
    tiny_sqlite, pipeline_env, luigi_config, tmp_path
):
    from sortbox.export import model_json_bytes
    from tests.unit.test_export_scoring import tiny_model
    from workflows.score import ScoreBatch

    pipeline_env(tiny_sqlite)
    model = tmp_path / "model.json"
    model.write_bytes(model_json_bytes(tiny_model()))
    feedback_csv = write_csv(
        tmp_path / "fb.csv", [["id", "class", "verdict"], ["1", "spam", "yes"], ["6", "spam", "no"]]
    )
    luigi_config(
        {"source": {"since": "", "until": ""}, "review": {"size": "5"}, "feedback": {"path": str(feedback_csv)}}
    )
    result = run_luigi([ScoreBatch(run_date=RUN_DATE, model_json=str(model))])
    assert result.scheduling_succeeded, result.summary_text
    batch_path = ScoreBatch(run_date=RUN_DATE, model_json=str(model)).output_dir() / "batch.json"
    batch = json.loads(batch_path.read_text())
    review_dir = batch_path.parent / batch["artifacts"]["review_dir"]
    with open(review_dir / "review-spam.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and all(r["class"] == "spam" and r["verdict"] == "" for r in rows)
    assert all(rule.split(":")[0].endswith(".txt") for r in rows for rule in r["rules"].split())
    # The rules were run on the texts themselves (a published model's rows: not this run's labelling).
    assert all(r["text"] for r in rows) and any(r["rules"] for r in rows)
    spam = batch["feedback"]["classes"]["spam"]
    assert spam["reviewed"] + spam["not_scored"] == 2 and batch["feedback"]["unknown_ids"] == 0
