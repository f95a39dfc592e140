"""The Unicode data a schema-2 model carries, and the text steps of README "Model JSON format" run
from those tables alone. Standard library only (the portable scorer imports it).

A client cannot be expected to have this Python's Unicode database: Java 17 has Unicode 13, an
Android phone whatever its release shipped, and `toLowerCase` follows the locale. So the model
carries every property the scoring steps ask about, for every code point, as of the Unicode
version that trained it (`unicode.version`), built here from `unicodedata`, `str.lower` and `re`
(the functions the training side runs):

- `decompositions`: `[code point, c1, c2, ...]` per code point whose full decomposition in the
  model's normalisation form (compatibility for NFKC/NFKD, canonical for NFC/NFD) is not itself;
  Hangul syllables are decomposed by arithmetic and are not listed;
- `combining_classes`: `[first, last, class]` runs of non-zero canonical combining class;
- `compositions`: `[first, second, composite]`, the primary composites (NFC/NFKC only; Hangul by arithmetic);
- `lowercase`: `[code point, l1, ...]`, the full lower-case mapping of every code point it changes,
  except U+03A3 (final sigma rule); `cased`, `case_ignorable`: ranges for the final sigma rule;
- `word`, `white_space`, `decimal_digits`: ranges of the word characters, white space, and decimal digits.

`SpecText` runs the steps from a model's tables (the algorithm a client ports); `TextCleaner`
runs the same steps with `unicodedata`/`re`, and is used whenever this Python's Unicode version is
the model's (the tests check that both agree).
"""

from __future__ import annotations

import bisect
import re
import sys
import unicodedata
from functools import lru_cache

#: Code points that are never a character (UTF-16 surrogates): no UTF-8 text holds them.
SURROGATES = (0xD800, 0xDFFF)
#: C0/C1 controls the quarantine refuses (tab, LF and CR are allowed).
QUARANTINED_CONTROLS = ((0x00, 0x08), (0x0B, 0x0C), (0x0E, 0x1F), (0x7F, 0x9F))
#: Code points that start a run collapsed to one space, besides `white_space`: all C0/C1 controls.
CONTROLS = ((0x00, 0x1F), (0x7F, 0x9F))
CURRENCY_SIGNS = "$£€¥"
APOSTROPHE = "'"
CAPITAL_SIGMA, SMALL_SIGMA, FINAL_SIGMA = 0x03A3, 0x03C3, 0x03C2
# Hangul syllables (Unicode chapter 3.12): decomposed and composed by arithmetic.
S_BASE, L_BASE, V_BASE, T_BASE = 0xAC00, 0x1100, 0x1161, 0x11A7
L_COUNT, V_COUNT, T_COUNT = 19, 21, 28
N_COUNT = V_COUNT * T_COUNT
S_COUNT = L_COUNT * N_COUNT


def _ranges(codes) -> list[list[int]]:
    """Sorted code points -> inclusive [first, last] runs."""
    runs: list[list[int]] = []
    for code in codes:
        if runs and code == runs[-1][1] + 1:
            runs[-1][1] = code
        else:
            runs.append([code, code])
    return runs


def _assigned_code_points():
    """Every code point but unassigned, private-use and surrogate ones, which have none of the
    properties tabled here (no mapping, class 0, not a word, space, digit, cased or case-ignorable)."""
    category = unicodedata.category
    return [c for c in range(sys.maxunicode + 1) if category(chr(c)) not in ("Cn", "Co", "Cs")]


def _is_hangul_syllable(code: int) -> bool:
    return S_BASE <= code < S_BASE + S_COUNT


