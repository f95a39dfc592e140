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


class TrainingRowPicker:
    """`training_rows`, a chunk of messages at a time, in memory that does not grow with the table:
    it keeps at most `max_rows` candidates (plus one chunk) however many messages it is shown.

    A message is eligible unless it is held out (`holdout_mask` with the same fraction and seed)
    or has no known term (its features are all zero). When more than `max_rows` are eligible,
    the `max_rows` whose id hash sorts lowest are kept (ties: the earlier message): a
    deterministic sample that does not depend on row order and keeps the same ids from one night
    to the next. This bounds the time and memory of training whatever the size of the table; a
    linear model on a few hundred LSI features gains nothing measurable from more rows than that
    (see README, Performance).
    """

    def __init__(self, *, holdout_fraction: float, seed: int, max_rows: int):
        if max_rows < 1:
            raise ValueError(f"max_rows must be at least 1, got {max_rows}")
        self.holdout_fraction, self.seed, self.max_rows = holdout_fraction, seed, max_rows
        self.messages = self.held_out = self.without_known_terms = self.eligible = 0
        self._hashes = np.zeros(0, dtype=f"S{HASH_HEX_DIGITS}")
        self._rows = np.zeros(0, dtype=np.int64)

    def add(self, ids: Sequence[str], has_terms: np.ndarray) -> None:
        """The next messages: their ids and whether each has a known term."""
        if len(ids) != len(has_terms):
            raise ValueError(f"{len(ids)} ids but {len(has_terms)} has_terms flags")
        hashes = np.array([sample_hash(self.seed, i) for i in ids], dtype=f"S{HASH_HEX_DIGITS}")
        has_terms = np.asarray(has_terms, dtype=bool)
        held = (
            hashes < sample_cutoff(self.holdout_fraction).encode()
            if self.holdout_fraction > 0
            else np.zeros(len(ids), dtype=bool)
        )
        eligible = has_terms & ~held
        self.held_out += int(held.sum())
        self.without_known_terms += int((~has_terms).sum())
        self.eligible += int(eligible.sum())
        positions = np.flatnonzero(eligible) + self.messages
        self.messages += len(ids)
        self._hashes = np.concatenate((self._hashes, hashes[eligible]))
        self._rows = np.concatenate((self._rows, positions))
        if len(self._rows) > self.max_rows:
            keep = np.lexsort((self._rows, self._hashes))[: self.max_rows]  # by hash, then position
            self._hashes, self._rows = self._hashes[keep], self._rows[keep]

    def rows(self) -> np.ndarray:
        """Positions (ascending) of the messages the classifiers are trained on."""
        return np.sort(self._rows).astype(np.int64)


def training_rows(
    ids: Sequence[str], has_terms: np.ndarray, *, holdout_fraction: float, seed: int, max_rows: int
) -> np.ndarray:
    """Positions (ascending) of the messages the classifiers are trained on (`TrainingRowPicker`
    shown every message at once)."""
    picker = TrainingRowPicker(holdout_fraction=holdout_fraction, seed=seed, max_rows=max_rows)
    picker.add(ids, has_terms)
    return picker.rows()
