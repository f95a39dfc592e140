"""Extraction: stream a messages table from sqlite or Postgres into Arrow chunks.

Everything here takes an SQLAlchemy connection (or URL) as an argument; nothing reads
configuration or the environment. Table and column names are only ever looked up in the
database's own schema (reflection) and handed to SQLAlchemy as objects, never pasted into SQL.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from typing import Iterator

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

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
    ]
)

# Sampling keeps a row when the first 32 bits of md5("<seed>:<id>") fall below fraction * 2**32.
# Both databases compute it the same way (Postgres natively, sqlite through a registered function),
# compared as fixed-width lowercase hex strings, so the same seed selects the same ids everywhere.
_HASH_HEX_DIGITS = 8
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

    def __post_init__(self) -> None:
        if not 0.0 < self.sample_fraction <= 1.0:
            raise SourceError(f"sample_fraction must be in (0, 1], got {self.sample_fraction!r}")
        if self.chunk_size < 1:
            raise SourceError(f"chunk_size must be positive, got {self.chunk_size!r}")
        if (self.since or self.until) and not self.timestamp_column:
            raise SourceError("a since/until window needs [source] timestamp_column to be set")
        if self.since and self.until and self.since >= self.until:
            raise SourceError(f"empty window: since {self.since} is not before until {self.until}")


def night_window(night: dt.date, *, window_days: int | None, since: dt.datetime | None = None, until: dt.datetime | None = None) -> tuple[dt.datetime | None, dt.datetime]:
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
        raise SourceError(f"night {night}: empty window [{start}, {end}) ([source] since/until and [nightly] window_days)")
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


def sample_hash(seed: int, message_id: object) -> str:
    """The sampling key of one id, exactly as the databases compute it (see module comment)."""
    return hashlib.md5(f"{seed}:{message_id}".encode()).hexdigest()[:_HASH_HEX_DIGITS]


def sample_cutoff(fraction: float) -> str:
    """Hex cutoff: a row is sampled when its `sample_hash` sorts strictly below this string."""
    return format(min(int(fraction * 16**_HASH_HEX_DIGITS), 16**_HASH_HEX_DIGITS - 1), f"0{_HASH_HEX_DIGITS}x")


def _sqlite_md5(value: object) -> str | None:
    if value is None:
        return None
    data = value if isinstance(value, bytes) else str(value).encode()
    return hashlib.md5(data).hexdigest()


def make_engine(url: str) -> Engine:
    """An engine for `url` that never echoes bound values, with sqlite taught `md5()`.

    Raises SourceError for an unsupported dialect or a sqlite file that does not exist (sqlite
    would otherwise silently create an empty database).
    """
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise SourceError(f"SORTBOX_DB_URL is not a database URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.get_driver_name() != "psycopg2":
        raise SourceError("use a postgresql+psycopg2:// URL (SQLAlchemy 2 maps postgresql:// to psycopg 3)")
    if backend not in ("sqlite", "postgresql"):
        raise SourceError(f"unsupported database {backend!r}: sortbox reads sqlite and postgresql+psycopg2")
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise SourceError("an in-memory sqlite database has no messages table; give a file path")
        if not os.path.exists(parsed.database):
            raise SourceError(f"sqlite database file {parsed.database!r} does not exist")
    # application_name: lets a DBA (and the tests) find sortbox's session in pg_stat_activity.
    connect_args = {"application_name": APPLICATION_NAME} if backend == "postgresql" else {}
    engine = sa.create_engine(parsed, hide_parameters=True, pool_pre_ping=True, connect_args=connect_args)
    if backend == "sqlite":
        sa.event.listen(
            engine,
            "connect",
            lambda dbapi_conn, _record: dbapi_conn.create_function("md5", 1, _sqlite_md5, deterministic=True),
        )
    return engine


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
            yield conn


def explain_database_error(exc: sa.exc.DBAPIError, *, url: str, table: str, statement_timeout_seconds: float) -> str:
    """One clear line for a database error: what happened, to which database and table, without
    the password or the SQL's bound values."""
    detail = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
    if getattr(exc.orig, "pgcode", None) == "57014":  # query_canceled: the statement timeout fired
        return (f"reading table {table!r} from {describe_url(url)} took longer than the statement timeout of "
                f"{statement_timeout_seconds:g} s ([database] statement_timeout_seconds): {detail}")
    return f"database error while reading table {table!r} from {describe_url(url)}: {detail}"


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


