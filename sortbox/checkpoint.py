"""Reading and writing checkpoint files (Parquet chunks, JSON) under a path the caller gives.

Callers pass a temporary path that is renamed once the whole output is written, so nothing here
has to be atomic by itself.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


class ParquetSink:
    """A Parquet file written chunk by chunk (one row group each); counts its rows.

    Used as a context manager; a file with no chunks is still valid (schema, no rows).
    """

    def __init__(self, path: Path, schema: pa.Schema):
        self.schema = schema
        self.rows = 0
        self._writer = pq.ParquetWriter(str(path), schema, compression="zstd")

    def write(self, chunk: pa.Table) -> None:
        if chunk.num_rows:
            self._writer.write_table(chunk.cast(self.schema))
            self.rows += chunk.num_rows

    def __enter__(self) -> "ParquetSink":
        return self

    def __exit__(self, *exc_info) -> None:
        self._writer.close()


def write_parquet_chunks(path: Path, schema: pa.Schema, chunks: Iterable[pa.Table]) -> int:
    """Write `chunks` to one Parquet file; returns the row count."""
    with ParquetSink(path, schema) as sink:
        for chunk in chunks:
            sink.write(chunk)
    return sink.rows


def iter_parquet_chunks(
    path: Path, *, batch_size: int = 50_000, columns: list[str] | None = None
) -> Iterator[pa.Table]:
    """Stream a Parquet file as tables of at most `batch_size` rows."""
    parquet = pq.ParquetFile(str(path))
    for batch in parquet.iter_batches(batch_size=batch_size, columns=columns):
        yield pa.Table.from_batches([batch])


def parquet_row_count(path: Path) -> int:
    """Rows in a Parquet file, from its footer (no data read)."""
    return pq.ParquetFile(str(path)).metadata.num_rows


class NpyRowWriter:
    """A 2-D .npy file (C order) written a block of rows at a time, so no more than one block is
    ever in memory (a memory map would count every written page in the process's RSS).

    The shape is fixed up front; closing with fewer rows written than declared is an error.
    """

    def __init__(self, path: Path, *, rows: int, columns: int, dtype: np.dtype = np.float32):
        self.path, self.rows, self.columns, self.dtype = Path(path), rows, columns, np.dtype(dtype)
        self.written = 0
        self._file = open(self.path, "wb")
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": (rows, columns)}
        np.lib.format.write_array_header_1_0(self._file, header)

    def write(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=self.dtype)
        if block.ndim != 2 or block.shape[1] != self.columns or self.written + block.shape[0] > self.rows:
            raise ValueError(
                f"{self.path.name}: block of shape {block.shape} does not fit "
                f"{self.written} of ({self.rows}, {self.columns}) rows written"
            )
        self._file.write(block.tobytes())
        self.written += block.shape[0]

    def __enter__(self) -> "NpyRowWriter":
        return self

    def __exit__(self, exc_type, *_) -> None:
        self._file.close()
        if exc_type is None and self.written != self.rows:
            raise ValueError(f"{self.path.name}: {self.written} rows written, {self.rows} declared")


def write_json(path: Path, obj: Any) -> None:
    """Write `obj` as stable, human-readable JSON (sorted keys, trailing newline)."""
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def read_json(path: Path) -> Any:
    """Read a JSON file written by `write_json`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def comparable_output(path: Path, root: Path) -> bytes:
    """A task output file's bytes, less what measures the run rather than its result, so that two
    runs of the same data and parameters (killed and rerun, one worker or several, one host or
    several) compare byte for byte: the seconds each grid-search candidate's fit took
    (`fit_seconds` in folds.json, grid.json and classes.json, the "fit seconds" cells of
    report.html), and the
    output root itself where a file names another task's directory (classes.json)."""
    data = Path(path).read_bytes().replace(str(root).encode(), b"<output root>")
    if path.name in ("grid.json", "classes.json", "folds.json"):
        return re.sub(rb'"fit_seconds": [0-9.e+-]+', b'"fit_seconds": "masked"', data)
    if path.name == "report.html":
        return re.sub(rb"<td class='num seconds'>[^<]*</td>", b"<td class='num seconds'>masked</td>", data)
    return data
