"""Reference scorer for the published model JSON, standard library only.

    python -m sortbox.portable_scorer MODEL.json MESSAGES.csv > scores.csv

MESSAGES.csv (UTF-8, a BOM allowed) has a header with columns `id,text`. stdout gets the same
columns as the pipeline's scores.csv (`id`, then `<class>_score` and `<class>_decision` per class,
classes sorted); rows that cannot be scored go to stderr as `id,reason` CSV lines (or to
--unscorable FILE). A bad model file or messages file is one line on stderr and exit code 2.

The algorithm is README "Model JSON format", written for any language; `sortbox.unicode_tables.
SpecText` runs its text steps from the tables a schema-2 model carries (the conformance suite,
tests/conformance/, checks both). When this Python's Unicode version is the model's, the same steps
run with `unicodedata` and `re` (sortbox/textnorm.py, what training ran), which is faster and
gives the same results. Importing it imports no numpy, pandas, nltk, gensim or scikit-learn.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import math
import os
import re
import sys
import unicodedata
from collections import Counter
from typing import Iterable, Iterator, TextIO

from sortbox.model_file import SCHEMA_VERSION, ModelFileError, read_model_file, validate_model
from sortbox.textnorm import TextCleaner, unusable_text_reason
from sortbox.unicode_tables import SpecText

__all__ = ["SCHEMA_VERSION", "PortableModel", "CsvWriter", "csv_safe", "csv_unescape", "score_csv", "main"]

# Cell values a spreadsheet would run as a formula; numbers (e.g. "-5") are left alone.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# ASCII digits only: a spreadsheet reads "+\u0663" (an Arabic-Indic three) as a formula, not a number.
_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?([eE][+-]?\d+)?", re.ASCII)


def csv_safe(value: str) -> str:
    """Defuse spreadsheet formula injection: a cell starting with = + - @ tab or CR (and not a
    number) gets a leading ', and so does a cell that already starts with ', so that `csv_unescape`
    undoes it exactly: `=x` is written `'=x`, `'=x` is written `''=x`."""
    first = value[:1]
    if first == "'" or (first in _FORMULA_START and not _NUMBER.fullmatch(value)):
        return "'" + value
    return value


def csv_unescape(cell: str) -> str:
    """The value `csv_safe` wrote as `cell`: one leading ' removed, if there is one."""
    return cell[1:] if cell[:1] == "'" else cell


class CsvWriter:
    """A csv writer ("\n" line ends) whose every row reads back as written: Python 3.11's writer
    leaves a bare CR inside a cell unquoted, which splits the row for every reader, so a row
    holding one is written with every cell quoted."""

    def __init__(self, out: TextIO):
        self._minimal = csv.writer(out, lineterminator="\n")
        self._quoted = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)

    def writerow(self, row: Iterable[str]) -> None:
        row = list(row)
        (self._quoted if any("\r" in cell for cell in row) else self._minimal).writerow(row)

    def writerows(self, rows: Iterable[Iterable[str]]) -> None:
        rows = rows if isinstance(rows, list) else list(rows)
        # Joining every cell at C speed finds out whether any holds a CR (almost never): then row by row.
        if "\r" in "".join(map("".join, rows)):
            for row in rows:
                self.writerow(row)
        else:
            self._minimal.writerows(rows)


def logistic(logit: float) -> float:
    """1 / (1 + e^-logit), without overflow for large |logit|."""
    if logit >= 0:
        return 1.0 / (1.0 + math.exp(-logit))
    exp = math.exp(logit)
    return exp / (1.0 + exp)


class PortableModel:
    """The model JSON, ready to score raw texts one at a time (checked first: ModelFileError).

    `tables`: run the text steps from the model's `unicode` tables (True), with this Python's
    `unicodedata` and `re` (False), or (None) the tables only when this Python's Unicode version
    is not the model's. A schema-1 model has no tables: always this Python's data.
    """

    def __init__(self, model: dict, *, tables: bool | None = None):
        self.model = validate_model(model)
        has_tables = model["schema_version"] >= 2
        if tables and not has_tables:
            raise ModelFileError("schema_version 1: the model carries no unicode tables")
        if tables is None:
            tables = has_tables and model["unicode"]["version"] != unicodedata.unidata_version
        self.spec_text = SpecText(model) if tables else None
        self.cleaner = TextCleaner(model["cleaning"])
        self.max_chars = model["quarantine"]["max_chars"]
        self.quarantine_controls = model["quarantine"]["control_characters"]
        self.token_pattern = re.compile(model["tokenizer"]["pattern"])  # one of TOKEN_PATTERNS: validated
        self.stopwords = frozenset(model["stopwords"])
        self.surface_forms = model["terms"]["surface_forms"]
        self.idf = model["idf"]
        self.class_names = sorted(model["classes"])
        self.classes = [model["classes"][name] for name in self.class_names]

    def clean(self, text: str | None) -> tuple[str | None, str | None]:
        """(cleaned text, None) or (None, reason the text cannot be scored)."""
        if self.spec_text is not None:
            return self.spec_text.clean(text)
        if text is None or len(text) > self.max_chars:
            return None, unusable_text_reason(
                text, None, None, max_chars=self.max_chars, quarantine_controls=self.quarantine_controls
            )
        mapped = self.cleaner.map(text)
        cleaned = self.cleaner.clean_mapped(mapped)
        reason = unusable_text_reason(
            text, mapped, cleaned, max_chars=self.max_chars, quarantine_controls=self.quarantine_controls
        )
        return (None, reason) if reason else (cleaned, None)

    def words(self, cleaned: str) -> list[str]:
        """The words of a cleaned text, in order (stopwords included)."""
        if self.spec_text is not None:
            return self.spec_text.words(cleaned)
        return self.token_pattern.findall(cleaned)

    def term_indices(self, cleaned: str) -> list[int]:
        """Vocabulary indices of the words of a cleaned text (stopwords and unknown words dropped)."""
        indices = []
        for word in self.words(cleaned):
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
        return scores_header(self.class_names)

    def row(self, message_id: str, scores: list[float]) -> list[str]:
        """One scores.csv row: scores as shortest round-trip floats, decisions as 0/1."""
        cells = [csv_safe(message_id)]
        for spec, score in zip(self.classes, scores):
            cells += [repr(score), "1" if score >= spec["threshold"] else "0"]
        return cells


