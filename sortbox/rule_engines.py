"""The engines that match rules against messages: Hyperscan, an RE2 set, and Python `re`.

The semantics are those of Python `re.search(pattern, rule_text, re.IGNORECASE | re.ASCII)` for
every rule; no engine loops over rules in Python per message:

- `HyperscanMatcher` (preferred): all rules in one Hyperscan database, and a whole chunk of
  messages scanned in one call, joined by newlines (rule texts hold none). A match is given to
  the message its last byte lies in. Only a rule that can match a newline could straddle two
  messages; its hits are confirmed with `re` on the message alone. A rule Hyperscan cannot
  compile, or that can match an empty string or uses a whole-string anchor, is matched with `re` on its own.
- `RuleMatcher`: one RE2 set, one call per message (the fallback where hyperscan is missing).
  On the benchmark data its lazy DFA keeps building new states (novel words), so it ran at
  ~60-130k messages/s there, against ~400k+ for Hyperscan.

A pattern naming a non-ASCII letter (itself, an escape, a range) is always matched with `re`:
the engines case-fold it differently from `re.ASCII`. So is, for every rule, a text holding one
of `_ENGINE_UNSAFE_CHARS` (tests/unit/test_rule_engines_fuzz.py compares the engines with `re`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import re2

from sortbox.regex_analysis import RULE_FLAGS, can_match_empty, chunk_scannable, has_non_ascii_letters

#: HyperscanMatcher packs a rule's index in 16 bits.
MAX_RULES = (1 << 16) - 1

try:  # optional at import: the RE2 engine serves where the wheel is unavailable
    import hyperscan
except ImportError:  # pragma: no cover - exercised only on platforms without the wheel
    hyperscan = None

if TYPE_CHECKING:
    from sortbox.rules import Rule


def re2_options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # RE2 would print every rejected pattern to stderr
    options.max_mem = 256 << 20  # room for the DFA of several hundred patterns
    return options


def needs_backtracking_engine(pattern: str) -> bool:
    """Whether a rule is matched with Python `re` instead of a linear-time engine (see the matchers)."""
    if has_non_ascii_letters(pattern) or can_match_empty(pattern):
        return True
    try:
        re2.compile(pattern, re2_options())
    except re2.error:
        return True
    return False


# Texts the linear engines read differently from `re.search(..., re.IGNORECASE | re.ASCII)`, found
# by tests/unit/test_rule_engines_fuzz.py: both case-fold U+017F (long s) with s and U+212A (Kelvin
# sign) with k, and RE2's \\s does not include \\v. A text holding one is matched with `re`
# (cleaning's NFKC removes the first two, and every control character, so in practice: never).
_ENGINE_UNSAFE_CHARS = "\u017f\u212a\x0b"
_ENGINE_UNSAFE = re.compile(f"[{_ENGINE_UNSAFE_CHARS}]")
_ENGINE_UNSAFE_BYTES = re.compile(b"\xc5\xbf|\xe2\x84\xaa|\x0b")


class RuleMatcher:
    """Finds, for a text, the indices of every rule that matches it (in `rules` order).

    `fallback_rule_ids` lists the rules matched with Python `re` instead of the RE2 set.
    """

    def __init__(self, rules: Sequence[Rule]):
        self.rules = list(rules)
        self._set = re2.Set.SearchSet(re2_options())
        self._set_to_rule: list[int] = []
        self._fallback: list[tuple[int, re.Pattern]] = []
        for index, rule in enumerate(self.rules):
            # An empty match is position-dependent (RE2 finds \\B in an empty text, re does not).
            if not has_non_ascii_letters(rule.pattern) and not can_match_empty(rule.pattern):
                try:
                    self._set.Add(rule.pattern)
                    self._set_to_rule.append(index)
                    continue
                except re2.error:
                    pass
            self._fallback.append((index, re.compile(rule.pattern, RULE_FLAGS)))
        self._set.Compile()
        # When every rule is in the set, set index == rule index and no mapping is needed.
        self._identity = self._set_to_rule == list(range(len(self.rules)))
        self.fallback_rule_ids = [self.rules[i].rule_id for i, _ in self._fallback]
        self._in_set = [(index, re.compile(self.rules[index].pattern, RULE_FLAGS)) for index in self._set_to_rule]

    def match(self, text: str | bytes) -> list[int]:
        """Indices of the rules whose pattern is found in `text` (str, or its UTF-8 bytes), unordered."""
        if (_ENGINE_UNSAFE if isinstance(text, str) else _ENGINE_UNSAFE_BYTES).search(text):
            decoded = text if isinstance(text, str) else text.decode("utf-8")
            return [index for index, pattern in self._in_set + self._fallback if pattern.search(decoded)]
        found = self._set.Match(text)
        hits = [self._set_to_rule[i] for i in found] if found and not self._identity else list(found or ())
        if self._fallback:
            decoded = text if isinstance(text, str) else text.decode("utf-8")
            hits.extend(index for index, pattern in self._fallback if pattern.search(decoded))
        return hits

    def match_many(self, texts: Iterable[str | bytes]) -> list[list[int]]:
        """`match` for each text. Passing UTF-8 bytes (e.g. from an Arrow binary column) saves
        one encoding per message; with no fallback rule this is one RE2 call per message."""
        if isinstance(texts, (pa.Array, pa.ChunkedArray)):
            texts = _as_string_array(texts).cast(pa.binary()).to_pylist()
        return [self.match(text) for text in texts]


class HyperscanMatcher:
    """All rules in Hyperscan databases; a chunk of messages is scanned in one call.

    Two compilations of the same rules: byte mode for ASCII messages (most of them; for ASCII
    text it is exactly UTF-8 mode, and faster) and UTF-8 mode for the others.
    `fallback_rule_ids` lists the rules matched with Python `re` on each message instead.
    """

    _BASE_FLAGS = hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_MULTILINE if hyperscan is not None else 0

    def __init__(self, rules: Sequence[Rule]):
        if hyperscan is None:
            raise RuntimeError("the hyperscan package is not installed")
        self.rules = list(rules)
        modes = {"ascii": self._BASE_FLAGS, "utf8": self._BASE_FLAGS | hyperscan.HS_FLAG_UTF8}
        kinds = [
            "alone" if has_non_ascii_letters(rule.pattern) else chunk_scannable(rule.pattern) for rule in self.rules
        ]
        scanned = [index for index, kind in enumerate(kinds) if kind != "alone"]
        # A rule Hyperscan cannot compile in either mode is matched alone. Probing each rule
        # costs as much again as the databases (about 2 s each way for the shipped rules), so
        # the databases of all the rules are compiled first: when they compile, so does each of
        # their rules alone with the same flags (Hyperscan refuses a database for any one
        # expression it cannot compile). Only a non-ASCII rule, which the byte-mode database
        # holds in UTF-8 mode, is still probed alone in byte mode.
        databases = self._databases_of(scanned, modes, refuse=False)
        if databases is None or not all(
            self._compiles(self.rules[index].pattern, modes["ascii"])
            for index in scanned
            if not self.rules[index].pattern.isascii()
        ):
            scanned = [
                index
                for index in scanned
                if all(self._compiles(self.rules[index].pattern, flags) for flags in modes.values())
            ]
            databases = self._databases_of(scanned, modes, refuse=True)
        self._databases: dict[str, tuple] = databases
        self._alone: list[tuple[int, re.Pattern]] = []
        self._verify: dict[int, re.Pattern] = {}
        self._scanned: list[tuple[int, re.Pattern]] = []  # for the texts the engine would misread
        accepted = set(scanned)
        for index, rule in enumerate(self.rules):
            if index not in accepted:
                self._alone.append((index, re.compile(rule.pattern, RULE_FLAGS)))
                continue
            if kinds[index] == "verify":
                self._verify[index] = re.compile(rule.pattern, RULE_FLAGS)
            self._scanned.append((index, re.compile(rule.pattern, RULE_FLAGS)))
        self.fallback_rule_ids = [self.rules[i].rule_id for i, _ in self._alone]

    def _databases_of(self, indices: list[int], modes: dict[str, int], *, refuse: bool) -> dict[str, tuple] | None:
        """mode -> (database, scratch) of the rules `indices`; {} when there are none. A database
        Hyperscan refuses is an error when `refuse`, else None."""
        if not indices:
            return {}
        expressions = [self.rules[index].pattern.encode() for index in indices]
        databases = {}
        for mode, flags in modes.items():
            # Byte mode would read a non-ASCII literal as separate bytes ("£?" makes only its
            # last byte optional): such a rule keeps UTF-8 mode in the ASCII database too.
            per_rule = [flags if mode == "utf8" or e.isascii() else modes["utf8"] for e in expressions]
            database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            try:
                database.compile(expressions=expressions, ids=indices, flags=per_rule)
            except hyperscan.error:
                if refuse:
                    raise
                return None
            databases[mode] = (database, hyperscan.Scratch(database))
        return databases

    @staticmethod
    def _compiles(pattern: str, flags: int) -> bool:
        try:
            hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK).compile(expressions=[pattern.encode()], flags=[flags])
            return True
        except hyperscan.error:
            return False

    def _scan(self, mode: str, texts: pa.StringArray, rows: np.ndarray) -> np.ndarray:
        """Packed (message row << 16 | rule) pairs found in `texts` (the messages `rows`)."""
        database, scratch = self._databases[mode]
        joined = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(texts)], pa.int32()), texts), "\n")[
            0
        ].as_buffer()
        if np.count_nonzero(np.frombuffer(joined, dtype=np.uint8) == 10) != len(texts) - 1:
            raise ValueError("rule texts must not contain newlines (use sortbox.textnorm.rule_view)")
        found: list[int] = []
        add = found.append

        def on_match(rule_index, _start, end, _flags, _context):
            add(end << 16 | rule_index)  # one append per match: this callback is the hot spot

        database.scan(memoryview(joined), match_event_handler=on_match, scratch=scratch)
        if not found:
            return np.zeros(0, dtype=np.int64)
        packed = np.asarray(found, dtype=np.int64)
        offsets = np.frombuffer(
            texts.buffers()[1], dtype=np.int32, count=len(texts) + 1, offset=4 * texts.offset
        ).astype(np.int64)
        starts = offsets[:-1] - offsets[0] + np.arange(len(texts))  # each newline adds one byte
        # The message holding a match's last byte (`end` is exclusive).
        owners = np.searchsorted(starts, (packed >> 16) - 1, side="right") - 1
        return rows[owners] << 16 | (packed & 0xFFFF)

    def match_csr(self, texts) -> tuple[np.ndarray, np.ndarray]:
        """(offsets, sorted rule indices) of the hits of each text: an Arrow string array, or a
        sequence of str / UTF-8 bytes. Texts must not contain newlines (see `rule_view`)."""
        if len(self.rules) > MAX_RULES:
            raise ValueError(f"at most {MAX_RULES:,} rules")
        array = _as_string_array(texts)
        count = len(array)
        pairs = [np.zeros(0, dtype=np.int64)]
        if self._databases and count:
            # ASCII exactly when bytes == characters (much faster than pc.string_is_ascii here).
            is_ascii = pc.equal(pc.binary_length(array), pc.utf8_length(array)).to_numpy(zero_copy_only=False)
            unsafe = pc.match_substring_regex(array, _ENGINE_UNSAFE.pattern).to_numpy(zero_copy_only=False)
            for mode, wanted in (("ascii", True), ("utf8", False)):
                rows = np.flatnonzero((is_ascii == wanted) & ~unsafe)
                if len(rows):
                    pairs.append(self._scan(mode, array.take(pa.array(rows)), rows))
            for row in np.flatnonzero(unsafe).tolist():
                text = array[row].as_py()
                pairs.append(
                    np.array(
                        [row << 16 | index for index, pattern in self._scanned if pattern.search(text)], dtype=np.int64
                    )
                )
        packed = sorted_unique(np.concatenate(pairs))
        if self._verify and len(packed):
            keep = np.ones(len(packed), dtype=bool)
            to_check = np.flatnonzero(np.isin(packed & 0xFFFF, np.fromiter(self._verify, dtype=np.int64)))
            for position in to_check.tolist():
                row, rule_index = int(packed[position] >> 16), int(packed[position] & 0xFFFF)
                keep[position] = self._verify[rule_index].search(array[row].as_py()) is not None
            packed = packed[keep]
        if self._alone:
            decoded = array.to_pylist()
            extra = [
                row << 16 | index
                for index, pattern in self._alone
                for row, text in enumerate(decoded)
                if pattern.search(text)
            ]
            packed = sorted_unique(np.concatenate([packed, np.asarray(extra, dtype=np.int64)]))
        indptr = np.searchsorted(packed >> 16, np.arange(count + 1))
        return indptr, packed & 0xFFFF

    def match_many(self, texts) -> list[list[int]]:
        """Indices of the rules matching each text, sorted (lists; `match_csr` is the fast form)."""
        indptr, indices = self.match_csr(texts)
        flat = indices.tolist()
        return [flat[indptr[row] : indptr[row + 1]] for row in range(len(indptr) - 1)]


def sorted_unique(values: np.ndarray) -> np.ndarray:
    # Sorting and dropping repeats: several times faster here than np.unique (hash based).
    ordered = np.sort(values)
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))] if len(ordered) else ordered


def _as_string_array(texts) -> pa.StringArray:
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if isinstance(texts, pa.Array):
        return texts.cast(pa.string())
    items = list(texts)
    if items and isinstance(items[0], (bytes, bytearray)):
        return pa.array(items, pa.binary()).cast(pa.string())
    return pa.array(items, pa.string())


def best_matcher(rules: Sequence[Rule]) -> "HyperscanMatcher | RuleMatcher":
    """Hyperscan when installed, else the RE2 set (same hits either way)."""
    return HyperscanMatcher(rules) if hyperscan is not None else RuleMatcher(rules)


def match_with_re(rules: Sequence[Rule], texts: Iterable[str]) -> list[list[int]]:
    """The reference: a Python loop over `re.search` per rule (slow; for checks and benchmarks)."""
    compiled = [re.compile(rule.pattern, RULE_FLAGS) for rule in rules]
    return [[i for i, pattern in enumerate(compiled) if pattern.search(text)] for text in texts]
