#!/usr/bin/env python3
"""Judge the rules and the trained model against hand-written, reviewed messages.

    python scripts/feedback_eval.py rules [--rules-dir DIR ...]
    python scripts/feedback_eval.py table [--rules-dir OLD --rules-dir NEW] [--work DIR]
    python scripts/feedback_eval.py unseen [--rules-dir OLD --rules-dir NEW] [--work DIR]
    python scripts/feedback_eval.py crossfit [--rules-dir OLD --rules-dir NEW] [--folds 5] [--seed 0] [--work DIR]

`rules`: for each rules directory, the rule report's conflict figures on the shipped sample (per
class: rules, hits, share of hits a rule of another class also hits, rules flagged as working
mostly for another class) and the rules' own precision/recall on the hand-written messages.

`unseen`: each rules directory trained on the plain sample, and the hand-written messages (not in
the training table) scored by the exported model.json: how the model does on messages it never saw.

`crossfit`: the honest figure. For each rules directory, the rules' own precision and recall on the
hand-written messages; then, for the last one, the hand-written messages split into `--folds` folds
by a hash of their id and `--seed`, and for each fold TrainPipeline with `rules+feedback` on the
sample plus the other folds' messages, their classes as the feedback; the held-out fold's messages,
which that model never saw (not in its table, its dictionary, its LSI nor its feedback), are scored
by the exported model.json. The held-out decisions of all folds are pooled and judged against the
hand-written classes: per class precision and recall with counts and 95% Wilson intervals.

`table`: the Must-show table of issue #17. A copy of the sample database gets the hand-written
messages (tests/data/hand_written_messages.csv) as extra rows; their classes become a feedback
CSV (one yes/no verdict per message and class). Then TrainPipeline runs on that copy for each
rules directory with `[labelling] source = rules`, and on the last one with `rules+feedback`, and
the per-class precision and recall of the trained model against the feedback are read from each
run's manifest. The old rules can be had with `git show <commit>:dictionaries/labels/...`.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sortbox.checkpoint import read_json  # noqa: E402
from sortbox.feedback import feedback_metrics  # noqa: E402
from sortbox.label import RuleStats, label_chunk  # noqa: E402
from sortbox.model_file import read_model_file  # noqa: E402
from sortbox.portable_scorer import PortableModel  # noqa: E402
from sortbox.rule_engines import best_matcher  # noqa: E402
from sortbox.rules import load_rules  # noqa: E402
from sortbox.sample_data import build_sample_database  # noqa: E402
from sortbox.textnorm import TextCleaner, default_cleaning_spec, rule_view  # noqa: E402

HAND_WRITTEN = ROOT / "tests" / "data" / "hand_written_messages.csv"
CLASSES = ("notification", "personal", "spam")


def hand_written() -> list[dict]:
    with open(HAND_WRITTEN, encoding="utf-8", newline="") as handle:
        return [{**row, "classes": set(row["classes"].split("|"))} for row in csv.DictReader(handle)]


def rule_texts(texts: list[str]) -> list[str]:
    """The rules' view of raw texts, as cleaning makes it."""
    cleaner = TextCleaner(default_cleaning_spec())
    return [rule_view(cleaner.map(text)) for text in texts]


def sample_rows() -> tuple[list[str], list[str], list[list[str]]]:
    database = ROOT / "data" / "sample.sqlite"
    if not database.exists():
        build_sample_database(ROOT / "data" / "sms_spam_collection.tsv", database)
    rows = sqlite3.connect(database).execute("select id, body, truth from messages order by id").fetchall()
    return [str(r[0]) for r in rows], [r[1] for r in rows], [[r[2]] for r in rows]