def scores_header(class_names: list[str]) -> list[str]:
    """The scores.csv header (a class name starting with - is escaped like any cell)."""
    return ["id"] + [csv_safe(column) for name in class_names for column in (f"{name}_score", f"{name}_decision")]


class MessagesError(ValueError):
    """The messages CSV cannot be read: one line naming the file (and the line)."""


def read_messages(handle: TextIO, name: str) -> Iterator[dict]:
    """`{"id", "text"}` rows of an `id,text` CSV (the header is checked at once); a text cell may be
    as long as the file (a text over the model's max_chars is quarantined too_long); a row
    without an id is an error naming its line."""
    # strict: a stray quote is an error, not a field that swallows the rest of the file
    reader = csv.DictReader(handle, strict=True)
    with _messages_errors(reader, name):
        fieldnames = reader.fieldnames
    if not fieldnames or not {"id", "text"} <= set(fieldnames):
        raise MessagesError(f"{name}: needs a header with columns id,text (got {fieldnames})")
    for column in ("id", "text"):
        if fieldnames.count(column) > 1:  # DictReader would silently take the last one
            raise MessagesError(
                f"{name}: the header has {fieldnames.count(column)} columns named {column!r}, must have one"
            )
    return _message_rows(reader, name)


def _message_rows(reader: csv.DictReader, name: str) -> Iterator[dict]:
    with _messages_errors(reader, name):
        for row in reader:
            if not row["id"]:
                raise MessagesError(f"{name} line {reader.line_num}: no id (every row needs one)")
            if None in row:  # more cells than the header: DictReader puts them aside, the text would be cut
                raise MessagesError(
                    f"{name} line {reader.line_num}: {len(reader.fieldnames) + len(row[None])} cells, the header has "
                    f"{len(reader.fieldnames)} (a text holding a comma must be quoted)"
                )
            yield row


@contextlib.contextmanager
def _messages_errors(reader: csv.DictReader, name: str) -> Iterator[None]:
    """csv and decoding errors as one MessagesError line naming the file and the line."""
    try:
        yield
    except csv.Error as exc:
        raise MessagesError(f"{name}: not valid CSV after line {reader.line_num} ({exc})") from None
    except UnicodeDecodeError as exc:
        raise MessagesError(f"{name}: not UTF-8 (after line {reader.line_num}: {exc.reason})") from None


def score_csv(model: PortableModel, rows: Iterable[dict], out: TextIO, unscorable: TextIO) -> tuple[int, int]:
    """Score `id,text` rows into `out` (scores.csv columns) and `unscorable` (id,reason)."""
    scores_writer = CsvWriter(out)
    unscorable_writer = CsvWriter(unscorable)
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


def _refuse_overwriting(output: str, inputs: dict[str, str]) -> None:
    """MessagesError when `output` is one of the input files: opening it for writing would empty it."""
    for role, path in inputs.items():
        with contextlib.suppress(OSError):  # a missing file is said when it is opened
            if os.path.samefile(output, path):
                raise MessagesError(f"--unscorable {output}: that is the {role} file, writing there would destroy it")


def _largest_field_limit() -> int:
    limit = sys.maxsize
    while True:
        try:
            csv.field_size_limit(limit)
            return limit
        except OverflowError:  # a C long narrower than sys.maxsize (Windows)
            limit //= 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sortbox.portable_scorer", description="Score id,text CSV rows with a sortbox model JSON."
    )
    parser.add_argument("model", help="the model JSON")
    parser.add_argument("messages", help="CSV with a header and columns id,text (UTF-8, BOM allowed)")
    parser.add_argument("--unscorable", help="write unscorable rows (id,reason) here instead of stderr")
    args = parser.parse_args(argv)
    previous_limit = csv.field_size_limit()
    _largest_field_limit()  # a text longer than csv's default 128 KiB is read, then quarantined too_long
    try:
        if args.unscorable:
            _refuse_overwriting(args.unscorable, {"model": args.model, "messages": args.messages})
        model = PortableModel(read_model_file(args.model))
        with open(args.messages, encoding="utf-8-sig", newline="") as handle:
            sink = open(args.unscorable, "w", encoding="utf-8", newline="") if args.unscorable else sys.stderr
            try:
                scored, failed = score_csv(model, read_messages(handle, args.messages), sys.stdout, sink)
            finally:
                if args.unscorable:
                    sink.close()
    except (ModelFileError, MessagesError) as exc:
        print(f"portable_scorer: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"portable_scorer: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    finally:
        csv.field_size_limit(previous_limit)
    print(f"portable_scorer: {scored} scored, {failed} unscorable", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
