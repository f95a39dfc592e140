"""Shards: the row-linear stages (extract, clean, label, tokenise) run once per id-hash bucket, as
tasks of their own that any worker on any host can take, and are combined in shard order.

A message belongs to shard `shard_of(id, count)`: the bucket of the first 32 bits of
md5("shard:<id>") (sortbox.sampling's key, with the seed "shard", so that a sample or the holdout,
which use their own seeds, spread evenly over the shards) in `count` equal ranges of that key.
Every copy of an id falls in the same shard, so a duplicate id is still caught within its shard.
Postgres computes the key natively and sqlite through a registered md5 (sortbox.extract builds
that SQL from `shard_cutoffs`). numpy, pyarrow and the standard library only.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Iterable, Mapping

import pyarrow as pa
import pyarrow.parquet as pq

from sortbox.checkpoint import ParquetSink
from sortbox.sampling import HASH_HEX_DIGITS, sample_hash

#: The seed of the shard key: md5("shard:<id>").
SHARD_SEED = "shard"
#: Most shards a run may have ([shards] count).
MAX_SHARDS = 4096


def shard_cutoffs(count: int) -> list[str]:
    """The `count - 1` hex boundaries of the shard key: shard s holds the keys from cutoff s - 1
    (inclusive; "" for s = 0) to cutoff s (exclusive; none for the last shard)."""
    if not 1 <= count <= MAX_SHARDS:
        raise ValueError(f"the shard count must be between 1 and {MAX_SHARDS}, got {count!r}")
    span = 16**HASH_HEX_DIGITS
    return [format(s * span // count, f"0{HASH_HEX_DIGITS}x") for s in range(1, count)]


def shard_key(message_id: object) -> str:
    """The shard key of one id: extraction orders every shard's rows by it (then by id)."""
    return sample_hash(SHARD_SEED, message_id)


def shard_of(message_id: object, count: int) -> int:
    """The shard of one id, as the databases compute it (a NULL id: shard 0)."""
    if message_id is None:
        return 0
    key = shard_key(message_id)
    return sum(key >= cutoff for cutoff in shard_cutoffs(count))


def concat_parquet(paths: Iterable[Path], out: Path, schema: pa.Schema, *, batch_size: int = 100_000) -> int:
    """The rows of the Parquet files `paths`, in that order, into one file `out` (one row group
    per batch), streamed: never more than one batch in memory. Returns the rows written. One
    file is linked, not copied (the same bytes; shards and their combination share a filesystem)."""
    paths = list(paths)
    if len(paths) == 1:
        try:
            os.link(paths[0], out)
        except OSError:  # a filesystem without hard links
            shutil.copyfile(paths[0], out)
        return pq.ParquetFile(str(out)).metadata.num_rows
    with ParquetSink(out, schema) as sink:
        for path in paths:
            for batch in pq.ParquetFile(str(path)).iter_batches(batch_size=batch_size):
                sink.write(pa.Table.from_batches([batch]))
    return sink.rows


def sum_counts(parts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Counters (e.g. quarantine reasons per shard) added up, sorted by key."""
    total: Counter = Counter()
    for part in parts:
        total.update(part)
    return dict(sorted(total.items()))


def check_shard_rows(what: str, counted: list[int], planned: list[int]) -> None:
    """Every shard read as many rows as the run's plan counted, else ValueError naming the
    shards that differ: the table changed between the plan and the shard (rows inserted below the
    plan's id bound, or deleted), and a run must read one consistent cut."""
    if len(counted) != len(planned):
        raise ValueError(f"{what}: {len(counted)} shards, but the plan has {len(planned)}")
    wrong = [f"shard {s}: {c:,} rows, planned {p:,}" for s, (c, p) in enumerate(zip(counted, planned)) if c != p]
    if wrong:
        raise ValueError(
            f"{what}: the source changed while the run read it ({'; '.join(wrong)}): rerun to read a new cut"
        )
