"""Reviewed verdicts ("is this message of this class? yes or no") as truth.

Verdicts come from filled-in review CSVs (columns `id`, `class`, `verdict`, optionally `reviewer`
and `reviewed_at`: the review sample's own files, or any CSV with those columns) or from a
`feedback` table (id, class, verdict, reviewer, reviewed_at). For one (id, class) the latest
verdict wins: the latest `reviewed_at`, and among equal or missing ones the one read last.

Bad input is never silent. A file that cannot be read as CSV (a broken quote, not UTF-8, no
`id,class,verdict` header) and a verdict that is not yes/no stop the run with one line naming
`file:line` (or the table row): a mistyped verdict would otherwise change the figures. Verdicts
for ids the run does not have and for classes it does not know are counted and reported (with the
first few `file:line`), because a review of last month's messages is expected to name ids that a
window of this month does not hold.

Standard library only (the feedback table's query imports SQLAlchemy when it is asked for).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping, TextIO

from sortbox.portable_scorer import csv_unescape

VERDICTS = {"yes": True, "no": False}
REQUIRED_COLUMNS = ("id", "class", "verdict")
#: `file:line` of the first few verdicts of each kind of problem, in summaries and logs.
EXAMPLES_KEPT = 5
#: Two-sided 95% normal quantile of the Wilson score interval.
Z_95 = 1.959963984540054


class FeedbackError(ValueError):
    """Feedback that cannot be read: one line naming the file and line (or the table row)."""


@dataclass(frozen=True)
class Verdict:
    """One reviewed (message, class) pair: `verdict` True means the message is of the class."""

    id: str
    class_name: str
    verdict: bool
    origin: str  # file:line, or table:row
    reviewed_at: str = ""
    reviewer: str = ""


def parse_verdict(value: str | None, origin: str) -> bool | None:
    """yes -> True, no -> False (any case, surrounding blanks), empty -> None (not reviewed yet);
    anything else is a FeedbackError naming `origin`."""
    text = (value or "").strip().lower()
    if not text:
        return None
    if text not in VERDICTS:
        raise FeedbackError(f"{origin}: verdict {value!r} is not yes or no (leave it empty for a message not reviewed)")
    return VERDICTS[text]


def read_feedback_csv(handle: TextIO, name: str) -> tuple[list[Verdict], int]:
    """(verdicts, rows without a verdict) of one CSV with columns id, class, verdict.

    Cells are read back as the review CSV wrote them (`csv_unescape` undoes the spreadsheet
    escaping). Raises FeedbackError naming `name:line` for a broken quote, a missing column, an
    empty id or class, or a verdict that is not yes/no."""
    reader = csv.DictReader(handle, strict=True)
    verdicts: list[Verdict] = []
    unreviewed = 0
    try:
        header = reader.fieldnames or []
        missing = [column for column in REQUIRED_COLUMNS if column not in header]
        if missing:
            raise FeedbackError(
                f"{name}:1: no {', '.join(missing)} column (a feedback CSV needs id, class and verdict; got {header})"
            )
        for row in reader:
            origin = f"{name}:{reader.line_num}"
            verdict = parse_verdict(row["verdict"], origin)
            if verdict is None:
                unreviewed += 1
                continue
            message_id, class_name = csv_unescape(row["id"] or ""), csv_unescape(row["class"] or "").strip()
            if not message_id or not class_name:
                raise FeedbackError(f"{origin}: a verdict needs an id and a class")
            verdicts.append(
                Verdict(
                    message_id,
                    class_name,
                    verdict,
                    origin,
                    (row.get("reviewed_at") or "").strip(),
                    (row.get("reviewer") or "").strip(),
                )
            )
    except csv.Error as exc:
        raise FeedbackError(
            f"{name}:{reader.line_num}: not valid CSV ({exc}): a quote opened and never closed?"
        ) from None
    except UnicodeDecodeError as exc:
        raise FeedbackError(
            f"{name}:{reader.line_num + 1}: not UTF-8 text ({exc.reason}); save the file as UTF-8"
        ) from None
    return verdicts, unreviewed


def verdicts_from_rows(rows: Iterable[tuple], table: str) -> list[Verdict]:
    """Verdicts of a feedback table's (id, class, verdict, reviewer, reviewed_at) rows; a NULL or
    empty verdict is a row not reviewed yet and skipped, anything but yes/no a FeedbackError."""
    verdicts = []
    for number, (message_id, class_name, value, reviewer, reviewed_at) in enumerate(rows, start=1):
        origin = f"table {table} row {number}"
        verdict = parse_verdict(None if value is None else str(value), origin)
        if verdict is None:
            continue
        if message_id is None or class_name is None or not str(class_name).strip():
            raise FeedbackError(f"{origin}: a verdict needs an id and a class")
        stamp = reviewed_at.isoformat() if hasattr(reviewed_at, "isoformat") else str(reviewed_at or "")
        verdicts.append(Verdict(str(message_id), str(class_name).strip(), verdict, origin, stamp, str(reviewer or "")))
    return verdicts


def latest_verdicts(verdicts: Iterable[Verdict]) -> dict[tuple[str, str], Verdict]:
    """The verdict that wins for each (id, class): the latest `reviewed_at` (ISO text, compared as
    text; a missing one counts as earliest), and among equals the one read last."""
    ordered = sorted(enumerate(verdicts), key=lambda pair: (pair[1].reviewed_at, pair[0]))
    return {(v.id, v.class_name): v for _, v in ordered}


@dataclass(frozen=True)
class CheckedFeedback:
    """The verdicts that apply to a run, and what was left out and why."""

    verdicts: dict[tuple[str, str], bool]
    unknown_ids: int
    unknown_classes: dict[str, int]
    examples: dict[str, list[str]]  # problem -> first file:line

    def summary(self) -> dict:
        return {
            "verdicts": len(self.verdicts),
            "unknown_ids": self.unknown_ids,
            "unknown_classes": dict(sorted(self.unknown_classes.items())),
            "examples": self.examples,
        }


def check_verdicts(
    latest: Mapping[tuple[str, str], Verdict], known_ids: set[str], classes: Iterable[str]
) -> CheckedFeedback:
    """Keep the verdicts about a message of `known_ids` and a class of `classes`; count the others
    (unknown class first: a verdict about a class the model lacks says nothing about this run)."""
    classes = set(classes)
    kept: dict[tuple[str, str], bool] = {}
    unknown_ids, unknown_classes = 0, {}
    examples: dict[str, list[str]] = {}
    for (message_id, class_name), verdict in latest.items():
        problem = None
        if class_name not in classes:
            unknown_classes[class_name] = unknown_classes.get(class_name, 0) + 1
            problem = "unknown_class"
        elif message_id not in known_ids:
            unknown_ids += 1
            problem = "unknown_id"
        else:
            kept[(message_id, class_name)] = verdict.verdict
        if problem and len(examples.setdefault(problem, [])) < EXAMPLES_KEPT:
            examples[problem].append(verdict.origin)
    return CheckedFeedback(kept, unknown_ids, unknown_classes, examples)


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (95% by default); None without trials."""
    if trials == 0:
        return None
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _proportion(successes: int, trials: int) -> dict:
    interval = wilson_interval(successes, trials)
    return {
        "value": successes / trials if trials else None,
        "count": trials,
        "ci95": list(interval) if interval else None,
    }


