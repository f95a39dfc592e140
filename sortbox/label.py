"""Labelling: a chunk of messages -> rule hits and training labels; statistics of the rules over chunks.

Training labels come from the rules (the classes of the rules that hit a message) or from a
label column. The rule hits are kept either way, for the rule report (`RuleStats`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sortbox.rule_engines import sorted_unique
from sortbox.rules import CLASS_NAME_FORM, Rule, is_class_name

if TYPE_CHECKING:
    from sortbox.rule_engines import HyperscanMatcher, RuleMatcher


class LabelColumnError(ValueError):
    """A label cell cannot be read as a list of class names."""


def parse_label_cell(cell: str | None, separator: str) -> list[str]:
    """Split one label cell into sorted distinct class names ('' or NULL: no label).

    Raises LabelColumnError when a part is not a plain class name, which usually means the
    cell uses another separator than the configured one.
    """
    if cell is None or not cell.strip():
        return []
    labels = sorted({part.strip() for part in cell.split(separator) if part.strip()})
    for label in labels:
        if not is_class_name(label):
            raise LabelColumnError(
                f"label {label!r} (cell {cell!r}) is not a class name ({CLASS_NAME_FORM}); "
                f"is [source] label_separator = {separator!r} the separator this column uses?"
            )
    return labels


def _as_csr(hits: "Sequence[Sequence[int]] | pa.Array") -> tuple[np.ndarray, np.ndarray]:
    """(indptr, indices) of per-message rule hits given as lists or an Arrow list column."""
    if isinstance(hits, pa.ChunkedArray):
        hits = hits.combine_chunks()
    if isinstance(hits, pa.ListArray):
        offsets = hits.offsets.to_numpy().astype(np.int64)
        values = hits.values.to_numpy(zero_copy_only=False).astype(np.int64)
        return offsets - offsets[0], values[offsets[0] : offsets[-1]]
    indptr, indices = hits_to_csr(hits)
    return np.asarray(indptr, dtype=np.int64), np.asarray(indices, dtype=np.int64)


def _add(counter: Counter, indices: np.ndarray) -> None:
    """counter[i] += how often i occurs in indices."""
    values, counts = np.unique(indices, return_counts=True)
    counter.update(dict(zip(values.tolist(), counts.tolist())))


@dataclass
class RuleStats:
    """Per-rule and per-class counts accumulated over chunks, for the rule report.

    Snorkel-style: coverage (share of messages a rule hits), overlap (share of its hits that
    another rule also hits), conflict (share of its hits that a rule of another class also
    hits) and, where a truth column exists, precision (share of its hits whose truth includes
    its class). A rule more than half of whose hits belong to one other class (by the truth when
    it knows the rule's class, else by that class's rules) is flagged in `rule_rows`. Examples are
    the first messages (in order) each rule hits.
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
    # (rule index, class name) -> hits of the rule that a rule of that other class also labels /
    # whose truth holds that other class and not the rule's own.
    other_by_rules: Counter = field(default_factory=Counter)
    other_by_truth: Counter = field(default_factory=Counter)

    def update(
        self,
        ids: Sequence[str],
        texts: "Sequence[str | bytes] | pa.Array",
        hits: "Sequence[Sequence[int]] | pa.Array",
        truth: "Sequence[Sequence[str]] | pa.Array | None",
    ) -> None:
        """Add one chunk: message ids, rule texts (str or UTF-8), rule hits and (optionally) true
        classes, as Python lists or Arrow list columns. Counted with numpy over (message, rule)
        and (message, class) pairs, not message by message."""
        indptr, indices = _as_csr(hits)
        messages = len(indptr) - 1
        self.messages += messages
        rule_class = np.array([self._class_code(rule.label) for rule in self.rules], dtype=np.int64)
        true_rows, true_codes = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        if truth is not None:
            true_lists = (
                truth
                if isinstance(truth, (pa.Array, pa.ChunkedArray))
                else pa.array(list(truth), type=pa.list_(pa.string()))
            )
            true_lists = true_lists.combine_chunks() if isinstance(true_lists, pa.ChunkedArray) else true_lists
            names = pc.list_flatten(true_lists).to_pylist()
            self.truth_classes.update(names)
            true_rows = pc.list_parent_indices(true_lists).to_numpy().astype(np.int64)
            true_codes = np.array([self._class_code(name) for name in names], dtype=np.int64)
        width = len(self._class_names)
        rows = np.repeat(np.arange(messages, dtype=np.int64), np.diff(indptr))
        hit_keys = rows * width + rule_class[indices]  # (message, class of the rule) per hit
        predicted = np.unique(hit_keys)
        true = np.unique(true_rows * width + true_codes)
        predicted_per_class = np.bincount(predicted % width, minlength=width)
        true_per_class = np.bincount(true % width, minlength=width)
        both_per_class = np.bincount(np.intersect1d(predicted, true, assume_unique=True) % width, minlength=width)
        for code in np.flatnonzero(predicted_per_class + true_per_class):
            counts = self.class_counts.setdefault(self._class_names[code], Counter())
            counts["predicted"] += int(predicted_per_class[code])
            if truth is not None:
                counts["true"] += int(true_per_class[code])
                counts["true_positive"] += int(both_per_class[code])
        classes_per_message = np.bincount(predicted // width, minlength=messages)
        _add(self.hits, indices)
        _add(self.overlaps, indices[np.diff(indptr)[rows] > 1])
        _add(self.conflicts, indices[classes_per_message[rows] > 1])
        if truth is not None:
            _add(self.judged, indices)
            correct = np.isin(hit_keys, true)
            _add(self.correct, indices[correct])
            wrong = ~correct  # hits whose truth lacks the rule's class: which class does it hold?
            self._add_other_classes(self.other_by_truth, rows[wrong], indices[wrong], rule_class, true, messages)
        self._add_other_classes(self.other_by_rules, rows, indices, rule_class, predicted, messages)
        self._add_examples(ids, texts, rows, indices)

    def _add_other_classes(
        self,
        counter: Counter,
        rows: np.ndarray,
        indices: np.ndarray,
        rule_class: np.ndarray,
        keys: np.ndarray,
        messages: int,
    ) -> None:
        """counter[(rule, class)] += hits of the rule whose message has `class` among `keys`
        (sorted message * width + class codes), for every class other than the rule's own."""
        width = len(self._class_names)
        starts = np.searchsorted(keys // width, np.arange(messages + 1))
        per_hit = np.diff(starts)[rows]  # classes the message of each hit has
        hit = np.repeat(np.arange(len(rows)), per_hit)
        offsets = np.concatenate(([0], np.cumsum(per_hit)))[:-1]
        classes = keys[starts[rows][hit] + np.arange(len(hit)) - offsets[hit]] % width
        rules = indices[hit]
        other = classes != rule_class[rules]
        pairs, counts = np.unique(rules[other] * width + classes[other], return_counts=True)
        for pair, count in zip(pairs.tolist(), counts.tolist()):
            counter[(pair // width, self._class_names[pair % width])] += count

    def __post_init__(self) -> None:
        self._codes: dict[str, int] = {}  # class name -> column in the (message, class) pair keys
        self._class_names: list[str] = []

    def _class_code(self, name: str) -> int:
        if name not in self._codes:
            self._codes[name] = len(self._class_names)
            self._class_names.append(name)
        return self._codes[name]

    def _add_examples(self, ids, texts, rows: np.ndarray, indices: np.ndarray) -> None:
        """The first messages (in order) each rule hit, up to `examples_per_rule`."""
        wanting = [int(i) for i in np.unique(indices) if len(self.examples.get(int(i), [])) < self.examples_per_rule]
        if not wanting:
            return
        order = np.argsort(indices, kind="stable")  # by rule, then message order
        by_rule = indices[order]
        starts, ends = np.searchsorted(by_rule, wanting, side="left"), np.searchsorted(by_rule, wanting, side="right")
        for rule, start, end in zip(wanting, starts, ends):
            examples = self.examples.setdefault(rule, [])
            # Never past `end`: the positions after it are the next rule's hits.
            for position in order[start : min(end, start + self.examples_per_rule - len(examples))]:
                row = int(rows[position])
                text = texts[row]
                text = text.as_py() if isinstance(text, pa.Scalar) else text
                text = text if isinstance(text, str) else text.decode("utf-8")
                message_id = ids[row].as_py() if isinstance(ids[row], pa.Scalar) else ids[row]
                examples.append({"id": message_id, "text": text[:200]})

    def to_json(self) -> dict:
        """The counts as plain JSON data (a shard's checkpoint; `merged` adds shards up)."""

        def pairs(counter: Counter) -> list:
            return [[rule, name, count] for (rule, name), count in sorted(counter.items())]

        return {
            "messages": self.messages,
            **{name: {str(k): v for k, v in sorted(getattr(self, name).items())} for name in _RULE_COUNTERS},
            "examples": {str(k): v for k, v in sorted(self.examples.items())},
            "class_counts": {name: dict(sorted(c.items())) for name, c in sorted(self.class_counts.items())},
            "truth_classes": sorted(self.truth_classes),
            "other_by_rules": pairs(self.other_by_rules),
            "other_by_truth": pairs(self.other_by_truth),
        }

    @classmethod
    def merged(cls, rules: list[Rule], parts: "Iterable[dict]", examples_per_rule: int = 3) -> "RuleStats":
        """The statistics of several shards (`to_json` of each, in shard order) as one: counts
        added, each rule's examples the first ones in shard order, as if the shards had been
        counted one after the other."""
        total = cls(rules, examples_per_rule=examples_per_rule)
        for part in parts:
            total.messages += part["messages"]
            for name in _RULE_COUNTERS:
                getattr(total, name).update({int(k): v for k, v in part[name].items()})
            for rule, examples in part["examples"].items():
                kept = total.examples.setdefault(int(rule), [])
                kept.extend(examples[: examples_per_rule - len(kept)])
            for name, counts in part["class_counts"].items():
                total.class_counts.setdefault(name, Counter()).update(counts)
            total.truth_classes.update(part["truth_classes"])
            for key in ("other_by_rules", "other_by_truth"):
                getattr(total, key).update({(rule, name): count for rule, name, count in part[key]})
        return total

    def rule_rows(self) -> list[dict]:
        """One dict per rule, in rule order (rules that never fire have hits = 0)."""
        rows = []
        others: dict[tuple[str, int], list[tuple[int, str]]] = {}
        for basis, counter in (("truth", self.other_by_truth), ("rules", self.other_by_rules)):
            for (index, name), count in counter.items():
                others.setdefault((basis, index), []).append((count, name))
        for i, rule in enumerate(self.rules):
            hits = self.hits[i]
            judged_here = rule.label in self.truth_classes and self.judged[i] > 0
            basis = "truth" if judged_here else "rules"  # of "mostly another class"
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
                    **_mostly_other_class(hits, others.get((basis, i), []), basis),
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


#: RuleStats' counters keyed by rule index.
_RULE_COUNTERS = ("hits", "overlaps", "conflicts", "correct", "judged")


def _mostly_other_class(hits: int, others: list[tuple[int, str]], basis: str) -> dict:
    """The other class more than half of a rule's `hits` belong to, from (count, class) pairs,
    or Nones: a rule flagged as working for another class."""
    count, name = min(others, key=lambda pair: (-pair[0], pair[1]), default=(0, None))
    if not hits or 2 * count <= hits:
        return {"mostly_other_class": None, "other_class_share": None, "judged_by": None}
    return {"mostly_other_class": name, "other_class_share": count / hits, "judged_by": basis}


LABELS_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("labels", pa.list_(pa.string()), nullable=False),  # training labels (rules or column)
        pa.field("truth", pa.list_(pa.string())),  # the label column parsed, NULL when there is none
        pa.field("rule_hits", pa.list_(pa.int32()), nullable=False),  # indices into the rule list
    ]
)


def label_chunk(
    ids: "Sequence[str] | pa.Array",
    rule_texts: "Sequence[str | bytes] | pa.Array",
    label_cells: Sequence[str | None] | None,
    *,
    matcher: "RuleMatcher | HyperscanMatcher",
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
    if hasattr(matcher, "match_csr"):
        indptr, indices = matcher.match_csr(rule_texts)
    else:
        indptr, indices = hits_to_csr(matcher.match_many(rule_texts))
    # Arrow list columns from flat arrays and offsets: converting lists of lists cost as much as
    # the matching itself.
    rule_hits = pa.ListArray.from_arrays(pa.array(indptr, pa.int32()), pa.array(indices, pa.int32()))
    truth = None
    if label_cells is not None:
        truth = []
        parsed: dict = {}  # label columns hold few distinct cells: parse each once
        id_values = ids.to_pylist() if isinstance(ids, (pa.Array, pa.ChunkedArray)) else ids
        for message_id, cell in zip(id_values, label_cells):
            if cell not in parsed:
                try:
                    parsed[cell] = parse_label_cell(cell, separator)
                except LabelColumnError as exc:
                    raise LabelColumnError(f"message id {message_id!r}: {exc}") from None
            truth.append(parsed[cell])
    if source == "rules":
        labels = class_lists(indptr, indices, matcher.rules)
    else:
        labels = pa.array(truth, pa.list_(pa.string()))
    truth_column = pa.array(truth if truth is not None else [None] * len(ids), pa.list_(pa.string()))
    id_column = ids if isinstance(ids, (pa.Array, pa.ChunkedArray)) else pa.array(ids, pa.string())
    return pa.table(
        {"id": id_column, "labels": labels, "truth": truth_column, "rule_hits": rule_hits}, schema=LABELS_SCHEMA
    )


def hits_to_csr(hits: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, rule indices) of per-message hit lists, each message's indices sorted."""
    lengths = np.fromiter((len(h) for h in hits), dtype=np.int64, count=len(hits))
    indptr = np.concatenate(([0], np.cumsum(lengths)))
    indices = np.fromiter((i for h in hits for i in sorted(h)), dtype=np.int64, count=int(indptr[-1]))
    return indptr, indices


def class_lists(indptr: np.ndarray, indices: np.ndarray, rules: Sequence[Rule]) -> pa.ListArray:
    """Per message the sorted distinct classes of the rules that hit it, as an Arrow list column."""
    classes = sorted({rule.label for rule in rules})
    class_of_rule = np.array([classes.index(rule.label) for rule in rules], dtype=np.int64)
    owners = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    pairs = sorted_unique(owners * len(classes) + class_of_rule[indices])
    offsets = np.searchsorted(pairs // len(classes), np.arange(len(indptr)))
    return pa.ListArray.from_arrays(
        pa.array(offsets, pa.int32()), pa.array(classes).take(pa.array(pairs % len(classes)))
    )
