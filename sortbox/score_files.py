"""Scoring a whole extraction into two CSV files: scores.csv (id, then a score and a decision per
class) and unscorable.csv (id, reason). Every extracted row lands in exactly one of them."""

from __future__ import annotations

from typing import Callable, Iterable, TextIO

from sortbox.clean import CleanResult
from sortbox.portable_scorer import CsvWriter, csv_safe
from sortbox.scoring import ModelSet, scores_table, unscorable_rows


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
) -> dict:
    """Score the cleaned chunks of `extracted` rows into the two open files; return the summary
    (model id, extracted, scored, unscorable, reasons). A quarantined row is unscorable with its
    quarantine reason, a clean row without a known term as no_known_term. `on_chunk(scored,
    unscorable)` after each chunk. Raises RuntimeError when the counts do not add up to
    `extracted`, NothingScorable when no row could be scored."""
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
    if scored == 0:
        raise NothingScorable(f"none of the {extracted:,} rows could be scored: {dict(sorted(reasons.items()))}")
    model_id = model.model_ids[0] if len(model.model_ids) == 1 else model.model_ids
    return {
        "model_id": model_id,
        "extracted": extracted,
        "scored": scored,
        "unscorable": unscorable,
        "unscorable_reasons": dict(sorted(reasons.items())),
    }
