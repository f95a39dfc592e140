#!/usr/bin/env python3
"""Benchmark sortbox against the naive single script, end to end and stage by stage.

    python scripts/benchmark.py --rows 1000000 --db sqlite|postgres [--reuse-table] [--skip-naive] [--skip-stages]

In one invocation, on the same table (report: var/bench/benchmark-<db>-<rows>.json):
1. the table: scripts/make_benchmark_data.py grows the SMS collection to --rows rows (skipped with
   --reuse-table when it exists with that many rows);
2. sortbox's training DAG (`TrainPipeline`, the shipped config: 332 rules, 500 topics, 3 classes,
   grid of [training] param_grid x folds) through scripts/luigi_timed.py with --workers (default one;
   `--workers 1,2` runs it once per count, reports the speed-up and the files that differ between
   the runs' outputs, which should be none) and [shards] count (`--shards`): wall seconds and peak
   RSS of the whole run, and per task seconds and peak RSS;
3. the same command again: a no-op rerun (nothing to do), timed;
4. scripts/naive_baseline.py with the same rules, topics, grid and folds: seconds and peak RSS,
   per step, and the end-to-end speed-up; both models' spam ROC AUC against the table's ground
   truth on the held-out ids;
5. single stages on the cleaned messages, each --repeats times, pinned to one core (the best run
   and every run are reported; other processes only ever slow a run down): labelling with
   Hyperscan (hits checked against Python re on --verify-rows messages) and with the RE2 set,
   tokenising, and scoring with the exported model JSON (vectorised over every message; the
   stdlib reference scorer over --stdlib-rows raw messages).
Speed is measured here, never asserted in a test.
"""
from __future__ import annotations

import argparse
import configparser
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from sortbox.checkpoint import comparable_output, iter_parquet_chunks, parquet_row_count  # noqa: E402
from sortbox.label import label_chunk  # noqa: E402
from sortbox.model_file import read_model_file  # noqa: E402
from sortbox.model_selection import SELECTION_KEYS  # noqa: E402
from sortbox.portable_scorer import PortableModel  # noqa: E402
from sortbox.rule_engines import HyperscanMatcher, RuleMatcher, match_with_re  # noqa: E402
from sortbox.rules import load_rules  # noqa: E402
from sortbox.scoring import VectorModel  # noqa: E402
from sortbox.tokenizer import TermTally, Tokenizer, tokenize_chunk  # noqa: E402
from sortbox.wordlists import load_stopwords  # noqa: E402

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
    """Run a command; its wall seconds and peak RSS (MB, the kernel's figure for that process and
    the children it waited for, from wait4)."""
    with tempfile.TemporaryFile() as output:
        start = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            output.seek(0)
            sys.stderr.write(output.read().decode(errors="replace")[-5000:])
            raise SystemExit(f"benchmark step failed (exit {process.returncode}): {' '.join(command)}")
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


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
        texts = (
            chunk.column("rule_text")
            if hasattr(matcher, "match_csr")
            else chunk.column("rule_text").cast(pa.binary()).to_pylist()
        )
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
    tokenizer, tally = Tokenizer(load_stopwords(ROOT / "dictionaries" / "stopwords", "english")), TermTally()
    seconds, rows = 0.0, 0
    for chunk in iter_parquet_chunks(clean, batch_size=50_000, columns=["id", "text"]):
        start = time.perf_counter()
        tokenize_chunk(chunk, tokenizer, tally)
        seconds += time.perf_counter() - start
        rows += chunk.num_rows
    return {
        "messages": rows,
        "seconds": round(seconds, 3),
        "messages_per_second": round(rows / seconds),
        "distinct_words": len(tally.forms),
    }


def bench_scoring(model_path: Path, messages: Path, clean: Path, stdlib_rows: int) -> dict:
    """Vectorised scoring of every cleaned message; stdlib scoring of the first raw messages."""
    model = read_model_file(model_path)
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
        "stdlib": {
            "messages": len(raw),
            "seconds": round(stdlib_seconds, 3),
            "messages_per_second": round(len(raw) / stdlib_seconds),
        },
    }


