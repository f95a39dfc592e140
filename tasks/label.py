"""LabelMessages (rule hits and training labels) and RuleReport (how each rule earns its keep)."""

from __future__ import annotations

import functools
import logging

from sortbox.checkpoint import ParquetSink, iter_parquet_chunks, parquet_row_count, read_json, write_json
from sortbox.label import LABELS_SCHEMA, RuleStats
from sortbox.labelling import (
    FeedbackOverrides,
    apply_feedback,
    fallback_rules,
    label_shard,
    label_summary,
    rule_stats_file,
    rules_file,
)
from sortbox.rule_engines import best_matcher
from sortbox.rule_report import render_rule_report_csv, render_rule_report_html
from sortbox.rules import load_rules, read_rule_files, rules_fingerprint
from sortbox.shards import concat_parquet
from tasks.base import Artifact, SortboxTask
from tasks.clean import CleanShard
from tasks.config import labelling, source
from tasks.extract import ShardedTask, ShardTask
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


class RulesTask(SortboxTask):
    """A task whose output depends on the rule files: their content is part of the output hash,
    so editing one rule reruns this task and what depends on it, nothing upstream. The rules are
    compiled while the DAG is scheduled, so an invalid regex stops the run before the database
    is touched."""

    reads = (labelling, (source, ("label_column", "label_separator")))

    def content_fingerprint(self) -> str:
        rules_dir = labelling().rules_path()
        fingerprint = rules_fingerprint(rules_dir)
        check_rules(str(rules_dir), fingerprint)  # raises RuleError "<file>:<line>: <error>" during scheduling
        return fingerprint


class LabelShard(ShardTask, RulesTask):
    """One shard's messages labelled: rule hits, and labels from the rules or the label column
    (the reviewed verdicts apply when the shards are combined), and the shard's rule statistics.
    Output: labels.parquet (id, labels, truth, rule_hits), rules.json (each rule and the engine
    that matched it), rule_counts.json, summary.json."""

    artifacts = {
        "labels": Artifact("labels.parquet"),
        "rules": Artifact("rules.json", read_json),
        "rule_counts": Artifact("rule_counts.json", read_json),
        "summary": Artifact("summary.json", read_json),
    }

    def requires(self):
        return {"clean": CleanShard(**self.same_run(), shard=self.shard)}

    def run(self):
        files = read_rule_files(labelling().rules_path())
        matcher = best_matcher(files.rules)
        if self.shard == 0:
            warn_about_rules(files, matcher)
        clean, config = self.input_path("clean", "clean"), labelling()
        total = parquet_row_count(clean)
        with self.atomic_output() as out, ParquetSink(out / self.artifact("labels"), LABELS_SCHEMA) as sink:
            stats = label_shard(
                iter_parquet_chunks(clean, batch_size=source().chunk_size, columns=["id", "rule_text", "label"]),
                sink.write,
                rules=files.rules,
                matcher=matcher,
                # With feedback, the rules label and the verdicts override them (LabelMessages).
                source="rules" if config.source == FEEDBACK_SOURCE else config.source,
                separator=source().label_separator,
                has_truth=bool(source().label_column),
                on_chunk=lambda done: self.report_progress(
                    done, total, f"shard {self.shard}: labelled {done:,} of {total:,} messages"
                ),
            )
            write_json(out / self.artifact("rules"), rules_file(files.rules, matcher))
            write_json(out / self.artifact("rule_counts"), stats.to_json())
            write_json(out / self.artifact("summary"), {"shard": self.shard, "messages": sink.rows})


class LabelMessages(ShardedTask, RulesTask):
    """The shards' labels, shard after shard, the reviewed verdicts applied, and the rule
    statistics of them all. Output: labels.parquet (id, labels, truth, rule_hits), rules.json,
    rule_stats.json, summary.json."""

    artifacts = {
        "labels": Artifact("labels.parquet"),
        "rules": LabelShard.artifacts["rules"],
        "rule_stats": Artifact("rule_stats.json", read_json),
        "summary": Artifact("summary.json", read_json),
    }

    def requires(self):
        inputs = {"shards": self.shard_tasks(LabelShard, **self.same_run())}
        if labelling().source == FEEDBACK_SOURCE:
            inputs["feedback"] = ReadFeedback(**self.same_run())
        return inputs

    def run(self):
        files = read_rule_files(labelling().rules_path())
        # Which engine matched each rule, as the shards compiled them (not compiled again here).
        rules = self.shard_json("rules")[0]
        verdicts = self.read_input("feedback", "verdicts")[0] if "feedback" in self.requires() else None
        overrides = FeedbackOverrides(verdicts, {r.label for r in files.rules}) if verdicts is not None else None
        has_truth, config = bool(source().label_column), labelling()
        stats = RuleStats.merged(files.rules, self.shard_json("rule_counts"))
        with self.atomic_output() as out:
            labels = out / self.artifact("labels")
            if overrides:
                with ParquetSink(labels, LABELS_SCHEMA) as sink:
                    chunks = (
                        c
                        for path in self.shard_paths("labels")
                        for c in iter_parquet_chunks(path, batch_size=source().chunk_size)
                    )
                    apply_feedback(chunks, sink.write, overrides)
            else:
                concat_parquet(self.shard_paths("labels"), labels, LABELS_SCHEMA)
            write_json(out / self.artifact("rules"), rules)
            write_json(out / self.artifact("rule_stats"), rule_stats_file(stats, files, has_truth=has_truth))
            summary = label_summary(
                stats, files, fallback_rules(rules), messages=stats.messages, source=config.source, overrides=overrides
            )
            for problem, origins in summary.get("feedback", {}).get("examples", {}).items():
                logger.warning(
                    "feedback: verdicts left out of the training labels as %s, e.g. %s", problem, ", ".join(origins)
                )
            write_json(out / self.artifact("summary"), summary)
        shards = len(self.shard_paths("labels"))
        self.report_progress(1, 1, f"labels of {stats.messages:,} messages from {shards} shard(s)")


def warn_about_rules(files, matcher) -> None:
    """Log what the rules directory holds besides usable rules, and rules matched by Python re."""
    if files.ignored:
        logger.warning(
            "%s: not rule files (<class>.txt), ignored: %s",
            labelling().rules_path(),
            ", ".join(map(repr, files.ignored)),
        )
    for name, reason in files.empty_classes.items():
        logger.warning("class %r has no rules (%s)", name, reason)
    if matcher.fallback_rule_ids:
        logger.warning(
            "%d rules use Python re instead of %s (slower): %s",
            len(matcher.fallback_rule_ids),
            type(matcher).__name__,
            ", ".join(matcher.fallback_rule_ids),
        )


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
