"""Randomised check: every rule `check_rule` accepts gets, from Hyperscan and from the RE2 set,
exactly the hits of `re.search(pattern, text, re.IGNORECASE | re.ASCII)`.

Rules and texts are generated from a seeded grammar: ASCII and non-ASCII literals (also as
escapes and ranges), classes, anchors, groups, inline flags, lookarounds, alternations and
quantifiers; texts mix words the rules use with control characters (NUL included) and
non-ASCII ones (letters that case-fold into ASCII, emoji, invisible spaces). Newlines are left out
of the texts: rule texts never hold one (cleaning collapses them) and Hyperscan refuses them.

Bounded time: fixed sizes, no nested unbounded repetition (so `re` never backtracks badly), short
texts; about 10 s for the three seeds.
"""
import random
import re

import pytest

from sortbox.rule_engines import HyperscanMatcher, RuleMatcher, match_with_re
from sortbox.rules import Rule, check_rule

WORDS = ["win", "free", "call", "k", "s", "ok", "sk", "£5", "x1", "stop"]
NON_ASCII = ["é", "É", "ß", "ẞ", "ſ", "K", "ı", "İ", "£", "€", "😀", "ω", "Ω", "ﬀ", "Å", "Å"]
CONTROLS = [
    "\x00",
    "\x01",
    "\t",
    "\x0b",
    "\x0c",
    "\r",
    "\x1b",
    "\x1c",
    "\x7f",
    "\x85",
    "\x9f",
    "\u00a0",
    "\u2028",
    "\u200b",
    "\ufeff",
]
PUNCTUATION = list("!',:;/@%&=\"~<> -#")
ESCAPED = [r"\.", r"\$", r"\(", r"\?", r"\+", r"\*", r"\[", r"\\", r"\|", r"\^", r"\-"]
CLASSES = [
    r"\w",
    r"\W",
    r"\d",
    r"\D",
    r"\s",
    r"\S",
    ".",
    "[a-z]",
    "[^a-z]",
    "[0-9a-f]",
    "[^ ]",
    "[k-s]",
    "[^k]",
    "[A-Z]",
    r"[\w£]",
    r"[^\W\d]",
    "[£€]",
    "[^£]",
]
# Escapes and ranges that name control or non-ASCII characters (several send a rule to `re`).
ODD_CLASSES = [
    r"[\x00-\x1f]",
    r"[^\x80-\xff]",
    r"\xe9",
    r"\u00e9",
    r"\x0b",
    r"\x00",
    r"[\xc0-\xff]",
    r"\x85",
    r"\u017f",
    r"[^\u212a]",
]
ANCHORS = [r"\b", r"\b", r"\b", r"\B", "^", "$", r"\A", r"\Z"]
GROUPS = ["(?:%s)", "(%s)", "(?-i:%s)", "(?i:%s)", "(?s:%s)"]
LOOKAROUNDS = ["(?=%s)", "(?!%s)", "(?<=%s)", "(?<!%s)", "(?>%s)"]  # Hyperscan has none: `re` matches these rules


def _word(rng: random.Random) -> str:
    return "".join(c.upper() if rng.random() < 0.3 else c for c in rng.choice(WORDS))


def _atom(rng: random.Random, depth: int) -> str:
    r = rng.random()
    if r < 0.4:
        return _word(rng)
    if r < 0.52:
        return rng.choice(ESCAPED + PUNCTUATION)
    if r < 0.74:
        return rng.choice(CLASSES if rng.random() < 0.8 else ODD_CLASSES)
    if r < 0.78:
        return rng.choice(NON_ASCII)
    if r < 0.8:
        return rng.choice(CONTROLS)  # refused by check_rule: the test checks that too
    if r < 0.92 and depth < 2:
        inner = "|".join(_sequence(rng, depth + 1, bounded=True) for _ in range(rng.randint(1, 3)))
        return rng.choice(GROUPS if rng.random() < 0.8 else LOOKAROUNDS) % inner
    return rng.choice(ANCHORS)


