#!/usr/bin/env python3
"""Grow the SMS Spam Collection into a large, deterministic `messages`-shaped benchmark table.

    python scripts/make_benchmark_data.py --rows N (--db-url URL | --db sqlite|postgres)
        [--table messages] [--seed 0] [--bad-fraction 0.01] [--chunk 50000]

Every row samples a source SMS (with replacement) and perturbs it: fresh digits, and sometimes a
dropped, swapped, re-cased or injected made-up word, so the vocabulary keeps growing with N.
About --bad-fraction of the rows are malformed on purpose (NULL, empty, whitespace, emoji only,
control characters, very long). Everything comes from random.Random(seed): the same seed gives
the same table on sqlite and Postgres. The table is dropped and recreated, then filled in chunks.

--db sqlite  writes sqlite:///<repo>/var/bench/bench.sqlite
--db postgres writes $TEST_DATABASE_URL (default postgresql+psycopg2://postgres@127.0.0.1:5432/test)
"""
from __future__ import annotations

import argparse
import collections
import datetime as dt
import io
import itertools
import os
import random
import re
import string
import sys
import time
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import sqlalchemy as sa

from sortbox.sample_data import messages_table, read_sms_collection

ROOT = Path(__file__).resolve().parents[1]
SMS_TSV = ROOT / "data" / "sms_spam_collection.tsv"
SQLITE_URL = f"sqlite:///{ROOT / 'var' / 'bench' / 'bench.sqlite'}"
DEFAULT_POSTGRES_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"

START = dt.datetime(2026, 1, 1, 0, 0, 0)
INTERVAL = dt.timedelta(seconds=30)

# Per-row probabilities of each perturbation; independent, so a row may get several.
P_DROP_WORD = 0.2
P_SWAP_WORDS = 0.2
P_INJECT_WORD = 0.3
P_RECASE_WORD = 0.2

#: Kinds of deliberately bad rows. "long" is drawn separately so it stays rare (see LONG_MAX_RATE).
BAD_KINDS = ("null", "empty", "whitespace", "emoji", "control")
LONG_TEXT_CHARS = 30_000
#: At most one very long row per 10k rows, so a million-row table stays small.
LONG_MAX_RATE = 1e-4

EMOJI = (
    "\U0001f600",
    "\U0001f602",
    "\U0001f60d",
    "\U0001f44d",
    "\U0001f389",
    "\u2764\ufe0f",
    "\U0001f525",
    "\U0001f64f",
)
WHITESPACE = (" ", "\t", "\n", "\r\n", "\u00a0")
# C0 controls other than tab/newline/CR, and DEL. No "\x00": Postgres text cannot store NUL, and
# the table must be identical on both databases.
CONTROLS = tuple(chr(c) for c in [*range(0x01, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])

_DIGIT = re.compile(r"\d")


def perturb(text: str, rng: random.Random) -> str:
    """A variant of `text`: every digit replaced, and maybe one word dropped, swapped, injected or re-cased."""
    text = _DIGIT.sub(lambda _: rng.choice(string.digits), text)
    words = text.split()
    if len(words) > 1 and rng.random() < P_DROP_WORD:
        del words[rng.randrange(len(words))]
    if len(words) > 1 and rng.random() < P_SWAP_WORDS:
        at = rng.randrange(len(words) - 1)
        words[at], words[at + 1] = words[at + 1], words[at]
    if rng.random() < P_INJECT_WORD:
        # A made-up word, almost surely unseen: the vocabulary grows with the row count.
        rare = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(5, 9)))
        words.insert(rng.randint(0, len(words)), rare)
    if words and rng.random() < P_RECASE_WORD:
        at = rng.randrange(len(words))
        words[at] = rng.choice((str.upper, str.lower, str.title))(words[at])
    return " ".join(words)


