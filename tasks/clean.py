"""CleanShard (one per shard) -> CleanMessages: normalise texts, quarantine unusable rows with a reason."""

from __future__ import annotations

from collections import Counter

from sortbox.checkpoint import ParquetSink, iter_parquet_chunks, parquet_row_count, read_json, write_json
from sortbox.clean import CLEAN_SCHEMA, QUARANTINE_SCHEMA, iter_clean_chunks
from sortbox.shards import concat_parquet, sum_counts
from sortbox.textnorm import removed_ranges
from tasks.base import Artifact
from tasks.config import cleaning, source
from tasks.extract import ExtractShard, ShardedTask, ShardTask


class NoUsableRows(ValueError):
    """Every extracted row was quarantined."""


class CleanShard(ShardTask):
    """One shard's rows cleaned. Output: clean.parquet (id, text, rule_text, timestamp, label),
    quarantine.parquet (id, reason, raw text, ...), summary.json. A shard may have no clean row."""

    reads = (cleaning,)
    artifacts = {
        "clean": Artifact("clean.parquet"),
        "quarantine": Artifact("quarantine.parquet"),
        "summary": Artifact("summary.json", read_json),
    }

    def requires(self):
        return {"messages": ExtractShard(**self.same_run(), shard=self.shard)}

    def warm_up(self) -> None:
        removed_ranges()  # the cleaning's Unicode ranges (0.15 s), once for every shard's process

    def run(self):
        messages = self.input_path("messages", "messages")
        total = parquet_row_count(messages)
        chunks = iter_parquet_chunks(messages, batch_size=source().chunk_size)
        reasons: Counter = Counter()
        with self.atomic_output() as out:
            with (
                ParquetSink(out / self.artifact("clean"), CLEAN_SCHEMA) as clean,
                ParquetSink(out / self.artifact("quarantine"), QUARANTINE_SCHEMA) as quarantine,
            ):
                for result in iter_clean_chunks(chunks, cleaning().options()):
                    clean.write(result.clean)
                    quarantine.write(result.quarantine)
                    reasons.update(result.reasons)
                    done = clean.rows + quarantine.rows
                    self.report_progress(done, total, f"shard {self.shard}: cleaned {done:,} of {total:,} rows")
            if clean.rows + quarantine.rows != total:
                raise RuntimeError(
                    f"cleaning lost rows: {total} in, {clean.rows} clean + {quarantine.rows} quarantined out"
                )
            summary = {
                "extracted": total,
                "clean": clean.rows,
                "quarantined": quarantine.rows,
                "reasons": dict(sorted(reasons.items())),
            }
            write_json(out / self.artifact("summary"), summary)


class CleanMessages(ShardedTask):
    """Every shard's clean and quarantined rows, shard after shard. Output: clean.parquet,
    quarantine.parquet, summary.json (rows extracted, clean, quarantined, reasons)."""

    artifacts = CleanShard.artifacts

    def requires(self):
        return {"shards": self.shard_tasks(CleanShard, **self.same_run())}

    def run(self):
        parts = self.shard_json("summary")
        summary = {
            "extracted": sum(part["extracted"] for part in parts),
            "clean": sum(part["clean"] for part in parts),
            "quarantined": sum(part["quarantined"] for part in parts),
            "reasons": sum_counts(part["reasons"] for part in parts),
        }
        if summary["clean"] == 0:
            raise NoUsableRows(f"all {summary['extracted']:,} extracted rows were quarantined: {summary['reasons']}")
        with self.atomic_output() as out:
            for key, schema in (("clean", CLEAN_SCHEMA), ("quarantine", QUARANTINE_SCHEMA)):
                concat_parquet(self.shard_paths(key), out / self.artifact(key), schema)
            write_json(out / self.artifact("summary"), summary)
        self.report_progress(1, 1, f"{summary['clean']:,} clean, {summary['quarantined']:,} quarantined")