@lru_cache(maxsize=4)
def build_unicode_tables(normalization: str = "NFKC") -> dict:
    """The `unicode` object of a schema-2 model for `normalization`, from this Python's Unicode data."""
    decomposition_form = {"NFC": "NFD", "NFD": "NFD", "NFKC": "NFKD", "NFKD": "NFKD"}[normalization]
    word = re.compile(r"\w")
    space = re.compile(r"\s")
    digit = re.compile(r"\d")
    decompositions, combining, lowercase = [], [], []
    words, spaces, digits, cased, ignorable = [], [], [], [], []
    assigned = _assigned_code_points()
    for code in assigned:
        char = chr(code)
        if not _is_hangul_syllable(code):
            decomposed = unicodedata.normalize(decomposition_form, char)
            if decomposed != char:
                decompositions.append([code, *map(ord, decomposed)])
        klass = unicodedata.combining(char)
        if klass:
            if combining and combining[-1][1] == code - 1 and combining[-1][2] == klass:
                combining[-1][1] = code
            else:
                combining.append([code, code, klass])
        lower = char.lower()
        if lower != char and code != CAPITAL_SIGMA:
            lowercase.append([code, *map(ord, lower)])
        if word.match(char):
            words.append(code)
        if space.match(char):
            spaces.append(code)
        if digit.match(char):
            digits.append(code)
        # The final sigma rule as str.lower applies it, asked of str.lower itself: after a cased
        # letter (skipping case-ignorables) and not before one, U+03A3 lowers to U+03C2.
        alone_before = (char + "\u03a3").lower()[-1] == "\u03c2"  # char is cased, not case-ignorable
        stops_between = ("A\u03a3" + char + "A").lower()[1] == "\u03c3"  # char is case-ignorable or cased
        if alone_before:
            cased.append(code)
        elif stops_between:
            ignorable.append(code)
    compositions = []
    if normalization in ("NFC", "NFKC"):
        for code in assigned:
            char = chr(code)
            if _is_hangul_syllable(code):
                continue
            mapping = unicodedata.decomposition(char).split()
            # A canonical pair whose composite survives NFC is a primary composite (else excluded).
            if len(mapping) == 2 and not mapping[0].startswith("<") and unicodedata.normalize("NFC", char) == char:
                compositions.append([int(mapping[0], 16), int(mapping[1], 16), code])
        compositions.sort()
    return {
        "version": unicodedata.unidata_version,
        "decompositions": format_mappings(decompositions),
        "combining_classes": ",".join(_hex_range(first, last) + f":{klass}" for first, last, klass in combining),
        "compositions": format_mappings(
            [[first, second, composite] for first, second, composite in compositions], key_width=2
        ),
        "lowercase": format_mappings(lowercase),
        "cased": format_ranges(_ranges(cased)),
        "case_ignorable": format_ranges(_ranges(ignorable)),
        "word": format_ranges(_ranges(words)),
        "white_space": format_ranges(_ranges(spaces)),
        "decimal_digits": format_ranges(_ranges(digits)),
    }


# --- the tables' text encoding: upper-case hex code points (4 to 6 digits) ---------------------
#: ranges "0030-0039,005F": `first-last` or a single code point, comma-separated, ascending.
RANGES = re.compile(r"(?:[0-9A-F]{4,6}(?:-[0-9A-F]{4,6})?(?:,[0-9A-F]{4,6}(?:-[0-9A-F]{4,6})?)*)?")
#: mappings "00A0>0020,00A8>0020 0308": `key>c1 c2 ...`; a composition's key is `first second`.
MAPPINGS = re.compile(r"(?:[0-9A-F ]{4,13}>[0-9A-F ]{4,160}(?:,[0-9A-F ]{4,13}>[0-9A-F ]{4,160})*)?")
#: combining classes "0300-0314:230,0315:232".
CLASSES = re.compile(r"(?:[0-9A-F]{4,6}(?:-[0-9A-F]{4,6})?:\d{1,3}(?:,[0-9A-F]{4,6}(?:-[0-9A-F]{4,6})?:\d{1,3})*)?")


def _hex_range(first: int, last: int) -> str:
    return f"{first:04X}" if first == last else f"{first:04X}-{last:04X}"


def format_ranges(ranges) -> str:
    return ",".join(_hex_range(first, last) for first, last in ranges)


def format_mappings(entries, *, key_width: int = 1) -> str:
    return ",".join(
        " ".join(f"{c:04X}" for c in entry[:key_width]) + ">" + " ".join(f"{c:04X}" for c in entry[key_width:])
        for entry in entries
    )


@lru_cache(maxsize=64)
def parse_ranges(text: str) -> tuple[tuple[int, int], ...]:
    """ "0030-0039,005F" -> [(0x30, 0x39), (0x5F, 0x5F)] (syntax only: `RANGES`)."""
    result = []
    for item in filter(None, text.split(",")):
        first, _, last = item.partition("-")
        result.append((int(first, 16), int(last or first, 16)))
    return tuple(result)


