"""Labelling: regular-expression rules from dictionaries/labels/<class>.txt, or labels from a column.

Rules are matched with one RE2 multi-pattern set (all rules in one pass over each message, no
Python loop over rules); a pattern RE2 cannot compile, or one with non-ASCII letters (which RE2
case-folds and `re.ASCII` does not), falls back to Python `re` on its own. The semantics are those
of Python `re.search(pattern, rule_text, re.IGNORECASE | re.ASCII)` for every rule.
"""
from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import pyarrow as pa
import re2

#: Flags of the reference semantics (and of the fallback engine).
RULE_FLAGS = re.IGNORECASE | re.ASCII
#: Class names become file names, JSON keys and CSV columns: keep them plain.
CLASS_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


class RuleError(ValueError):
    """A rule file or pattern is invalid; the message starts with `path:line:`."""


class LabelColumnError(ValueError):
    """A label cell cannot be read as a list of class names."""


@dataclass(frozen=True)
class Rule:
    """One regex rule: `rule_id` is `<file>:<line>`, `label` the class (the file's stem)."""

    rule_id: str
    label: str
    pattern: str


def load_rules(rules_dir: Path) -> list[Rule]:
    """Read every `<class>.txt` under `rules_dir` (sorted), compiling each pattern with Python `re`.

    Blank lines and lines starting with `#` are ignored. Raises RuleError
    `<path>:<line>: <error>` for the first invalid pattern, or when there are no rules at all.
    """
    rules_dir = Path(rules_dir)
    if not rules_dir.is_dir():
        raise RuleError(f"{rules_dir}: rules directory does not exist")
    rules: list[Rule] = []
    for path in sorted(rules_dir.glob("*.txt")):
        label = path.stem
        if not CLASS_NAME.match(label):
            raise RuleError(f"{path}: class name {label!r} must be letters, digits, '_' or '-'")
        for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            pattern = line.strip()
            if not pattern or pattern.startswith("#"):
                continue
            try:
                re.compile(pattern, RULE_FLAGS)
            except re.error as exc:
                raise RuleError(f"{path}:{line_no}: {exc}") from None
            rules.append(Rule(rule_id=f"{path.name}:{line_no}", label=label, pattern=pattern))
    if not rules:
        raise RuleError(f"{rules_dir}: no rules found (expected <class>.txt files, one regex a line)")
    return rules


