"""A labelling run over a stream of cleaned chunks: each chunk labelled by the rules (or the label
column), the reviewed verdicts overriding the rules where there are some, the rule statistics
gathered on the way, and the files that describe the run (rules, statistics, summary)."""

from __future__ import annotations

from collections import Counter
from typing import Callable, Iterable

import pyarrow as pa

from sortbox.feedback import check_verdicts, override_labels
from sortbox.label import RuleStats, label_chunk
from sortbox.rules import Rule, RuleFiles


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


def label_shard(
    chunks: Iterable[pa.Table],
    write: Callable[[pa.Table], None],
    *,
    rules: list[Rule],
    matcher,
    source: str,
    separator: str,
    has_truth: bool,
    on_chunk: Callable[[int], None] | None = None,
) -> RuleStats:
    """Label each chunk (columns id, rule_text, label) of one shard: rule hits, and training labels
    by `source` ("rules" or "column"; the reviewed verdicts apply when the shards are combined,
    see `apply_feedback`); hand the labelled table to `write`; return the shard's rule statistics
    (`RuleStats.merged` adds the shards up). The label column is read only when `has_truth`.
    `on_chunk(messages labelled so far)`."""
    stats, done = RuleStats(rules), 0
    for chunk in chunks:
        ids = chunk.column("id").to_pylist()
        texts = chunk.column("rule_text").combine_chunks()  # the engines read Arrow directly
        cells = chunk.column("label").to_pylist() if has_truth else None
        labelled = label_chunk(ids, texts, cells, matcher=matcher, source=source, separator=separator)
        write(labelled)
        stats.update(ids, texts, labelled.column("rule_hits"), labelled.column("truth") if has_truth else None)
        done += chunk.num_rows
        if on_chunk:
            on_chunk(done)
    return stats


def apply_feedback(
    labelled: Iterable[pa.Table], write: Callable[[pa.Table], None], overrides: FeedbackOverrides
) -> None:
    """The shards' labelled chunks, in order, with the reviewed verdicts overriding the rules'
    labels, handed to `write` (the rule statistics are the rules' own: the verdicts change no hit)."""
    for chunk in labelled:
        write(overrides.apply(chunk))


def class_counts(stats: RuleStats, label_source: str) -> dict[str, int]:
    """Messages per training class: labelled by the rules, or carrying the class in the label column."""
    key = "labelled" if label_source == "rules" else "truth_positives"
    return {
        row["class"]: row[key]
        for row in stats.class_rows()
        if row[key] is not None and (label_source == "column" or row["rules"])
    }


def rules_file(rules: list[Rule], matcher) -> list[dict]:
    """rules.json: each rule, its class, its pattern and the engine that matches it."""
    engine = type(matcher).__name__
    return [
        {
            "rule_id": r.rule_id,
            "class": r.label,
            "pattern": r.pattern,
            "engine": "re" if r.rule_id in matcher.fallback_rule_ids else engine,
        }
        for r in rules
    ]


def rule_stats_file(stats: RuleStats, files: RuleFiles, *, has_truth: bool) -> dict:
    """rule_stats.json: what the rule report is drawn from."""
    return {
        "messages": stats.messages,
        "rules": stats.rule_rows(),
        "classes": stats.class_rows(),
        "has_truth": has_truth,
        "classes_without_rules": files.empty_classes,
        "ignored_files": files.ignored,
    }


def fallback_rules(rules: list[dict]) -> list[str]:
    """The ids of the rules that `rules_file` says Python re matches (the engine's fallback)."""
    return [rule["rule_id"] for rule in rules if rule["engine"] == "re"]


def label_summary(
    stats: RuleStats,
    files: RuleFiles,
    fallback: list[str],
    *,
    messages: int,
    source: str,
    overrides: FeedbackOverrides | None,
) -> dict:
    """summary.json of a labelling run: messages per training class, rules that fell back to
    Python re, classes skipped for want of rules (when trained on the rules), ignored files and,
    with feedback, what the verdicts changed."""
    summary = {
        "messages": messages,
        "source": source,
        "classes": overrides.counts() if overrides else class_counts(stats, source),
        "fallback_rules": fallback,
        # A class with no rules cannot be trained from the rules: it is reported as skipped.
        "classes_without_rules": files.empty_classes if source == "rules" else {},
        "ignored_rule_files": files.ignored,
    }
    if overrides:
        summary["feedback"] = overrides.summary()
    return summary