@lru_cache(maxsize=16)
def parse_mappings(text: str) -> tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]:
    """ "00A8>0020 0308" -> [((0xA8,), (0x20, 0x308))] (syntax only: `MAPPINGS`)."""
    result = []
    for item in filter(None, text.split(",")):
        key, _, value = item.partition(">")
        result.append((tuple(int(c, 16) for c in key.split()), tuple(int(c, 16) for c in value.split())))
    return tuple(result)


def parse_classes(text: str) -> list[tuple[int, int, int]]:
    """ "0300-0314:230" -> [(0x300, 0x314, 230)] (syntax only: `CLASSES`)."""
    result = []
    for item in filter(None, text.split(",")):
        span, _, klass = item.partition(":")
        first, _, last = span.partition("-")
        result.append((int(first, 16), int(last or first, 16), int(klass)))
    return result


class RangeSet:
    """Membership in sorted, disjoint inclusive [first, last] ranges (binary search)."""

    def __init__(self, ranges):
        self._starts = [r[0] for r in ranges]
        self._ends = [r[1] for r in ranges]

    def __contains__(self, code: int) -> bool:
        index = bisect.bisect_right(self._starts, code) - 1
        return index >= 0 and code <= self._ends[index]


class SpecText:
    """The text steps of a schema-2 model (README "Model JSON format", steps 1-4), on code points,
    from the model's `cleaning`, `quarantine` and `unicode` tables only: what a client ports."""

    def __init__(self, model: dict):
        cleaning, tables = model["cleaning"], model["unicode"]
        self.char_map = {ord(source): [ord(c) for c in target] for source, target in cleaning["char_map"].items()}
        self.compose = cleaning["unicode_normalization"] in ("NFC", "NFKC")
        self.removed = RangeSet(cleaning["removed_ranges"])
        self.lowercase_on = cleaning["lowercase"]
        self.digits = cleaning["digits"]
        self.max_chars = model["quarantine"]["max_chars"]
        self.quarantine_controls = model["quarantine"]["control_characters"]
        self.decompositions = {key[0]: list(value) for key, value in parse_mappings(tables["decompositions"])}
        self.combining = {}
        for first, last, klass in parse_classes(tables["combining_classes"]):
            for code in range(first, last + 1):
                self.combining[code] = klass
        self.compositions = {key: value[0] for key, value in parse_mappings(tables["compositions"])}
        self.lower_map = {key[0]: list(value) for key, value in parse_mappings(tables["lowercase"])}
        self.cased = RangeSet(parse_ranges(tables["cased"]))
        self.case_ignorable = RangeSet(parse_ranges(tables["case_ignorable"]))
        self.word = RangeSet(parse_ranges(tables["word"]))
        self.white_space = RangeSet(parse_ranges(tables["white_space"]))
        self.decimal = RangeSet(parse_ranges(tables["decimal_digits"]))
        self.controls = RangeSet(CONTROLS)
        self.quarantined = RangeSet(QUARANTINED_CONTROLS)

    # --- step 2: normalisation ------------------------------------------------------------
    def normalize(self, codes: list[int]) -> list[int]:
        """Decompose, put combining marks in canonical order, then (NFC/NFKC) compose."""
        decomposed: list[int] = []
        for code in codes:
            if _is_hangul_syllable(code):
                index = code - S_BASE
                decomposed += [L_BASE + index // N_COUNT, V_BASE + (index % N_COUNT) // T_COUNT]
                if index % T_COUNT:
                    decomposed.append(T_BASE + index % T_COUNT)
            else:
                decomposed += self.decompositions.get(code, (code,))
        ccc = self.combining.get
        # Canonical ordering: a stable sort by class of every run of non-zero class.
        start = 0
        while start < len(decomposed):
            if not ccc(decomposed[start], 0):
                start += 1
                continue
            end = start
            while end < len(decomposed) and ccc(decomposed[end], 0):
                end += 1
            decomposed[start:end] = sorted(decomposed[start:end], key=lambda c: ccc(c, 0))
            start = end
        return self._compose(decomposed) if self.compose else decomposed

    def _compose(self, codes: list[int]) -> list[int]:
        """Canonical composition: each character joins the last starter when nothing between them
        has class 0 or a class at least its own, and the pair is a primary composite."""
        ccc = self.combining.get
        result: list[int] = []
        starter = -1  # index in result of the last starter, -1 when none
        last_class = 0  # class of the last character appended after that starter (0: none yet)
        for code in codes:
            klass = ccc(code, 0)
            if starter >= 0 and (last_class < klass or (last_class == 0 and len(result) - 1 == starter)):
                first = result[starter]
                composite = self._pair(first, code)
                if composite is not None:
                    result[starter] = composite
                    continue
            if klass == 0:
                starter = len(result)
                last_class = 0
            else:
                last_class = klass
            result.append(code)
        return result

    def _pair(self, first: int, second: int) -> int | None:
        if L_BASE <= first < L_BASE + L_COUNT and V_BASE <= second < V_BASE + V_COUNT:
            return S_BASE + ((first - L_BASE) * V_COUNT + (second - V_BASE)) * T_COUNT
        if _is_hangul_syllable(first) and (first - S_BASE) % T_COUNT == 0 and T_BASE < second < T_BASE + T_COUNT:
            return first + (second - T_BASE)
        return self.compositions.get((first, second))

    # --- steps 1-4 --------------------------------------------------------------------------
    def mapped(self, codes: list[int]) -> list[int]:
        """Step 2a-b: the char map, then normalisation."""
        mapped: list[int] = []
        for code in codes:
            mapped += self.char_map.get(code, (code,))
        return self.normalize(mapped)

    def _collapse(self, codes: list[int]) -> list[int]:
        """Every run of white space and control characters -> one space; leading/trailing removed."""
        result: list[int] = []
        pending = False
        for code in codes:
            if code in self.white_space or code in self.controls:
                pending = True
                continue
            if pending and result:
                result.append(0x20)
            pending = False
            result.append(code)
        return result

    def lower(self, codes: list[int]) -> list[int]:
        """Full lower-case mapping, with the final sigma rule for U+03A3."""
        result: list[int] = []
        for index, code in enumerate(codes):
            if code == CAPITAL_SIGMA:
                result.append(FINAL_SIGMA if self._final_sigma(codes, index) else SMALL_SIGMA)
            else:
                result += self.lower_map.get(code, (code,))
        return result

    def _final_sigma(self, codes: list[int], index: int) -> bool:
        before = index - 1
        while before >= 0 and codes[before] in self.case_ignorable:
            before -= 1
        if before < 0 or codes[before] not in self.cased:
            return False
        after = index + 1
        while after < len(codes) and codes[after] in self.case_ignorable:
            after += 1
        return after == len(codes) or codes[after] not in self.cased

    def cleaned(self, mapped: list[int]) -> list[int]:
        """Steps 2c-f on a `mapped` result: removed ranges, collapse, lower-case, digits."""
        codes = [0x20 if code in self.removed else code for code in mapped]
        codes = self._collapse(codes)
        if self.lowercase_on:
            codes = self.lower(codes)
        if self.digits == "zero":
            codes = [0x30 if code in self.decimal else code for code in codes]
        elif self.digits == "remove":
            codes = self._collapse([code for code in codes if code not in self.decimal])
        return codes

    def clean(self, text: str) -> tuple[str | None, str | None]:
        """(cleaned text, None) or (None, quarantine reason), checks in the spec's order."""
        if text is None:
            return None, "null_text"
        codes = [ord(c) for c in text]
        if len(codes) > self.max_chars:
            return None, "too_long"
        if all(code in self.white_space for code in codes):
            return None, "empty_text"
        mapped = self.mapped(codes)
        if self.quarantine_controls and any(code in self.quarantined for code in mapped):
            return None, "control_characters"
        cleaned = self.cleaned(mapped)
        if not cleaned:
            return None, "empty_after_cleaning"
        return "".join(map(chr, cleaned)), None

    def words(self, cleaned: str) -> list[str]:
        """Step 4: runs of word characters joined by single inner apostrophes, and currency signs."""
        codes = [ord(c) for c in cleaned]
        words, index, size = [], 0, len(codes)
        while index < size:
            if codes[index] in self.word:
                start = index
                while index < size and codes[index] in self.word:
                    index += 1
                    if index + 1 < size and codes[index] == 0x27 and codes[index + 1] in self.word:
                        index += 1
                words.append(cleaned[start:index])
            else:
                if cleaned[index] in CURRENCY_SIGNS:
                    words.append(cleaned[index])
                index += 1
        return words