def rules_fingerprint(rules_dir: Path) -> str:
    """Digest of the rule files' names and contents (part of LabelMessages' output hash)."""
    digest = hashlib.sha256()
    for path in sorted(Path(rules_dir).glob("*.txt")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # RE2 would print every rejected pattern to stderr
    options.max_mem = 256 << 20  # room for the DFA of several hundred patterns
    return options


def _has_non_ascii_letters(pattern: str) -> bool:
    return any(not char.isascii() and char.lower() != char.upper() for char in pattern)


class RuleMatcher:
    """Finds, for a text, the indices of every rule that matches it (in `rules` order).

    `fallback_rule_ids` lists the rules matched with Python `re` instead of the RE2 set.
    """

    def __init__(self, rules: Sequence[Rule]):
        self.rules = list(rules)
        self._set = re2.Set.SearchSet(_re2_options())
        self._set_to_rule: list[int] = []
        self._fallback: list[tuple[int, re.Pattern]] = []
        for index, rule in enumerate(self.rules):
            if not _has_non_ascii_letters(rule.pattern):
                try:
                    self._set.Add(rule.pattern)
                    self._set_to_rule.append(index)
                    continue
                except re2.error:
                    pass
            self._fallback.append((index, re.compile(rule.pattern, RULE_FLAGS)))
        self._set.Compile()
        # When every rule is in the set, set index == rule index and no mapping is needed.
        self._identity = self._set_to_rule == list(range(len(self.rules)))
        self.fallback_rule_ids = [self.rules[i].rule_id for i, _ in self._fallback]

    def match(self, text: str | bytes) -> list[int]:
        """Indices of the rules whose pattern is found in `text` (str, or its UTF-8 bytes), unordered."""
        found = self._set.Match(text)
        hits = [self._set_to_rule[i] for i in found] if found and not self._identity else list(found or ())
        if self._fallback:
            decoded = text if isinstance(text, str) else text.decode("utf-8")
            hits.extend(index for index, pattern in self._fallback if pattern.search(decoded))
        return hits

    def match_many(self, texts: Iterable[str | bytes]) -> list[list[int]]:
        """`match` for each text. Passing UTF-8 bytes (e.g. from an Arrow binary column) saves
        one encoding per message; with no fallback rule this is a single RE2 call per message."""
        if self._identity and not self._fallback:
            match = self._set.Match
            return [found or [] for found in map(match, texts)]
        return [self.match(text) for text in texts]


def match_with_re(rules: Sequence[Rule], texts: Iterable[str]) -> list[list[int]]:
    """The reference: a Python loop over `re.search` per rule (slow; for checks and benchmarks)."""
    compiled = [re.compile(rule.pattern, RULE_FLAGS) for rule in rules]
    return [[i for i, pattern in enumerate(compiled) if pattern.search(text)] for text in texts]


def labels_from_hits(hits: Sequence[Sequence[int]], rules: Sequence[Rule]) -> list[list[str]]:
    """Classes of each message: the sorted distinct labels of the rules that hit it."""
    rule_labels = [rule.label for rule in rules]
    return [sorted({rule_labels[i] for i in row}) for row in hits]


def parse_label_cell(cell: str | None, separator: str) -> list[str]:
    """Split one label cell into sorted distinct class names ('' or NULL: no label).

    Raises LabelColumnError when a part is not a plain class name, which usually means the
    cell uses another separator than the configured one.
    """
    if cell is None or not cell.strip():
        return []
    labels = sorted({part.strip() for part in cell.split(separator) if part.strip()})
    for label in labels:
        if not CLASS_NAME.match(label):
            raise LabelColumnError(
                f"label {label!r} (cell {cell!r}) is not a class name (letters, digits, '_', '-'); "
                f"is [source] label_separator = {separator!r} the separator this column uses?"
            )
    return labels


@dataclass
class RuleStats:
    """Per-rule and per-class counts accumulated over chunks, for the rule report.

    Snorkel-style: coverage (share of messages a rule hits), overlap (share of its hits that
    another rule also hits), conflict (share of its hits that a rule of another class also
    hits) and, where a truth column exists, precision (share of its hits whose truth includes
    its class).
    """

    rules: list[Rule]
    examples_per_rule: int = 3
    messages: int = 0
    hits: Counter = field(default_factory=Counter)
    overlaps: Counter = field(default_factory=Counter)
    conflicts: Counter = field(default_factory=Counter)
    correct: Counter = field(default_factory=Counter)
    judged: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=dict)
    class_counts: dict = field(default_factory=dict)
    truth_classes: set = field(default_factory=set)

    def update(self, ids: Sequence[str], texts: Sequence[str | bytes], hits: Sequence[Sequence[int]], truth: Sequence[Sequence[str]] | None) -> None:
        """Add one chunk: message ids, rule texts (str or UTF-8), rule hits and (optionally) true classes."""
        labels = [rule.label for rule in self.rules]
        self.messages += len(hits)
        for row, rule_hits in enumerate(hits):
            true = set(truth[row]) if truth is not None else None
            if true is not None:
                self.truth_classes.update(true)
            predicted = {labels[i] for i in rule_hits}
            for label in predicted | (true or set()):
                counts = self.class_counts.setdefault(label, Counter())
                counts["predicted"] += label in predicted
                if true is not None:
                    counts["true"] += label in true
                    counts["true_positive"] += label in predicted and label in true
            for i in rule_hits:
                self.hits[i] += 1
                if len(rule_hits) > 1:
                    self.overlaps[i] += 1
                if len(predicted) > 1:
                    self.conflicts[i] += 1
                if true is not None:
                    self.judged[i] += 1
                    self.correct[i] += labels[i] in true
                examples = self.examples.setdefault(i, [])
                if len(examples) < self.examples_per_rule:
                    text = texts[row] if isinstance(texts[row], str) else texts[row].decode("utf-8")
                    examples.append({"id": ids[row], "text": text[:200]})

    def rule_rows(self) -> list[dict]:
        """One dict per rule, in rule order (rules that never fire have hits = 0)."""
        rows = []
        for i, rule in enumerate(self.rules):
            hits = self.hits[i]
            judged_here = rule.label in self.truth_classes and self.judged[i] > 0
            rows.append(
                {
                    "rule_id": rule.rule_id,
                    "class": rule.label,
                    "pattern": rule.pattern,
                    "hits": hits,
                    "coverage": hits / self.messages if self.messages else 0.0,
                    "overlap": self.overlaps[i] / hits if hits else 0.0,
                    "conflict": self.conflicts[i] / hits if hits else 0.0,
                    "precision": self.correct[i] / self.judged[i] if judged_here else None,
                    "examples": self.examples.get(i, []),
                }
            )
        return rows

    def class_rows(self) -> list[dict]:
        """Per class: messages labelled by the rules and, against the truth, precision and recall."""
        rows = []
        for label in sorted({rule.label for rule in self.rules} | self.truth_classes):
            counts = self.class_counts.get(label, Counter())
            rule_count = sum(rule.label == label for rule in self.rules)
            # Precision and recall of a class's rules need rules and a truth that knows the class.
            evaluated = label in self.truth_classes and rule_count > 0
            predicted, true, tp = counts["predicted"], counts["true"], counts["true_positive"]
            rows.append(
                {
                    "class": label,
                    "rules": rule_count,
                    "labelled": predicted,
                    "coverage": predicted / self.messages if self.messages else 0.0,
                    "truth_positives": true if label in self.truth_classes else None,
                    "precision": (tp / predicted if predicted else None) if evaluated else None,
                    "recall": (tp / true if true else None) if evaluated else None,
                }
            )
        return rows