def _where_clauses(conn: Connection, spec: SourceSpec, table: sa.Table) -> list[sa.ColumnElement]:
    clauses: list[sa.ColumnElement] = []
    if spec.sample_fraction < 1.0:
        key = sa.func.substr(sa.func.md5(sa.literal(f"{spec.sample_seed}:") + sa.cast(table.c[spec.id_column], sa.Text)), 1, _HASH_HEX_DIGITS)
        if conn.dialect.name == "postgresql":
            key = key.collate("C")
        clauses.append(key < sa.literal(sample_cutoff(spec.sample_fraction)))
    if spec.timestamp_column:
        ts = table.c[spec.timestamp_column]
        for bound, op in ((spec.since, "__ge__"), (spec.until, "__lt__")):
            if bound is None:
                continue
            if conn.dialect.name == "sqlite":
                # sqlite keeps timestamps as ISO-8601 text; compare as text in the same shape.
                clauses.append(getattr(sa.type_coerce(ts, sa.String), op)(bound.strftime("%Y-%m-%d %H:%M:%S")))
            else:
                clauses.append(getattr(ts, op)(bound))
    return clauses


def _select(conn: Connection, spec: SourceSpec, table: sa.Table) -> sa.Select:
    text_col = table.c[spec.text_column]
    # On sqlite, read text as bytes so that invalid UTF-8 becomes a quarantined row instead of a
    # crash inside the driver; Postgres guarantees valid text in its server encoding.
    text_expr = sa.cast(text_col, sa.LargeBinary) if conn.dialect.name == "sqlite" else text_col
    columns = [table.c[spec.id_column].label("id"), text_expr.label("text")]
    if spec.timestamp_column:
        columns.append(sa.type_coerce(table.c[spec.timestamp_column], sa.String).label("timestamp"))
    if spec.label_column:
        columns.append(table.c[spec.label_column].label("label"))
    stmt = sa.select(*columns).where(*_where_clauses(conn, spec, table))
    # Ordered by id so that the output is deterministic and duplicate ids are adjacent.
    return stmt.order_by(table.c[spec.id_column])


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


def _decode(value: object) -> tuple[str | None, bool]:
    if value is None:
        return None, False
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            return raw.decode("utf-8"), False
        except UnicodeDecodeError:
            return raw.decode("utf-8", errors="replace"), True
    return str(value), False


def rows_to_chunk(rows: list, *, has_timestamp: bool, has_label: bool) -> pa.Table:
    """Turn fetched rows (id, text[, timestamp][, label]) into an Arrow table of MESSAGE_SCHEMA."""
    ids, texts, bad, stamps, labels = [], [], [], [], []
    for row in rows:
        ids.append(_as_text(row[0]))
        text, undecodable = _decode(row[1])
        texts.append(text)
        bad.append(undecodable)
        position = 2
        if has_timestamp:
            stamps.append(_as_text(row[position]))
            position += 1
        if has_label:
            labels.append(_as_text(row[position]))
    n = len(ids)
    return pa.table(
        [ids, texts, bad, stamps if has_timestamp else [None] * n, labels if has_label else [None] * n],
        schema=MESSAGE_SCHEMA,
    )


def iter_message_chunks(conn: Connection, spec: SourceSpec) -> Iterator[pa.Table]:
    """Stream the selected rows as Arrow tables of at most `spec.chunk_size` rows, ordered by id.

    Uses a server-side cursor on Postgres (never the whole table in memory). Raises SourceError
    when the table or a column does not exist.
    """
    table = reflect_source(conn, spec)
    stmt = _select(conn, spec, table)
    # Per statement: Connection.execution_options() would change the whole connection in place.
    result = conn.execute(stmt, execution_options={"yield_per": spec.chunk_size})
    for rows in result.partitions(spec.chunk_size):
        yield rows_to_chunk(rows, has_timestamp=bool(spec.timestamp_column), has_label=bool(spec.label_column))
