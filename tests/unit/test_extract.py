"""Extraction (sortbox.extract) against small sqlite databases."""
import datetime as dt
import sqlite3

import pyarrow as pa
import pytest
import sqlalchemy as sa

from sortbox.extract import (
    SourceError,
    SourceSpec,
    count_source_rows,
    describe_url,
    fingerprint_url,
    iter_message_chunks,
    make_engine,
    sample_cutoff,
    sample_hash,
    snapshot_connection,
)
from tests.conftest import TINY_CORPUS

SPEC = SourceSpec(table="messages", id_column="id", text_column="body", timestamp_column="received_at", label_column="truth", chunk_size=4)


def extract(url, spec=SPEC) -> pa.Table:
    engine = make_engine(url)
    try:
        with snapshot_connection(engine) as conn:
            return pa.concat_tables(list(iter_message_chunks(conn, spec)) or [pa.table({})])
    finally:
        engine.dispose()


def test_reads_all_rows_in_chunks(tiny_sqlite):
    engine = make_engine(tiny_sqlite)
    with snapshot_connection(engine) as conn:
        chunks = list(iter_message_chunks(conn, SPEC))
        assert count_source_rows(conn, SPEC) == len(TINY_CORPUS)
    assert [c.num_rows for c in chunks] == [4, 2]
    table = pa.concat_tables(chunks)
    assert table.column("id").to_pylist() == [str(i) for i, _, _ in TINY_CORPUS]
    assert table.column("text").to_pylist() == [body for _, body, _ in TINY_CORPUS]
    assert table.column("label").to_pylist() == [truth for _, _, truth in TINY_CORPUS]
    assert table.column("timestamp")[0].as_py().startswith("2026-01-01 08:07:00")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"table": "messages; DROP TABLE messages"}, "table 'messages; DROP TABLE messages' does not exist"),
        ({"table": "nope"}, "table 'nope' does not exist"),
        ({"text_column": "body; DROP TABLE messages"}, "text_column 'body; DROP TABLE messages' is not a column"),
        ({"id_column": 'id" --'}, "id_column 'id\" --' is not a column"),
        ({"label_column": "missing"}, "label_column 'missing' is not a column"),
        ({"timestamp_column": "sent"}, "timestamp_column 'sent' is not a column"),
    ],
)
def test_bad_identifiers_are_refused_and_table_intact(tiny_sqlite, change, message):
    spec = SourceSpec(**{**SPEC.__dict__, **change})
    with pytest.raises(SourceError, match=message.replace("(", r"\(")):
        extract(tiny_sqlite, spec)
    assert extract(tiny_sqlite).num_rows == len(TINY_CORPUS)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sample_fraction": 0.0}, "sample_fraction must be in"),
        ({"sample_fraction": 1.5}, "sample_fraction must be in"),
        ({"chunk_size": 0}, "chunk_size must be positive"),
        ({"since": dt.datetime(2026, 1, 1)}, "needs \\[source\\] timestamp_column"),
    ],
)
def test_bad_spec(kwargs, message):
    with pytest.raises(SourceError, match=message):
        SourceSpec(table="t", id_column="id", text_column="body", **kwargs)


def test_empty_window_is_refused():
    with pytest.raises(SourceError, match="empty window"):
        SourceSpec(table="t", id_column="i", text_column="b", timestamp_column="ts", since=dt.datetime(2026, 2, 1), until=dt.datetime(2026, 1, 1))


@pytest.mark.parametrize(
    "url, message",
    [
        ("sqlite:////nonexistent/dir/x.sqlite", "does not exist"),
        ("sqlite://", "in-memory"),
        ("postgresql://postgres@127.0.0.1/test", "postgresql\\+psycopg2"),
        ("mysql+pymysql://u@h/db", "unsupported database 'mysql'"),
        ("not a url", "not a database URL"),
    ],
)
def test_bad_urls(url, message):
    with pytest.raises(SourceError, match=message):
        make_engine(url)


def test_window_on_timestamp(tiny_sqlite):
    # Row i is dated 2026-01-01 08:00 + 7 minutes * i.
    spec = SourceSpec(**{**SPEC.__dict__, "since": dt.datetime(2026, 1, 1, 8, 14), "until": dt.datetime(2026, 1, 1, 8, 35)})
    assert extract(tiny_sqlite, spec).column("id").to_pylist() == ["2", "3", "4"]


def test_sample_matches_python_hash(sample_sqlite):
    spec = SourceSpec(table="messages", id_column="id", text_column="body", sample_fraction=0.1, sample_seed=42)
    ids = extract(sample_sqlite, spec).column("id").to_pylist()
    expected = [str(i) for i in range(1, 5575) if sample_hash(42, i) < sample_cutoff(0.1)]
    assert ids == expected
    assert 450 < len(ids) < 660  # about 10% of 5,574


def test_sample_depends_on_seed(sample_sqlite):
    def sample(seed):
        spec = SourceSpec(table="messages", id_column="id", text_column="body", sample_fraction=0.2, sample_seed=seed)
        return set(extract(sample_sqlite, spec).column("id").to_pylist())

    assert sample(1) == sample(1)
    assert sample(1) != sample(2)


def test_undecodable_bytes_are_flagged(tmp_path):
    path = tmp_path / "bad.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE messages (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("INSERT INTO messages VALUES (1, 'fine'), (2, CAST(x'ff fe 41' AS TEXT)), (3, NULL)".replace("x'ff fe 41'", "x'fffe41'"))
    spec = SourceSpec(table="messages", id_column="id", text_column="body")
    table = extract(f"sqlite:///{path}", spec)
    assert table.column("undecodable").to_pylist() == [False, True, False]
    assert table.column("text").to_pylist() == ["fine", "\ufffd\ufffdA", None]


def test_url_never_shown_whole():
    url = "postgresql+psycopg2://alice:s3cret@db.internal:5432/prod"
    assert "s3cret" not in describe_url(url) and "db.internal" not in describe_url(url)
    assert describe_url(url) == "postgresql database 'prod'"
    assert fingerprint_url(url) == fingerprint_url("postgresql+psycopg2://alice:other@db.internal:5432/prod")
    assert fingerprint_url(url) != fingerprint_url("postgresql+psycopg2://alice:s3cret@db.internal:5432/test")


def test_non_text_ids_become_strings(tmp_path):
    url = f"sqlite:///{tmp_path / 'ids.sqlite'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE m (code TEXT, body TEXT)"))
        conn.execute(sa.text("INSERT INTO m VALUES ('b-2', 'two'), ('a-1', 'one')"))
    table = extract(url, SourceSpec(table="m", id_column="code", text_column="body"))
    assert table.column("id").to_pylist() == ["a-1", "b-2"]
