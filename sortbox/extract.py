"""Extraction: stream a messages table from sqlite or Postgres into Arrow chunks.

Everything here takes an SQLAlchemy connection (or URL) as an argument; nothing reads
configuration or the environment. Table and column names are only ever looked up in the
database's own schema (reflection) and handed to SQLAlchemy as objects, never pasted into SQL.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import functools
import hashlib
import os
import time
from dataclasses import dataclass
from typing import Callable, Iterator, TypeVar

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine

from sortbox.checkpoint import write_parquet_chunks
from sortbox.sampling import HASH_HEX_DIGITS, sample_cutoff
from sortbox.shards import SHARD_SEED, shard_cutoffs
from sortbox.timestamps import as_utc, parse_timestamp, utc_text

#: Arrow schema of every extracted chunk (and of the ExtractMessages checkpoint).
MESSAGE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=True),
        pa.field("text", pa.string(), nullable=True),
        # True when the stored bytes were not valid UTF-8 (sqlite only); `text` then holds a
        # lossy decoding and cleaning quarantines the row.
        pa.field("undecodable", pa.bool_(), nullable=False),
        pa.field("timestamp", pa.string(), nullable=True),
        pa.field("label", pa.string(), nullable=True),
        # "id", "timestamp" or "label": the first of those columns whose stored bytes are not valid
        # UTF-8 (sqlite only), shown with \xNN escapes; cleaning quarantines the row. NULL: none.
        pa.field("undecodable_column", pa.string(), nullable=True),
    ]
)

T = TypeVar("T")
#: The application_name of sortbox's Postgres sessions.
APPLICATION_NAME = "sortbox-extract"


class SourceError(ValueError):
    """The configured source (database, table, column, window) cannot be read as asked."""


@dataclass(frozen=True)
class SourceSpec:
    """What to read: names are validated against the database before any query runs."""

    table: str
    id_column: str
    text_column: str
    timestamp_column: str | None = None
    label_column: str | None = None
    sample_fraction: float = 1.0
    sample_seed: int = 0
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    chunk_size: int = 50_000
    # One shard of `shard_count` (sortbox.shards), or every row (None); and the run's cut: only ids
    # up to `id_bound` (an integer id column's maximum when the run was planned), or no bound.
    shard_count: int = 1
    shard: int | None = None
    id_bound: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.sample_fraction <= 1.0:
            raise SourceError(f"sample_fraction must be in (0, 1], got {self.sample_fraction!r}")
        if self.chunk_size < 1:
            raise SourceError(f"chunk_size must be positive, got {self.chunk_size!r}")
        if (self.since or self.until) and not self.timestamp_column:
            raise SourceError("a since/until window needs [source] timestamp_column to be set")
        if self.since and self.until and self.since >= self.until:
            raise SourceError(f"empty window: since {self.since} is not before until {self.until}")
        if self.shard is not None and not 0 <= self.shard < self.shard_count:
            raise SourceError(f"shard {self.shard!r} is not one of the {self.shard_count} shards")


def _sqlite_utc_key(ts: sa.ColumnElement) -> sa.ColumnElement:
    """`utc_text(parse_timestamp(ts))` in sqlite SQL, NULL for a value that is not a timestamp.

    The usual shapes are recognised by sqlite's own C functions: a value is canonical when it comes
    back unchanged through julianday() (which, unlike datetime() alone, carries 2026-02-30 over to
    March 2 and 24:00 to the next day, so those do not come back). Only the others go through the
    registered Python function, which costs microseconds a row."""
    text = sa.func.typeof(ts) == "text"
    year_ok = sa.func.substr(ts, 1, 4) != "0000"  # sqlite takes year 0, Python does not
    day = sa.func.julianday(ts)
    return sa.case(
        (sa.and_(text, year_ok, sa.func.length(ts) == 19, sa.func.datetime(day) == ts), ts),
        (
            sa.and_(
                text,
                year_ok,
                sa.func.length(ts) == 26,
                sa.func.datetime(day) == sa.func.substr(ts, 1, 19),
                sa.func.substr(ts, 20).op("GLOB")(".[0-9][0-9][0-9][0-9][0-9][0-9]"),
            ),
            _trim_zero_fraction(ts),
        ),
        (sa.and_(text, year_ok, sa.func.length(ts) == 10, sa.func.date(day) == ts), sa.func.printf("%s 00:00:00", ts)),
        else_=sa.func.sortbox_utc(ts),  # registered by make_engine: parse_timestamp, in SQL
    )


def _trim_zero_fraction(ts: sa.ColumnElement) -> sa.ColumnElement:
    # '… 10:00:00.000000' is the same moment as '… 10:00:00', and must compare equal to a bound.
    return sa.case((sa.func.substr(ts, 20) == ".000000", sa.func.substr(ts, 1, 19)), else_=ts)


def _sqlite_utc(value: object) -> str | None:
    """sqlite function sortbox_utc(value): `parse_timestamp` of a value of any storage type, as
    `utc_text`, or NULL when it is not a timestamp."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    moment = parse_timestamp(value) if isinstance(value, str) else None
    return utc_text(moment) if moment else None


