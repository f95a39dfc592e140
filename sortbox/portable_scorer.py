"""Reference scorer for the published model JSON, standard library only.

    python -m sortbox.portable_scorer MODEL.json MESSAGES.csv > scores.csv

MESSAGES.csv has a header with columns `id,text`. stdout gets the same columns as the pipeline's
scores.csv (`id`, then `<class>_score` and `<class>_decision` per class, classes sorted); rows
that cannot be scored go to stderr as `id,reason` CSV lines (or to --unscorable FILE).

This file and sortbox/textnorm.py are the whole scoring algorithm (README "Model JSON format"):
a client developer can port them line by line. Importing it imports no numpy, pandas, nltk,
gensim or scikit-learn.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
from collections import Counter
from typing import Iterable, TextIO

from sortbox.textnorm import TextCleaner, unusable_text_reason

SCHEMA_VERSION = 1
# Cell values a spreadsheet would run as a formula; numbers (e.g. "-5") are left alone.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?([eE][+-]?\d+)?")


def csv_safe(value: str) -> str:
    """Defuse spreadsheet formula injection: a text cell starting with = + - @ gets a leading '."""
    if value[:1] in _FORMULA_START and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def logistic(logit: float) -> float:
    """1 / (1 + e^-logit), without overflow for large |logit|."""
    if logit >= 0:
        return 1.0 / (1.0 + math.exp(-logit))
    exp = math.exp(logit)
    return exp / (1.0 + exp)


class PortableModel:
    """The model JSON, ready to score raw texts one at a time."""

    def __init__(self, model: dict):
        if model.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"unsupported model schema_version {model.get('schema_version')!r} (this scorer reads {SCHEMA_VERSION})")
        self.model = model
        self.cleaner = TextCleaner(model["cleaning"])
        self.max_chars = model["quarantine"]["max_chars"]
        self.quarantine_controls = model["quarantine"]["control_characters"]
        self.token_pattern = re.compile(model["tokenizer"]["pattern"])
        self.stopwords = frozenset(model["stopwords"])
        self.surface_forms = model["terms"]["surface_forms"]
        self.idf = model["idf"]
        self.class_names = sorted(model["classes"])
        self.classes = [model["classes"][name] for name in self.class_names]

    def clean(self, text: str | None) -> tuple[str | None, str | None]:
        """(cleaned text, None) or (None, reason the text cannot be scored)."""
        if text is None or len(text) > self.max_chars:
            return None, unusable_text_reason(text, None, None, max_chars=self.max_chars, quarantine_controls=self.quarantine_controls)
        mapped = self.cleaner.map(text)
        cleaned = self.cleaner.clean_mapped(mapped)
        reason = unusable_text_reason(text, mapped, cleaned, max_chars=self.max_chars, quarantine_controls=self.quarantine_controls)
        return (None, reason) if reason else (cleaned, None)

    def term_indices(self, cleaned: str) -> list[int]:
        """Vocabulary indices of the words of a cleaned text (stopwords and unknown words dropped)."""
        indices = []
        for word in self.token_pattern.findall(cleaned):
            if word in self.stopwords:
                continue
            index = self.surface_forms.get(word)
            if index is not None:
                indices.append(index)
        return indices

    def tfidf(self, indices: list[int]) -> dict[int, float]:
        """L2-normalised TF-IDF weights (term index -> weight); empty when nothing is known."""
        weights = {i: count * self.idf[i] for i, count in Counter(indices).items() if self.idf[i] != 0.0}
        norm = math.sqrt(sum(w * w for w in weights.values()))
        return {i: w / norm for i, w in weights.items()} if norm > 0 else {}

    def score(self, text: str | None) -> tuple[list[float] | None, str | None]:
        """(probability per class in `class_names` order, None) or (None, unscorable reason)."""
        cleaned, reason = self.clean(text)
        if reason:
            return None, f"quarantined:{reason}"
        vector = self.tfidf(self.term_indices(cleaned))
        if not vector:
            return None, "no_known_term"
        scores = []
        for spec in self.classes:
            weights = spec["weights"]
            logit = spec["intercept"] + sum(w * weights[i] for i, w in vector.items())
            scores.append(logistic(logit))
        return scores, None

    def header(self) -> list[str]:
        """The scores.csv header."""
        return ["id"] + [column for name in self.class_names for column in (f"{name}_score", f"{name}_decision")]

    def row(self, message_id: str, scores: list[float]) -> list[str]:
        """One scores.csv row: scores as shortest round-trip floats, decisions as 0/1."""
        cells = [csv_safe(message_id)]
        for spec, score in zip(self.classes, scores):
            cells += [repr(score), "1" if score >= spec["threshold"] else "0"]
        return cells


def score_csv(model: PortableModel, rows: Iterable[dict], out: TextIO, unscorable: TextIO) -> tuple[int, int]:
    """Score `id,text` rows into `out` (scores.csv columns) and `unscorable` (id,reason)."""
    scores_writer = csv.writer(out, lineterminator="\n")
    unscorable_writer = csv.writer(unscorable, lineterminator="\n")
    scores_writer.writerow(model.header())
    unscorable_writer.writerow(["id", "reason"])
    scored = failed = 0
    for row in rows:
        scores, reason = model.score(row["text"])
        if reason:
            unscorable_writer.writerow([csv_safe(row["id"]), reason])
            failed += 1
        else:
            scores_writer.writerow(model.row(row["id"], scores))
            scored += 1
    return scored, failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sortbox.portable_scorer", description="Score id,text CSV rows with a sortbox model JSON.")
    parser.add_argument("model", help="the model JSON")
    parser.add_argument("messages", help="CSV with a header and columns id,text")
    parser.add_argument("--unscorable", help="write unscorable rows (id,reason) here instead of stderr")
    args = parser.parse_args(argv)
    try:
        with open(args.model, encoding="utf-8") as handle:
            model = PortableModel(json.load(handle))
        with open(args.messages, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"id", "text"} <= set(reader.fieldnames):
                raise ValueError(f"{args.messages}: needs a header with columns id,text (got {reader.fieldnames})")
            sink = open(args.unscorable, "w", encoding="utf-8", newline="") if args.unscorable else sys.stderr
            try:
                scored, failed = score_csv(model, reader, sys.stdout, sink)
            finally:
                if args.unscorable:
                    sink.close()
    except (OSError, ValueError, KeyError) as exc:
        print(f"portable_scorer: {exc}", file=sys.stderr)
        return 2
    print(f"portable_scorer: {scored} scored, {failed} unscorable", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