def feedback_metrics(
    verdicts: Mapping[tuple[str, str], bool], decisions: Mapping[str, Mapping[str, bool]], classes: Iterable[str]
) -> dict:
    """Per class, the model's decisions against the reviewed verdicts of the scored messages:
    precision (of the reviewed messages it decided yes, the share reviewed yes) and recall (of
    those reviewed yes, the share it decided yes), each with its count and 95% Wilson interval.

    `decisions`: id -> class -> decision, for the scored messages; a reviewed message that was not
    scored (quarantined) is counted as `not_scored`."""
    result = {}
    for name in sorted(classes):
        tp = fp = fn = tn = not_scored = 0
        for (message_id, class_name), truth in verdicts.items():
            if class_name != name:
                continue
            if message_id not in decisions:
                not_scored += 1
                continue
            decided = decisions[message_id][name]
            tp += decided and truth
            fp += decided and not truth
            fn += truth and not decided
            tn += not decided and not truth
        result[name] = {
            "reviewed": tp + fp + fn + tn,
            "reviewed_yes": tp + fn,
            "not_scored": not_scored,
            "precision": _proportion(tp, tp + fp),
            "recall": _proportion(tp, tp + fn),
        }
    return result


def feedback_gate(
    metrics: Mapping[str, dict], classes: Iterable[str], *, min_precision: float | None, min_recall: float | None
) -> dict[str, str]:
    """Class -> why it may not be published, for the `classes` whose precision or recall against the
    reviewed messages (`metrics`, from feedback_metrics) is below the required minimum, or cannot be
    measured (no reviewed message, or no feedback at all)."""
    unmeasured = {"value": None, "count": 0}
    refused = {}
    for name in sorted(classes):
        figures = metrics.get(name, {"precision": unmeasured, "recall": unmeasured})
        reasons = []
        for measure, minimum in (("precision", min_precision), ("recall", min_recall)):
            if minimum is None:
                continue
            value = figures[measure]["value"]
            if value is None:
                reasons.append(
                    f"{measure} against the reviewed messages cannot be measured (no reviewed message to judge it), "
                    f"[feedback] min_{measure} = {minimum}"
                )
            elif value < minimum:
                count = figures[measure]["count"]
                reasons.append(
                    f"{measure} against {count} reviewed messages is {value:.3f}, "
                    f"below [feedback] min_{measure} = {minimum}"
                )
        if reasons:
            refused[name] = "; ".join(reasons)
    return refused


