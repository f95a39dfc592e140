"""CleanMessages: normalise texts, quarantine unusable rows with a reason."""

from __future__ import annotations

from collections import Counter

from sortbox.checkpoint import ParquetSink, iter_parquet_chunks, parquet_row_count, read_json, write_json
from sortbox.clean import CLEAN_SCHEMA, QUARANTINE_SCHEMA, iter_clean_chunks
from tasks.base import Artifact, SortboxTask
from tasks.config import cleaning, source
from tasks.extract import ExtractMessages


class NoUsableRows(ValueError):
    """Every extracted row was quarantined."""


class CleanMessages(SortboxTask):
    """Output: clean.parquet (id, text, rule_text, timestamp, label), quarantine.parquet (id, reason,
    raw text, ...), summary.json."""

    reads = (cleaning,)
    artifacts = {
        "clean": Artifact("clean.parquet"),
        "quarantine": Artifact("quarantine.parquet"),
        "summary": Artifact("summary.json", read_json),
    }

    def requires(self):
        return {"messages": ExtractMessages(**self.same_run())}

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
                    self.report_progress(done, total, f"cleaned {done:,} of {total:,} rows")
            if clean.rows + quarantine.rows != total:
                raise RuntimeError(
                    f"cleaning lost rows: {total} in, {clean.rows} clean + {quarantine.rows} quarantined out"
                )
            if clean.rows == 0:
                raise NoUsableRows(f"all {total:,} extracted rows were quarantined: {dict(sorted(reasons.items()))}")
            summary = {
                "extracted": total,
                "clean": clean.rows,
                "quarantined": quarantine.rows,
                "reasons": dict(sorted(reasons.items())),
            }
            write_json(out / self.artifact("summary"), summary)