def best_of(repeats: int, run) -> dict:
    """Run a stage benchmark `repeats` times; the fastest run, with every run's throughput."""
    runs = [run() for _ in range(repeats)]
    best = max(runs, key=_throughput)
    return {**best, "runs_messages_per_second": [_throughput(r) for r in runs]}


def _throughput(result: dict) -> int:
    return (
        result["messages_per_second"]
        if "messages_per_second" in result
        else result["vectorised"]["messages_per_second"]
    )


def read_config() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "config" / "luigi.cfg")
    return parser


def training_config() -> dict:
    """The grid, folds and topics of config/luigi.cfg: the naive baseline gets exactly these."""
    parser = read_config()
    return {
        # The naive script's GridSearchCV knows LogisticRegression parameters only (not sortbox's topics / scale).
        "param_grid": {
            k: v for k, v in json.loads(parser["training"]["param_grid"]).items() if k not in SELECTION_KEYS
        },
        "folds": int(parser["training"]["folds"]),
        "seed": int(parser["training"]["seed"]),
        "num_topics": int(parser["lsi"]["num_topics"]),
        "holdout_fraction": float(parser["training"]["holdout_fraction"]),
        "holdout_seed": int(parser["training"]["holdout_seed"]),
    }


def run_dag(luigi_args: list[str], env: dict, timings: Path) -> dict:
    """The training DAG through scripts/luigi_timed.py: end-to-end figures and one row per task."""
    result = timed_process([sys.executable, "scripts/luigi_timed.py", str(timings), *luigi_args], env)
    tasks = [json.loads(line) for line in timings.read_text().splitlines() if line.strip()]
    return {**result, "tasks_run": len(tasks), "stages": stage_table(tasks)}


def stage_table(tasks: list[dict]) -> dict:
    """Per task family: seconds (summed over classes) and the largest peak RSS."""
    stages: dict = {}
    for task in tasks:
        stage = stages.setdefault(task["task"], {"seconds": 0.0, "peak_rss_mb": 0.0, "runs": 0})
        stage["seconds"] = round(stage["seconds"] + task["seconds"], 3)
        stage["peak_rss_mb"] = max(stage["peak_rss_mb"], task["peak_rss_mb"])
        stage["runs"] += 1
    return stages


