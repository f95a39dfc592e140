"""A transient database error during extraction is retried within the same run, a bounded number of times."""
import datetime as dt

import sqlalchemy as sa
from luigi.execution_summary import LuigiStatusCode, _summary_dict

import tasks.extract
from tasks.extract import ExtractMessages
from tests.conftest import run_luigi

RUN_DATE = dt.date(2026, 11, 23)


def flaky_engine(failures: int, calls: list):
    """make_engine that raises a dropped-connection error `failures` times, then works."""
    real = tasks.extract.make_engine

    def make(url):
        calls.append(url)
        if len(calls) <= failures:
            raise sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))
        return real(url)

    return make


def test_dropped_connection_is_retried_then_succeeds(tiny_sqlite, pipeline_env, luigi_config, monkeypatch):
    pipeline_env(tiny_sqlite)
    luigi_config({"database": {"retries": 2}, "scheduler": {"retry_delay": 0.5}})
    calls: list = []
    monkeypatch.setattr(tasks.extract, "make_engine", flaky_engine(1, calls))
    result = run_luigi([ExtractMessages(run_date=RUN_DATE)])
    assert result.status == LuigiStatusCode.SUCCESS_WITH_RETRY, result.summary_text
    assert len(calls) == 2  # one failure, one retry that worked


def test_retries_are_bounded(tiny_sqlite, pipeline_env, luigi_config, monkeypatch):
    pipeline_env(tiny_sqlite)
    luigi_config({"database": {"retries": 2}, "scheduler": {"retry_delay": 0.5}})
    calls: list = []
    monkeypatch.setattr(tasks.extract, "make_engine", flaky_engine(100, calls))
    result = run_luigi([ExtractMessages(run_date=RUN_DATE)])
    assert not result.scheduling_succeeded
    assert len(calls) == 3  # the first attempt and two retries, then the run fails
    assert {t.get_task_family() for t in _summary_dict(result.worker)["failed"]} == {"ExtractMessages"}