def rule_figures(rules_dir: Path) -> dict:
    """Conflict figures of the rule report on the sample and the rules' own figures on the hand-written set."""
    rules = load_rules(rules_dir)
    matcher = best_matcher(rules)
    ids, texts, truth = sample_rows()
    texts = rule_texts(texts)
    labelled = label_chunk(ids, texts, None, matcher=matcher, source="rules", separator="|")
    stats = RuleStats(rules)
    stats.update(ids, texts, labelled.column("rule_hits"), truth)
    per_class = {}
    for name in CLASSES:
        rows = [r for r in stats.rule_rows() if r["class"] == name]
        hits = sum(r["hits"] for r in rows)
        conflicts = sum(round(r["conflict"] * r["hits"]) for r in rows)
        labelled_ids = [i for i, labels in zip(ids, labelled.column("labels").to_pylist()) if name in labels]
        spam_share = (
            sum(t == ["spam"] for i, t in zip(ids, truth) if i in set(labelled_ids)) / len(labelled_ids)
            if labelled_ids
            else None
        )
        per_class[name] = {
            "rules": len(rows),
            "labelled": len(labelled_ids),
            "hits": hits,
            "conflict": conflicts / hits if hits else None,
            "rules_conflict_over_half": sum(r["conflict"] > 0.5 for r in rows),
            "flagged_mostly_other_class": sum(bool(r["mostly_other_class"]) for r in rows),
            "labelled_that_are_spam": spam_share,
        }
    written = hand_written()
    labels = label_chunk(
        [r["id"] for r in written],
        rule_texts([r["text"] for r in written]),
        None,
        matcher=matcher,
        source="rules",
        separator="|",
    )
    on_hand = {}
    for name in CLASSES:
        predicted = [name in labels for labels in labels.column("labels").to_pylist()]
        true = [name in r["classes"] for r in written]
        tp = sum(p and t for p, t in zip(predicted, true))
        on_hand[name] = {
            "precision": tp / sum(predicted) if sum(predicted) else None,
            "recall": tp / sum(true) if sum(true) else None,
        }
    return {"sample": per_class, "hand_written": on_hand}


def _rules_name(rules_dir: Path) -> str:
    return "shipped" if rules_dir == ROOT / "dictionaries" / "labels" else rules_dir.name


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def print_rule_figures(rules_dirs: list[Path]) -> None:
    columns = (
        "rules", "class", "rules", "labelled", "hits", "conflict (hit-weighted)", "rules with conflict > 50%",
        "flagged mostly another class", "labelled that are spam (truth)", "rule precision (hand-written)",
        "rule recall (hand-written)",
    )  # fmt: skip
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for rules_dir in rules_dirs:
        figures = rule_figures(rules_dir)
        for name in CLASSES:
            s, h = figures["sample"][name], figures["hand_written"][name]
            cells = [
                rules_dir, name, s["rules"], s["labelled"], s["hits"], _fmt(s["conflict"]),
                s["rules_conflict_over_half"], s["flagged_mostly_other_class"], _fmt(s["labelled_that_are_spam"]),
                _fmt(h["precision"]), _fmt(h["recall"]),
            ]  # fmt: skip
            print("| " + " | ".join(map(str, cells)) + " |")


def database_id(hand_written_id: str) -> int:
    """hw-07 -> 900007: the sample's id column is an integer."""
    return 900_000 + int(hand_written_id.split("-")[1])


def build_database(path: Path, rows: list[dict] | None = None) -> None:
    """The sample plus the hand-written messages (all, or `rows`; ids 9000NN, dated inside the sample's month)."""
    build_sample_database(ROOT / "data" / "sms_spam_collection.tsv", path)
    with sqlite3.connect(path) as conn:
        for number, row in enumerate(hand_written() if rows is None else rows):
            conn.execute(
                "insert into messages (id, sender, received_at, body, truth) values (?, ?, ?, ?, ?)",
                (database_id(row["id"]), "+440000000000", f"2026-01-15 12:{number % 60:02d}:00", row["text"], "ham"),
            )


def verdicts_of(rows: list[dict]) -> dict[tuple[str, str], bool]:
    """(database id, class) -> verdict of hand-written rows."""
    return {(str(database_id(r["id"])), name): name in r["classes"] for r in rows for name in CLASSES}


