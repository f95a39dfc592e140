"""The training sample's LSI features, in two streaming passes over the tokens: one to choose the
rows (`sampling.TrainingRowPicker`), one to project them; memory stays flat however large the table is."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa

from sortbox.checkpoint import NpyRowWriter, iter_parquet_chunks
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
        start = 0
        for chunk in iter_parquet_chunks(tokens, batch_size=chunk_rows, columns=["terms"]):
            wanted = rows[(rows >= start) & (rows < start + chunk.num_rows)] - start
            writer.write(project(tfidf_arrow(chunk.column("terms").take(pa.array(wanted)), known, idf), basis))
            start += chunk.num_rows
            if progress:
                progress(start, picker.messages)
    summary = {
        "messages": picker.messages,
        "held_out": picker.held_out,
        "without_known_terms": picker.without_known_terms,
        "eligible": picker.eligible,
        "trained_on": int(len(rows)),
        "max_rows": max_rows,
    }
    return rows, summary
