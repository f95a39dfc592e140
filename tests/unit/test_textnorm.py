"""The portable text normalisation (sortbox.textnorm)."""
import sys
import unicodedata

import pytest

from sortbox.textnorm import (
    REMOVED_CATEGORIES,
    VARIATION_SELECTORS,
    TextCleaner,
    default_cleaning_spec,
    has_control_characters,
    removed_ranges,
    rule_view,
)

SPEC = default_cleaning_spec()
CLEANER = TextCleaner(SPEC)


def clean_text(text, spec):
    return TextCleaner(spec).clean(text)


@pytest.mark.parametrize(
    "raw, cleaned",
    [
        ("Hello\tWorld\n", "hello world"),
        ("Call 09061701461 NOW", "call 00000000000 now"),
        ("I\u2019m in \U0001F600 love \u2764\ufe0f!!", "i'm in love !!"),
        ("That\x92s fine", "that's fine"),  # Windows-1252 quote decoded as Latin-1
        ("ｆｕｌｌｗｉｄｔｈ １２", "fullwidth 00"),  # NFKC
        ("\U0001F600\U0001F44D\U0001F3FD", ""),  # emoji only, skin tone modifier included
        ("a\u200db", "a b"),  # zero-width joiner is a format character
    ],
)
def test_clean_text(raw, cleaned):
    assert clean_text(raw, SPEC) == cleaned


@pytest.mark.parametrize("digits, expected", [("zero", "tel 000"), ("remove", "tel"), ("keep", "tel 123")])
def test_digit_modes(digits, expected):
    assert clean_text("Tel 123", default_cleaning_spec(digits=digits)) == expected


def test_case_kept_when_lowercase_off():
    assert clean_text("FREE Prize", default_cleaning_spec(lowercase=False)) == "FREE Prize"


@pytest.mark.parametrize(
    "kwargs, message",
    [({"digits": "double"}, "digits must be"), ({"normalization": "NFX"}, "unicode normalisation must be")],
)
def test_bad_spec_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        default_cleaning_spec(**kwargs)


def test_rule_view_keeps_case_digits_and_emoji():
    assert rule_view(CLEANER.map("  WIN £100\n\tnow \U0001F600 ")) == "WIN £100 now \U0001F600"


@pytest.mark.parametrize(
    "text, expected",
    [("tab\tnewline\ncr\r", False), ("nul\x00byte", True), ("bell\x07", True), ("c1\x81", True), ("plain", False)],
)
def test_control_characters(text, expected):
    assert has_control_characters(CLEANER.map(text)) is expected


def test_spec_is_json_portable():
    import json

    assert json.loads(json.dumps(SPEC)) == SPEC


def test_removed_ranges_are_sorted_disjoint_and_above_ascii():
    ranges = removed_ranges()
    assert ranges[0][0] >= 0x80
    # Disjoint and not adjacent: two ranges that touch would have been one.
    assert all(lo <= hi < next_lo - 1 for (lo, hi), (next_lo, _) in zip(ranges, ranges[1:]))


def test_removed_ranges_are_exactly_the_removed_categories_and_variation_selectors():
    """Every code point, one at a time (the slow way the ranges used to be worked out)."""
    inside = bytearray(sys.maxunicode + 1)
    for lo, hi in removed_ranges():
        inside[lo : hi + 1] = b"\x01" * (hi - lo + 1)
    selectors = {code for lo, hi in VARIATION_SELECTORS for code in range(lo, hi + 1)}
    wrong = [
        code
        for code in range(sys.maxunicode + 1)
        if bool(inside[code])
        != (code >= 0x80 and (code in selectors or unicodedata.category(chr(code)) in REMOVED_CATEGORIES))
    ]
    assert wrong == []


@pytest.mark.parametrize("char", ["^", "`", "~"])
def test_ascii_punctuation_is_never_removed(char):
    assert CLEANER.clean(f"a {char} b") == f"a {char} b"