def write_feedback(path: Path, rows: list[dict]) -> None:
    """One verdict per hand-written message and class."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "class", "verdict", "reviewer", "reviewed_at"])
        for (message_id, name), verdict in verdicts_of(rows).items():
            writer.writerow([message_id, name, "yes" if verdict else "no", "feedback_eval", "2026-01-29"])


def run_pipeline(
    work: Path, rules_dir: Path, label_source: str, feedback_csv: Path, database: Path, extra: list[str]
) -> tuple[dict, dict]:
    """The manifest of a TrainPipeline run, and its decisions (id -> class -> bool) on the hand-written rows."""
    env = {**os.environ, "SORTBOX_DB_URL": f"sqlite:///{database}", "PYTHONPATH": str(ROOT)}
    output_root = work / "runs"
    command = [
        sys.executable, "-m", "luigi", "--module", "workflows.train", "TrainPipeline", "--local-scheduler",
        "--run-date", "2026-01-29", "--paths-output-root", str(output_root), "--labelling-rules-dir", str(rules_dir),
        "--labelling-source", label_source, "--feedback-path", str(feedback_csv), *extra,
    ]  # fmt: skip
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    manifest_path = next(output_root.glob("2026-01-29/TrainPipeline-*/manifest.json"))
    manifest = read_json(manifest_path)
    wanted = {str(database_id(r["id"])) for r in hand_written()}
    with open(manifest_path.parent / manifest["artifacts"]["scores_csv"], encoding="utf-8", newline="") as handle:
        decisions = {
            row["id"]: {name: row[f"{name}_decision"] == "1" for name in CLASSES}
            for row in csv.DictReader(handle)
            if row["id"] in wanted
        }
    shutil.rmtree(manifest_path.parent)  # the next run writes its own manifest
    return manifest, decisions


def print_table(rules_dirs: list[Path], work: Path, extra: list[str]) -> None:
    """Four runs: each rules directory trained on its rules, then the last one with rules+feedback on all
    hand-written verdicts and on the odd-numbered messages' verdicts only. Every run is judged on all
    the hand-written messages and on the even-numbered half, which no run trained on verdicts of."""
    database = work / "sample_plus_hand_written.sqlite"
    if database.exists():
        database.unlink()
    build_database(database)
    rows = hand_written()
    odd = [r for r in rows if int(r["id"].split("-")[1]) % 2]
    even = [r for r in rows if not int(r["id"].split("-")[1]) % 2]
    write_feedback(work / "feedback.csv", rows)
    write_feedback(work / "feedback_odd.csv", odd)
    last = rules_dirs[-1]
    runs = [(d, "rules", "feedback.csv") for d in rules_dirs]
    runs += [(last, "rules+feedback", "feedback.csv"), (last, "rules+feedback", "feedback_odd.csv")]
    print(
        "| rules | labelling (verdicts trained on) | class | precision, all [95% CI] | recall, all [95% CI] | "
        "precision, even half | recall, even half | CV ROC AUC |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for rules_dir, source, feedback_name in runs:
        manifest, decisions = run_pipeline(work, rules_dir, source, work / feedback_name, database, extra)
        on_all = feedback_metrics(verdicts_of(rows), decisions, CLASSES)
        on_even = feedback_metrics(verdicts_of(even), decisions, CLASSES)
        trained_on = "" if source == "rules" else (" (all)" if feedback_name == "feedback.csv" else " (odd half)")
        for cls in CLASSES:
            a, e = on_all[cls], on_even[cls]
            if feedback_name == "feedback.csv":  # the pipeline's own figures are the same
                assert manifest["feedback"]["classes"][cls] == a, (manifest["feedback"]["classes"][cls], a)
            cv = manifest["classes"].get(cls, {}).get("cv_roc_auc")
            print(
                f"| {rules_dir.name} | {source}{trained_on} | {cls} | "
                f"{_fmt(a['precision']['value'])} [{_ci(a['precision'])}] | "
                f"{_fmt(a['recall']['value'])} [{_ci(a['recall'])}] | {_fmt(e['precision']['value'])} | "
                f"{_fmt(e['recall']['value'])} | {_fmt(cv)} |",
                flush=True,
            )


def print_unseen_table(rules_dirs: list[Path], work: Path, extra: list[str]) -> None:
    """Each rules directory trained on the plain sample (the hand-written messages are not in it), then
    the hand-written messages scored by the exported model.json with the portable scorer."""
    database = work / "sample.sqlite"
    if not database.exists():
        build_sample_database(ROOT / "data" / "sms_spam_collection.tsv", database)
    rows = hand_written()
    write_feedback(work / "feedback.csv", rows)
    print("| rules | class | precision, unseen [95% CI] | recall, unseen [95% CI] | CV ROC AUC |")
    print("|---|---|---|---|---|")
    for rules_dir in rules_dirs:
        env = {**os.environ, "SORTBOX_DB_URL": f"sqlite:///{database}", "PYTHONPATH": str(ROOT)}
        command = [
            sys.executable, "-m", "luigi", "--module", "workflows.train", "TrainPipeline", "--local-scheduler",
            "--run-date", "2026-01-30", "--paths-output-root", str(work / "runs"), "--labelling-rules-dir",
            str(rules_dir), *extra,
        ]  # fmt: skip
        subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        manifest_path = next((work / "runs").glob("2026-01-30/TrainPipeline-*/manifest.json"))
        manifest = read_json(manifest_path)
        decisions = model_decisions(manifest_path.parent / manifest["artifacts"]["model_json"], rows)
        shutil.rmtree(manifest_path.parent)
        figures = feedback_metrics(verdicts_of(rows), decisions, CLASSES)
        for cls in CLASSES:
            p, r = figures[cls]["precision"], figures[cls]["recall"]
            cv = manifest["classes"].get(cls, {}).get("cv_roc_auc")
            print(
                f"| {rules_dir.name} | {cls} | {_fmt(p['value'])} [{_ci(p)}] | "
                f"{_fmt(r['value'])} [{_ci(r)}] | {_fmt(cv)} |",
                flush=True,
            )


def fold_of(hand_written_id: str, folds: int, seed: int) -> int:
    """The fold of a hand-written message: a hash of its id and the seed, so a message keeps its fold
    when others are added."""
    digest = hashlib.sha256(f"{seed}:{hand_written_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % folds


def model_decisions(model_json: Path, rows: list[dict]) -> dict[str, dict[str, bool]]:
    """Database id -> class -> decision of an exported model on hand-written rows (the portable scorer;
    a row it cannot score is left out and counted as not scored)."""
    model = PortableModel(read_model_file(model_json))
    decisions = {}
    for row in rows:
        scores, _ = model.score(row["text"])
        if scores is not None:
            decisions[str(database_id(row["id"]))] = {
                name: score >= spec["threshold"] for name, spec, score in zip(model.class_names, model.classes, scores)
            }
    return decisions


def rule_decisions(rules_dir: Path, rows: list[dict]) -> dict[str, dict[str, bool]]:
    """Database id -> class -> whether a rule of the class fires, on hand-written rows."""
    labelled = label_chunk(
        [str(database_id(r["id"])) for r in rows],
        rule_texts([r["text"] for r in rows]),
        None,
        matcher=best_matcher(load_rules(rules_dir)),
        source="rules",
        separator="|",
    )
    return {
        message_id: {name: name in labels for name in CLASSES}
        for message_id, labels in zip(labelled.column("id").to_pylist(), labelled.column("labels").to_pylist())
    }


def crossfit_decisions(
    rules_dir: Path, work: Path, folds: int, seed: int, extra: list[str]
) -> tuple[dict[str, dict[str, bool]], list[float | None]]:
    """Held-out decisions of `folds` rules+feedback models, each trained without one fold of the
    hand-written messages and scoring that fold; and each fold model's CV ROC AUC of notification."""
    rows = hand_written()
    decisions, aucs = {}, []
    for fold in range(folds):
        held_out = [r for r in rows if fold_of(r["id"], folds, seed) == fold]
        kept = [r for r in rows if fold_of(r["id"], folds, seed) != fold]
        fold_dir = work / f"fold-{fold}"
        if fold_dir.exists():
            shutil.rmtree(fold_dir)  # another database under the same run date: never reuse its outputs
        fold_dir.mkdir(parents=True)
        database = fold_dir / "sample_plus_other_folds.sqlite"
        build_database(database, kept)
        write_feedback(fold_dir / "feedback.csv", kept)
        env = {**os.environ, "SORTBOX_DB_URL": f"sqlite:///{database}", "PYTHONPATH": str(ROOT)}
        command = [
            sys.executable, "-m", "luigi", "--module", "workflows.train", "TrainPipeline", "--local-scheduler",
            "--run-date", "2026-01-31", "--paths-output-root", str(fold_dir / "runs"), "--labelling-rules-dir",
            str(rules_dir), "--labelling-source", "rules+feedback", "--feedback-path", str(fold_dir / "feedback.csv"),
            *extra,
        ]  # fmt: skip
        subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        manifest_path = next((fold_dir / "runs").glob("2026-01-31/TrainPipeline-*/manifest.json"))
        manifest = read_json(manifest_path)
        fold_decisions = model_decisions(manifest_path.parent / manifest["artifacts"]["model_json"], held_out)
        assert not set(fold_decisions) & set(decisions)
        decisions.update(fold_decisions)
        aucs.append(manifest["classes"].get("notification", {}).get("cv_roc_auc"))
        print(f"fold {fold}: {len(kept)} messages trained on, {len(held_out)} held out", file=sys.stderr, flush=True)
        shutil.rmtree(fold_dir / "runs")
    return decisions, aucs