def held_out_auc(url: str, scores_csv: Path, column: str, config: dict) -> dict:
    """ROC AUC of `column` of a scores CSV against the table's ground truth (spam), on the ids
    held out of sortbox's training (the naive baseline trains on them: if anything, that favours it)."""
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from sortbox.sampling import holdout_mask

    engine = sa.create_engine(url)
    try:
        truth = pd.read_sql(sa.text(f"SELECT id, truth FROM {TABLE} WHERE truth IS NOT NULL"), engine)
    finally:
        engine.dispose()
    truth["id"] = truth["id"].astype(str)
    scores = pd.read_csv(scores_csv, dtype={"id": str}, usecols=["id", column])
    merged = scores.merge(truth, on="id")
    merged = merged[
        holdout_mask(merged["id"].tolist(), fraction=config["holdout_fraction"], seed=config["holdout_seed"])
    ]
    return {
        "messages": int(len(merged)),
        "roc_auc": round(float(roc_auc_score(merged["truth"] == "spam", merged[column])), 4),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reuse-table", action="store_true", help="keep an existing table with the right row count")
    parser.add_argument(
        "--skip-naive", action="store_true", help="do not run the naive baseline (e.g. for the memory-growth run)"
    )
    parser.add_argument("--skip-stages", action="store_true", help="do not run the single-stage benchmarks")
    parser.add_argument(
        "--verify-rows", type=int, default=20_000, help="messages whose rule hits are checked against Python re"
    )
    parser.add_argument("--model-json", type=Path, help="model to score with (default: the one the DAG run exported)")
    parser.add_argument(
        "--stdlib-rows", type=int, default=20_000, help="messages scored by the stdlib reference scorer"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs of each stage benchmark (the best is reported)")
    parser.add_argument(
        "--workers",
        default="1",
        help="luigi workers of the DAG run, or several comma-separated (e.g. 1,2): one run each, on the same "
        "table, the speed-up and whether every output file is byte-identical between them",
    )
    parser.add_argument("--shards", type=int, default=None, help="[shards] count (default: the configuration's)")
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON report (default var/bench/benchmark-<db>-<rows>.json)"
    )
    args = parser.parse_args(argv)
    out = args.out or ROOT / "var" / "bench" / f"benchmark-{args.db}-{args.rows}.json"

    url = database_url(args.db)
    env = {**os.environ, "SORTBOX_DB_URL": url, "PYTHONPATH": str(ROOT)}
    env.pop("LUIGI_CONFIG_PATH", None)
    config = training_config()
    report: dict = {"rows": args.rows, "db": args.db, "cpus": os.cpu_count(), "config": config}

    if not (args.reuse_table and table_rows(url) == args.rows):
        report["make_data"] = timed_process(
            [
                sys.executable,
                "scripts/make_benchmark_data.py",
                "--rows",
                str(args.rows),
                "--db-url",
                url,
                "--table",
                TABLE,
                "--seed",
                str(args.seed),
            ],
            env,
        )
    work = ROOT / "var" / "bench" / f"runs-{args.db}-{args.rows}"
    shutil.rmtree(work, ignore_errors=True)  # measure real work, not a no-op rerun
    work.mkdir(parents=True)
    worker_counts = [int(n) for n in args.workers.split(",")]
    shard_args = ["--shards-count", str(args.shards)] if args.shards else []
    report["shards"] = args.shards or int(read_config()["shards"].get("count", "1"))
    runs: dict[int, dict] = {}

    def dag_args(workers: int) -> list[str]:
        return [
            "--module",
            "workflows.train",
            "TrainPipeline",
            "--local-scheduler",
            "--workers",
            str(workers),
            "--run-date",
            "2026-01-01",
            "--source-table",
            TABLE,
            "--paths-output-root",
            str(work / f"sortbox-w{workers}"),
            *shard_args,
        ]

    for workers in worker_counts:
        print(f"sortbox training DAG on {args.rows:,} rows ({args.db}), {workers} worker(s) ...", flush=True)
        runs[workers] = run_dag(dag_args(workers), env, work / f"sortbox-w{workers}-tasks.jsonl")
        print(json.dumps(runs[workers], indent=2), flush=True)
    output_root = work / f"sortbox-w{worker_counts[0]}"
    report["sortbox"] = runs[worker_counts[0]]
    if len(worker_counts) > 1:
        report["sortbox_by_workers"] = {str(n): run for n, run in runs.items()}
        first, last = worker_counts[0], worker_counts[-1]
        report["workers_speedup"] = round(runs[first]["seconds"] / runs[last]["seconds"], 2)
        report["outputs_differ"] = differing_files(work / f"sortbox-w{first}", work / f"sortbox-w{last}")
        print(
            f"{last} workers: {report['workers_speedup']}x the speed of {first}; "
            f"files that differ: {report['outputs_differ'] or 'none'}",
            flush=True,
        )
    report["noop_rerun"] = run_dag(dag_args(worker_counts[0]), env, work / "noop-tasks.jsonl")
    print(
        f"no-op rerun: {report['noop_rerun']['seconds']} s, {report['noop_rerun']['tasks_run']} tasks run", flush=True
    )
    (manifest_dir,) = output_root.glob("2026-01-01/TrainPipeline-*")
    manifest = json.loads((manifest_dir / "manifest.json").read_text())
    report["sortbox"]["classes"] = {
        name: {k: v for k, v in entry.items() if not isinstance(v, (dict, list))}
        for name, entry in manifest["classes"].items()
    }
    sortbox_scores = manifest_dir / manifest["artifacts"]["scores_csv"]
    report["sortbox"]["spam_vs_truth_held_out"] = held_out_auc(url, sortbox_scores, "spam_score", config)

    if not args.skip_naive:
        print("naive baseline ...", flush=True)
        naive_out = work / "naive"
        report["naive"] = timed_process(
            [
                sys.executable,
                "scripts/naive_baseline.py",
                "--db-url",
                url,
                "--table",
                TABLE,
                "--rules-dir",
                "dictionaries/labels",
                "--stopwords",
                "dictionaries/stopwords/english.txt",
                "--num-topics",
                str(config["num_topics"]),
                "--param-grid",
                json.dumps(config["param_grid"]),
                "--folds",
                str(config["folds"]),
                "--seed",
                str(config["seed"]),
                "--out",
                str(naive_out),
                "--timings-json",
                str(work / "naive-timings.json"),
            ],
            env,
        )
        naive = json.loads((work / "naive-timings.json").read_text())
        report["naive"]["steps"] = naive["steps"]
        report["naive"]["classes"] = naive.get("classes")
        report["naive"]["spam_vs_truth_held_out"] = held_out_auc(
            url, naive_out / "scores.csv", naive_score_column(naive_out / "scores.csv"), config
        )
        report["speedup_end_to_end"] = round(report["naive"]["seconds"] / report["sortbox"]["seconds"], 1)
        print(
            f"naive: {report['naive']['seconds']} s; sortbox: {report['sortbox']['seconds']} s; "
            f"speed-up {report['speedup_end_to_end']}x",
            flush=True,
        )

    if not args.skip_stages:
        (clean_dir,) = output_root.glob("2026-01-01/CleanMessages-*")
        clean = clean_dir / "clean.parquet"
        report["clean_rows"] = parquet_row_count(clean)
        model_path = args.model_json or manifest_dir / manifest["artifacts"]["model_json"]
        pin_to_one_core()
        rules_dir = ROOT / "dictionaries" / "labels"
        report["labelling"] = best_of(
            args.repeats, lambda: bench_labelling(clean, rules_dir, args.verify_rows, HyperscanMatcher)
        )
        report["labelling_re2"] = best_of(
            args.repeats, lambda: bench_labelling(clean, rules_dir, args.verify_rows, RuleMatcher)
        )
        report["tokenising"] = best_of(args.repeats, lambda: bench_tokenising(clean))
        (messages_dir,) = output_root.glob("2026-01-01/ExtractMessages-*")
        report["scoring"] = best_of(
            args.repeats, lambda: bench_scoring(model_path, messages_dir / "messages.parquet", clean, args.stdlib_rows)
        )

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    print(f"report written to {out}")
    mismatches = report.get("labelling", {}).get("mismatches", 0) + report.get("labelling_re2", {}).get("mismatches", 0)
    return 1 if mismatches else 0


def differing_files(one: Path, other: Path) -> list[str]:
    """Relative paths of the files that are not byte-identical in two output roots, or only in one
    (less the fit timings and the output root: sortbox.checkpoint.comparable_output)."""
    files = {p.relative_to(one) for p in one.rglob("*") if p.is_file()}
    files |= {p.relative_to(other) for p in other.rglob("*") if p.is_file()}
    return sorted(
        str(name)
        for name in files
        if not ((one / name).is_file() and (other / name).is_file())
        or comparable_output(one / name, one) != comparable_output(other / name, other)
    )


def naive_score_column(scores_csv: Path) -> str:
    """The naive baseline's spam score column (the first header field naming spam)."""
    with open(scores_csv, encoding="utf-8") as handle:
        header = handle.readline().strip().split(",")
    return next(name for name in header if "spam" in name)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
