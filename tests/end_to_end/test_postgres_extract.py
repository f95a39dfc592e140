"""Extraction from the real Postgres of this machine: same ids and texts as sqlite, same samples."""

import datetime as dt
from dataclasses import replace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from sortbox.extract import (
    SourceError,
    SourceSpec,
    iter_message_chunks,
    make_engine,
    plan_shards,
    snapshot_connection,
)
from sortbox.sample_data import read_sms_collection, sample_rows, write_messages
from sortbox.shards import shard_key, shard_of
from tasks.clean import CleanMessages
from tasks.extract import ExtractMessages
from tests.conftest import SMS_TSV, run_luigi

RUN_DATE = dt.date(2026, 11, 23)


@pytest.fixture
def postgres_sample(postgres_engine, postgres_table, luigi_config):
    """The 5,574 SMS in a fresh Postgres table; [source] points at it."""
    write_messages(postgres_engine, sample_rows(read_sms_collection(SMS_TSV)), table_name=postgres_table)
    luigi_config({"source": {"table": postgres_table}})
    return postgres_engine.url.render_as_string(hide_password=False), postgres_table


def extracted(root):
    directory = next((root / "2026-11-23").glob("ExtractMessages-*"))
    return pq.read_table(directory / "messages.parquet")


def run_extract_on(url, pipeline_env, root_name):
    root = pipeline_env(url)
    result = run_luigi([ExtractMessages(run_date=RUN_DATE), CleanMessages(run_date=RUN_DATE)])
    assert result.scheduling_succeeded, result.summary_text
    return root


def test_postgres_and_sqlite_extract_the_same_rows(
    postgres_sample, sample_sqlite, pipeline_env, luigi_config, tmp_path
):
    pg_url, table = postgres_sample
    pg = extracted(run_extract_on(pg_url, pipeline_env, "pg"))
    luigi_config({"source": {"table": "messages"}, "paths": {"output_root": str(tmp_path / "sqlite-runs")}})
    lite = extracted(run_extract_on(sample_sqlite, pipeline_env, "sqlite").parent / "sqlite-runs")
    assert pg.num_rows == lite.num_rows == 5574
    assert pg.column("id").to_pylist() == lite.column("id").to_pylist()
    assert pg.column("text").to_pylist() == lite.column("text").to_pylist()
    assert pg.column("label").to_pylist() == lite.column("label").to_pylist()
    assert pg.column("timestamp").to_pylist()[:3] == lite.column("timestamp").to_pylist()[:3]


@pytest.mark.parametrize("count", [1, 3, 7])
def test_both_databases_plan_and_read_the_same_shards(postgres_sample, sample_sqlite, count):
    """Postgres computes the shard key natively, sqlite through the registered md5, Python in
    sortbox.shards: every id is in the same shard on all three, the plan counts what the shards
    read, and the shards together are the table, in the order of the shard key."""
    pg_url, table = postgres_sample
    by_database = {}
    for url, table_name in ((pg_url, table), (sample_sqlite, "messages")):
        spec = SourceSpec(table=table_name, id_column="id", text_column="body", chunk_size=1000)
        engine = make_engine(url)
        try:
            with snapshot_connection(engine) as conn:
                plan = plan_shards(conn, spec, count)
                shards = [
                    pa.concat_tables(
                        list(
                            iter_message_chunks(
                                conn, replace(spec, shard=s, shard_count=count, id_bound=plan["id_bound"])
                            )
                        )
                    )
                    .column("id")
                    .to_pylist()
                    for s in range(count)
                ]
        finally:
            engine.dispose()
        assert plan["rows"] == [len(ids) for ids in shards] and plan["total"] == 5574 and plan["id_bound"] == 5574
        assert all(shard_of(i, count) == s for s, ids in enumerate(shards) for i in ids)
        whole = [i for ids in shards for i in ids]
        assert whole == sorted(whole, key=lambda i: (shard_key(i), i)) and len(set(whole)) == 5574
        by_database[url] = shards
    assert by_database[pg_url] == by_database[sample_sqlite]


