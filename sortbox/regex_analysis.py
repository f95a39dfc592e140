"""Static analysis of rule patterns, on the parse tree of Python's `re`.

Which rules risk catastrophic backtracking, name a non-ASCII cased character, can match an empty
string or a newline, or use a whole-string anchor: the engines (sortbox.rule_engines) and the
rule checks (sortbox.rules) decide from these which engine may match a rule.

Why CPython-private `re._parser` / `re._constants`: the reference semantics of a rule *is*
Python's `re` (RULE_FLAGS), so the only parse tree that is right by construction is `re`'s own;
no public API exposes it (the `sre_parse` alias is deprecated since 3.11). The private modules
are confined to this one file so that a change in a future CPython breaks one module, and
tests/unit/test_label.py and tests/unit/test_rule_engines_fuzz.py would show it.
"""

from __future__ import annotations

import bisect
import re
import sys
from functools import lru_cache
from typing import Iterable

#: Flags of the reference semantics of every rule: `re.search(pattern, text, RULE_FLAGS)`.
RULE_FLAGS = re.IGNORECASE | re.ASCII

_UNBOUNDED = re._constants.MAXREPEAT
_REPEATS = {re._constants.MAX_REPEAT, re._constants.MIN_REPEAT}


def backtracking_risk(pattern: str) -> str | None:
    """Why `pattern` may take exponential time in a backtracking engine, or None.

    The classic catastrophic shape: an unbounded repetition of something that itself contains an
    unbounded repetition, e.g. `(a+)+`, `(\\w+\\s?)*`, `(?:x*y?)+`. Possessive repetitions and
    atomic groups never backtrack into themselves, so they are not counted.
    """

    def walk(items, inside_unbounded: bool) -> str | None:
        for op, arg in items:
            if op in _REPEATS:
                low, high, sub = arg
                unbounded = high == _UNBOUNDED
                if unbounded and inside_unbounded:
                    return "nested unbounded repetition (catastrophic backtracking)"
                found = walk(sub, inside_unbounded or unbounded)
            elif op == re._constants.SUBPATTERN:
                found = walk(arg[-1], inside_unbounded)
            elif op == re._constants.BRANCH:
                found = next((r for r in (walk(branch, inside_unbounded) for branch in arg[1]) if r), None)
            elif op in (re._constants.ASSERT, re._constants.ASSERT_NOT):
                found = walk(arg[1], inside_unbounded)
            else:  # literals, classes, anchors, POSSESSIVE_REPEAT and ATOMIC_GROUP (no backtracking)
                found = None
            if found:
                return found
        return None

    return walk(re._parser.parse(pattern, RULE_FLAGS), False)


def has_non_ascii_letters(pattern: str) -> bool:
    """Whether `pattern` names a non-ASCII cased character: written as itself (é), as an escape
    (\\xe9, \\u00e9) or inside a range ([\\xc0-\\xff]). RE2 and Hyperscan case-fold those (É, and ẞ
    for ß), `re.ASCII` does not."""
    if pattern.isascii() and "\\" not in pattern:
        return False  # fast path: no non-ASCII character can be named
    return any(
        _range_has_non_ascii_cased(low, high) for low, high in _literal_ranges(re._parser.parse(pattern, RULE_FLAGS))
    )


def can_match_empty(pattern: str) -> bool:
    return re._parser.parse(pattern, RULE_FLAGS).getwidth()[0] == 0


def _literal_ranges(items) -> Iterable[tuple[int, int]]:
    """Every (low, high) code point range a parsed pattern names, single characters as (c, c)."""
    for op, arg in items:
        if op in (re._constants.LITERAL, re._constants.NOT_LITERAL):
            yield arg, arg
        elif op is re._constants.RANGE:
            yield arg
        elif op is re._constants.IN:
            yield from _literal_ranges(arg)
        else:  # groups, repetitions, branches, lookarounds: look inside
            for sub in _sub_patterns(arg):
                yield from _literal_ranges(sub)


def _sub_patterns(arg) -> Iterable:
    if isinstance(arg, re._parser.SubPattern):
        yield arg
    elif isinstance(arg, (tuple, list)):
        for item in arg:
            yield from _sub_patterns(item)


def _is_cased(char: str) -> bool:
    return char.lower() != char or char.upper() != char or char.casefold() != char


@lru_cache(maxsize=1)
def _non_ascii_cased() -> list[int]:
    """Sorted code points above U+007F that have a case (for the range check; built once, ~0.5 s)."""
    return [code for code in range(0x80, sys.maxunicode + 1) if not 0xD800 <= code <= 0xDFFF and _is_cased(chr(code))]


def _range_has_non_ascii_cased(low: int, high: int) -> bool:
    if high < 0x80:
        return False
    if low == high:
        return _is_cased(chr(low))
    cased = _non_ascii_cased()
    position = bisect.bisect_left(cased, max(low, 0x80))
    return position < len(cased) and cased[position] <= high


def _can_match_newline(items, dotall: bool) -> bool:
    """Whether a parsed regex (re._parser items) can consume a newline anywhere. Conservative:
    anything not understood counts as yes."""
    from re import _constants as c

    def item_matches(op, arg) -> bool:
        if op is c.LITERAL:
            return arg == 10
        if op is c.NOT_LITERAL:
            return arg != 10
        if op is c.ANY:
            return dotall
        if op is c.RANGE:
            return arg[0] <= 10 <= arg[1]
        if op is c.CATEGORY:
            return arg in (c.CATEGORY_SPACE, c.CATEGORY_NOT_WORD, c.CATEGORY_NOT_DIGIT, c.CATEGORY_LINEBREAK)
        return True

    for op, arg in items:
        if op is c.IN:
            negate = bool(arg) and arg[0][0] is c.NEGATE
            members = arg[1:] if negate else arg
            if any(item_matches(o, a) for o, a in members) != negate:
                return True
        elif op in (c.LITERAL, c.NOT_LITERAL, c.ANY, c.CATEGORY):
            if item_matches(op, arg):
                return True
        elif op is c.AT:
            continue
        elif op is c.SUBPATTERN:
            _, add_flags, del_flags, inner = arg
            inner_dotall = (dotall or bool(add_flags & re.DOTALL)) and not del_flags & re.DOTALL
            if _can_match_newline(inner, inner_dotall):
                return True
        elif op is c.BRANCH:
            if any(_can_match_newline(branch, dotall) for branch in arg[1]):
                return True
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)):
            if _can_match_newline(arg[2], dotall):
                return True
        else:
            return True  # lookarounds, back references, conditionals: assume it can
    return False


def chunk_scannable(pattern: str) -> str:
    """'exact', 'verify' (may straddle two messages) or 'alone' (must be matched per message)."""
    from re import _constants as c
    from re import _parser

    parsed = _parser.parse(pattern, RULE_FLAGS)
    if parsed.getwidth()[0] == 0:
        return "alone"  # can match an empty string: position-dependent, rare, keep it simple

    def has_string_anchor(items) -> bool:
        for op, arg in items:
            if op is c.AT and arg in (c.AT_BEGINNING_STRING, c.AT_END_STRING):
                return True
            if op is c.SUBPATTERN and has_string_anchor(arg[3]):
                return True
            if op is c.BRANCH and any(has_string_anchor(b) for b in arg[1]):
                return True
            if op in (c.MAX_REPEAT, c.MIN_REPEAT) and has_string_anchor(arg[2]):
                return True
        return False

    if has_string_anchor(parsed.data):
        return "alone"
    return "verify" if _can_match_newline(parsed.data, bool(parsed.state.flags & re.DOTALL)) else "exact"
