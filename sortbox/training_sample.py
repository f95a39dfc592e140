"""The training sample's LSI features, in two streaming passes over the tokens: one to choose the
rows (`sampling.TrainingRowPicker`), one to project them; memory stays flat however large the table is."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sortbox.checkpoint import NpyRowWriter, iter_parquet_chunks, write_parquet_chunks
from sortbox.embed import has_known_term, project, tfidf_arrow
from sortbox.sampling import TrainingRowPicker


def embed_training_sample(
    tokens: Path,
    features: Path,
    *,
    known: pa.Array,
    idf: np.ndarray,
    basis: np.ndarray,
    holdout_fraction: float,
    holdout_seed: int,
    max_rows: int,
    chunk_rows: int,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, dict]:
    """Write the LSI features (float32, sample x topics) of the training sample of the tokens
    Parquet file (columns id, terms) to `features` (.npy); return the sample's row positions
    (ascending) and a summary: messages, held out, without a known term, eligible, trained on.
    `known` and `idf` are the vocabulary's terms and idf weights, `basis` the LSI basis.
    `progress(rows read, messages)` during the second pass."""
    picker = TrainingRowPicker(holdout_fraction=holdout_fraction, seed=holdout_seed, max_rows=max_rows)
    for chunk in iter_parquet_chunks(tokens, batch_size=chunk_rows, columns=["id", "terms"]):
        picker.add(chunk.column("id").to_pylist(), has_known_term(chunk.column("terms"), known))
    rows = picker.rows()
    with NpyRowWriter(features, rows=len(rows), columns=basis.shape[1]) as writer:
        for read, picked in picked_chunks(tokens, rows, columns=["terms"], chunk_rows=chunk_rows):
            writer.write(project(tfidf_arrow(picked.column("terms"), known, idf), basis))
            if progress:
                progress(read, picker.messages)
    summary = {
        "messages": picker.messages,
        "held_out": picker.held_out,
        "without_known_terms": picker.without_known_terms,
        "eligible": picker.eligible,
        "trained_on": int(len(rows)),
        "max_rows": max_rows,
    }
    return rows, summary


def picked_chunks(
    path: Path, rows: np.ndarray, *, columns: list[str], chunk_rows: int
) -> Iterator[tuple[int, pa.Table]]:
    """Stream the rows at positions `rows` (ascending) of a Parquet file, in that order, a chunk of
    the file at a time: (rows of the file read so far, the picked rows of that chunk)."""
    start = 0
    for chunk in iter_parquet_chunks(path, batch_size=chunk_rows, columns=columns):
        wanted = rows[(rows >= start) & (rows < start + chunk.num_rows)] - start
        start += chunk.num_rows
        yield start, chunk.take(pa.array(wanted))


def write_sample_labels(labels: Path, rows: np.ndarray, path: Path, *, chunk_rows: int) -> int:
    """Write the label lists and truth cells (columns labels, truth) of the training sample's rows
    of the labels Parquet file to `path`, in the sample's order; read and written in chunks, so
    memory stays flat however large the table is. Returns the rows written."""
    columns = ["labels", "truth"]
    schema = pq.ParquetFile(str(labels)).schema_arrow
    picked = (chunk for _, chunk in picked_chunks(labels, rows, columns=columns, chunk_rows=chunk_rows))
    return write_parquet_chunks(path, pa.schema([schema.field(name) for name in columns]), picked)
