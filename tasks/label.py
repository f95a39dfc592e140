"""LabelMessages (rule hits and training labels) and RuleReport (how each rule earns its keep)."""
from __future__ import annotations

import functools
import logging
from collections import Counter

import pyarrow as pa

from sortbox.checkpoint import ParquetSink, iter_parquet_chunks, parquet_row_count, read_json, write_json
from sortbox.feedback import check_verdicts, override_labels
from sortbox.label import LABELS_SCHEMA, RuleStats, label_chunk
from sortbox.rule_engines import best_matcher
from sortbox.rule_report import render_rule_report_csv, render_rule_report_html
from sortbox.rules import load_rules, read_rule_files, rules_fingerprint
from tasks.base import Artifact, SortboxTask
from tasks.clean import CleanMessages
from tasks.config import labelling, source
from tasks.feedback import ReadFeedback

logger = logging.getLogger("luigi-interface")
#: [labelling] source that trains on the rules with the reviewed verdicts overriding them.
FEEDBACK_SOURCE = "rules+feedback"


@functools.lru_cache(maxsize=16)
def check_rules(rules_dir: str, fingerprint: str) -> None:
    """load_rules once per content of the rules directory: every task's output hash asks for
    LabelMessages' fingerprint while luigi schedules the DAG, and compiling a few hundred rules
    each time made scheduling a night take seconds. An error is not cached (it raises again)."""
    load_rules(rules_dir)


class LabelMessages(SortboxTask):
    """Output: labels.parquet (id, labels, truth, rule_hits), rules.json, rule_stats.json, summary.json.

    The rule files' content is part of the output hash: editing one rule reruns this task and
    what depends on it, nothing upstream. The rules are compiled while the DAG is scheduled,
    so an invalid regex stops the run before the database is touched.
    """

    reads = (labelling, (source, ("label_column", "label_separator")))
    artifacts = {
        "labels": Artifact("labels.parquet"),
        "rules": Artifact("rules.json", read_json),
        "rule_stats": Artifact("rule_stats.json", read_json),
        "summary": Artifact("summary.json", read_json),
    }

    def requires(self):
        inputs = {"clean": CleanMessages(**self.same_run())}
        if labelling().source == FEEDBACK_SOURCE:
            inputs["feedback"] = ReadFeedback(**self.same_run())
        return inputs

    def content_fingerprint(self) -> str:
        rules_dir = labelling().rules_path()
        fingerprint = rules_fingerprint(rules_dir)
        check_rules(str(rules_dir), fingerprint)  # raises RuleError "<file>:<line>: <error>" during scheduling
        return fingerprint

    def run(self):
        rules_dir = labelling().rules_path()
        files = read_rule_files(rules_dir)
        rules = files.rules
        if files.ignored:
            logger.warning("%s: not rule files (<class>.txt), ignored: %s", rules_dir, ", ".join(map(repr, files.ignored)))
        for name, reason in files.empty_classes.items():
            logger.warning("class %r has no rules (%s)", name, reason)
        # A class with no rules cannot be trained from the rules: it is reported as skipped.
        without_rules = files.empty_classes if labelling().source == "rules" else {}
        matcher = best_matcher(rules)
        if matcher.fallback_rule_ids:
            logger.warning("%d rules use Python re instead of %s (slower): %s", len(matcher.fallback_rule_ids), type(matcher).__name__, ", ".join(matcher.fallback_rule_ids))
        clean = self.input_path("clean", "clean")
        total = parquet_row_count(clean)
        has_label_column = bool(source().label_column)
        stats = RuleStats(rules)
        overrides = FeedbackOverrides(self.read_input("feedback", "verdicts")[0], {r.label for r in rules}) if "feedback" in self.input() else None
        with self.atomic_output() as out, ParquetSink(out / self.artifact("labels"), LABELS_SCHEMA) as sink:
            for chunk in iter_parquet_chunks(clean, batch_size=source().chunk_size, columns=["id", "rule_text", "label"]):
                ids = chunk.column("id").to_pylist()
                texts = chunk.column("rule_text").combine_chunks()  # the engines read Arrow directly
                cells = chunk.column("label").to_pylist() if has_label_column else None
                label_source = "rules" if overrides else labelling().source
                labelled = label_chunk(ids, texts, cells, matcher=matcher, source=label_source, separator=source().label_separator)
                if overrides:
                    labelled = overrides.apply(labelled)
                sink.write(labelled)
                truth = labelled.column("truth") if has_label_column else None
                stats.update(ids, texts, labelled.column("rule_hits"), truth)
                self.report_progress(sink.rows, total, f"labelled {sink.rows:,} of {total:,} messages")
            write_json(out / self.artifact("rules"), [{"rule_id": r.rule_id, "class": r.label, "pattern": r.pattern, "engine": "re" if r.rule_id in matcher.fallback_rule_ids else type(matcher).__name__} for r in rules])
            write_json(out / self.artifact("rule_stats"), {"messages": stats.messages, "rules": stats.rule_rows(), "classes": stats.class_rows(), "has_truth": has_label_column,
                                                 "classes_without_rules": files.empty_classes, "ignored_files": files.ignored})
            counts = overrides.counts() if overrides else class_counts(stats, labelling().source)
            summary = {"messages": sink.rows, "source": labelling().source, "classes": counts, "fallback_rules": matcher.fallback_rule_ids,
                       "classes_without_rules": without_rules, "ignored_rule_files": files.ignored}
            if overrides:
                summary["feedback"] = overrides.summary()
                for problem, origins in summary["feedback"]["examples"].items():
                    logger.warning("feedback: verdicts left out of the training labels as %s, e.g. %s", problem, ", ".join(origins))
            write_json(out / self.artifact("summary"), summary)


