"""ExtractMessages and CleanMessages as luigi tasks, on tiny sqlite databases."""
import datetime as dt
import sqlite3

import pyarrow.parquet as pq
import pytest

from sortbox.checkpoint import read_json
from sortbox.shards import shard_key
from tasks.clean import CleanMessages
from tasks.extract import ExtractMessages
from tests.conftest import TINY_CORPUS, make_messages_db, run_luigi

RUN_DATE = dt.date(2026, 11, 23)

BAD_ROWS = [
    (1, "A perfectly normal message", "ham"),
    (2, None, "ham"),
    (3, "", "ham"),
    (4, "   \t  ", "ham"),
    (5, "\U0001F600\U0001F389\U0001F44D", "ham"),
    (6, "binary\x00junk\x01here", "ham"),
    (7, "x" * 1_000_000, "spam"),
    (8, "Another normal one", "spam"),
]


def test_extract_then_clean_counts_add_up(tmp_path, pipeline_env):
    url = f"sqlite:///{tmp_path / 'bad.sqlite'}"
    make_messages_db(url, BAD_ROWS)
    with sqlite3.connect(tmp_path / "bad.sqlite") as conn:  # a duplicate id and undecodable bytes
        conn.execute("CREATE TABLE copy AS SELECT * FROM messages")
        conn.execute("DROP TABLE messages")
        conn.execute("CREATE TABLE messages (id INTEGER, sender TEXT, received_at TIMESTAMP, body TEXT, truth TEXT)")
        conn.execute("INSERT INTO messages SELECT * FROM copy")
        conn.execute("INSERT INTO messages VALUES (8, NULL, NULL, 'same id again', 'ham')")
        conn.execute("INSERT INTO messages VALUES (9, NULL, NULL, CAST(x'48c328' AS TEXT), 'ham')")
    root = pipeline_env(url)
    result = run_luigi([CleanMessages(run_date=RUN_DATE)])
    assert result.scheduling_succeeded, result.summary_text
    clean_dir = next((root / "2026-11-23").glob("CleanMessages-*"))
    summary = read_json(clean_dir / "summary.json")
    quarantine = pq.read_table(clean_dir / "quarantine.parquet").to_pylist()
    reasons = {row["id"]: row["reason"] for row in quarantine if row["reason"] != "duplicate_id"}
    assert reasons == {
        "2": "null_text",
        "3": "empty_text",
        "4": "empty_text",
        "5": "empty_after_cleaning",
        "6": "control_characters",
        "7": "too_long",
        "9": "undecodable_bytes",
    }
    assert sorted(r["id"] for r in quarantine if r["reason"] == "duplicate_id") == ["8", "8"]
    assert pq.read_table(clean_dir / "clean.parquet").column("id").to_pylist() == ["1"]
    assert summary == {
        "extracted": 10,
        "clean": 1,
        "quarantined": 9,
        "reasons": {
            "control_characters": 1,
            "duplicate_id": 2,
            "empty_after_cleaning": 1,
            "empty_text": 2,
            "null_text": 1,
            "too_long": 1,
            "undecodable_bytes": 1,
        },
    }
    # The 1 MB text is kept whole in quarantine: nothing is lost.
    assert len(next(r["text"] for r in quarantine if r["id"] == "7")) == 1_000_000


def test_second_run_is_a_noop_and_a_parameter_change_reruns_dependents(tiny_sqlite, pipeline_env, luigi_config):
    root = pipeline_env(tiny_sqlite)
    first = run_luigi([CleanMessages(run_date=RUN_DATE)])
    assert first.scheduling_succeeded
    # One shard ([shards] count = 1): the plan, the shard's extraction and cleaning, the combination.
    stages = ["CleanMessages", "CleanShard", "ExtractShard", "PlanShards"]
    assert {t.get_task_family() for t in first.worker._scheduled_tasks.values()} == set(stages)
    again = run_luigi([CleanMessages(run_date=RUN_DATE)])
    assert "Did not run any tasks" in again.summary_text
    assert sorted(p.name.split("-")[0] for p in (root / "2026-11-23").iterdir()) == stages

    # A cleaning option changes the cleaning tasks only; a source option changes them all.
    luigi_config({"cleaning": {"digits": "keep"}})
    assert run_luigi([CleanMessages(run_date=RUN_DATE)]).scheduling_succeeded
    names = sorted(p.name.split("-")[0] for p in (root / "2026-11-23").iterdir())
    assert names == sorted(stages + ["CleanMessages", "CleanShard"])
    luigi_config({"source": {"sample_fraction": "0.5"}})
    assert run_luigi([CleanMessages(run_date=RUN_DATE)]).scheduling_succeeded
    names = sorted(p.name.split("-")[0] for p in (root / "2026-11-23").iterdir())
    assert names == sorted(stages * 2 + ["CleanMessages", "CleanShard"])


def test_clean_text_in_checkpoint(tiny_sqlite, pipeline_env):
    root = pipeline_env(tiny_sqlite)
    assert run_luigi([CleanMessages(run_date=RUN_DATE)]).scheduling_succeeded
    clean = pq.read_table(next((root / "2026-11-23").glob("CleanMessages-*")) / "clean.parquet").to_pylist()
    assert [r["id"] for r in clean] == sorted((str(i) for i, _, _ in TINY_CORPUS), key=shard_key)
    first = next(r for r in clean if r["id"] == "1")
    assert first["text"] == "winner!! you have won a £0000 prize. call 00000000000 now to claim"
    assert first["rule_text"] == TINY_CORPUS[0][1]


@pytest.mark.parametrize(
    "config, message",
    [
        ({"source": {"table": "messages; DROP TABLE messages"}}, "does not exist in the database"),
        ({"source": {"text_column": "nope"}}, "text_column 'nope' is not a column"),
        ({"source": {"since": "2030-01-01"}}, "no rows to extract"),
        ({"source": {"since": "yesterday"}}, "is not an ISO date"),
    ],
)
def test_bad_source_fails_the_run_with_a_clear_error(tiny_sqlite, pipeline_env, luigi_config, caplog, config, message):
    root = pipeline_env(tiny_sqlite)
    luigi_config(config)
    result = run_luigi([CleanMessages(run_date=RUN_DATE)])
    assert not result.scheduling_succeeded
    assert message in caplog.text
    assert not root.exists() or not any(root.rglob("*.parquet"))


def test_empty_table_fails(tmp_path, pipeline_env, caplog):
    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    make_messages_db(url, [])
    pipeline_env(url)
    assert not run_luigi([ExtractMessages(run_date=RUN_DATE)]).scheduling_succeeded
    assert "no rows to extract from table 'messages'" in caplog.text


def test_all_rows_quarantined_fails(tmp_path, pipeline_env, caplog):
    url = f"sqlite:///{tmp_path / 'junk.sqlite'}"
    make_messages_db(url, [(1, "", "ham"), (2, "\U0001F600", "ham")])
    pipeline_env(url)
    assert not run_luigi([CleanMessages(run_date=RUN_DATE)]).scheduling_succeeded
    assert "all 2 extracted rows were quarantined" in caplog.text