def bad_body(kind: str, text: str, rng: random.Random) -> str | None:
    """A deliberately malformed body of the given kind, built from the perturbed `text`."""
    if kind == "null":
        return None
    if kind == "empty":
        return ""
    if kind == "whitespace":
        return "".join(rng.choices(WHITESPACE, k=rng.randint(1, 6)))
    if kind == "emoji":
        return " ".join(rng.choices(EMOJI, k=rng.randint(1, 5)))
    if kind == "control":
        at = rng.randint(0, len(text))
        return text[:at] + rng.choice(CONTROLS) + text[at:]
    if kind == "long":
        repeats = LONG_TEXT_CHARS // (len(text) + 1) + 1
        return " ".join([text] * repeats)[:LONG_TEXT_CHARS]
    raise ValueError(f"unknown bad row kind {kind!r}")


def generate_rows(
    sources: Sequence[tuple[str, str]], rows: int, *, seed: int = 0, bad_fraction: float = 0.01
) -> Iterator[tuple[dict, str | None]]:
    """Yield (row, bad_kind) for ids 1..rows; bad_kind is None for a normal row.

    Rows are produced lazily, so memory does not grow with `rows`.
    """
    if not sources:
        raise ValueError("no source messages to sample from")
    if not 0.0 <= bad_fraction <= 1.0:
        raise ValueError(f"bad_fraction must be within [0, 1], got {bad_fraction}")
    rng = random.Random(seed)
    # One draw decides a row's fate: [0, p_long) long, [p_long, bad_fraction) another bad kind.
    p_long = min(bad_fraction / (len(BAD_KINDS) + 1), LONG_MAX_RATE)
    for number in range(1, rows + 1):
        label, source = rng.choice(sources)
        text = perturb(source, rng)
        fate = rng.random()
        kind = None
        if fate < p_long:
            kind = "long"
        elif fate < bad_fraction:
            kind = rng.choice(BAD_KINDS)
        row = {
            "id": number,
            "sender": f"+447{rng.randrange(10**9):09d}",
            "received_at": START + number * INTERVAL,
            "body": text if kind is None else bad_body(kind, text, rng),
            "truth": label,
        }
        yield row, kind


def _csv_field(value: object) -> str:
    """One COPY CSV field: strings always quoted, so an unquoted empty field means NULL only."""
    if value is None:
        return ""
    if isinstance(value, str):
        return '"' + value.replace('"', '""') + '"'
    return str(value)


def _copy_chunk(cursor, statement: str, chunk: list[dict], columns: Sequence[str]) -> None:
    """Send one chunk through psycopg2's COPY FROM STDIN (CSV), far faster than INSERTs."""
    buffer = io.StringIO()
    for row in chunk:
        buffer.write(",".join(_csv_field(row[name]) for name in columns))
        buffer.write("\n")
    buffer.seek(0)
    cursor.copy_expert(statement, buffer)


def _chunks(rows: Iterable[dict], size: int) -> Iterator[list[dict]]:
    """Consecutive lists of at most `size` rows."""
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def write_table(engine: sa.Engine, table_name: str, rows: Iterable[dict], *, chunk: int = 50_000) -> int:
    """Drop and recreate `table_name` with the sample schema, insert `rows` in chunks; returns the count.

    Postgres via psycopg2 uses COPY; other databases use executemany. One transaction, so a failed
    load leaves no half-filled table behind (on Postgres; sqlite commits its DDL on its own).
    """
    table = messages_table(sa.MetaData(), table_name)
    is_sqlite = engine.dialect.name == "sqlite"
    use_copy = engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg2"
    count = 0
    with engine.connect() as conn:
        if is_sqlite:
            # Loading speed over durability: a crashed load is simply rerun.
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
            conn.commit()
        with conn.begin():
            table.drop(conn, checkfirst=True)
            table.create(conn)
            if use_copy:
                preparer = engine.dialect.identifier_preparer
                columns = [column.name for column in table.columns]
                statement = (
                    f"COPY {preparer.format_table(table)} ({', '.join(preparer.quote(name) for name in columns)})"
                    " FROM STDIN WITH (FORMAT csv)"
                )
                cursor = conn.connection.cursor()
                for batch in _chunks(rows, chunk):
                    _copy_chunk(cursor, statement, batch, columns)
                    count += len(batch)
                cursor.close()
            else:
                for batch in _chunks(rows, chunk):
                    conn.execute(table.insert(), batch)
                    count += len(batch)
        if is_sqlite:
            # Back to a single self-contained file (no -wal/-shm beside it) for readers.
            conn.exec_driver_sql("PRAGMA journal_mode=DELETE")
            conn.commit()
    return count


