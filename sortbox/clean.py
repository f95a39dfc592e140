"""Cleaning: normalise message texts and quarantine the rows that cannot be used, with a reason.

Every input row ends up in exactly one of two tables: `clean` (usable) or `quarantine` (with a
reason code). Nothing is dropped.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc

from sortbox.textnorm import TextCleaner, rule_view, unusable_text_reason
from sortbox.timestamps import bad_timestamps

#: Quarantine reason codes, in the order they are checked (a row gets the first that applies).
REASONS = (
    "null_id",  # the id column is NULL
    "undecodable_id",  # sqlite id bytes that are not valid UTF-8 (the id is kept with \xNN escapes)
    "duplicate_id",  # several rows share the id: all of them, since none can be told apart
    "undecodable_timestamp",  # sqlite timestamp bytes that are not valid UTF-8
    "bad_timestamp",  # a timestamp that is not an ISO 8601 date or date and time: it belongs to no window
    "undecodable_label",  # sqlite label bytes that are not valid UTF-8
    "null_text",  # the text column is NULL
    "undecodable_bytes",  # sqlite text that is not valid UTF-8
    "too_long",  # longer than `max_chars` (binary blobs, pasted documents)
    "empty_text",  # empty or white space only
    "control_characters",  # C0/C1 control characters other than tab/newline: malformed data
    "empty_after_cleaning",  # nothing left once emoji/symbols are removed (emoji-only messages)
)

CLEAN_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),  # the model's view (cleaned)
        pa.field("rule_text", pa.string(), nullable=False),  # the regex rules' view (case, digits kept)
        pa.field("timestamp", pa.string()),
        pa.field("label", pa.string()),
    ]
)

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("text", pa.string()),  # the raw text, kept whole so nothing is lost
        pa.field("timestamp", pa.string()),
        pa.field("label", pa.string()),
    ]
)


@dataclass(frozen=True)
class CleaningOptions:
    """How texts are cleaned; `spec` is the portable cleaning spec (see sortbox.textnorm)."""

    spec: dict
    max_chars: int = 20_000
    quarantine_control_characters: bool = True


@dataclass
class CleanResult:
    """One cleaned chunk: the usable rows and the quarantined ones."""

    clean: pa.Table
    quarantine: pa.Table
    reasons: Counter = field(default_factory=Counter)


def clean_chunk(chunk: pa.Table, options: CleaningOptions) -> CleanResult:
    """Clean one chunk of extracted messages (sortbox.extract.MESSAGE_SCHEMA).

    Duplicate ids are detected within the chunk only; `iter_clean_chunks` makes sure a group of
    equal ids is never split across chunks.
    """
    cleaner = TextCleaner(options.spec)
    ids = chunk.column("id").to_pylist()
    texts = chunk.column("text").to_pylist()
    undecodable = chunk.column("undecodable").to_pylist()
    row_reasons = _row_reasons(chunk)
    counts = Counter(i for i, r in zip(ids, row_reasons) if i is not None and r != "undecodable_id")
    keep: list[int] = []
    cleaned_texts: list[str] = []
    rule_texts: list[str] = []
    dropped: list[int] = []
    reasons: list[str] = []
    for row, (message_id, text, bad) in enumerate(zip(ids, texts, undecodable)):
        mapped = cleaned = None
        if message_id is None:
            reason = "null_id"
        elif row_reasons[row] == "undecodable_id":
            reason = "undecodable_id"
        elif counts[message_id] > 1:
            reason = "duplicate_id"
        elif row_reasons[row]:
            reason = row_reasons[row]
        else:
            if text is not None and not bad and len(text) <= options.max_chars:
                mapped = cleaner.map(text)
                cleaned = cleaner.clean_mapped(mapped)
            reason = unusable_text_reason(
                text,
                mapped,
                cleaned,
                undecodable=bad,
                max_chars=options.max_chars,
                quarantine_controls=options.quarantine_control_characters,
            )
        if reason is None:
            keep.append(row)
            cleaned_texts.append(cleaned)
            rule_texts.append(rule_view(mapped))
        else:
            dropped.append(row)
            reasons.append(reason)
    kept = chunk.take(pa.array(keep, pa.int64()))
    clean = pa.table(
        {
            "id": kept.column("id"),
            "text": pa.array(cleaned_texts, pa.string()),
            "rule_text": pa.array(rule_texts, pa.string()),
            "timestamp": kept.column("timestamp"),
            "label": kept.column("label"),
        },
        schema=CLEAN_SCHEMA,
    )
    gone = chunk.take(pa.array(dropped, pa.int64()))
    quarantine = pa.table(
        {
            "id": gone.column("id"),
            "reason": pa.array(reasons, pa.string()),
            "text": gone.column("text"),
            "timestamp": gone.column("timestamp"),
            "label": gone.column("label"),
        },
        schema=QUARANTINE_SCHEMA,
    )
    return CleanResult(clean=clean, quarantine=quarantine, reasons=Counter(reasons))


def _row_reasons(chunk: pa.Table) -> list[str | None]:
    """Per row, why its id, timestamp or label cannot be used (`undecodable_<column>`,
    `bad_timestamp`), or None. The text is judged later, by `unusable_text_reason`."""
    undecodable = (
        chunk.column("undecodable_column").to_pylist()
        if "undecodable_column" in chunk.column_names
        else [None] * chunk.num_rows
    )
    bad = bad_timestamps(chunk.column("timestamp")).tolist()
    return [
        f"undecodable_{column}" if column else "bad_timestamp" if bad_stamp else None
        for column, bad_stamp in zip(undecodable, bad)
    ]


def _split_trailing_group(chunk: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Split off the rows that share the chunk's last (non-null) id: they may continue next chunk."""
    ids = chunk.column("id")
    last = ids[-1].as_py()
    if last is None:
        return chunk, chunk.slice(0, 0)
    equal = pc.fill_null(pc.equal(ids, last), False).to_pylist()
    start = len(equal)
    while start > 0 and equal[start - 1]:
        start -= 1
    return chunk.slice(0, start), chunk.slice(start)


