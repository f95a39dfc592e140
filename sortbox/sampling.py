"""Deterministic sampling by id: the same seed keeps the same ids, in Python and in both databases.

A row is kept when the first 32 bits of md5("<seed>:<id>"), as fixed-width lowercase hex, sort
below a cutoff. Postgres computes the key natively and sqlite through a registered function
(sortbox.extract builds that SQL from HASH_HEX_DIGITS and `sample_cutoff`); the training holdout
(sortbox.select) uses the same key in Python. Standard library only: scoring, export and publish
import it without pulling in a database driver.
"""

from __future__ import annotations

import hashlib

#: Hex digits of the sampling key (32 bits).
HASH_HEX_DIGITS = 8


def sample_hash(seed: int, message_id: object) -> str:
    """The sampling key of one id, exactly as the databases compute it (see module docstring)."""
    return hashlib.md5(f"{seed}:{message_id}".encode()).hexdigest()[:HASH_HEX_DIGITS]


def sample_cutoff(fraction: float) -> str:
    """Hex cutoff: a row is sampled when its `sample_hash` sorts strictly below this string."""
    return format(min(int(fraction * 16**HASH_HEX_DIGITS), 16**HASH_HEX_DIGITS - 1), f"0{HASH_HEX_DIGITS}x")
