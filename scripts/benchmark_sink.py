#!/usr/bin/env python3
"""Benchmark ExportScores' load (sortbox.sink) into a real database.

    python scripts/benchmark_sink.py [--rows 1000000] [--classes 3] [--url postgresql+psycopg2://...]

Writes a synthetic scores.csv of --rows messages (one line each: id, then a score and a decision per
class; ids are decimal strings, every 1000th a formula-like '=... id escaped with ') into a
temporary directory, then exports it with sortbox.sink into a fresh table of the database at --url
(default $SORTBOX_SINK_URL): one transaction, COPY on Postgres, executemany on sqlite. The sink
table gets one row per message and class, so --rows 1,000,000 with 3 classes is 3,000,000 table
rows. Prints seconds, table rows per second and messages (scores.csv lines) per second, as JSON.
The two tables are dropped afterwards. Speed is measured here, never asserted in a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from sortbox.portable_scorer import CsvWriter, csv_safe, scores_header
from sortbox.sink import SinkSpec, export_scores, iter_score_rows, make_sink_engine


def write_scores_csv(path: Path, rows: int, classes: list[str], seed: int = 0) -> None:
    """A scores.csv as ScoreMessages writes it (same header, repr of the score, 1/0 decisions)."""
    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = CsvWriter(handle)
        writer.writerow(scores_header(classes))
        for start in range(0, rows, 100_000):
            block = []
            for i in range(start, min(rows, start + 100_000)):
                cells = [csv_safe(f"={i}" if i % 1000 == 0 else str(i))]
                for _ in classes:
                    score = rng.random()
                    cells += [repr(score), "1" if score >= 0.5 else "0"]
                block.append(cells)
            writer.writerows(block)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="messages (scores.csv lines)")
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--url", default=os.environ.get("SORTBOX_SINK_URL"), help="sink database URL")
    args = parser.parse_args()
    if not args.url:
        parser.error("give --url or set SORTBOX_SINK_URL")
    classes = [f"class{k}" for k in range(args.classes)]
    suffix = uuid.uuid4().hex[:8]
    spec = SinkSpec(table=f"bench_scores_{suffix}", marker_table=f"bench_exports_{suffix}", chunk_rows=args.chunk_rows)
    engine = make_sink_engine(args.url)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scores.csv"
        started = time.perf_counter()
        write_scores_csv(path, args.rows, classes)
        generated = time.perf_counter() - started
        csv_mb = round(path.stat().st_size / 1e6, 1)
        run_date = dt.date(2026, 1, 28)
        try:
            started = time.perf_counter()
            model_ids = dict.fromkeys(classes, "f" * 64)  # a model id is a sha256 in hex
            chunks = iter_score_rows(path, model_ids, run_date, chunk_rows=args.chunk_rows)
            written = export_scores(engine, spec, chunks, update_id=f"bench-{suffix}", run_date=run_date)
            seconds = time.perf_counter() - started
            with engine.connect() as conn:
                counted = conn.execute(sa.text(f"SELECT count(*) FROM {spec.table}")).scalar_one()
        finally:
            with engine.begin() as conn:
                for table in (spec.table, spec.marker_table):
                    conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
            engine.dispose()
    assert counted == written == args.rows * args.classes, (counted, written)
    print(
        json.dumps(
            {
                "database": engine.dialect.name,
                "messages": args.rows,
                "classes": args.classes,
                "table_rows": written,
                "csv_mb": csv_mb,
                "generate_seconds": round(generated, 2),
                "export_seconds": round(seconds, 2),
                "table_rows_per_second": round(written / seconds),
                "messages_per_second": round(args.rows / seconds),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
