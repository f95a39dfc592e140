"""Only transient database errors are retried, within the extraction task, a bounded number of times.

A dropped connection, a connection timeout, a locked sqlite file: tried again `[database] retries`
times. No rows, a missing table or column, bad credentials, the statement timeout, a type error:
one attempt, one line. (Real Postgres faults: tests/end_to_end/test_postgres_faults.py.)
"""

import datetime as dt
import sqlite3

import pytest
import sqlalchemy as sa
from luigi.execution_summary import LuigiStatusCode, _summary_dict

import tasks.extract
from sortbox.extract import SourceError, is_transient_error, with_retries
from tasks.extract import ExtractMessages
from tests.conftest import make_messages_db, run_luigi

RUN_DATE = dt.date(2026, 11, 23)


def operational(message: str) -> sa.exc.OperationalError:
    return sa.exc.OperationalError("SELECT 1", {}, Exception(message))


TRANSIENT = [
    operational("server closed the connection unexpectedly"),
    operational("terminating connection due to administrator command"),
    operational('connection to server at "db", port 5432 failed: Connection refused'),
    operational("timeout expired"),
    operational("database is locked"),
]
PERMANENT = [
    operational(
        'connection to server at "db", port 5432 failed: FATAL:  password authentication failed for user "sortbox"'
    ),
    operational('FATAL:  role "nobody" does not exist'),
    sa.exc.ProgrammingError("SELECT", {}, Exception('relation "messages" does not exist')),
    sa.exc.OperationalError("SELECT", {}, Exception("no such table: messages")),
    SourceError("no rows to extract from table 'messages'"),
    TypeError("unsupported operand type(s)"),
]


def flaky_engine(errors: list[Exception], calls: list):
    """make_engine that raises the given errors in turn, then works."""
    real = tasks.extract.make_engine

    def make(url):
        calls.append(url)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return real(url)

    return make


@pytest.fixture
def quick_retries(tiny_sqlite, pipeline_env, luigi_config):
    pipeline_env(tiny_sqlite)
    luigi_config({"database": {"retries": 2, "retry_delay_seconds": 0.05}})


@pytest.mark.parametrize("error", TRANSIENT, ids=lambda e: str(e.orig)[:40])
def test_a_transient_error_is_retried_then_succeeds(quick_retries, monkeypatch, error):
    calls: list = []
    monkeypatch.setattr(tasks.extract, "make_engine", flaky_engine([error], calls))
    result = run_luigi([ExtractMessages(run_date=RUN_DATE)])
    assert result.status == LuigiStatusCode.SUCCESS, result.summary_text
    assert len(calls) == 3  # the plan: one failure, one retry that worked; then the one shard


def test_retries_are_bounded(quick_retries, monkeypatch):
    calls: list = []
    monkeypatch.setattr(tasks.extract, "make_engine", flaky_engine([TRANSIENT[0]] * 100, calls))
    result = run_luigi([ExtractMessages(run_date=RUN_DATE)])
    assert not result.scheduling_succeeded
    assert len(calls) == 3  # the first attempt and two retries, then the run fails
    # The first task to read the database: the plan. No shard reads anything without one.
    assert {t.get_task_family() for t in _summary_dict(result.worker)["failed"]} == {"PlanShards"}


@pytest.mark.parametrize("error", PERMANENT, ids=lambda e: type(e).__name__ + ":" + str(getattr(e, "orig", e))[:40])
def test_a_permanent_error_is_tried_once(quick_retries, monkeypatch, caplog, error):
    calls: list = []
    monkeypatch.setattr(tasks.extract, "make_engine", flaky_engine([error] * 3, calls))
    result = run_luigi([ExtractMessages(run_date=RUN_DATE)])
    assert not result.scheduling_succeeded
    assert len(calls) == 1
    assert "a transient error: retrying" not in caplog.text


@pytest.mark.parametrize(
    "case, config, message",
    [
        ("missing table", {"table": "nope"}, "table 'nope' does not exist in the database"),
        ("missing column", {"text_column": "nope"}, "text_column 'nope' is not a column of table 'messages'"),
        ("no rows", {"since": "2030-01-01"}, "no rows to extract"),
    ],
)
def test_real_permanent_sqlite_errors_are_tried_once(
    quick_retries, luigi_config, monkeypatch, caplog, case, config, message
):
    calls: list = []
    monkeypatch.setattr(tasks.extract, "make_engine", flaky_engine([], calls))
    luigi_config({"source": config})
    result = run_luigi([ExtractMessages(run_date=RUN_DATE)])
    assert not result.scheduling_succeeded
    assert len(calls) == 1, case
    assert message in caplog.text
    assert "a transient error: retrying" not in caplog.text


def test_a_locked_sqlite_file_is_transient_and_a_missing_table_is_not(tmp_path):
    url = f"sqlite:///{tmp_path / 'locked.sqlite'}"
    make_messages_db(url, [(1, "hello there", "ham")])
    holder = sqlite3.connect(tmp_path / "locked.sqlite")
    holder.execute("BEGIN EXCLUSIVE")
    engine = sa.create_engine(url, connect_args={"timeout": 0})
    try:
        with pytest.raises(sa.exc.OperationalError) as locked:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT count(*) FROM messages")).scalar()
        holder.rollback()
        with pytest.raises(sa.exc.OperationalError) as missing:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT count(*) FROM nope")).scalar()
    finally:
        holder.close()
        engine.dispose()
    assert "database is locked" in str(locked.value) and is_transient_error(locked.value)
    assert "no such table" in str(missing.value) and not is_transient_error(missing.value)


def test_with_retries_waits_between_attempts_and_gives_up_on_a_permanent_error():
    waits, seen = [], []
    errors = iter([TRANSIENT[0], TRANSIENT[1], "done"])

    def attempt():
        item = next(errors)
        if isinstance(item, Exception):
            raise item
        return item

    assert (
        with_retries(
            attempt,
            retries=2,
            delay_seconds=3,
            on_retry=lambda e, n, total: seen.append((n, total)),
            sleep=waits.append,
        )
        == "done"
    )
    assert waits == [3, 3] and seen == [(1, 3), (2, 3)]

    def permanent():
        waits.append("attempt")
        raise PERMANENT[0]

    waits.clear()
    with pytest.raises(sa.exc.OperationalError):
        with_retries(permanent, retries=5, delay_seconds=3, sleep=waits.append)
    assert waits == ["attempt"]
