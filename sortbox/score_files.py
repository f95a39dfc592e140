"""Scoring a whole extraction into two CSV files: scores.csv (id, then a score and a decision per
class) and unscorable.csv (id, reason). Every extracted row lands in exactly one of them."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable, Iterable, TextIO

from sortbox.clean import CleanResult
from sortbox.portable_scorer import CsvWriter, csv_safe
from sortbox.scoring import ModelSet, scores_table, unscorable_rows
from sortbox.shards import sum_counts


class NothingScorable(ValueError):
    """Every row was unscorable: almost certainly the wrong table, window or model."""


def write_score_files(
    model: ModelSet,
    cleaned: Iterable[CleanResult],
    scores_file: TextIO,
    unscorable_file: TextIO,
    *,
    extracted: int,
    on_chunk: Callable[[int, int], None] | None = None,
    part: bool = False,
) -> dict:
    """Score the cleaned chunks of `extracted` rows into the two open files; return the summary
    (model id, extracted, scored, unscorable, reasons). A quarantined row is unscorable with its
    quarantine reason, a clean row without a known term as no_known_term. `on_chunk(scored,
    unscorable)` after each chunk. Raises RuntimeError when the counts do not add up to
    `extracted`, NothingScorable when no row could be scored (not for a `part`, one shard of a
    scoring: combine_summaries checks the whole)."""
    scores_csv, unscorable_csv = CsvWriter(scores_file), CsvWriter(unscorable_file)
    scores_csv.writerow(model.header())
    unscorable_csv.writerow(["id", "reason"])
    scored = unscorable = 0
    reasons: dict[str, int] = {}
    for result in cleaned:
        ids = result.clean.column("id").to_pylist()
        probabilities, known = model.score(result.clean.column("text").to_pylist())
        scores_csv.writerows(scores_table(model, [i for i, k in zip(ids, known) if k], probabilities[known]))
        rows = unscorable_rows(result.quarantine) + [
            [csv_safe(i), "no_known_term"] for i, k in zip(ids, known) if not k
        ]
        unscorable_csv.writerows(rows)
        for _, reason in rows:
            reasons[reason] = reasons.get(reason, 0) + 1
        scored += int(known.sum())
        unscorable += len(rows)
        if on_chunk:
            on_chunk(scored, unscorable)
    if scored + unscorable != extracted:
        raise RuntimeError(f"scoring lost rows: {extracted} extracted, {scored} scored + {unscorable} unscorable")
    model_id = model.model_ids[0] if len(model.model_ids) == 1 else model.model_ids
    summary = {
        "model_id": model_id,
        "extracted": extracted,
        "scored": scored,
        "unscorable": unscorable,
        "unscorable_reasons": dict(sorted(reasons.items())),
    }
    if not part:
        check_something_scored(summary)
    return summary


def check_something_scored(summary: dict) -> None:
    """Raise NothingScorable when a summary of write_score_files (or of all its parts) scored no row."""
    if summary["scored"] == 0:
        reasons = summary["unscorable_reasons"]
        raise NothingScorable(f"none of the {summary['extracted']:,} rows could be scored: {reasons}")


def combine_summaries(parts: list[dict]) -> dict:
    """The summaries of the parts (shards) of one scoring, added up; raises NothingScorable when
    no part scored a row (a part alone may score none)."""
    summary = {
        "model_id": parts[0]["model_id"],
        **{key: sum(part[key] for part in parts) for key in ("extracted", "scored", "unscorable")},
        "unscorable_reasons": sum_counts(part["unscorable_reasons"] for part in parts),
    }
    check_something_scored(summary)
    return summary


def concat_csv_files(paths: Iterable[Path], out: Path) -> int:
    """The CSV files `paths` (each with the same header line) into one file `out`: the header
    once, then every file's rows in order, byte for byte, streamed. Returns the bytes written.
    Raises ValueError naming a file whose header differs from the first file's."""
    paths = list(paths)
    with open(paths[0], "rb") as first:
        header = first.readline()
    with open(out, "wb") as target:
        target.write(header)
        for path in paths:
            with open(path, "rb") as source:
                if source.read(len(header)) != header:
                    raise ValueError(f"{path}: its header is not the header of {paths[0]}")
                shutil.copyfileobj(source, target, 1 << 20)
        return target.tell()
