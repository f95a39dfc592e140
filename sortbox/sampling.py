"""Deterministic sampling by id: the same seed keeps the same ids, in Python and in both databases.

A row is kept when the first 32 bits of md5("<seed>:<id>"), as fixed-width lowercase hex, sort
below a cutoff. Postgres computes the key natively and sqlite through a registered function
(sortbox.extract builds that SQL from HASH_HEX_DIGITS and `sample_cutoff`); the training holdout and
the training rows (`holdout_mask`, `training_rows`) use the same key in Python. numpy and the
standard library only: extraction, drift and the embedding task import it without pulling in a
database driver or scikit-learn.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

#: Hex digits of the sampling key (32 bits).
HASH_HEX_DIGITS = 8


def sample_hash(seed: int, message_id: object) -> str:
    """The sampling key of one id, exactly as the databases compute it (see module docstring)."""
    return hashlib.md5(f"{seed}:{message_id}".encode()).hexdigest()[:HASH_HEX_DIGITS]


def sample_cutoff(fraction: float) -> str:
    """Hex cutoff: a row is sampled when its `sample_hash` sorts strictly below this string."""
    return format(min(int(fraction * 16**HASH_HEX_DIGITS), 16**HASH_HEX_DIGITS - 1), f"0{HASH_HEX_DIGITS}x")


def holdout_mask(ids: Sequence[str], *, fraction: float, seed: int) -> np.ndarray:
    """True for the ids held out of training: a deterministic share `fraction` chosen by hashing
    the id (like extraction's sample), so the same ids stay held out night after night and the
    published model and a new one can be compared on rows neither was trained on."""
    if fraction <= 0:
        return np.zeros(len(ids), dtype=bool)
    cutoff = sample_cutoff(fraction)
    return np.fromiter((sample_hash(seed, i) < cutoff for i in ids), dtype=bool, count=len(ids))


def training_rows(
    ids: Sequence[str], has_terms: np.ndarray, *, holdout_fraction: float, seed: int, max_rows: int
) -> np.ndarray:
    """Positions (ascending) of the messages the classifiers are trained on.

    A message is eligible unless it is held out (`holdout_mask` with the same fraction and seed)
    or has no known term (its features are all zero). When more than `max_rows` are eligible,
    the `max_rows` whose id hash sorts lowest are kept: a deterministic sample that does not
    depend on row order and keeps the same ids from one night to the next. This bounds the time
    and memory of training whatever the size of the table; a linear model on a few hundred LSI
    features gains nothing measurable from more rows than that (see README, Performance).
    """
    if len(ids) != len(has_terms):
        raise ValueError(f"{len(ids)} ids but {len(has_terms)} has_terms flags")
    if max_rows < 1:
        raise ValueError(f"max_rows must be at least 1, got {max_rows}")
    hashes = np.array([sample_hash(seed, i) for i in ids], dtype="S16")
    eligible = np.asarray(has_terms, dtype=bool).copy()
    if holdout_fraction > 0:
        eligible &= hashes >= sample_cutoff(holdout_fraction).encode()
    rows = np.flatnonzero(eligible)
    if len(rows) > max_rows:
        lowest = np.argsort(hashes[rows], kind="stable")[:max_rows]
        rows = np.sort(rows[lowest])
    return rows.astype(np.int64)