def build_benchmark_table(
    engine: sa.Engine,
    *,
    rows: int,
    table_name: str = "messages",
    seed: int = 0,
    bad_fraction: float = 0.01,
    chunk: int = 50_000,
    tsv_path: Path = SMS_TSV,
) -> collections.Counter[str]:
    """Generate and write the benchmark table; returns the number of bad rows per kind."""
    sources = list(read_sms_collection(tsv_path))
    bad: collections.Counter[str] = collections.Counter()

    def counted() -> Iterator[dict]:
        for row, kind in generate_rows(sources, rows, seed=seed, bad_fraction=bad_fraction):
            if kind is not None:
                bad[kind] += 1
            yield row

    write_table(engine, table_name, counted(), chunk=chunk)
    return bad


def resolve_url(db_url: str | None, db: str | None) -> str:
    """The database URL from --db-url, or from the --db shortcut."""
    if db_url:
        return db_url
    if db == "sqlite":
        return SQLITE_URL
    return os.environ.get("TEST_DATABASE_URL") or DEFAULT_POSTGRES_URL


def _bounded(kind: type, low: float, high: float | None = None):
    """An argparse type: `kind` parsed, within [low, high]."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a valid {kind.__name__}: {text!r}") from None
        if value < low or (high is not None and value > high):
            bounds = f"at least {low}" if high is None else f"within [{low}, {high}]"
            raise argparse.ArgumentTypeError(f"{text} is not {bounds}")
        return value

    return parse


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line (argparse exits with status 2 and a message on bad arguments)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=_bounded(int, 1), required=True, help="number of rows to write")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--db-url", help="SQLAlchemy URL of the target database")
    target.add_argument("--db", choices=("sqlite", "postgres"), help="shortcut for a default database URL")
    parser.add_argument("--table", default="messages", help="table to (re)create (default: messages)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--bad-fraction", type=_bounded(float, 0.0, 1.0), default=0.01, help="share of malformed rows")
    parser.add_argument("--chunk", type=_bounded(int, 1), default=50_000, help="rows per insert batch")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the process exit status."""
    args = parse_args(argv)
    url_text = resolve_url(args.db_url, args.db)
    try:
        url = sa.engine.make_url(url_text)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, hide_parameters=True)
    except (sa.exc.ArgumentError, ImportError, OSError) as exc:
        print(f"cannot use database URL {url_text!r}: {exc}", file=sys.stderr)
        return 1
    shown = url.render_as_string(hide_password=True)
    started = time.perf_counter()
    try:
        bad = build_benchmark_table(
            engine,
            rows=args.rows,
            table_name=args.table,
            seed=args.seed,
            bad_fraction=args.bad_fraction,
            chunk=args.chunk,
        )
    except (sa.exc.SQLAlchemyError, engine.dialect.loaded_dbapi.Error) as exc:
        # Only the first line: the driver's message without SQLAlchemy's statement dump.
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        print(f"cannot write table {args.table!r} at {shown}: {detail}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"cannot read the source collection: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    seconds = time.perf_counter() - started
    kinds = ", ".join(f"{kind} {n:,}" for kind, n in sorted(bad.items()))
    print(
        f"wrote {args.rows:,} rows ({sum(bad.values()):,} bad{': ' + kinds if kinds else ''}) "
        f"to {args.table} at {shown} in {seconds:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