@pytest.mark.parametrize("fraction, seed", [(0.1, 7), (0.5, 2026)])
def test_same_sample_on_both_databases(postgres_sample, sample_sqlite, fraction, seed):
    pg_url, table = postgres_sample

    def sample_ids(url, table_name):
        spec = SourceSpec(
            table=table_name,
            id_column="id",
            text_column="body",
            sample_fraction=fraction,
            sample_seed=seed,
            chunk_size=500,
        )
        engine = make_engine(url)
        try:
            with snapshot_connection(engine) as conn:
                return [i for chunk in iter_message_chunks(conn, spec) for i in chunk.column("id").to_pylist()]
        finally:
            engine.dispose()

    pg_ids, lite_ids = sample_ids(pg_url, table), sample_ids(sample_sqlite, "messages")
    assert pg_ids == lite_ids
    assert abs(len(pg_ids) - fraction * 5574) < 0.05 * 5574


def test_postgres_window_and_snapshot_options(postgres_sample):
    pg_url, table = postgres_sample
    spec = SourceSpec(
        table=table,
        id_column="id",
        text_column="body",
        timestamp_column="received_at",
        since=dt.datetime(2026, 1, 1, 8, 14),
        until=dt.datetime(2026, 1, 1, 8, 35),
    )
    engine = make_engine(pg_url)
    try:
        with snapshot_connection(engine) as conn:
            ids = [i for chunk in iter_message_chunks(conn, spec) for i in chunk.column("id").to_pylist()]
            isolation = conn.execute(sa.text("SHOW transaction_isolation")).scalar_one()
            read_only = conn.execute(sa.text("SHOW transaction_read_only")).scalar_one()
    finally:
        engine.dispose()
    assert ids == sorted(["2", "3", "4"], key=shard_key)  # in the order of the shard key
    assert (isolation, read_only) == ("repeatable read", "on")


def test_postgres_injection_refused_table_intact(postgres_sample):
    pg_url, table = postgres_sample
    engine = make_engine(pg_url)
    try:
        for bad in (f"{table}; DROP TABLE {table}", f'{table}" CASCADE; --'):
            with pytest.raises(SourceError, match="does not exist in the database"):
                with snapshot_connection(engine) as conn:
                    list(iter_message_chunks(conn, SourceSpec(table=bad, id_column="id", text_column="body")))
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar_one() == 5574
    finally:
        engine.dispose()


def timestamp_table(engine, table: str, column_type: str, values: list) -> None:
    """A table (id, body, received_at of `column_type`) holding `values` as received_at, ids from 1."""
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE TABLE "{table}" (id integer, body text, received_at {column_type})'))
        for i, value in enumerate(values, start=1):
            conn.execute(
                sa.text(f'INSERT INTO "{table}" VALUES (:i, :b, CAST(:v AS {column_type}))'),
                {"i": i, "b": f"text {i}", "v": value},
            )


@pytest.mark.parametrize(
    "column_type, values, window, expected",
    [
        # A date alone belongs to its own day.
        ("date", ["2026-11-21", "2026-11-22", "2026-11-23", None], ("2026-11-22", "2026-11-23"), ["2"]),
        # timestamptz is compared in UTC, whatever the server's time zone.
        (
            "timestamptz",
            ["2026-11-22 01:00:00+02:00", "2026-11-23 01:00:00+02:00", "2026-11-23 00:30:00-01:00", None],
            ("2026-11-22", "2026-11-23"),
            ["2"],
        ),
    ],
)
def test_postgres_windows_on_date_and_timestamptz_columns(
    postgres_engine, postgres_table, monkeypatch, column_type, values, window, expected
):
    from sortbox.extract import count_null_timestamps

    monkeypatch.setenv("PGTZ", "America/New_York")  # the session time zone libpq asks for
    timestamp_table(postgres_engine, postgres_table, column_type, values)
    spec = SourceSpec(
        table=postgres_table,
        id_column="id",
        text_column="body",
        timestamp_column="received_at",
        since=dt.datetime.fromisoformat(window[0]),
        until=dt.datetime.fromisoformat(window[1]),
    )
    engine = make_engine(postgres_engine.url.render_as_string(hide_password=False))
    try:
        with snapshot_connection(engine) as conn:
            assert [i for chunk in iter_message_chunks(conn, spec) for i in chunk.column("id").to_pylist()] == expected
            assert count_null_timestamps(conn, spec) == 1
    finally:
        engine.dispose()


