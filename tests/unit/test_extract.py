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
    snapshot_connection,
)
from sortbox.sampling import sample_cutoff, sample_hash
from sortbox.shards import shard_key
from tests.conftest import TINY_CORPUS

SPEC = SourceSpec(
    table="messages",
    id_column="id",
    text_column="body",
    timestamp_column="received_at",
    label_column="truth",
    chunk_size=4,
)


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
    # In the order of the shard key (sortbox.shards), which does not depend on the number of shards.
    in_order = sorted(TINY_CORPUS, key=lambda row: shard_key(str(row[0])))
    assert table.column("id").to_pylist() == [str(i) for i, _, _ in in_order]
    assert table.column("text").to_pylist() == [body for _, body, _ in in_order]
    assert table.column("label").to_pylist() == [truth for _, _, truth in in_order]
    first = table.column("id").to_pylist().index("1")
    assert table.column("timestamp")[first].as_py().startswith("2026-01-01 08:07:00")


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
        SourceSpec(
            table="t",
            id_column="i",
            text_column="b",
            timestamp_column="ts",
            since=dt.datetime(2026, 2, 1),
            until=dt.datetime(2026, 1, 1),
        )


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
    spec = SourceSpec(
        **{**SPEC.__dict__, "since": dt.datetime(2026, 1, 1, 8, 14), "until": dt.datetime(2026, 1, 1, 8, 35)}
    )
    assert sorted(extract(tiny_sqlite, spec).column("id").to_pylist()) == ["2", "3", "4"]


def test_sample_matches_python_hash(sample_sqlite):
    spec = SourceSpec(table="messages", id_column="id", text_column="body", sample_fraction=0.1, sample_seed=42)
    ids = extract(sample_sqlite, spec).column("id").to_pylist()
    expected = [str(i) for i in range(1, 5575) if sample_hash(42, i) < sample_cutoff(0.1)]
    assert ids == sorted(expected, key=shard_key)
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
        conn.execute(
            "INSERT INTO messages VALUES (1, 'fine'), (2, CAST(x'ff fe 41' AS TEXT)), (3, NULL)".replace(
                "x'ff fe 41'", "x'fffe41'"
            )
        )
    spec = SourceSpec(table="messages", id_column="id", text_column="body")
    rows = {row["id"]: row for row in extract(f"sqlite:///{path}", spec).to_pylist()}
    assert {i: row["undecodable"] for i, row in rows.items()} == {"1": False, "2": True, "3": False}
    assert {i: row["text"] for i, row in rows.items()} == {"1": "fine", "2": "\ufffd\ufffdA", "3": None}


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
    assert sorted(table.column("id").to_pylist()) == ["a-1", "b-2"]


def test_integer_and_text_ids_that_read_alike_are_one_id(tmp_path):
    # sqlite keeps 1 and '1' apart (a column without type affinity) and sorts integers before
    # texts: they must still meet as duplicates, whatever the chunk size.
    from sortbox.clean import CleaningOptions, iter_clean_chunks
    from sortbox.textnorm import default_cleaning_spec

    path = tmp_path / "mixed.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE messages (id, body TEXT)")
        conn.executemany(
            "INSERT INTO messages VALUES (?, ?)",
            [(1, "one"), (2, "two"), ("x", "ex"), ("1", "one again"), (10, "ten"), ("01", "zero one")],
        )
    chunks = iter_message_chunks_of(
        f"sqlite:///{path}", SourceSpec(table="messages", id_column="id", text_column="body", chunk_size=1)
    )
    results = list(iter_clean_chunks(chunks, CleaningOptions(spec=default_cleaning_spec())))
    quarantined = [(r["id"], r["reason"]) for result in results for r in result.quarantine.to_pylist()]
    clean = sorted(i for result in results for i in result.clean.column("id").to_pylist())
    assert quarantined == [("1", "duplicate_id"), ("1", "duplicate_id")]
    assert clean == ["01", "10", "2", "x"]


def iter_message_chunks_of(url, spec):
    engine = make_engine(url)
    try:
        with snapshot_connection(engine) as conn:
            yield from iter_message_chunks(conn, spec)
    finally:
        engine.dispose()


def test_undecodable_id_label_or_timestamp_never_fails_the_run(tmp_path):
    path = tmp_path / "bytes.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE messages (id TEXT, body TEXT, received_at TEXT, truth TEXT)")
        conn.execute("INSERT INTO messages VALUES ('1', 'fine', '2026-11-22', 'ham')")
        conn.execute("INSERT INTO messages VALUES (CAST(x'31ff' AS TEXT), 'bad id', '2026-11-22', 'ham')")
        conn.execute("INSERT INTO messages VALUES ('3', 'bad time', CAST(x'32303236ff' AS TEXT), 'ham')")
        conn.execute("INSERT INTO messages VALUES ('4', 'bad label', '2026-11-22', CAST(x'68616dff' AS TEXT))")
    table = extract(f"sqlite:///{path}")
    rows = {row["id"]: row for row in table.to_pylist()}
    assert {i: row["undecodable_column"] for i, row in rows.items()} == {
        "1": None, "1\\xff": "id", "3": "timestamp", "4": "label"
    }  # fmt: skip
    assert rows["3"]["timestamp"] == "2026\\xff" and rows["4"]["label"] == "ham\\xff"