def iter_clean_chunks(chunks: Iterable[pa.Table], options: CleaningOptions) -> Iterator[CleanResult]:
    """Clean a stream of chunks whose equal ids are adjacent (extraction orders by id).

    The trailing group of equal ids of each chunk is held back and cleaned with the next chunk,
    so that a duplicate id is caught even when it straddles a chunk boundary.
    """
    carry: pa.Table | None = None
    for chunk in chunks:
        if carry is not None and carry.num_rows:
            chunk = pa.concat_tables([carry, chunk])
        if chunk.num_rows == 0:
            continue
        head, carry = _split_trailing_group(chunk)
        if head.num_rows:
            yield clean_chunk(head, options)
    if carry is not None and carry.num_rows:
        yield clean_chunk(carry, options)


def same_cleaning(a: CleaningOptions, b: CleaningOptions) -> bool:
    """Whether two sets of options clean every text alike (a model's spec has been through JSON:
    tuples became lists, so they are compared as JSON)."""
    return json.dumps(asdict(a), sort_keys=True) == json.dumps(asdict(b), sort_keys=True)


def iter_cleaned_checkpoint(
    clean_chunks: Iterable[pa.Table], quarantine_chunks: Iterable[pa.Table]
) -> Iterator[CleanResult]:
    """The results of `iter_clean_chunks` read back from its checkpoint (the clean and quarantine
    tables): every quarantined row first, then the clean rows, chunk by chunk."""
    for quarantine in quarantine_chunks:
        yield CleanResult(
            clean=CLEAN_SCHEMA.empty_table(),
            quarantine=quarantine.select(QUARANTINE_SCHEMA.names).cast(QUARANTINE_SCHEMA),
        )
    for clean in clean_chunks:
        yield CleanResult(
            clean=clean.select(CLEAN_SCHEMA.names).cast(CLEAN_SCHEMA), quarantine=QUARANTINE_SCHEMA.empty_table()
        )
