"""Cleaning and quarantine (sortbox.clean) on tiny inputs."""
import pyarrow as pa
import pytest

from sortbox.clean import REASONS, CleaningOptions, clean_chunk, iter_clean_chunks
from sortbox.extract import MESSAGE_SCHEMA
from sortbox.textnorm import default_cleaning_spec

OPTIONS = CleaningOptions(spec=default_cleaning_spec(), max_chars=50)


def chunk(rows, *, timestamps=None, undecodable_columns=None):
    """rows: (id, text[, undecodable]) tuples -> an extracted chunk."""
    return pa.table(
        {
            "id": [r[0] for r in rows],
            "text": [r[1] for r in rows],
            "undecodable": [r[2] if len(r) > 2 else False for r in rows],
            "timestamp": timestamps or [None] * len(rows),
            "label": ["spam"] * len(rows),
            "undecodable_column": undecodable_columns or [None] * len(rows),
        },
        schema=MESSAGE_SCHEMA,
    )


@pytest.mark.parametrize(
    "row, reason",
    [
        ((None, "hello"), "null_id"),
        (("1", None), "null_text"),
        (("1", "\ufffdbad", True), "undecodable_bytes"),
        (("1", "x" * 51), "too_long"),
        (("1", ""), "empty_text"),
        (("1", " \t\n "), "empty_text"),
        (("1", "hi\x00there"), "control_characters"),
        (("1", "\U0001F600\U0001F602"), "empty_after_cleaning"),
        (("1", "\u2764\ufe0f !"), None),  # punctuation survives cleaning: usable
        (("1", "Hello there"), None),
    ],
)
def test_quarantine_reasons(row, reason):
    result = clean_chunk(chunk([row]), OPTIONS)
    if reason is None:
        assert result.clean.num_rows == 1 and result.quarantine.num_rows == 0
    else:
        assert result.quarantine.column("reason").to_pylist() == [reason]
        assert result.clean.num_rows == 0
        assert reason in REASONS


def test_quarantine_keeps_raw_text_and_label():
    result = clean_chunk(chunk([("7", "a\x00b")]), OPTIONS)
    assert result.quarantine.to_pylist() == [
        {"id": "7", "reason": "control_characters", "text": "a\x00b", "timestamp": None, "label": "spam"}
    ]


def test_duplicate_ids_all_quarantined():
    result = clean_chunk(chunk([("1", "a"), ("2", "b"), ("2", "c")]), OPTIONS)
    assert result.clean.column("id").to_pylist() == ["1"]
    assert result.quarantine.column("reason").to_pylist() == ["duplicate_id", "duplicate_id"]


def test_clean_columns():
    result = clean_chunk(chunk([("1", "WIN £100 now!")]), OPTIONS)
    assert result.clean.to_pylist() == [
        {"id": "1", "text": "win £000 now!", "rule_text": "WIN £100 now!", "timestamp": None, "label": "spam"}
    ]


def test_duplicates_across_chunk_boundaries():
    chunks = [
        chunk([("1", "a"), ("2", "b")]),
        chunk([("2", "c"), ("3", "d")]),
        chunk([("3", "e")]),
        chunk([("4", "f")]),
    ]
    results = list(iter_clean_chunks(chunks, OPTIONS))
    clean_ids = [i for r in results for i in r.clean.column("id").to_pylist()]
    dup_ids = [i for r in results for i in r.quarantine.column("id").to_pylist()]
    assert clean_ids == ["1", "4"]
    assert sorted(dup_ids) == ["2", "2", "3", "3"]
    assert sum(r.clean.num_rows + r.quarantine.num_rows for r in results) == 6


def test_input_not_mutated():
    data = chunk([("1", "Hello")])
    before = data.to_pylist()
    clean_chunk(data, OPTIONS)
    assert data.to_pylist() == before


@pytest.mark.parametrize(
    "timestamp, undecodable_column, reason",
    [
        ("2026-11-22 10:00:00", None, None),
        ("2026-11-22", None, None),  # a date alone: a day, fine
        ("2026-11-22T10:00:00.5+02:00", None, None),
        (None, None, None),  # no timestamp: nothing to parse
        ("22/11/2026", None, "bad_timestamp"),
        ("1700000000", None, "bad_timestamp"),  # an epoch number is not a date
        ("2026-02-30", None, "bad_timestamp"),
        ("", None, "bad_timestamp"),
        ("2026-11-22", "id", "undecodable_id"),
        ("2026-11-\\xff", "timestamp", "undecodable_timestamp"),
        ("2026-11-22", "label", "undecodable_label"),
    ],
)
def test_ids_timestamps_and_labels_that_cannot_be_used_are_quarantined(timestamp, undecodable_column, reason):
    result = clean_chunk(
        chunk([("1", "Hello there")], timestamps=[timestamp], undecodable_columns=[undecodable_column]), OPTIONS
    )
    assert result.quarantine.column("reason").to_pylist() == ([reason] if reason else [])
    assert result.clean.num_rows + result.quarantine.num_rows == 1 and reason in REASONS + (None,)


def test_an_undecodable_id_is_not_a_duplicate_of_a_valid_one():
    # The undecodable id is shown with \\x escapes: a valid id spelled the same is another id.
    result = clean_chunk(
        chunk([("a\\xff", "hi there"), ("a\\xff", "hello there")], undecodable_columns=["id", None]), OPTIONS
    )
    assert result.quarantine.column("reason").to_pylist() == ["undecodable_id"] and result.clean.column(
        "id"
    ).to_pylist() == ["a\\xff"]