def night_window(
    night: dt.date, *, window_days: int | None, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> tuple[dt.datetime | None, dt.datetime]:
    """The rows night `night` trains on: timestamps before night + 1 day and, with `window_days`,
    not before that bound minus `window_days` days; narrowed further by a configured `since` /
    `until`. Only the date decides, so a night rerun later reads the same rows."""
    if window_days is not None and window_days < 1:
        raise SourceError(f"[nightly] window_days must be at least 1, got {window_days}")
    end = dt.datetime.combine(night + dt.timedelta(days=1), dt.time())
    start = end - dt.timedelta(days=window_days) if window_days else None
    if until is not None and until < end:
        end = until
    if since is not None and (start is None or since > start):
        start = since
    if start is not None and start >= end:
        raise SourceError(
            f"night {night}: empty window [{start}, {end}) ([source] since/until and [nightly] window_days)"
        )
    return start, end


def describe_url(url: str) -> str:
    """A loggable description of a database URL: dialect and database name, no host or password."""
    parsed = sa.engine.make_url(url)
    name = os.path.basename(parsed.database or "") if parsed.get_backend_name() == "sqlite" else parsed.database
    return f"{parsed.get_backend_name()} database {name!r}"


def fingerprint_url(url: str) -> str:
    """A short stable digest of the URL without its password: tells sources apart in output hashes."""
    masked = sa.engine.make_url(url).render_as_string(hide_password=True)
    return hashlib.sha256(masked.encode()).hexdigest()[:16]


def _sqlite_md5(value: object) -> str | None:
    if value is None:
        return None
    data = value if isinstance(value, bytes) else str(value).encode()
    return hashlib.md5(data).hexdigest()


def supported_url(url: str, *, variable: str, error: type[Exception], role: str = "") -> sa.engine.URL:
    """`url` parsed, if it names sqlite or postgresql+psycopg2 (the databases sortbox talks to);
    else `error` with one line saying what to use instead. `role` (e.g. "sink") names which
    database the message is about; `variable` is where the URL came from."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise error(f"{variable} is not a database URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.get_driver_name() != "psycopg2":
        where = f" for the {role}" if role else ""
        raise error(f"use a postgresql+psycopg2:// URL{where} (SQLAlchemy 2 maps postgresql:// to psycopg 3)")
    if backend not in ("sqlite", "postgresql"):
        which = f"{role} database" if role else "database"
        raise error(f"unsupported {which} {backend!r}: sortbox reads and writes sqlite and postgresql+psycopg2")
    return parsed


def make_engine(url: str) -> Engine:
    """An engine for `url` that never echoes bound values, with sqlite taught `md5()`.

    Raises SourceError for an unsupported dialect or a sqlite file that does not exist (sqlite
    would otherwise silently create an empty database).
    """
    parsed = supported_url(url, variable="SORTBOX_DB_URL", error=SourceError)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise SourceError("an in-memory sqlite database has no messages table; give a file path")
        if not os.path.exists(parsed.database):
            raise SourceError(f"sqlite database file {parsed.database!r} does not exist")
    # application_name: lets a DBA (and the tests) find sortbox's session in pg_stat_activity.
    connect_args = {"application_name": APPLICATION_NAME} if backend == "postgresql" else {}
    engine = sa.create_engine(parsed, hide_parameters=True, pool_pre_ping=True, connect_args=connect_args)
    if backend == "sqlite":
        sa.event.listen(engine, "connect", _register_sqlite_functions)
    return engine


def _register_sqlite_functions(dbapi_conn, _record) -> None:
    dbapi_conn.create_function("md5", 1, _sqlite_md5, deterministic=True)
    dbapi_conn.create_function("sortbox_shard", 2, _sqlite_shard, deterministic=True)
    # sqlite keeps timestamps as text in any shape, and its own datetime() reads other shapes than
    # Python (it takes 2026-02-30 and 24:00): windows compare what parse_timestamp reads.
    dbapi_conn.create_function("sortbox_utc", 1, _sqlite_utc, deterministic=True)


@contextlib.contextmanager
def snapshot_connection(engine: Engine, *, statement_timeout_seconds: float = 0) -> Iterator[Connection]:
    """A connection that sees one consistent snapshot: REPEATABLE READ, read only on Postgres,
    where every statement is cancelled after `statement_timeout_seconds` (0: no limit).

    sqlite reads inside one transaction are already isolated from concurrent writers.
    """
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            if engine.dialect.name == "postgresql" and statement_timeout_seconds > 0:
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(statement_timeout_seconds * 1000)}")
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")  # windows are UTC, as on sqlite
                # Timestamps are read as ISO text (_PostgresTimestampText).
                conn.exec_driver_sql("SET LOCAL DateStyle = 'ISO, YMD'")
            yield conn


def explain_database_error(exc: sa.exc.DBAPIError, *, url: str, table: str, statement_timeout_seconds: float) -> str:
    """One clear line for a database error: what happened, to which database and table, without
    the password or the SQL's bound values."""
    detail = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
    if getattr(exc.orig, "pgcode", None) == "57014":  # query_canceled: the statement timeout fired
        return (
            f"reading table {table!r} from {describe_url(url)} took longer than the statement timeout of "
            f"{statement_timeout_seconds:g} s ([database] statement_timeout_seconds): {detail}"
        )
    return f"database error while reading table {table!r} from {describe_url(url)}: {detail}"


# Postgres error classes worth a second attempt: connection exceptions (08xxx), the server shutting
# down or starting up (57P01-57P03), a serialization failure or deadlock (40001, 40P01), too many
# connections or out of memory (53300, 53200). Not 57014, the statement timeout: the same query on
# the same rows would run as long again.
_TRANSIENT_PGCODES = ("08", "57P01", "57P02", "57P03", "40001", "40P01", "53300", "53200")
# Driver messages of transient failures that carry no SQLSTATE (the connection never got that far,
# or it died under the driver), and sqlite's lock held by a writer.
_TRANSIENT_MESSAGES = (
    "server closed the connection",
    "connection refused",
    "could not connect to server",
    "timeout expired",
    "connection timed out",
    "could not receive data",
    "could not send data",
    "connection reset",
    "connection already closed",
    "the database system is starting up",
    "the database system is shutting down",
    "terminating connection",
    "ssl syscall error",
    "database is locked",
)
# ... except these, which no retry mends.
_PERMANENT_MESSAGES = ("authentication failed", "pg_hba.conf", "does not exist", "permission denied", "no such table")


def is_transient_error(exc: BaseException) -> bool:
    """Whether a failed extraction may succeed if simply tried again: a dropped connection, a
    connection timeout, a server restarting, a locked sqlite file. Everything else (bad
    credentials, a missing table or column, no rows, the statement timeout, a type error, any
    SourceError) is permanent: one attempt, one line."""
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    message = str(exc.orig if exc.orig is not None else exc).lower()
    if any(marker in message for marker in _PERMANENT_MESSAGES):
        return False
    code = getattr(exc.orig, "pgcode", None) or ""
    if code:
        return code.startswith(_TRANSIENT_PGCODES)
    return bool(exc.connection_invalidated) or any(marker in message for marker in _TRANSIENT_MESSAGES)


def with_retries(
    attempt: Callable[[], T],
    *,
    retries: int,
    delay_seconds: float,
    on_retry: Callable[[BaseException, int, int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`attempt()`, tried again up to `retries` more times, `delay_seconds` apart, while it fails
    with a transient error (`is_transient_error`); any other error, or the last one, is raised
    at once. `on_retry(error, attempt number, attempts)` is called before each wait."""
    attempts = retries + 1
    for number in range(1, attempts + 1):
        try:
            return attempt()
        except Exception as exc:
            if number == attempts or not is_transient_error(exc):
                raise
            if on_retry is not None:
                on_retry(exc, number, attempts)
            sleep(delay_seconds)
    raise AssertionError("unreachable")


def reflect_source(conn: Connection, spec: SourceSpec) -> sa.Table:
    """Look the configured table and columns up in the database's own schema.

    Raises SourceError naming the missing table or column (and what exists instead).
    """
    inspector = sa.inspect(conn)
    known_tables = set(inspector.get_table_names()) | set(inspector.get_view_names())
    if spec.table not in known_tables:
        raise SourceError(
            f"table {spec.table!r} does not exist in the database (tables: {', '.join(sorted(known_tables)) or 'none'})"
        )
    table = sa.Table(spec.table, sa.MetaData(), autoload_with=conn)
    for role, name in _configured_columns(spec):
        if name not in table.c:
            raise SourceError(
                f"{role} {name!r} is not a column of table {spec.table!r} (columns: {', '.join(table.c.keys())})"
            )
    return table


def _configured_columns(spec: SourceSpec) -> list[tuple[str, str]]:
    roles = [("id_column", spec.id_column), ("text_column", spec.text_column)]
    if spec.timestamp_column:
        roles.append(("timestamp_column", spec.timestamp_column))
    if spec.label_column:
        roles.append(("label_column", spec.label_column))
    return roles


def _hash_key(conn: Connection, column: sa.Column, seed: object) -> sa.ColumnElement:
    """The key of sortbox.sampling.sample_hash(seed, id), computed by the database (sqlite: a
    registered md5); NULL for a NULL id."""
    if conn.dialect.name == "postgresql":
        text = sa.literal(f"{seed}:") + sa.cast(column, sa.Text)
        return sa.func.substr(sa.func.md5(text), 1, HASH_HEX_DIGITS).collate("C")
    # sqlite: the id's bytes (its text's UTF-8, or the digits of a number), so that an id that is
    # not valid UTF-8 hashes too instead of failing the registered function.
    prefixed = sa.cast(sa.literal(f"{seed}:") + sa.cast(column, sa.Text), sa.LargeBinary)
    return sa.func.substr(sa.func.md5(prefixed), 1, HASH_HEX_DIGITS)


def _shard_clause(conn: Connection, column: sa.Column, shard: int, count: int) -> sa.ColumnElement:
    """The rows of one shard (sortbox.shards.shard_of): its range of the shard key; a NULL id is in shard 0."""
    return _shard_bucket(conn, column, count) == sa.literal(shard)


def _shard_bucket(conn: Connection, column: sa.Column, count: int) -> sa.ColumnElement:
    """The shard of each row (of more than one shard), as an SQL expression that computes the
    row's shard key once: the number of `shard_cutoffs` at or below it, 0 for a NULL id. (Written
    as comparisons with each cutoff, the md5 ran once a comparison: at 10M rows in four shards the
    plan took 28 s and every shard's scan computed it up to three times a row.)"""
    key = _hash_key(conn, column, SHARD_SEED)
    cutoffs = shard_cutoffs(count)
    if conn.dialect.name == "postgresql":
        thresholds = postgresql.array([sa.literal(cutoff, sa.Text) for cutoff in cutoffs])
        return sa.func.coalesce(sa.func.width_bucket(key, thresholds), 0)
    return sa.func.sortbox_shard(key, ",".join(cutoffs))


def _sqlite_shard(key: str | None, cutoffs: str) -> int:
    """sqlite's `sortbox_shard(key, 'cutoff,cutoff,...')`: see _shard_bucket."""
    return 0 if key is None else bisect.bisect_right(_split_cutoffs(cutoffs), key)


@functools.lru_cache(maxsize=16)
def _split_cutoffs(cutoffs: str) -> tuple[str, ...]:
    return tuple(cutoffs.split(",")) if cutoffs else ()


def _where_clauses(conn: Connection, spec: SourceSpec, table: sa.Table) -> list[sa.ColumnElement]:
    clauses: list[sa.ColumnElement] = []
    ids = table.c[spec.id_column]
    if spec.sample_fraction < 1.0:
        clauses.append(_hash_key(conn, ids, spec.sample_seed) < sa.literal(sample_cutoff(spec.sample_fraction)))
    if spec.timestamp_column and (spec.since or spec.until):
        clauses.append(_window_clause(conn, spec, table.c[spec.timestamp_column]))
    if spec.id_bound is not None:
        clauses.append(sa.or_(ids <= sa.literal(spec.id_bound, sa.BigInteger), ids.is_(None)))
    if spec.shard is not None and spec.shard_count > 1:
        clauses.append(_shard_clause(conn, ids, spec.shard, spec.shard_count))
    return clauses


def _window_clause(conn: Connection, spec: SourceSpec, ts: sa.Column) -> sa.ColumnElement:
    """The rows a since/until window reads: a timestamp inside it, or (sqlite: values are text in
    any shape) one that is not a timestamp at all, handed on so that cleaning quarantines it as
    bad_timestamp instead of it silently belonging to no window. Rows with a NULL timestamp are
    not read (see `count_null_timestamps`). On Postgres the column must be a timestamp or date."""
    since, until = (as_utc(b) if b else None for b in (spec.since, spec.until))
    if conn.dialect.name == "sqlite":
        # A value that is not a timestamp (key NULL) counts as inside, and the key is written so
        # that sqlite computes it once a row (BETWEEN), twice only for the rows in the window.
        low, high = utc_text(since) if since else "", utc_text(until) if until else None
        key = sa.func.coalesce(_sqlite_utc_key(ts), low)
        inside = key.between(low, high) & (key != high) if high is not None else key >= low
        return sa.and_(ts.is_not(None), inside)
    if not isinstance(ts.type, (sa.DateTime, sa.Date)):
        raise SourceError(
            f"timestamp_column {ts.name!r} is {ts.type} in the database, not a timestamp or date: "
            "a since/until window needs one (convert the column, e.g. ALTER TABLE ... ALTER COLUMN "
            f"{ts.name} TYPE timestamptz USING {ts.name}::timestamptz, or read from a view that casts it)"
        )
    inside = sa.and_(*([ts >= since] if since else []), *([ts < until] if until else []))
    # ±infinity is in no window: read it, so that cleaning quarantines it (bad_timestamp), as sqlite
    # hands on a value that is not a timestamp.
    return sa.or_(inside, sa.not_(sa.func.isfinite(ts)))


def count_null_timestamps(conn: Connection, spec: SourceSpec) -> int:
    """Rows of the source (sample included) left out of a since/until window because their
    timestamp is NULL: they belong to no window, so extraction reports how many."""
    if not (spec.timestamp_column and (spec.since or spec.until)):
        return 0
    table = reflect_source(conn, spec)
    no_window = SourceSpec(**{**spec.__dict__, "since": None, "until": None})
    stmt = (
        sa.select(sa.func.count())
        .select_from(table)
        .where(*_where_clauses(conn, no_window, table), table.c[spec.timestamp_column].is_(None))
    )
    return int(conn.execute(stmt).scalar_one())


def _select(conn: Connection, spec: SourceSpec, table: sa.Table) -> sa.Select:
    # On sqlite, read every column as bytes: invalid UTF-8 becomes a quarantined row instead of a
    # crash inside the driver, and an id stored as the integer 1 reads as b"1", like the text '1'
    # (the same id, so a duplicate). Postgres guarantees valid text in its server encoding.
    def read(name: str) -> sa.ColumnElement:
        return sa.cast(table.c[name], sa.LargeBinary) if conn.dialect.name == "sqlite" else table.c[name]

    def read_timestamp(column: sa.Column) -> sa.ColumnElement:
        if conn.dialect.name == "sqlite":
            return read(column.name)
        if isinstance(column.type, (sa.DateTime, sa.Date)):
            return sa.cast(column, _PostgresTimestampText(date_only=not isinstance(column.type, sa.DateTime)))
        return sa.type_coerce(column, sa.String)

    columns = [read(spec.id_column).label("id"), read(spec.text_column).label("text")]
    if spec.timestamp_column:
        columns.append(read_timestamp(table.c[spec.timestamp_column]).label("timestamp"))
    if spec.label_column:
        columns.append(read(spec.label_column).label("label"))
    stmt = sa.select(*columns).where(*_where_clauses(conn, spec, table))
    # Ordered by the shard key, then the id: every shard's rows come in the order their part of
    # the key range has in the whole table, so the shards, put one after the other, hold the rows
    # in the same order whatever their number (and so does everything computed from them), and
    # the copies of a duplicate id are adjacent. On sqlite the id is ordered by the bytes read,
    # so that an id stored as the integer 1 and as the text '1' (the same id) are adjacent too.
    ids = table.c[spec.id_column]
    return stmt.order_by(_hash_key(conn, ids, SHARD_SEED), read(spec.id_column))


class _PostgresTimestampText(sa.types.TypeDecorator):
    """A Postgres timestamp or date read as its ISO text (CAST … AS TEXT), then as a Python date or
    datetime when Python can hold it. psycopg2 would convert it itself, but fails the whole
    extraction on a year before 1 or after 9999 (`4713-01-01 BC`, `20000-01-01`) and reads
    `infinity` as 9999-12-31: such a value stays text here, which cleaning quarantines as
    bad_timestamp. Every other value reads exactly as psycopg2 reads it."""

    impl = sa.Text
    cache_ok = True

    def __init__(self, date_only: bool):
        super().__init__()
        self.date_only = date_only

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        try:
            return (dt.date if self.date_only else dt.datetime).fromisoformat(value)
        except ValueError:
            return value


def count_source_rows(conn: Connection, spec: SourceSpec) -> int:
    """How many rows `iter_message_chunks` will yield (for progress reporting)."""
    table = reflect_source(conn, spec)
    stmt = sa.select(sa.func.count()).select_from(table).where(*_where_clauses(conn, spec, table))
    return int(conn.execute(stmt).scalar_one())


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return str(value)


def _decode(value: object, errors: str) -> tuple[str | None, bool]:
    """A value as text, and whether it was bytes that are not UTF-8, then decoded with `errors`:
    "replace" for message texts, "backslashreplace" (\\xNN: different bytes stay different) for
    ids, timestamps and labels."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            return raw.decode("utf-8"), False
        except UnicodeDecodeError:
            return raw.decode("utf-8", errors=errors), True
    return _as_text(value), False


def rows_to_chunk(rows: list, *, has_timestamp: bool, has_label: bool) -> pa.Table:
    """Turn fetched rows (id, text[, timestamp][, label]) into an Arrow table of MESSAGE_SCHEMA."""
    ids, texts, bad, stamps, labels, bad_columns = [], [], [], [], [], []
    for row in rows:
        message_id, bad_id = _decode(row[0], "backslashreplace")
        ids.append(message_id)
        text, undecodable = _decode(row[1], "replace")
        texts.append(text)
        bad.append(undecodable)
        bad_stamp = bad_label = False
        position = 2
        if has_timestamp:
            stamp, bad_stamp = _decode(row[position], "backslashreplace")
            stamps.append(stamp)
            position += 1
        if has_label:
            label, bad_label = _decode(row[position], "backslashreplace")
            labels.append(label)
        bad_columns.append("id" if bad_id else "timestamp" if bad_stamp else "label" if bad_label else None)
    n = len(ids)
    return pa.table(
        [ids, texts, bad, stamps if has_timestamp else [None] * n, labels if has_label else [None] * n, bad_columns],
        schema=MESSAGE_SCHEMA,
    )


def iter_message_chunks(conn: Connection, spec: SourceSpec) -> Iterator[pa.Table]:
    """Stream the selected rows as Arrow tables of at most `spec.chunk_size` rows, ordered by the
    shard key, then the id (see `_select`).

    Uses a server-side cursor on Postgres (never the whole table in memory). Raises SourceError
    when the table or a column does not exist, or a window is asked of a Postgres column that is
    not a timestamp or date.
    """
    table = reflect_source(conn, spec)
    stmt = _select(conn, spec, table)
    # Per statement: Connection.execution_options() would change the whole connection in place.
    result = conn.execute(stmt, execution_options={"yield_per": spec.chunk_size})
    for rows in result.partitions(spec.chunk_size):
        yield rows_to_chunk(rows, has_timestamp=bool(spec.timestamp_column), has_label=bool(spec.label_column))


def plan_shards(conn: Connection, spec: SourceSpec, count: int) -> dict:
    """What a run reads, pinned before its shards read it: the rows of each of `count` shards,
    their total, the id bound (the largest id, when the id column holds integers: rows added
    later, with larger ids, stay out of this run) and the rows left out of a window for want of a
    timestamp. One snapshot, one scan for the counts. SourceError when there is no row."""
    table = reflect_source(conn, spec)
    ids = table.c[spec.id_column]
    bound = None
    if isinstance(ids.type, sa.Integer):
        largest = conn.execute(sa.select(sa.func.max(ids)).where(*_where_clauses(conn, spec, table))).scalar_one()
        bound = largest if isinstance(largest, int) and not isinstance(largest, bool) else None
    pinned = SourceSpec(**{**spec.__dict__, "id_bound": bound, "shard": None, "shard_count": count})
    counted = sa.select(sa.func.count()).select_from(table).where(*_where_clauses(conn, pinned, table))
    if count == 1:  # (Postgres reads GROUP BY 0 as "the 0th column")
        rows = [int(conn.execute(counted).scalar_one())]
    else:
        bucket = _shard_bucket(conn, ids, count).label("shard")
        rows = [0] * count
        for n, shard in conn.execute(counted.add_columns(bucket).group_by(bucket)).all():
            rows[int(shard)] = int(n)
    return {
        "shards": count,
        "rows": rows,
        "total": sum(rows),
        "id_bound": bound,
        "null_timestamps_outside_window": count_null_timestamps(conn, pinned),
    }


def extract_to_parquet(
    conn: Connection,
    spec: SourceSpec,
    path,
    *,
    described: dict,
    progress: Callable[[int, int], None] | None = None,
    planned_rows: int | None = None,
) -> tuple[int, int]:
    """Every row `spec` selects into the Parquet file `path` (MESSAGE_SCHEMA, one row group per
    chunk); return (rows written, rows left out for want of a timestamp: in no window, counted
    rather than silently gone). SourceError, naming the table and `described` (the options that
    select the rows), when there is no row; `progress(rows done, rows)` after each chunk.

    With `planned_rows` (a shard of a planned run), a shard may be empty, the rows left out are
    the plan's to count (0 here), and a shard that reads another number of rows than planned is
    a SourceError: the table changed under the run."""
    total = count_source_rows(conn, spec) if planned_rows is None else planned_rows
    if total == 0 and planned_rows is None:
        raise SourceError(f"no rows to extract from table {spec.table!r} with {described}")
    done = 0

    def chunks() -> Iterator[pa.Table]:
        nonlocal done
        for chunk in iter_message_chunks(conn, spec):
            done += chunk.num_rows
            if progress:
                progress(done, total)
            yield chunk

    rows = write_parquet_chunks(path, MESSAGE_SCHEMA, chunks())
    if planned_rows is not None:
        if rows != planned_rows:
            raise SourceError(
                f"shard {spec.shard} of table {spec.table!r} has {rows:,} rows, but the run's plan counted "
                f"{planned_rows:,}: the table changed while the run read it (rows added below the plan's id "
                "bound, or deleted); rerun to read a new cut"
            )
        return rows, 0
    return rows, count_null_timestamps(conn, spec)
