"""The shipped sample data: the SMS Spam Collection as a `messages` table.

The collection has only a label and a text per message. `sender` and `received_at` are synthetic
(derived deterministically from the row number) so that windows and samples have something to
work on; `truth` is the collection's own ham/spam label.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
from pathlib import Path
from typing import Iterable, Iterator

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

# sqlite keeps timestamps as text: store them as plain ISO-8601 seconds, as most sqlite users do.
TIMESTAMP = sa.DateTime().with_variant(
    sqlite.DATETIME(storage_format="%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d"), "sqlite"
)

#: Where the first message is dated; one message every 7 minutes after it.
SAMPLE_EPOCH = dt.datetime(2026, 1, 1, 8, 0, 0)
SAMPLE_INTERVAL = dt.timedelta(minutes=7)


def messages_table(metadata: sa.MetaData, name: str = "messages") -> sa.Table:
    """The sample schema: id, sender, received_at, body, truth."""
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("sender", sa.String(32)),
        sa.Column("received_at", TIMESTAMP),
        sa.Column("body", sa.Text),
        sa.Column("truth", sa.String(16)),
    )


def read_sms_collection(path: Path) -> Iterator[tuple[str, str]]:
    """Yield (label, text) from the SMS Spam Collection TSV (header `Label<TAB>SMS`).

    Raises ValueError naming the file and line for a malformed line.
    """
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header != ["Label", "SMS"]:
            raise ValueError(f"{path}: expected header 'Label<TAB>SMS', got {header!r}")
        for line_no, row in enumerate(reader, start=2):
            if len(row) != 2 or row[0] not in ("ham", "spam"):
                raise ValueError(f"{path}:{line_no}: expected '<ham|spam><TAB><text>', got {row!r}")
            yield row[0], row[1]


def sample_rows(pairs: Iterable[tuple[str, str]]) -> Iterator[dict]:
    """Rows of the sample `messages` table, ids from 1, synthetic sender and timestamp."""
    for number, (label, text) in enumerate(pairs, start=1):
        digest = hashlib.sha256(str(number).encode()).hexdigest()
        yield {
            "id": number,
            "sender": "+447" + str(int(digest[:12], 16))[-9:].zfill(9),
            "received_at": SAMPLE_EPOCH + number * SAMPLE_INTERVAL,
            "body": text,
            "truth": label,
        }


def write_messages(
    engine: sa.Engine, rows: Iterable[dict], *, table_name: str = "messages", batch: int = 10_000
) -> int:
    """(Re)create `table_name` and insert `rows` in batches; returns the number inserted."""
    metadata = sa.MetaData()
    table = messages_table(metadata, table_name)
    count = 0
    with engine.begin() as conn:
        table.drop(conn, checkfirst=True)
        table.create(conn)
        pending: list[dict] = []
        for row in rows:
            pending.append(row)
            if len(pending) >= batch:
                conn.execute(table.insert(), pending)
                count += len(pending)
                pending = []
        if pending:
            conn.execute(table.insert(), pending)
            count += len(pending)
    return count


def build_sample_database(tsv_path: Path, sqlite_path: Path) -> int:
    """Build the sample sqlite database at `sqlite_path` from the TSV (atomically: temp file + rename)."""
    sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    partial = sqlite_path.with_name(sqlite_path.name + ".partial")
    partial.unlink(missing_ok=True)
    engine = sa.create_engine(f"sqlite:///{partial}")
    try:
        count = write_messages(engine, sample_rows(read_sms_collection(tsv_path)))
    finally:
        engine.dispose()
    partial.replace(sqlite_path)
    return count