LABELS_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("labels", pa.list_(pa.string()), nullable=False),  # training labels (rules or column)
        pa.field("truth", pa.list_(pa.string())),  # the label column parsed, NULL when there is none
        pa.field("rule_hits", pa.list_(pa.int32()), nullable=False),  # indices into the rule list
    ]
)


def label_chunk(
    ids: Sequence[str],
    rule_texts: Sequence[str | bytes],
    label_cells: Sequence[str | None] | None,
    *,
    matcher: RuleMatcher,
    source: str,
    separator: str,
) -> pa.Table:
    """Label one chunk: rule hits always (for the rule report), training labels from `source`.

    `source` is "rules" (classes of the rules that hit) or "column" (the parsed `label_cells`).
    Raises LabelColumnError naming the message id for an unreadable label cell.
    """
    if source not in ("rules", "column"):
        raise ValueError(f"label source must be 'rules' or 'column', got {source!r}")
    if source == "column" and label_cells is None:
        raise LabelColumnError("[labelling] source = column needs [source] label_column to be set")
    hits = matcher.match_many(rule_texts)
    truth = None
    if label_cells is not None:
        truth = []
        for message_id, cell in zip(ids, label_cells):
            try:
                truth.append(parse_label_cell(cell, separator))
            except LabelColumnError as exc:
                raise LabelColumnError(f"message id {message_id!r}: {exc}") from None
    labels = labels_from_hits(hits, matcher.rules) if source == "rules" else truth
    return pa.table(
        {"id": list(ids), "labels": labels, "truth": truth if truth is not None else [None] * len(ids), "rule_hits": hits},
        schema=LABELS_SCHEMA,
    )
