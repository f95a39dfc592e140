"""Text normalisation shared by the pipeline and the stdlib-only portable scorer.

Standard library only (the portable scorer imports it). Every step is driven by a plain dict,
the *cleaning spec*, which the model JSON carries verbatim so that a client on another platform
applies exactly the same steps:

    {"char_map": {"\u0092": "'", ...}, "unicode_normalization": "NFKC",
     "removed_ranges": [[lo, hi], ...], "lowercase": true, "digits": "zero" | "remove" | "keep"}

0. `char_map`: single characters replaced by strings. By default it repairs C1 control characters
   that are really Windows-1252 punctuation decoded as Latin-1 (U+0092 is a mis-decoded right
   quote: 39 such messages in the sample data) and folds typographic quotes and dashes to ASCII.
1. Unicode normalisation (`unicodedata.normalize`).
2. Every code point inside one of `removed_ranges` (inclusive; all above U+007F) becomes a space:
   emoji and other pictographic symbols, format characters (zero-width joiner, BOM), variation
   selectors, private-use and unassigned code points.
3. Every run of white space and control characters becomes one space; leading/trailing stripped.
4. Lower-casing (`str.lower`).
5. Digits: "zero" replaces every decimal digit by 0 (so 07781 and 09061 both read 00000: the shape
   of a number is kept, its value is not), "remove" deletes them, "keep" leaves them.

A spec is compiled once into a `TextCleaner`; the hot path (an ASCII message) then costs a
translate, a normalisation and three regex substitutions.
"""
from __future__ import annotations

import bisect
import re
import sys
import unicodedata
from functools import lru_cache

# Categories removed as "emoji and symbols": other symbols (So: emoji, dingbats, ©), modifier
# symbols (Sk: skin-tone modifiers), format characters (Cf: ZWJ, BOM, soft hyphen), enclosing
# marks (Me: keycap), private use (Co), surrogates (Cs) and unassigned code points (Cn: emoji
# newer than this Python's Unicode database).
REMOVED_CATEGORIES = ("So", "Sk", "Cf", "Me", "Co", "Cs", "Cn")
# Variation selectors are combining marks (Mn) that only choose an emoji/text presentation.
VARIATION_SELECTORS = ((0xFE00, 0xFE0F), (0xE0100, 0xE01EF))

# Typographic punctuation folded to ASCII, so "don\u2019t" and "don't" are one word.
_PUNCTUATION_FOLDS = {"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
                      "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
                      "\u2013": "-", "\u2014": "-", "\u2212": "-"}

_SPACE_RUNS = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")
_DIGITS = re.compile(r"\d")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


_REMOVED_RUNS = re.compile(rb"\x01+")


@lru_cache(maxsize=1)
def removed_ranges() -> tuple[tuple[int, int], ...]:
    """Inclusive code point ranges removed by cleaning, from this Python's Unicode database.

    ASCII is never removed (its only such characters, ^ and `, are ordinary punctuation).
    Every process that cleans or scores works this out once, so the loop over the 1.1M code
    points runs in C (map, then a regex over one byte per code point): 0.2 s, where a Python
    loop took 1.1 s. Standard library only, like the rest of this module (the portable scorer).
    """
    first = 0x80
    codes = range(first, sys.maxunicode + 1)
    is_removed = frozenset(REMOVED_CATEGORIES).__contains__
    removed = bytearray(map(is_removed, map(unicodedata.category, map(chr, codes))))  # 1 where removed
    for lo, hi in VARIATION_SELECTORS:
        removed[lo - first : hi - first + 1] = b"\x01" * (hi - lo + 1)
    return tuple((run.start() + first, run.end() - 1 + first) for run in _REMOVED_RUNS.finditer(removed))


def default_char_map() -> dict[str, str]:
    """C1 controls that Windows-1252 defines, mapped to that character; typographic punctuation folded."""
    char_map = {}
    for byte in range(0x80, 0xA0):
        try:
            char_map[chr(byte)] = bytes([byte]).decode("cp1252")
        except UnicodeDecodeError:
            continue  # 0x81, 0x8D, 0x8F, 0x90, 0x9D: undefined, stay control characters
    return {
        source: _PUNCTUATION_FOLDS.get(target, target) for source, target in {**char_map, **_PUNCTUATION_FOLDS}.items()
    }


