"""ExportScores on sqlite and on the real Postgres: kill -9 in the middle of the load leaves the
table as it was, the rerun writes the run once, a second rerun adds nothing; ScoreBatch exports
every scored id exactly as extracted."""

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import uuid

import pytest
import sqlalchemy as sa

from sortbox.export import model_json_bytes
from sortbox.sink import SinkSpec, export_done, export_scores, iter_score_rows, make_sink_engine
from tasks.sink import ExportScores
from tests.conftest import REPO_ROOT, _postgres_url, run_luigi
from tests.unit.test_export_scoring import tiny_model
from tests.unit.test_portable_scorer_io import HOSTILE_IDS, texts_for
from tests.unit.test_sink import MODEL_IDS, RUN_DATE, write_scores
from workflows.score import ScoreBatch

# Exports scores.csv (argv[2]) into the sink at argv[1] as update_id argv[3], 100 rows a chunk;
# after the first chunk has gone to the database it says so and waits to be killed.
KILLED_EXPORT = """
import sys, time, datetime as dt
from sortbox.sink import SinkSpec, export_scores, iter_score_rows, make_sink_engine
from tests.unit.test_sink import MODEL_IDS
url, path, update_id, table = sys.argv[1:]
spec = SinkSpec(table=table, marker_table=table + "_exports", chunk_rows=100)
def on_chunk(rows):
    print(f"written {rows}", flush=True)
    time.sleep(120)
night = dt.date(2026, 1, 28)
chunks = iter_score_rows(path, MODEL_IDS, night, chunk_rows=100)
export_scores(make_sink_engine(url), spec, chunks, update_id=update_id, run_date=night, on_chunk=on_chunk)
"""


@pytest.fixture(params=["sqlite", "postgres"])
def sink(request, tmp_path):
    """(url, table): a fresh table name in a sqlite file or in the test Postgres (dropped after)."""
    table = f"sink_{uuid.uuid4().hex[:10]}"
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sink.sqlite'}", table
        return
    request.getfixturevalue("postgres_engine")  # skips (or fails under CI) without Postgres
    url = _postgres_url()
    yield url, table
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for name in (table, f"{table}_exports"):
            conn.execute(sa.text(f'DROP TABLE IF EXISTS "{name}"'))
    engine.dispose()


def count(engine, table):
    with engine.connect() as conn:
        return conn.execute(sa.text(f'SELECT count(*) FROM "{table}"')).scalar_one()


def test_kill_9_in_the_middle_leaves_the_table_as_before_and_the_rerun_writes_once(sink, tmp_path):
    url, table = sink
    spec = SinkSpec(table=table, marker_table=f"{table}_exports", chunk_rows=100)
    engine = make_sink_engine(url)
    earlier = write_scores(tmp_path / "earlier.csv", [f"e{i}" for i in range(7)])
    export_scores(
        engine,
        spec,
        iter_score_rows(earlier, MODEL_IDS, RUN_DATE, chunk_rows=100),
        update_id="earlier",
        run_date=RUN_DATE,
    )
    before = count(engine, table)
    assert before == 14
    scores = write_scores(tmp_path / "scores.csv", [str(i) for i in range(1000)])

    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_EXPORT, url, str(scores), "night", table],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline().strip() == "written 200"  # the first chunk (100 ids x 2 classes) is in
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL

    assert count(engine, table) == before
    assert not export_done(engine, spec, "night")
    for expected in (2000, 0):  # the rerun writes the night once; another adds nothing
        chunks = iter_score_rows(scores, MODEL_IDS, RUN_DATE, chunk_rows=100)
        assert export_scores(engine, spec, chunks, update_id="night", run_date=RUN_DATE) == expected
        assert count(engine, table) == before + 2000
    engine.dispose()


def test_score_batch_exports_every_scored_id_as_extracted_once(sink, tmp_path, pipeline_env, luigi_config, monkeypatch):
    url, table = sink
    database = tmp_path / "ids.sqlite"
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE messages (id TEXT PRIMARY KEY, body TEXT)")
        conn.executemany("INSERT INTO messages VALUES (?, ?)", texts_for(HOSTILE_IDS))
    pipeline_env(f"sqlite:///{database}")
    monkeypatch.setenv("SORTBOX_SINK_URL", url)
    luigi_config(
        {
            "source": {"timestamp_column": "", "label_column": "", "since": "", "until": ""},
            "sink": {"table": table, "marker_table": f"{table}_exports"},
        }
    )
    model = tmp_path / "model.json"
    model.write_bytes(model_json_bytes(tiny_model()))
    batch = ScoreBatch(run_date=dt.date(2026, 11, 24), model_json=str(model))
    result = run_luigi([batch])
    assert result.scheduling_succeeded, result.summary_text
    engine = make_sink_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f'SELECT id, class, model_id, run_date FROM "{table}"')).fetchall()
    model_id = tiny_model()["model_id"]
    assert sorted(r[0] for r in rows) == sorted(HOSTILE_IDS[0::3])  # the scored ids (tests/tasks/test_score_tasks.py)
    assert {(r[1], r[2], str(r[3])) for r in rows} == {("spam", model_id, "2026-11-24")}
    assert ExportScores(run_date=dt.date(2026, 11, 24), model_json=str(model)).complete()

    (batch.output_dir() / "batch.json").unlink()  # ScoreBatch runs again; the export is complete: no new row
    batch.output_dir().rmdir()
    again = run_luigi([ScoreBatch(run_date=dt.date(2026, 11, 24), model_json=str(model))])
    assert again.scheduling_succeeded, again.summary_text
    assert count(engine, table) == len(rows)
    engine.dispose()


@pytest.mark.parametrize(
    "option, value, message",
    [
        (
            "table",
            "scores; DROP TABLE messages",
            r"^\[sink\] table = 'scores; DROP TABLE messages' is not allowed: must be letters",
        ),
        (
            "marker_table",
            "sortbox_scores",
            r"^\[sink\] table and marker_table are both 'sortbox_scores': they must differ$",
        ),
        ("chunk_rows", "0", r"^\[sink\] chunk_rows = 0 is not allowed: must be an integer >= 1$"),
    ],
)
def test_bad_sink_settings_stop_the_run_while_it_is_scheduled(luigi_config, option, value, message):
    """Checked with every other section (tasks.config.check_settings), not when the night reaches ExportScores."""
    from sortbox.settings import SettingsError
    from tasks.config import check_settings

    luigi_config({"sink": {option: value}})
    with pytest.raises(SettingsError, match=message):
        check_settings()
