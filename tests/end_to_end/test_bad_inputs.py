"""The bad-input catalogue (README, "Bad input: what happens") on real tables, through the tasks.

Each row of the README's table names the test that shows it; these are the ones that need a whole
table or task run rather than a unit test.
"""
from __future__ import annotations

import datetime as dt
import json
import sqlite3

import pyarrow.parquet as pq
import pytest

from sortbox.checkpoint import read_json
from tasks.clean import CleanMessages
from tasks.export import ExportModelJson
from tasks.score import ScoreMessages
from tasks.train import GridSearch
from tests.conftest import TINY_CORPUS, make_messages_db, run_luigi
from tests.unit.test_export_scoring import tiny_model

RUN_DATE = dt.date(2026, 11, 24)
MEGABYTE_TEXT = "win a prize " * 90_000  # 1,080,000 characters


@pytest.fixture
def hostile_table(tmp_path):
    """A sqlite table (no primary key, as exported tables often are) holding one of each bad row
    next to good ones, the non-UTF-8 bytes written raw."""
    path = tmp_path / "hostile.sqlite"
    good = [(100 + i, body, truth) for i, (_, body, truth) in enumerate(TINY_CORPUS)]
    bad = [
        (1, None, "ham"),
        (2, "", "ham"),
        (3, " \t\n  ", "ham"),
        (4, "\U0001f600\U0001f389", "ham"),
        (5, "hi\x00there\x07", "ham"),
        (6, MEGABYTE_TEXT, "spam"),
        (7, "first copy", "ham"),
        (7, "second copy", "ham"),
    ]
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE messages (id INTEGER, sender TEXT, received_at TEXT, body TEXT, truth TEXT)")
        conn.executemany(
            "INSERT INTO messages VALUES (?, '+447700900000', ?, ?, ?)",
            [(i, f"2026-01-01 00:{i % 60:02d}:00", body, truth) for i, body, truth in good + bad],
        )
        conn.execute(
            "INSERT INTO messages VALUES (9, '+447700900000', '2026-01-01 00:09:00', CAST(x'fffe41' AS TEXT), 'ham')"
        )
    return f"sqlite:///{path}", len(good) + len(bad) + 1


def test_every_bad_row_is_quarantined_with_its_reason_and_nothing_is_lost(hostile_table, pipeline_env):
    url, rows = hostile_table
    pipeline_env(url)
    result = run_luigi([CleanMessages(run_date=RUN_DATE)])
    assert result.scheduling_succeeded, result.summary_text
    out = CleanMessages(run_date=RUN_DATE).output_dir()
    quarantine = pq.read_table(out / "quarantine.parquet").to_pylist()
    reasons = sorted((row["id"], row["reason"]) for row in quarantine)
    assert reasons == [
        ("1", "null_text"),
        ("2", "empty_text"),
        ("3", "empty_text"),
        ("4", "empty_after_cleaning"),
        ("5", "control_characters"),
        ("6", "too_long"),
        ("7", "duplicate_id"),
        ("7", "duplicate_id"),
        ("9", "undecodable_bytes"),
    ]
    assert next(row for row in quarantine if row["id"] == "6")["text"] == MEGABYTE_TEXT  # kept whole, not truncated
    summary = read_json(out / "summary.json")
    assert summary["extracted"] == rows == summary["clean"] + summary["quarantined"]


def test_a_class_with_no_positive_message_is_skipped_with_its_reason(
    sample_sqlite, pipeline_env, luigi_config, tmp_path
):
    pipeline_env(sample_sqlite)
    rules = tmp_path / "labels"
    rules.mkdir()
    (rules / "spam.txt").write_text("\\bprize\\b\n")
    (rules / "never.txt").write_text("\\bzqxjkv\\b\n")  # matches no message
    luigi_config({"labelling": {"rules_dir": str(rules)}, "lsi": {"num_topics": "10"}})
    result = run_luigi([GridSearch(run_date=RUN_DATE, class_name="never")])
    assert result.scheduling_succeeded, result.summary_text
    grid = read_json(GridSearch(run_date=RUN_DATE, class_name="never").output_dir() / "grid.json")
    assert grid["status"] == "skipped" and grid["reason"].startswith(
        "0 positive messages, fewer than the 3 cross-validation folds"
    )


def test_all_rows_unscorable_fails_the_scoring_with_the_reasons(tmp_path, pipeline_env, caplog):
    url = f"sqlite:///{tmp_path / 'unscorable.sqlite'}"
    make_messages_db(url, [(1, "you a you", "ham"), (2, "nothing known here", "ham"), (3, "", "ham")])
    pipeline_env(url)
    model = tmp_path / ExportModelJson.artifact("model")
    model.write_text(json.dumps(tiny_model()))
    result = run_luigi([ScoreMessages(run_date=RUN_DATE, model_json=str(model))])
    assert not result.scheduling_succeeded
    assert "none of the 3 rows could be scored: {'no_known_term': 2, 'quarantined:empty_text': 1}" in caplog.text
    assert not ScoreMessages(run_date=RUN_DATE, model_json=str(model)).output().exists()