def default_cleaning_spec(*, lowercase: bool = True, digits: str = "zero", normalization: str = "NFKC") -> dict:
    """The cleaning spec with this Python's removed ranges (see module docstring)."""
    if digits not in ("zero", "remove", "keep"):
        raise ValueError(f"digits must be zero, remove or keep, got {digits!r}")
    if normalization not in ("NFC", "NFKC", "NFD", "NFKD"):
        raise ValueError(f"unicode normalisation must be NFC, NFKC, NFD or NFKD, got {normalization!r}")
    return {
        "char_map": default_char_map(),
        "unicode_normalization": normalization,
        "removed_ranges": [list(r) for r in removed_ranges()],
        "lowercase": lowercase,
        "digits": digits,
    }


def has_control_characters(text: str) -> bool:
    """True when `text` (after `TextCleaner.map`) holds C0/C1 controls other than tab, newline, CR."""
    return _CONTROL.search(text) is not None


class TextCleaner:
    """A cleaning spec compiled for speed: `map` (steps 0-1), `clean_mapped` (2-5), `clean` (all)."""

    def __init__(self, spec: dict):
        self.spec = spec
        self._translation = {ord(source): target for source, target in spec["char_map"].items()}
        self._form = spec["unicode_normalization"]
        self._starts = [lo for lo, _ in spec["removed_ranges"]]
        self._ends = [hi for _, hi in spec["removed_ranges"]]
        self._lowercase = bool(spec["lowercase"])
        self._digits = spec["digits"]
        self._removed: dict[str, str] = {}  # cache: non-ASCII char -> " " or itself

    def _remove(self, match: re.Match) -> str:
        char = match.group()
        replacement = self._removed.get(char)
        if replacement is None:
            code = ord(char)
            index = bisect.bisect_right(self._starts, code) - 1
            replacement = " " if index >= 0 and code <= self._ends[index] else char
            self._removed[char] = replacement
        return replacement

    def map(self, text: str) -> str:
        """Steps 0-1: the char map, then Unicode normalisation."""
        return unicodedata.normalize(self._form, text.translate(self._translation))

    def clean_mapped(self, text: str) -> str:
        """Steps 2-5, on a result of `map`; may return an empty string."""
        if not text.isascii():
            text = _NON_ASCII.sub(self._remove, text)
        text = _SPACE_RUNS.sub(" ", text).strip()
        if self._lowercase:
            text = text.lower()
        if self._digits == "zero":
            text = _DIGITS.sub("0", text)
        elif self._digits == "remove":
            text = _SPACE_RUNS.sub(" ", _DIGITS.sub("", text)).strip()
        return text

    def clean(self, text: str) -> str:
        """The whole cleaning spec on one raw text."""
        return self.clean_mapped(self.map(text))


def rule_view(mapped_text: str) -> str:
    """The text regex rules see, from a `TextCleaner.map` result: white space and controls
    collapsed to one space, stripped; case, digits and emoji kept."""
    return _SPACE_RUNS.sub(" ", mapped_text).strip()


def unusable_text_reason(
    text: str | None,
    mapped: str | None,
    cleaned: str | None,
    *,
    undecodable: bool = False,
    max_chars: int,
    quarantine_controls: bool,
) -> str | None:
    """Why a text cannot be used (a quarantine reason code of sortbox.clean.REASONS), or None.

    `mapped` is the text after `TextCleaner.map`, `cleaned` after the whole spec (both None when
    the text was not cleaned because it is NULL, undecodable or too long).
    """
    if text is None:
        return "null_text"
    if undecodable:
        return "undecodable_bytes"
    if len(text) > max_chars:
        return "too_long"
    if not text.strip():
        return "empty_text"
    if quarantine_controls and has_control_characters(mapped):
        return "control_characters"
    if not cleaned:
        return "empty_after_cleaning"
    return None