def override_labels(
    ids: Iterable[str], labels: Iterable[list[str]], verdicts: Mapping[tuple[str, str], bool]
) -> Iterator[list[str]]:
    """The training labels with the reviewed verdicts in place of the rules' for reviewed (id, class)
    pairs: a yes adds the class, a no removes it; unreviewed pairs keep the rules' label."""
    by_id: dict[str, dict[str, bool]] = {}
    for (message_id, class_name), verdict in verdicts.items():
        by_id.setdefault(message_id, {})[class_name] = verdict
    for message_id, classes in zip(ids, labels):
        reviewed = by_id.get(message_id)
        if not reviewed:
            yield classes
            continue
        merged = set(classes)
        merged |= {name for name, verdict in reviewed.items() if verdict}
        merged -= {name for name, verdict in reviewed.items() if not verdict}
        yield sorted(merged)


def read_feedback_files(path: Path) -> tuple[list[Verdict], dict]:
    """Verdicts of a CSV file, or of every `*.csv` of a directory (in name order, so a later file's
    verdict wins over an earlier one's with the same or no `reviewed_at`), and what was read."""
    files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".csv" and p.is_file()) if path.is_dir() else [path]
    verdicts, unreviewed = [], 0
    for file in files:
        with open(file, encoding="utf-8-sig", newline="") as handle:
            found, empty = read_feedback_csv(handle, str(file))
        verdicts += found
        unreviewed += empty
    return verdicts, {"files": [str(f) for f in files], "rows_without_verdict": unreviewed}


def feedback_columns_sql(conn, table: str):
    """SELECT id, class, verdict, reviewer, reviewed_at of the feedback table, ordered by reviewed_at
    (NULLs first) and id; names are looked up by reflection, never pasted into SQL."""
    import sqlalchemy as sa

    if not sa.inspect(conn).has_table(table):
        raise FeedbackError(f"[feedback] table {table!r} does not exist in the database")
    reflected = sa.Table(table, sa.MetaData(), autoload_with=conn)
    columns = ("id", "class", "verdict", "reviewer", "reviewed_at")
    missing = [c for c in columns if c not in reflected.c]
    if missing:
        raise FeedbackError(
            f"[feedback] table {table!r} has no column {', '.join(missing)} (it needs {', '.join(columns)})"
        )
    return sa.select(*(reflected.c[c] for c in columns)).order_by(reflected.c.reviewed_at.asc().nulls_first())


def read_decisions(
    scores_path: Path, unscorable_path: Path, wanted: set[str]
) -> tuple[dict[str, dict[str, bool]], set[str], list[str]]:
    """From ScoreMessages' two CSV files: the decisions (id -> class -> 1/0 as a bool) of the
    `wanted` ids, every id scored or unscorable, and the classes in the order of scores.csv."""
    decisions, known_ids = {}, set()
    with open(scores_path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        classes = [csv_unescape(c)[: -len("_score")] for c in header[1::2]]
        for row in reader:
            message_id = csv_unescape(row[0])
            known_ids.add(message_id)
            if message_id in wanted:
                decisions[message_id] = {name: row[2 + 2 * k] == "1" for k, name in enumerate(classes)}
    with open(unscorable_path, encoding="utf-8", newline="") as handle:
        known_ids.update(csv_unescape(row[0]) for row in list(csv.reader(handle))[1:])
    return decisions, known_ids, classes
