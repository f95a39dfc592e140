"""Scores back in the database: scores.csv -> one row per (id, class) in a sink table.

One export is one transaction (a killed export leaves no row of it) that also writes a marker
row naming the export (`update_id`) in a marker table, as luigi's SQL targets do
(luigi.contrib.postgres `table_updates`): the export is done exactly when its marker exists, and
a second export of the same `update_id` adds nothing. scores.csv is read in chunks; Postgres is
loaded with COPY from a CSV buffer per chunk, sqlite with executemany per chunk.

Rows written: id (as extracted: the ' that scores.csv puts before a formula-like id is removed),
class, score, decision (1/0), model_id, run_date.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sortbox.extract import supported_url
from sortbox.portable_scorer import csv_unescape

SCORE_COLUMNS = ("id", "class", "score", "decision", "model_id", "run_date")
MARKER_COLUMNS = ("update_id", "target_table", "run_date", "rows", "inserted")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


class SinkError(ValueError):
    """The sink cannot take the scores: one line naming the table, the file or the option."""


def check_identifier(option: str, name: str) -> str:
    """`name` if it is a plain SQL identifier (letters, digits, _; not starting with a digit; at most
    63 characters, Postgres's limit), else SinkError naming the option: names are never pasted
    into SQL unchecked, and are quoted anyway."""
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise SinkError(
            f"[sink] {option} = {name!r} is not allowed: "
            "must be letters, digits and _, not starting with a digit, at most 63 characters"
        )
    return name


@dataclass(frozen=True)
class SinkSpec:
    """Where the scores go: the sink table, the marker table, rows per chunk."""

    table: str = "sortbox_scores"
    marker_table: str = "sortbox_score_exports"
    chunk_rows: int = 100_000

    def __post_init__(self):
        check_identifier("table", self.table)
        check_identifier("marker_table", self.marker_table)
        if self.table == self.marker_table:
            raise SinkError(f"[sink] table and marker_table are both {self.table!r}: they must differ")
        if not isinstance(self.chunk_rows, int) or self.chunk_rows < 1:
            raise SinkError(f"[sink] chunk_rows = {self.chunk_rows!r} is not allowed: must be an integer >= 1")


def _tables(spec: SinkSpec) -> tuple[sa.Table, sa.Table]:
    metadata = sa.MetaData()
    scores = sa.Table(
        spec.table,
        metadata,
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("class", sa.Text, nullable=False),
        sa.Column("score", sa.Float(precision=53), nullable=False),
        sa.Column("decision", sa.SmallInteger, nullable=False),
        sa.Column("model_id", sa.Text, nullable=False),
        sa.Column("run_date", sa.Date, nullable=False),
    )
    marker = sa.Table(
        spec.marker_table,
        metadata,
        sa.Column("update_id", sa.Text, primary_key=True),
        sa.Column("target_table", sa.Text, nullable=False),
        sa.Column("run_date", sa.Date, nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("inserted", sa.DateTime, nullable=False),
    )
    return scores, marker


def make_sink_engine(url: str) -> Engine:
    """An engine for the sink that never echoes bound values: sqlite or postgresql+psycopg2
    (COPY goes through psycopg2's copy_expert)."""
    parsed = supported_url(url, variable="SORTBOX_SINK_URL", error=SinkError, role="sink")
    connect_args = {"application_name": "sortbox-sink"} if parsed.get_backend_name() == "postgresql" else {}
    return sa.create_engine(parsed, hide_parameters=True, connect_args=connect_args)


def describe_engine(engine: Engine) -> str:
    """Dialect and database name, never the host or the password."""
    url = engine.url
    name = Path(url.database or "").name if url.get_backend_name() == "sqlite" else url.database
    return f"{url.get_backend_name()} database {name!r}"


def prepare_tables(engine: Engine, spec: SinkSpec) -> None:
    """Create the sink and marker tables if missing; an existing one must have exactly the
    expected columns (reflected), else one SinkError line saying what it has and what is needed."""
    scores, marker = _tables(spec)
    inspector = sa.inspect(engine)
    for table, expected, option in ((scores, SCORE_COLUMNS, "table"), (marker, MARKER_COLUMNS, "marker_table")):
        if inspector.has_table(table.name):
            found = [column["name"] for column in inspector.get_columns(table.name)]
            if sorted(found) != sorted(expected):
                raise SinkError(
                    f"[sink] {option} {table.name!r} in {describe_engine(engine)} "
                    f"has the columns ({', '.join(found)}); "
                    f"sortbox writes ({', '.join(expected)}): give another [sink] {option} or fix that table"
                )
    scores.metadata.create_all(engine, checkfirst=True)


def export_done(engine: Engine, spec: SinkSpec, update_id: str) -> bool:
    """True when the export `update_id` has committed (its marker row exists)."""
    if not sa.inspect(engine).has_table(spec.marker_table):
        return False
    _, marker = _tables(spec)
    with engine.connect() as conn:
        return conn.execute(sa.select(marker.c.update_id).where(marker.c.update_id == update_id)).first() is not None


def _score_header_classes(header: list[str], path: Path) -> list[str]:
    classes = []
    pairs = header[1:]
    if header[:1] != ["id"] or not pairs or len(pairs) % 2:
        raise SinkError(
            f"{path}: header {header[:3]}... is not a scores.csv header (id, <class>_score, <class>_decision, ...)"
        )
    for score, decision in zip(pairs[::2], pairs[1::2]):
        score, decision = csv_unescape(score), csv_unescape(decision)
        if not score.endswith("_score") or decision != score[: -len("_score")] + "_decision":
            raise SinkError(f"{path}: columns {score!r}, {decision!r} are not a <class>_score, <class>_decision pair")
        classes.append(score[: -len("_score")])
    return classes


def iter_score_rows(path: Path, model_ids: dict[str, str], run_date: dt.date, *, chunk_rows: int) -> Iterator[pa.Table]:
    """scores.csv at `path`, streamed, as tables of at most `chunk_rows` x classes sink rows
    (SCORE_COLUMNS, one row per id and class). `model_ids`: class -> id of the model that scored it.

    SinkError names the file for a header that is not scores.csv's, a class without a model id,
    or a cell that is empty or not a number."""
    path = Path(path)
    # A block holds whole rows: large enough for chunk_rows ordinary rows and for any long id.
    read = pacsv.ReadOptions(block_size=max(1 << 20, chunk_rows * 64))
    parse = pacsv.ParseOptions(newlines_in_values=True)
    try:
        header = pacsv.open_csv(
            path, read_options=pacsv.ReadOptions(block_size=1 << 20), parse_options=parse
        ).schema.names
    except (pa.ArrowInvalid, OSError) as exc:
        raise SinkError(f"{path}: cannot be read as CSV: {' '.join(str(exc).split())}") from None
    classes = _score_header_classes(header, path)
    missing = [name for name in classes if name not in model_ids]
    if missing:
        raise SinkError(f"{path}: no model id for the class(es) {missing} (the model scored {sorted(model_ids)})")
    types = {header[0]: pa.string()}
    for position in range(len(classes)):
        types[header[1 + 2 * position]] = pa.float64()
        types[header[2 + 2 * position]] = pa.int16()
    convert = pacsv.ConvertOptions(column_types=types, strings_can_be_null=False, quoted_strings_can_be_null=False)
    try:
        reader = pacsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert)
        done = 0  # rows of earlier batches
        for batch in reader:
            for start in range(0, batch.num_rows, chunk_rows):
                part = batch.slice(start, chunk_rows)
                for column in part.columns[1:]:
                    if column.null_count:
                        first = done + start + 1
                        raise SinkError(
                            f"{path}: an empty score or decision cell in data rows {first}-{first + part.num_rows - 1}"
                        )
                ids = part.column(0)
                ids = pc.if_else(pc.starts_with(ids, "'"), pc.utf8_slice_codeunits(ids, 1), ids)  # csv_unescape
                n = part.num_rows
                yield pa.concat_tables(
                    pa.table(
                        {
                            "id": ids,
                            "class": pa.array([name] * n, pa.string()),
                            "score": part.column(1 + 2 * position),
                            "decision": part.column(2 + 2 * position),
                            "model_id": pa.array([model_ids[name]] * n, pa.string()),
                            "run_date": pa.array([run_date] * n, pa.date32()),
                        }
                    )
                    for position, name in enumerate(classes)
                )
            done += batch.num_rows
    except pa.ArrowInvalid as exc:
        raise SinkError(f"{path}: {' '.join(str(exc).split())}") from None


class _Counter:
    """Iterates the chunks, counting rows; calls on_chunk(rows so far) when a chunk is handed on."""

    def __init__(self, chunks: Iterable[pa.Table], on_chunk: Callable[[int], None] | None):
        self.chunks, self.on_chunk, self.rows = chunks, on_chunk, 0

    def __iter__(self) -> Iterator[pa.Table]:
        for chunk in self.chunks:
            if self.rows and self.on_chunk is not None:
                self.on_chunk(self.rows)
            self.rows += chunk.num_rows
            yield chunk
        if self.on_chunk is not None:
            self.on_chunk(self.rows)


class _CsvStream(io.RawIOBase):
    """A readable stream of the chunks as header-less CSV, made one chunk at a time (for COPY)."""

    def __init__(self, chunks: Iterable[pa.Table]):
        self.chunks, self.current = iter(chunks), io.BytesIO()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.current.read(size)
        while not data:
            chunk = next(self.chunks, None)
            if chunk is None:
                return b""
            self.current = io.BytesIO()
            pacsv.write_csv(chunk, self.current, write_options=pacsv.WriteOptions(include_header=False))
            self.current.seek(0)
            data = self.current.read(size)
        return data


def export_scores(
    engine: Engine,
    spec: SinkSpec,
    chunks: Iterable[pa.Table],
    *,
    update_id: str,
    run_date: dt.date,
    on_chunk: Callable[[int], None] | None = None,
) -> int:
    """Write every chunk (SCORE_COLUMNS tables) and the marker `update_id` in one transaction.

    Returns the rows written, or 0 when `update_id` was already exported (nothing is written).
    `on_chunk(rows so far)` is called as each chunk has been handed to the database, inside the
    transaction.
    """
    prepare_tables(engine, spec)
    scores, marker = _tables(spec)
    quote = engine.dialect.identifier_preparer.quote
    columns = ", ".join(quote(name) for name in SCORE_COLUMNS)
    marker_columns = ", ".join(quote(name) for name in MARKER_COLUMNS)
    postgres = engine.dialect.name == "postgresql"
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if not postgres:
            cursor.execute("BEGIN IMMEDIATE")  # sqlite: take the write lock now, for the whole export
        mark = "%s" if postgres else "?"
        cursor.execute(f"SELECT 1 FROM {quote(marker.name)} WHERE {quote('update_id')} = {mark}", (update_id,))
        if cursor.fetchone() is not None:
            raw.rollback()
            return 0
        counter = _Counter(chunks, on_chunk)
        if postgres:
            # One COPY fed from a stream of CSV chunks: the server loads a chunk while the next is read.
            cursor.copy_expert(
                f"COPY {quote(scores.name)} ({columns}) FROM STDIN WITH (FORMAT csv)", _CsvStream(counter), size=1 << 20
            )
        else:
            insert = f"INSERT INTO {quote(scores.name)} ({columns}) VALUES (?, ?, ?, ?, ?, ?)"
            for chunk in counter:
                values = [c.to_pylist() for c in chunk.columns[:5]] + [[run_date.isoformat()] * chunk.num_rows]
                cursor.executemany(insert, zip(*values))
        written = counter.rows
        inserted = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
        row = (
            update_id,
            scores.name,
            run_date if postgres else run_date.isoformat(),
            written,
            inserted if postgres else inserted.isoformat(sep=" "),
        )
        cursor.execute(f"INSERT INTO {quote(marker.name)} ({marker_columns}) VALUES ({', '.join([mark] * 5)})", row)
        raw.commit()
        return written
    except BaseException:
        raw.rollback()
        raise
    finally:
        raw.close()