WINDOW_ROWS = [
    (1, "2026-11-22"),  # a date alone: midnight starting its own day
    (2, "2026-11-22T23:59:59.900"),
    (3, "2026-11-23 00:00:00"),  # until is exclusive
    (4, "22/11/2026 10:00"),  # not ISO: cannot be placed, so it is read and quarantined
    (5, None),  # no timestamp: in no window, counted
    (6, "2026-11-23 01:00:00+02:00"),  # 23:00 UTC on the 22nd
    (7, "2026-11-21 23:00:00-02:00"),  # 01:00 UTC on the 22nd
    (8, 1763769600),  # an epoch number stored as an integer: not a date, quarantined
    (9, "2026-11-21 23:59:59"),
    (10, "2026-02-30"),  # no such day
    (11, "2026-11-22 00:00:00.000000"),
    (12, "2026-11-23 00:00:00.000000"),  # the same moment as until: outside
    (13, "2026-11-22 24:00:00"),  # no such hour (sqlite's datetime() would make it the 23rd)
    (14, "2026-11-22 12:00:00.250000"),
]


@pytest.fixture
def window_sqlite(tmp_path):
    path = tmp_path / "window.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE messages (id INTEGER PRIMARY KEY, body TEXT, received_at)")
        conn.executemany("INSERT INTO messages VALUES (?, ?, ?)", [(i, f"text {i}", stamp) for i, stamp in WINDOW_ROWS])
    return f"sqlite:///{path}"


@pytest.mark.parametrize(
    "since, until, expected",
    [
        ("2026-11-22", "2026-11-23", ["1", "2", "4", "6", "7", "8", "10", "11", "13", "14"]),
        ("2026-11-21", "2026-11-22", ["4", "8", "9", "10", "13"]),  # the date-only row is not the day before's
        ("2026-11-23", None, ["3", "4", "8", "10", "12", "13"]),
        ("2026-11-22 12:00:00.250000", "2026-11-22 12:00:00.250001", ["4", "8", "10", "13", "14"]),
    ],
)
def test_windows_place_every_timestamp_or_pass_it_on_as_bad(window_sqlite, since, until, expected):
    from sortbox.clean import CleaningOptions, clean_chunk
    from sortbox.extract import count_null_timestamps
    from sortbox.textnorm import default_cleaning_spec

    spec = SourceSpec(
        table="messages",
        id_column="id",
        text_column="body",
        timestamp_column="received_at",
        chunk_size=3,
        since=dt.datetime.fromisoformat(since),
        until=until and dt.datetime.fromisoformat(until),
    )
    # Every value goes through sqlite's fast path or the registered parser, never both ways.
    table = extract(window_sqlite, spec)
    assert table.column("id").to_pylist() == sorted(expected, key=shard_key)
    cleaned = clean_chunk(table, CleaningOptions(spec=default_cleaning_spec()))
    assert {r["id"]: r["reason"] for r in cleaned.quarantine.to_pylist()} == {
        "4": "bad_timestamp",
        "8": "bad_timestamp",
        "10": "bad_timestamp",
        "13": "bad_timestamp",
    }
    engine = make_engine(window_sqlite)
    with snapshot_connection(engine) as conn:
        assert count_null_timestamps(conn, spec) == 1 and count_source_rows(conn, spec) >= len(expected)
    engine.dispose()


def test_sqlite_window_key_is_the_python_parser(tmp_path):
    # The sqlite window reads canonical values with sqlite's own functions and the others with the
    # registered Python parser: both must give exactly what parse_timestamp gives (seeded values,
    # valid and not: day 30 of February, hour 24, year 0, fractions, offsets, spaces, T, garbage).
    import random

    from sortbox.extract import _sqlite_utc_key
    from sortbox.timestamps import parse_timestamp, utc_text

    rng = random.Random(3)

    def value():
        year = rng.choice(["0000", "0001", "1999", "2026", "2028", "9999"])
        date = f"{year}-{rng.randint(0, 13):02d}-{rng.choice([1, 9, 28, 29, 30, 31, 32]):02d}"
        if rng.random() < 0.2:
            return date
        clock = f"{rng.choice([0, 9, 23, 24])}:{rng.choice([0, 59, 60]):02d}".zfill(5)
        if rng.random() < 0.7:
            clock += f":{rng.choice([0, 30, 59, 60]):02d}" + rng.choice(
                ["", "", ".000000", ".5", ".123456", ".9999999", "."]
            )
        return rng.choice([" ", " ", "T", "t"]).join([date, clock]) + rng.choice(
            ["", "", "", "Z", "+02:00", "-23:59", "+24:00", " "]
        )

    values = [value() for _ in range(3000)] + [
        "",
        " ",
        "now",
        "2026-11-22x",
        "20261122",
        "2026-11-22 10:00:00.000000",
        1763769600,
        2461000.5,
    ]
    path = tmp_path / "keys.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, v)")
        conn.executemany("INSERT INTO t (v) VALUES (?)", [(v,) for v in values])
    engine = make_engine(f"sqlite:///{path}")
    table = sa.Table("t", sa.MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        got = [key for _, key in conn.execute(sa.select(table.c.n, _sqlite_utc_key(table.c.v)).order_by(table.c.n))]
    engine.dispose()
    expected = [
        None if not isinstance(v, str) or parse_timestamp(v) is None else utc_text(parse_timestamp(v)) for v in values
    ]
    assert [(v, g) for v, g, e in zip(values, got, expected) if g != e] == []
    assert sum(e is not None for e in expected) > 300  # both kinds are well represented
