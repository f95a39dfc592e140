"""Real database faults on Postgres: a connection killed mid-extract, Postgres down, a statement timeout.

Each runs the luigi command in a subprocess, as cron does; the postgres fixtures skip loudly when
no Postgres is reachable and fail under CI=true.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from sortbox.extract import APPLICATION_NAME
from tests.conftest import REPO_ROOT, _postgres_url, make_messages_db

ROWS = 60_000
TIMEOUT = 300


def luigi_command(root: Path, table: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "luigi",
        "--module",
        "tasks.extract",
        "ExtractMessages",
        "--local-scheduler",
        "--run-date",
        "2026-11-24",
        "--paths-output-root",
        str(root),
        "--source-table",
        table,
        "--source-chunk-size",
        "500",
        "--database-retry-delay-seconds",
        "0.5",
        *extra,
    ]


def env_for(url: str) -> dict:
    env = {**os.environ, "SORTBOX_DB_URL": url, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("LUIGI_CONFIG_PATH", None)
    return env


def extracted(root: Path) -> pq.Table:
    (path,) = root.glob("*/ExtractMessages-*/messages.parquet")
    return pq.read_table(path)


@pytest.fixture
def big_table(postgres_engine, postgres_table):
    make_messages_db(
        _postgres_url(),
        [(i, f"message number {i} with some words", "ham") for i in range(1, ROWS + 1)],
        table=postgres_table,
    )
    return postgres_table


def test_connection_terminated_mid_extract_is_retried_with_the_same_result(postgres_engine, big_table, tmp_path):
    clean_root, chaos_root = tmp_path / "clean", tmp_path / "chaos"
    done = subprocess.run(
        luigi_command(clean_root, big_table),
        cwd=REPO_ROOT,
        env=env_for(_postgres_url()),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    run = subprocess.Popen(
        luigi_command(chaos_root, big_table, "--database-retries", "2"),
        cwd=REPO_ROOT,
        env=env_for(_postgres_url()),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    terminated = []
    deadline = time.monotonic() + 60
    with postgres_engine.connect() as conn:
        # The extraction's session, once it is streaming (a server-side cursor between two fetches).
        while not terminated and time.monotonic() < deadline and run.poll() is None:
            pids = (
                conn.execute(
                    sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :name AND query ILIKE :select"),
                    {"name": APPLICATION_NAME, "select": f"%FROM%{big_table}%"},
                )
                .scalars()
                .all()
            )
            for pid in pids:
                terminated.append(conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar())
            conn.commit()
            time.sleep(0.005)
    out, err = run.communicate(timeout=TIMEOUT)
    assert terminated and all(terminated), "the extraction finished before its connection could be terminated"
    assert run.returncode == 0, err[-3000:]
    dropped = "terminating connection due to administrator command" in err or "server closed the connection" in err
    assert dropped, err[-3000:]
    assert extracted(chaos_root).equals(extracted(clean_root))


RETRIED = "a transient error: retrying"


def test_postgres_down_is_a_clear_error_and_nothing_is_written(tmp_path):
    down = "postgresql+psycopg2://sortbox:s3cret-password@127.0.0.1:1/test"
    done = subprocess.run(
        luigi_command(tmp_path / "runs", "messages", "--database-retries", "1"),
        cwd=REPO_ROOT,
        env=env_for(down),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 30  # [retcode] task_failed
    # A refused connection may be a restart: tried again once.
    assert done.stderr.count(RETRIED) == 1, done.stderr[-3000:]
    assert "database error while reading table 'messages' from postgresql" in done.stderr, done.stderr[-3000:]
    assert "Connection refused" in done.stderr
    assert "s3cret-password" not in done.stdout + done.stderr
    assert not list(tmp_path.rglob("ExtractMessages-*"))


def test_statement_timeout_is_a_clear_error(postgres_engine, postgres_table, tmp_path):
    # A view whose every row sleeps: counting it outlasts a 1 s statement timeout.
    make_messages_db(_postgres_url(), [(i, f"text {i}", None) for i in range(1, 4)], table=postgres_table)
    view = f"{postgres_table}_slow"
    with postgres_engine.begin() as conn:
        slow = f'SELECT id, body, received_at, truth FROM "{postgres_table}" WHERE pg_sleep(1) IS NOT NULL'
        conn.execute(sa.text(f'CREATE VIEW "{view}" AS {slow}'))
    try:
        done = subprocess.run(
            luigi_command(
                tmp_path / "runs", view, "--database-retries", "2", "--database-statement-timeout-seconds", "1"
            ),
            cwd=REPO_ROOT,
            env=env_for(_postgres_url()),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    finally:
        with postgres_engine.begin() as conn:
            conn.execute(sa.text(f'DROP VIEW IF EXISTS "{view}"'))
    assert done.returncode == 30, done.stderr[-3000:]
    assert (
        f"reading table '{view}'" in done.stderr and "took longer than the statement timeout of 1 s" in done.stderr
    ), done.stderr[-3000:]
    assert RETRIED not in done.stderr  # the same query would run as long again: one attempt
    assert not list(tmp_path.rglob("ExtractMessages-*"))


@pytest.mark.parametrize("problem", ["unknown role", "unknown database"])
def test_bad_credentials_are_tried_once(postgres_engine, tmp_path, problem):
    url = sa.engine.make_url(_postgres_url())
    url = (
        url.set(username="sortbox_nobody")
        if problem == "unknown role"
        else url.set(database="sortbox_no_such_database")
    )
    done = subprocess.run(
        luigi_command(tmp_path / "runs", "messages", "--database-retries", "2"),
        cwd=REPO_ROOT,
        env=env_for(url.render_as_string(hide_password=False)),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 30, done.stderr[-3000:]
    assert "does not exist" in done.stderr and "database error while reading table 'messages'" in done.stderr, (
        done.stderr[-3000:]
    )
    assert RETRIED not in done.stderr