def _figure(figure: dict) -> str:
    """0.850 (102/120) [0.78, 0.90]"""
    if figure["value"] is None:
        return "– (0/0)"
    hits = round(figure["value"] * figure["count"])
    return f"{figure['value']:.3f} ({hits}/{figure['count']}) [{_ci(figure)}]"


def print_crossfit_table(rules_dirs: list[Path], work: Path, folds: int, seed: int, extra: list[str]) -> None:
    """Per class precision and recall against the hand-written classes: each rules directory's rules
    alone, then the last one's rules+feedback models, cross-fitted (each message scored by the model
    that did not see it)."""
    rows = hand_written()
    verdicts = verdicts_of(rows)
    print("| rules | decided by | class | precision (right/decided yes) [95% CI] | recall (found/yes) [95% CI] |")
    print("|---|---|---|---|---|")
    for rules_dir in rules_dirs:
        figures = feedback_metrics(verdicts, rule_decisions(rules_dir, rows), CLASSES)
        for cls in CLASSES:
            print(
                f"| {_rules_name(rules_dir)} | rules alone | {cls} | {_figure(figures[cls]['precision'])} | "
                f"{_figure(figures[cls]['recall'])} |",
                flush=True,
            )
    decisions, aucs = crossfit_decisions(rules_dirs[-1], work, folds, seed, extra)
    figures = feedback_metrics(verdicts, decisions, CLASSES)
    for cls in CLASSES:
        print(
            f"| {_rules_name(rules_dirs[-1])} | rules+feedback model, {folds}-fold cross-fitted (unseen) | {cls} | "
            f"{_figure(figures[cls]['precision'])} | {_figure(figures[cls]['recall'])} |",
            flush=True,
        )
    not_scored = figures["notification"]["not_scored"]
    print(
        f"\n{len(rows)} hand-written messages, {not_scored} not scored; folds by sha256(seed:id), seed {seed}; "
        f"notification CV ROC AUC per fold: {', '.join(_fmt(a) for a in aucs)}"
    )