def _sequence(rng: random.Random, depth: int = 0, bounded: bool = False) -> str:
    """Atoms, some repeated. Inside a group only bounded repetition: nothing nests unboundedly."""
    parts = []
    for _ in range(rng.randint(1, 4)):
        atom = _atom(rng, depth)
        if atom not in ANCHORS and rng.random() < 0.3:
            single = len(atom) == 1 or atom.startswith(("\\", "[", "("))
            quantifiers = ["?", "{1,3}", "{2}", "??", "{0,2}"] + (
                [] if bounded or atom.startswith("(") else ["*", "+", "*?", "+?", "{1,}"]
            )
            atom = (atom if single else f"(?:{atom})") + rng.choice(quantifiers)
        parts.append(atom)
    return "".join(parts)


def _text(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(0, 8)):
        r = rng.random()
        if r < 0.5:
            parts.append(_word(rng))
        elif r < 0.62:
            parts.append(rng.choice(NON_ASCII))
        elif r < 0.72:
            parts.append(rng.choice(CONTROLS))
        elif r < 0.86:
            parts.append(rng.choice(PUNCTUATION))
        else:
            parts.append(chr(rng.randint(0x21, 0x7E)))
    return "".join(parts)


def generated_rules(rng: random.Random, count: int) -> tuple[list[Rule], list[str]]:
    """(accepted rules, refused patterns) until `count` rules are accepted."""
    rules, refused = [], []
    while len(rules) < count:
        pattern = _sequence(rng).strip(" \t")  # as a rule file line is read
        if not pattern:
            continue
        try:
            re.compile(pattern, re.IGNORECASE | re.ASCII)
        except re.error:
            continue  # not a regex at all: the grammar's fault, not a case worth counting
        if check_rule(pattern) is None:
            rules.append(Rule(f"fuzz.txt:{len(rules) + 1}", "fuzz", pattern))
        else:
            refused.append(pattern)
    return rules, refused


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_engines_agree_with_re_on_generated_rules_and_texts(seed):
    rng = random.Random(seed)
    rules, refused = generated_rules(rng, 300)
    texts = [_text(rng) for _ in range(1500)]
    expected = match_with_re(rules, texts)
    assert sum(map(len, expected)) > 1000  # the rules do fire: the comparison has something to compare
    for pattern in refused:  # the only refusals here: a control or invisible character
        assert any(c in pattern for c in CONTROLS), pattern
    assert not any(any(c in rule.pattern for c in CONTROLS) for rule in rules)
    for engine in (HyperscanMatcher, RuleMatcher):
        matcher = engine(rules)
        # Most rules run in the engine itself, not in its `re` fallback.
        assert len(matcher.fallback_rule_ids) < 0.5 * len(rules), engine.__name__
        got = [sorted(hits) for hits in matcher.match_many(texts)]
        differing = [
            (rules[i].pattern, text) for text, want, have in zip(texts, expected, got) for i in set(want) ^ set(have)
        ]
        assert not differing, f"{engine.__name__}: {len(differing)} differences, e.g. {differing[:5]}"


@pytest.mark.parametrize(
    "pattern, text",
    [
        ("s", "\u017f"),  # long s: RE2 and Hyperscan case-fold it with s, re.ASCII does not
        ("[^k]", "\u212a"),  # Kelvin sign: the engines fold it with k, so their [^k] misses it
        (r"\xe9", "É"),  # a non-ASCII letter written as an escape: the engines fold it
        (r"[\xc0-\xff]", "ẞ"),  # a range holding ß: the engines fold ẞ into it
        (r"a\sb", "a\x0bb"),  # RE2's \s lacks \v
        (r"\B", ""),  # RE2 finds \B in an empty text, re does not
    ],
)
@pytest.mark.parametrize("engine", [HyperscanMatcher, RuleMatcher])
def test_engine_differences_found_by_the_fuzz_are_handled(engine, pattern, text):
    rules = [Rule("x.txt:1", "x", pattern)]
    assert [sorted(h) for h in engine(rules).match_many([text, "plain"])] == match_with_re(rules, [text, "plain"])