def test_text_timestamp_column_with_a_window_is_one_clear_line(
    postgres_engine, postgres_table, pipeline_env, luigi_config, caplog
):
    with postgres_engine.begin() as conn:
        conn.execute(sa.text(f'CREATE TABLE "{postgres_table}" (id integer, body text, received_at text)'))
        values = "(1, 'hello there', '2026-11-22 10:00'), (2, 'hi', 'yesterday')"
        conn.execute(sa.text(f'INSERT INTO "{postgres_table}" VALUES {values}'))
    pipeline_env(postgres_engine.url.render_as_string(hide_password=False))
    luigi_config(
        {"source": {"table": postgres_table, "label_column": "", "since": "2026-11-22", "until": "2026-11-23"}}
    )
    result = run_luigi([CleanMessages(run_date=RUN_DATE)])
    assert not result.scheduling_succeeded
    assert (
        "timestamp_column 'received_at' is TEXT in the database, not a timestamp or date: "
        "a since/until window needs one" in caplog.text
    )
    assert "psycopg2" not in caplog.text and "operator does not exist" not in caplog.text


@pytest.mark.parametrize(
    "column_type, usual, read_as",
    [
        ("timestamptz", "2026-11-22 10:00:00.5+02", "2026-11-22 08:00:00.500000+00:00"),
        ("timestamp", "2026-11-22 10:00:00", "2026-11-22 10:00:00"),
        ("date", "2026-11-22", "2026-11-22"),
    ],
)
def test_postgres_timestamps_python_cannot_hold_are_bad_timestamps_not_a_failed_run(
    postgres_engine, postgres_table, monkeypatch, column_type, usual, read_as
):
    # psycopg2 failed the whole extraction on a year outside 1..9999 and read infinity as 9999-12-31.
    from sortbox.timestamps import bad_timestamps

    monkeypatch.setenv("PGTZ", "America/New_York")
    monkeypatch.setenv("PGDATESTYLE", "SQL, DMY")  # the session's own style would not be ISO text
    values = [usual, "infinity", "-infinity", "4713-01-01 BC", "20000-01-01", None]
    timestamp_table(postgres_engine, postgres_table, column_type, values)
    spec = SourceSpec(table=postgres_table, id_column="id", text_column="body", timestamp_column="received_at")
    window = SourceSpec(**{**spec.__dict__, "since": dt.datetime(2026, 11, 22), "until": dt.datetime(2026, 11, 23)})
    engine = make_engine(postgres_engine.url.render_as_string(hide_password=False))
    try:
        with snapshot_connection(engine) as conn:
            read = pa.concat_tables(list(iter_message_chunks(conn, spec)))
            in_window = [i for chunk in iter_message_chunks(conn, window) for i in chunk.column("id").to_pylist()]
    finally:
        engine.dispose()
    # Rows come in the order of the shard key: put them back in id order (ids 1 to 6, as `values`).
    by_id = dict(zip(read.column("id").to_pylist(), read.column("timestamp").to_pylist()))
    stamps = [by_id[str(i)] for i in range(1, len(values) + 1)]
    assert stamps[0] == read_as and stamps[-1] is None
    assert bad_timestamps(pa.array(stamps)).tolist() == [False, True, True, True, True, False]
    assert sorted(in_window) == ["1", "2", "3"]  # ±infinity is in no window: read, to be quarantined