def _ci(figure: dict) -> str:
    return "–" if figure["ci95"] is None else f"{figure['ci95'][0]:.2f}, {figure['ci95'][1]:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["rules", "table", "unseen", "crossfit"])
    parser.add_argument(
        "--rules-dir", type=Path, action="append", help="rules directories to compare (default: the shipped ones)"
    )
    parser.add_argument(
        "--work", type=Path, help="working directory of `table`, `unseen`, `crossfit` (default: a temporary one)"
    )
    parser.add_argument(
        "--luigi-option",
        action="append",
        help="one more option for every run, e.g. --luigi-option=--lsi-num-topics=200",
    )
    parser.add_argument("--folds", type=int, default=5, help="crossfit: number of folds (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="crossfit: seed of the fold hash (default 0)")
    args = parser.parse_args()
    rules_dirs = [d.resolve() for d in args.rules_dir] if args.rules_dir else [ROOT / "dictionaries" / "labels"]
    if args.what == "rules":
        print_rule_figures(rules_dirs)
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="feedback_eval-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.what == "crossfit":
        print_crossfit_table(rules_dirs, work, args.folds, args.seed, args.luigi_option or [])
    else:
        (print_table if args.what == "table" else print_unseen_table)(rules_dirs, work, args.luigi_option or [])
    return 0


if __name__ == "__main__":
    sys.exit(main())
