"""Timestamps: which texts sortbox reads as a moment, and as what (naive UTC).

Light (standard library, numpy, pyarrow): extraction builds its SQL window on these, cleaning
quarantines the values they refuse, and neither scoring nor export needs the database layer.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# The timestamp forms sortbox reads: an ISO 8601 date, or date and time (' ' or 'T', minutes,
# optional seconds and fraction) with an optional 'Z' or +HH:MM offset; surrounding spaces allowed.
# Only the day of the month is not checked here (2026-02-30): see `bad_timestamps`.
_ISO_TIMESTAMP = re.compile(
    r" *\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)?)? *",
    re.ASCII,
)


def parse_timestamp(value: str) -> dt.datetime | None:
    """A timestamp value as a naive UTC datetime, or None when it is not one of the ISO 8601
    forms above. A date alone is the midnight that starts its day, so it belongs to that day."""
    if not _ISO_TIMESTAMP.fullmatch(value):
        return None
    text = value.strip(" ")
    try:
        return as_utc(dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text))
    except ValueError:  # a day the month does not have
        return None


def utc_text(moment: dt.datetime) -> str:
    """A naive UTC datetime as `YYYY-MM-DD HH:MM:SS[.ffffff]` (the fraction only when there is
    one): such texts sort like the datetimes (for sqlite)."""
    return moment.isoformat(sep=" ", timespec="microseconds" if moment.microsecond else "seconds")


def bad_timestamps(stamps: pa.Array) -> np.ndarray:
    """Per value of a string array, whether it is set and `parse_timestamp` cannot read it; in
    Arrow (the shape) and once per distinct date (the day of the month), not row by row."""
    stamps = stamps.combine_chunks() if isinstance(stamps, pa.ChunkedArray) else stamps
    shaped = pc.fill_null(pc.match_substring_regex(stamps, f"^(?:{_ISO_TIMESTAMP.pattern})$"), True).to_numpy(
        zero_copy_only=False
    )
    days = pc.utf8_slice_codeunits(pc.utf8_ltrim(stamps, " "), 0, 10)
    distinct = pc.unique(days.filter(pa.array(shaped))).to_pylist()
    invalid = [day for day in distinct if day is not None and not _is_date(day)]
    impossible = pc.fill_null(pc.is_in(days, pa.array(invalid, pa.string())), False).to_numpy(zero_copy_only=False)
    return ~shaped | impossible


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
        return True
    except ValueError:
        return False


def as_utc(moment: dt.datetime) -> dt.datetime:
    """A datetime as naive UTC (a naive one is taken to be UTC already)."""
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment
