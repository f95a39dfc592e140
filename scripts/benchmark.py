#!/usr/bin/env python3
"""Benchmark sortbox's stages on a grown copy of the SMS collection.

    python scripts/benchmark.py --rows 1000000 --db sqlite [--out var/bench/benchmark.json]

Steps (each printed and written to the JSON report):
1. make the table with scripts/make_benchmark_data.py (skipped with --reuse-table when it exists
   with the right row count);
2. run ExtractMessages + CleanMessages through luigi (seconds, peak RSS of that process);
3. labelling alone: every chunk of the cleaned messages through `label_chunk` with the shipped
   rules, pinned to one core; the hits of the first --verify-rows messages are compared with a
   Python loop over `re.search`;
4. tokenising alone: every chunk through `tokenize_chunk`, pinned to one core;
5. scoring with an exported model JSON (--model-json, or the model of a TrainPipeline run on the
   shipped sample, made once under var/bench/sample-runs): the vectorised path from cleaned text
   to scores (`VectorModel.score`) over every cleaned message, and the stdlib reference scorer
   (`PortableModel.score`, raw text to scores) over the first --stdlib-rows messages.
Steps 3-5 run --repeats times (fresh engines each time: no warm cache is carried over) and report
every run and the best: on a shared 2-core machine other processes only ever slow a run down.
Speed is measured here, never asserted in a test.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from sortbox.checkpoint import iter_parquet_chunks, parquet_row_count  # noqa: E402
from sortbox.label import HyperscanMatcher, RuleMatcher, label_chunk, load_rules, match_with_re  # noqa: E402
from sortbox.portable_scorer import PortableModel  # noqa: E402
from sortbox.scoring import VectorModel  # noqa: E402
from sortbox.tokenize import Tokenizer, load_stopwords, tokenize_chunk  # noqa: E402

DEFAULT_POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
TABLE = "bench_messages"


def database_url(db: str) -> str:
    """The benchmark database for `--db`."""
    if db == "postgres":
        return os.environ.get("TEST_DATABASE_URL", DEFAULT_POSTGRES)
    return f"sqlite:///{ROOT / 'var' / 'bench' / 'bench.sqlite'}"


def table_rows(url: str) -> int | None:
    """Rows in the benchmark table, or None when it does not exist."""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return None
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(TABLE):
                return None
            return conn.execute(sa.select(sa.func.count()).select_from(sa.table(TABLE))).scalar_one()
    finally:
        engine.dispose()


def timed_process(command: list[str], env: dict) -> dict:
    """Run a command; its wall seconds and peak RSS (MB, from the kernel's child accounting)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-5000:])
        raise SystemExit(f"benchmark step failed (exit {done.returncode}): {' '.join(command)}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest child so far: only meaningful when this one is larger.
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(peak / 1024, 1) if peak > before else None}


def pin_to_one_core() -> None:
    """Per-core figures: keep this process (and its BLAS threads) on a single CPU."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def bench_labelling(clean: Path, rules_dir: Path, verify_rows: int, engine: type) -> dict:
    """Label every cleaned message with the rules, timing `label_chunk` (incl. the Arrow->bytes step)."""
    rules = load_rules(rules_dir)
    matcher = engine(rules)
    seconds, rows, verified, mismatches = 0.0, 0, 0, 0
    for chunk in iter_parquet_chunks(clean, batch_size=50_000, columns=["id", "rule_text"]):
        start = time.perf_counter()
        texts = chunk.column("rule_text") if hasattr(matcher, "match_csr") else chunk.column("rule_text").cast(pa.binary()).to_pylist()
        labelled = label_chunk(chunk.column("id"), texts, None, matcher=matcher, source="rules", separator="|")
        seconds += time.perf_counter() - start
        rows += chunk.num_rows
        if verified < verify_rows:
            take = min(verify_rows - verified, chunk.num_rows)
            texts = chunk.column("rule_text").to_pylist()[:take]
            expected = match_with_re(rules, texts)
            got = [sorted(h) for h in labelled.column("rule_hits").to_pylist()[:take]]
            mismatches += sum(a != b for a, b in zip(expected, got))
            verified += take
    return {
        "engine": engine.__name__,
        "rules": len(rules),
        "fallback_rules": len(matcher.fallback_rule_ids),
        "messages": rows,
        "seconds": round(seconds, 3),
        "messages_per_second": round(rows / seconds),
        "verified_against_re": verified,
        "mismatches": mismatches,
    }


def bench_tokenising(clean: Path) -> dict:
    """Tokenise every cleaned message, timing `tokenize_chunk`."""
    tokenizer = Tokenizer(load_stopwords(ROOT / "dictionaries" / "stopwords", "english"))
    seconds, rows = 0.0, 0
    for chunk in iter_parquet_chunks(clean, batch_size=50_000, columns=["id", "text"]):
        start = time.perf_counter()
        tokenize_chunk(chunk, tokenizer)
        seconds += time.perf_counter() - start
        rows += chunk.num_rows
    return {"messages": rows, "seconds": round(seconds, 3), "messages_per_second": round(rows / seconds), "distinct_words": len(tokenizer.stems_)}


def sample_model(env: dict) -> Path:
    """The model JSON of a TrainPipeline run on the shipped sample (trained once, then reused)."""
    root = ROOT / "var" / "bench" / "sample-runs"
    sample_env = {**env, "SORTBOX_DB_URL": f"sqlite:///{ROOT / 'data' / 'sample.sqlite'}"}
    subprocess.run([sys.executable, "scripts/build_sample_db.py"], env=sample_env, cwd=ROOT, check=True)
    luigi_args = ["--module", "workflows.train", "TrainPipeline", "--local-scheduler", "--run-date", "2026-01-01", "--paths-output-root", str(root)]
    timed_process([str(Path(sys.executable).with_name("luigi")), *luigi_args, "--workers", "2"], sample_env)
    (model,) = root.glob("2026-01-01/ExportModelJson-*/model.json")
    return model


def bench_scoring(model_path: Path, messages: Path, clean: Path, stdlib_rows: int) -> dict:
    """Vectorised scoring of every cleaned message; stdlib scoring of the first raw messages."""
    with open(model_path, encoding="utf-8") as handle:
        model = json.load(handle)
    vector = VectorModel(model)
    seconds, rows = 0.0, 0
    for chunk in iter_parquet_chunks(clean, batch_size=50_000, columns=["text"]):
        texts = chunk.column("text").to_pylist()
        start = time.perf_counter()
        vector.score(texts)
        seconds += time.perf_counter() - start
        rows += len(texts)
    portable = PortableModel(model)
    raw = next(iter_parquet_chunks(messages, batch_size=stdlib_rows, columns=["text"])).column("text").to_pylist()
    start = time.perf_counter()
    for text in raw:
        portable.score(text)
    stdlib_seconds = time.perf_counter() - start
    return {
        "model_json": str(model_path),
        "model_json_bytes": model_path.stat().st_size,
        "vectorised": {"messages": rows, "seconds": round(seconds, 3), "messages_per_second": round(rows / seconds)},
        "stdlib": {"messages": len(raw), "seconds": round(stdlib_seconds, 3), "messages_per_second": round(len(raw) / stdlib_seconds)},
    }


def best_of(repeats: int, run) -> dict:
    """Run a stage benchmark `repeats` times; the fastest run, with every run's throughput."""
    runs = [run() for _ in range(repeats)]
    best = max(runs, key=_throughput)
    return {**best, "runs_messages_per_second": [_throughput(r) for r in runs]}


def _throughput(result: dict) -> int:
    return result["messages_per_second"] if "messages_per_second" in result else result["vectorised"]["messages_per_second"]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reuse-table", action="store_true", help="keep an existing table with the right row count")
    parser.add_argument("--verify-rows", type=int, default=20_000, help="messages whose rule hits are checked against Python re")
    parser.add_argument("--model-json", type=Path, help="model to score with (default: train one on the sample)")
    parser.add_argument("--stdlib-rows", type=int, default=20_000, help="messages scored by the stdlib reference scorer")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each stage benchmark (the best is reported)")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "benchmark.json")
    args = parser.parse_args(argv)

    url = database_url(args.db)
    env = {**os.environ, "SORTBOX_DB_URL": url, "PYTHONPATH": str(ROOT)}
    env.pop("LUIGI_CONFIG_PATH", None)
    report: dict = {"rows": args.rows, "db": args.db, "cpus": os.cpu_count()}

    if not (args.reuse_table and table_rows(url) == args.rows):
        report["make_data"] = timed_process(
            [sys.executable, "scripts/make_benchmark_data.py", "--rows", str(args.rows), "--db-url", url, "--table", TABLE, "--seed", str(args.seed)], env
        )
    output_root = ROOT / "var" / "bench" / f"runs-{args.db}-{args.rows}"
    shutil.rmtree(output_root, ignore_errors=True)  # measure real work, not a no-op rerun
    luigi_args = ["--local-scheduler", "--source-table", TABLE, "--paths-output-root", str(output_root)]
    report["extract_and_clean"] = timed_process([str(Path(sys.executable).with_name("luigi")), "--module", "tasks.clean", "CleanMessages", *luigi_args], env)
    (clean_dir,) = sorted(output_root.glob("*/CleanMessages-*"), key=lambda p: p.stat().st_mtime)[-1:]
    clean = clean_dir / "clean.parquet"
    report["clean_rows"] = parquet_row_count(clean)

    model_path = args.model_json or sample_model(env)  # trained before pinning: it may use both cores
    pin_to_one_core()
    rules_dir = ROOT / "dictionaries" / "labels"
    report["labelling"] = best_of(args.repeats, lambda: bench_labelling(clean, rules_dir, args.verify_rows, HyperscanMatcher))
    report["labelling_re2"] = best_of(args.repeats, lambda: bench_labelling(clean, rules_dir, args.verify_rows, RuleMatcher))
    report["tokenising"] = best_of(args.repeats, lambda: bench_tokenising(clean))
    messages = next(output_root.glob("*/ExtractMessages-*")) / "messages.parquet"
    report["scoring"] = best_of(args.repeats, lambda: bench_scoring(model_path, messages, clean, args.stdlib_rows))

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 1 if report["labelling"]["mismatches"] or report["labelling_re2"]["mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