class FeedbackOverrides:
    """Reviewed verdicts in place of the rules' labels for the reviewed (id, class) pairs, chunk by
    chunk; verdicts about an id no chunk holds or a class no rule file names are counted."""

    def __init__(self, verdicts: dict, classes: set[str]):
        self.classes = classes
        self.latest = verdicts
        self.verdicts = {key: v.verdict for key, v in verdicts.items() if key[1] in classes}
        self.reviewed_ids = {message_id for message_id, _ in self.verdicts}
        self.seen: set[str] = set()
        self.class_counts: Counter = Counter()

    def apply(self, labelled: pa.Table) -> pa.Table:
        ids = labelled.column("id").to_pylist()
        self.seen.update(i for i in ids if i in self.reviewed_ids)
        labels = list(override_labels(ids, labelled.column("labels").to_pylist(), self.verdicts))
        self.class_counts.update(name for row in labels for name in row)
        return labelled.set_column(1, "labels", pa.array(labels, pa.list_(pa.string())))

    def counts(self) -> dict[str, int]:
        """Messages per training class after the overrides (every class of the rules, 0 included)."""
        return {name: self.class_counts.get(name, 0) for name in sorted(self.classes)}

    def summary(self) -> dict:
        checked = check_verdicts(self.latest, self.seen, self.classes)
        return {"applied": len(checked.verdicts), **{k: v for k, v in checked.summary().items() if k != "verdicts"}}


def class_counts(stats: RuleStats, label_source: str) -> dict[str, int]:
    """Messages per training class: labelled by the rules, or carrying the class in the label column."""
    key = "labelled" if label_source == "rules" else "truth_positives"
    return {row["class"]: row[key] for row in stats.class_rows() if row[key] is not None and (label_source == "column" or row["rules"])}


class RuleReport(SortboxTask):
    """Output: rule_report.html and rule_report.csv: per rule coverage, overlap, conflict, precision, examples."""

    artifacts = {"html": Artifact("rule_report.html"), "csv": Artifact("rule_report.csv")}

    def requires(self):
        return {"labels": LabelMessages(**self.same_run())}

    def run(self):
        stats = self.read_input("labels", "rule_stats")
        with self.atomic_output() as out:
            self.report_progress(0, 2, f"rule report: {len(stats['rules'])} rules, HTML")
            (out / self.artifact("html")).write_text(render_rule_report_html(stats), encoding="utf-8")
            self.report_progress(1, 2, "rule report: CSV")
            (out / self.artifact("csv")).write_text(render_rule_report_csv(stats), encoding="utf-8", newline="")
        self.report_progress(2, 2, "rule report written")
