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
2. Every code point inside one of `removed_ranges` (inclusive) becomes a space: emoji and other
   pictographic symbols, format characters (zero-width joiner, BOM), variation selectors,
   private-use and unassigned code points.
3. Every run of white space and control characters becomes one space; leading/trailing stripped.
4. Lower-casing (`str.lower`).
5. Digits: "zero" replaces every decimal digit by 0 (so 07781 and 09061 both read 00000: the shape
   of a number is kept, its value is not), "remove" deletes them, "keep" leaves them.
"""
from __future__ import annotations

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
# Characters allowed inside text that count as white space, not as malformed control characters.
ALLOWED_CONTROLS = frozenset("\t\n\r")


@lru_cache(maxsize=1)
def removed_ranges() -> tuple[tuple[int, int], ...]:
    """Inclusive code point ranges removed by cleaning, from this Python's Unicode database."""
    ranges: list[list[int]] = []
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code)) in REMOVED_CATEGORIES:
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    merged = sorted([list(r) for r in VARIATION_SELECTORS] + ranges)
    result: list[list[int]] = []
    for lo, hi in merged:
        if result and lo <= result[-1][1] + 1:
            result[-1][1] = max(result[-1][1], hi)
        else:
            result.append([lo, hi])
    return tuple((lo, hi) for lo, hi in result)


def _char_class(ranges) -> str:
    parts = []
    for lo, hi in ranges:
        parts.append(re.escape(chr(lo)) if lo == hi else f"{re.escape(chr(lo))}-{re.escape(chr(hi))}")
    return "[" + "".join(parts) + "]"


@lru_cache(maxsize=8)
def _removal_pattern(ranges: tuple[tuple[int, int], ...]) -> re.Pattern:
    return re.compile(_char_class(ranges))


_SPACE_RUNS = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")
_DIGITS = re.compile(r"\d")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


# Typographic punctuation folded to ASCII, so "don’t" and "don't" are one word.
_PUNCTUATION_FOLDS = {"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
                      "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
                      "\u2013": "-", "\u2014": "-", "\u2212": "-"}


def default_char_map() -> dict[str, str]:
    """C1 controls that Windows-1252 defines, mapped to that character; typographic punctuation folded."""
    char_map = {}
    for byte in range(0x80, 0xA0):
        try:
            char_map[chr(byte)] = bytes([byte]).decode("cp1252")
        except UnicodeDecodeError:
            continue  # 0x81, 0x8D, 0x8F, 0x90, 0x9D: undefined, stay control characters
    return {source: _PUNCTUATION_FOLDS.get(target, target) for source, target in {**char_map, **_PUNCTUATION_FOLDS}.items()}


@lru_cache(maxsize=8)
def _translation(items: tuple[tuple[str, str], ...]) -> dict[int, str]:
    return {ord(source): target for source, target in items}


def map_characters(text: str, spec: dict) -> str:
    """Step 0 and 1: apply the char map, then Unicode normalisation."""
    text = text.translate(_translation(tuple(sorted(spec["char_map"].items()))))
    return unicodedata.normalize(spec["unicode_normalization"], text)


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
    """True when `text` (after `map_characters`) holds C0/C1 controls other than tab, newline, CR."""
    return _CONTROL.search(text) is not None


def clean_text(text: str, spec: dict) -> str:
    """Apply the cleaning spec to one raw text; the result may be empty."""
    return clean_mapped_text(map_characters(text, spec), spec)


def clean_mapped_text(text: str, spec: dict) -> str:
    """Steps 2 to 5 of the cleaning spec, on a text that went through `map_characters`."""
    ranges = tuple(tuple(r) for r in spec["removed_ranges"])
    text = _removal_pattern(ranges).sub(" ", text)
    text = _SPACE_RUNS.sub(" ", text).strip()
    if spec["lowercase"]:
        text = text.lower()
    if spec["digits"] == "zero":
        text = _DIGITS.sub("0", text)
    elif spec["digits"] == "remove":
        text = _SPACE_RUNS.sub(" ", _DIGITS.sub("", text)).strip()
    return text


def rule_view(mapped_text: str) -> str:
    """The text regex rules see, from a `map_characters` result: white space and controls collapsed
    to one space, stripped; case, digits and emoji kept."""
    return _SPACE_RUNS.sub(" ", mapped_text).strip()

