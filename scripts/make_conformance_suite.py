"""Write the conformance suite of README "Model JSON format": made-up models and texts, with what
the reference scorer (the spec's steps run from the model's tables) gives for each text.

    python scripts/make_conformance_suite.py [tests/conformance]

tests/conformance/model-<name>.json: four made-up models (no message of any table: the vocabulary
is invented), one per `digits` mode and one NFD model without lower-casing or control quarantine.
tests/conformance/cases.json: {"spec_version", "tolerance", "rules", "models", "cases"}; a case has
`id`, `rule` (a step of the spec), `model`, `text` (or `text_repeat`: [[piece, times], ...], for
the 20,000-character ones), then either `unscorable` or `cleaned`, `words`, `terms`, `scores`,
`decisions` (`no_known_term` has `cleaned`, `words`, `terms` and `unscorable`). A cleaned text of
over 1,000 characters is given as `cleaned_sha256` (of its UTF-8), with `words_sha256` and
`terms_sha256` (of the items joined by LF).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sortbox.export import case_entry, content_id, model_json_bytes  # noqa: E402
from sortbox.model_file import SCHEMA_VERSION, TFIDF, TOKENIZER_FIELDS  # noqa: E402
from sortbox.portable_scorer import PortableModel  # noqa: E402
from sortbox.textnorm import default_cleaning_spec  # noqa: E402
from sortbox.unicode_tables import build_unicode_tables  # noqa: E402
from sortbox.wordlists import DEFAULT_TOKEN_PATTERN  # noqa: E402

TOLERANCE = 1e-9
LONG = 1000  # a cleaned text longer than this is given by its sha256 (and so are its words and terms)
#: The spec's steps (README "Model JSON format", "Scoring one text"), each exercised by cases.
RULES = {
    "null": "1. a NULL text is quarantined null_text",
    "length": "1. more than max_chars code points: too_long",
    "blank": "1. only white space code points: empty_text",
    "char_map": "2a. char_map replaces single code points",
    "normalization": "2b. decomposition, canonical order, composition (Hangul by arithmetic)",
    "controls": "2c. a C0/C1 control (not tab, LF, CR) after 2b: control_characters",
    "removed": "2d. removed_ranges become a space",
    "white_space": "2e. runs of white space and controls become one space, stripped",
    "lowercase": "2f. full lower-case mapping and the final sigma rule, no locale",
    "digits": "2g. decimal digits: zero, remove or keep",
    "empty": "2h. nothing left: empty_after_cleaning",
    "words": "3. words: word code points joined by inner apostrophes; currency signs",
    "terms": "4. stopwords dropped, surface forms looked up",
    "tfidf": "5. TF-IDF: raw counts, idf, idf 0 skipped, L2 norm; no_known_term",
    "scores": "6. logistic scores, decision = score >= threshold",
}

# Made-up vocabulary: term -> (idf, spam weight, promo weight); the tie class weighs every term 0.
TERMS = {
    "free": (1.5, 2.0, 0.5),
    "win": (2.0, 1.5, 0.2),
    "prize": (2.5, 1.8, 0.1),
    "call": (1.0, 0.6, -0.2),
    "cash": (2.2, 1.2, 0.4),
    "don't": (1.1, -0.7, 0.3),
    "rock'n'roll": (3.0, -1.0, 1.0),
    "café": (2.0, -0.5, 1.4),
    "naïve": (2.4, -0.3, 0.9),
    "file": (1.7, 0.2, 0.6),
    "k": (1.2, 0.1, 0.0),
    "stanbul": (2.9, -0.2, 0.8),
    "ıstanbul": (2.9, -0.4, 1.1),
    "istanbul": (2.9, 0.3, 1.3),
    "οδος": (3.1, -0.6, 0.7),
    "λογος": (3.2, 0.4, -0.9),
    "straße": (2.6, -0.8, 0.2),
    "0": (0.8, 0.9, 0.0),
    "00": (0.9, 1.1, 0.1),
    "0000": (1.3, 1.6, 0.2),
    "00000": (1.4, 2.1, -0.1),
    "£": (1.9, 1.7, 0.0),
    "$": (1.8, 1.3, 0.3),
    "€": (1.9, 0.9, 0.6),
    "¥": (2.0, 0.7, 0.5),
    "xii": (2.3, -0.1, 0.4),
    "〇": (2.8, 0.2, 0.2),
    "한국": (3.0, -0.5, 1.0),
    "ガ": (2.7, 0.6, 0.3),
    "fi": (1.6, 0.3, 0.0),
    "٣": (2.5, 0.4, 0.1),
    "2026": (2.0, 0.5, 0.5),
    "12": (1.5, 0.8, 0.2),
    "mobile": (1.4, 0.9, -0.3),
    "hello": (0.9, -1.2, 0.1),
    "ok": (0.7, -1.5, -0.2),
    "zeroidf": (0.0, 5.0, 5.0),
    "win0": (2.1, 1.4, 0.0),
    "txt": (1.6, 1.1, 0.2),
    "i": (0.5, 0.0, 0.0),
    "x": (0.6, 0.2, -0.2),
    "ǆ": (2.0, 0.1, 0.1),
    "ss": (1.0, 0.2, 0.2),
    "winner": (2.3, 1.9, 0.4),
    "CALL": (1.0, 0.6, -0.2),
    "Free": (1.5, 2.0, 0.5),
    "ǅemal": (2.0, 0.1, 0.1),
    "١٢": (2.2, 0.5, 0.3),
    "prizes": (2.5, 1.8, 0.1),
}
#: Other spellings of a term (a client needs no stemmer: the model lists them).
FORMS = {"prizes": "prize", "winning": "win", "calling": "call", "cafe": "café"}
STOPWORDS = ["a", "and", "the", "to", "you"]

MODELS = {
    "zero": {"normalization": "NFKC", "lowercase": True, "digits": "zero", "controls": True},
    "remove": {"normalization": "NFKC", "lowercase": True, "digits": "remove", "controls": True},
    "keep": {"normalization": "NFKC", "lowercase": True, "digits": "keep", "controls": True},
    "nfd": {"normalization": "NFD", "lowercase": False, "digits": "keep", "controls": False},
}


def make_model(
    *,
    normalization: str,
    lowercase: bool,
    digits: str,
    controls: bool,
    terms: dict | None = None,
    other_forms: dict | None = None,
    stopwords: list | None = None,
) -> dict:
    """A made-up schema-2 model: `terms` maps term -> (idf, spam weight, promo weight) (default
    TERMS), each term is its own surface form, plus `other_forms` (form -> term, default FORMS)."""
    terms = TERMS if terms is None else terms
    other_forms = FORMS if other_forms is None else other_forms
    vocabulary = sorted(terms)
    index = {term: i for i, term in enumerate(vocabulary)}
    forms = {term: index[term] for term in vocabulary}
    forms.update({form: index[term] for form, term in other_forms.items()})
    classes = {
        "promo": {
            "weights": [terms[t][2] for t in vocabulary],
            "intercept": -0.25,
            "link": "logistic",
            "threshold": 0.55,
            "threshold_policy": "made up",
            "cv_roc_auc": 0.5,
        },
        "spam": {
            "weights": [terms[t][1] for t in vocabulary],
            "intercept": -1.0,
            "link": "logistic",
            "threshold": 0.6,
            "threshold_policy": "made up",
            "cv_roc_auc": 0.5,
        },
        # every score is exactly 0.5 = the threshold: the decision at the threshold is 1
        "tie": {
            "weights": [0.0] * len(vocabulary),
            "intercept": 0.0,
            "link": "logistic",
            "threshold": 0.5,
            "threshold_policy": "made up",
            "cv_roc_auc": 0.5,
        },
    }
    model = {
        "schema_version": SCHEMA_VERSION,
        "run_date": "2026-01-01",
        "cleaning": default_cleaning_spec(lowercase=lowercase, digits=digits, normalization=normalization),
        "unicode": build_unicode_tables(normalization),
        "quarantine": {"max_chars": 20_000, "control_characters": controls},
        "tokenizer": {"pattern": DEFAULT_TOKEN_PATTERN, **TOKENIZER_FIELDS},
        "stopwords": STOPWORDS if stopwords is None else stopwords,
        "terms": {"stemmer": None, "surface_forms": dict(sorted(forms.items()))},
        "vocabulary": vocabulary,
        "tfidf": dict(TFIDF),
        "idf": [float(terms[t][0]) for t in vocabulary],
        "classes": classes,
        "skipped_classes": {},
        "golden": [],
        "model_id": "0" * 64,
    }
    model["model_id"] = content_id(model)
    return model


def texts() -> list[tuple[str, str, str, object]]:
    """(id, rule, model, text): text a string, None (NULL) or [[piece, times], ...]."""
    cases: list[tuple[str, str, str, object]] = []

    def add(case_id: str, rule: str, text, model: str = "zero") -> None:
        cases.append((case_id, rule, model, text))

    add("null-text", "null", None)
    add("length-20000-ascii", "length", [["win ", 5000]])
    add("length-20001-ascii", "length", [["a", 20001]])
    add("length-20001-spaces", "length", [[" ", 20001]])
    add("length-spaces-then-word", "white_space", [["free", 1], [" ", 19_990], ["cash", 1]])
    add("length-astral-20000-code-points", "length", [["\U0001f600", 19_996], ["free", 1]])
    add("length-astral-20001-code-points", "length", [["\U0001f600", 19_997], ["free", 1]])
    add("length-astral-utf16-over-limit", "length", [["\U00020000", 10_001], ["free", 1]])
    add("length-combining-counted-each", "length", [["e\u0301", 10_000], ["x", 1]])
    for name, space in [
        ("space", " "),
        ("tab", "\t"),
        ("lf", "\n"),
        ("cr", "\r"),
        ("crlf", "\r\n"),
        ("vt", "\x0b"),
        ("ff", "\x0c"),
        ("fs", "\x1c"),
        ("gs", "\x1d"),
        ("rs", "\x1e"),
        ("us", "\x1f"),
        ("nel", "\x85"),
        ("nbsp", "\xa0"),
        ("ogham", "\u1680"),
        ("en-quad", "\u2000"),
        ("hair", "\u200a"),
        ("line-sep", "\u2028"),
        ("para-sep", "\u2029"),
        ("narrow-nbsp", "\u202f"),
        ("math-space", "\u205f"),
        ("ideographic", "\u3000"),
    ]:
        add(f"blank-only-{name}", "blank", space * 3)
        add(f"white-space-between-{name}", "white_space", f"{space}free{space}{space}cash{space}")
    for name, char in [
        ("zwsp", "\u200b"),
        ("zwnj", "\u200c"),
        ("zwj", "\u200d"),
        ("bom", "\ufeff"),
        ("mongolian-vs", "\u180e"),
        ("word-joiner", "\u2060"),
        ("soft-hyphen", "\xad"),
    ]:
        add(f"blank-not-{name}", "empty", char * 3)
        add(f"removed-inside-word-{name}", "removed", f"fr{char}ee ca{char}sh")
    add("removed-bom-first", "removed", "\ufeffwin a prize")
    add("removed-emoji", "removed", "free\U0001f600cash \u2764\ufe0f win")
    add("removed-emoji-zwj-sequence", "removed", "\U0001f468\u200d\U0001f469\u200d\U0001f467 call")
    add("removed-private-use", "removed", "win\ue000prize")
    add("removed-unassigned", "removed", "win\U000e0080prize \U0003fffd cash")
    add("removed-keycap", "removed", "1\ufe0f\u20e3 free")
    add("removed-copyright-sign", "removed", "\xa9free\xae")
    add("removed-modifier-symbol", "removed", "free^cash `win` \xb4call")
    add("removed-only-emoji", "empty", "\U0001f600\U0001f389")
    add("controls-del", "controls", "free\x7fcash")
    add("controls-nul", "controls", "free\x00cash")
    add("controls-bell", "controls", "\x07win")
    add("controls-escape", "controls", "win\x1b[0m")
    add("controls-c1-81-unmapped", "controls", "free\x81")
    add("controls-c1-8d-unmapped", "controls", "free\x8d")
    add("controls-c1-9d-unmapped", "controls", "free\x9d")
    add("controls-off-collapse-del", "controls", "free\x7fcash\x00win", "nfd")
    add("controls-off-c1", "controls", "free\x81cash", "nfd")
    add("controls-tab-lf-cr-allowed", "controls", "free\tcash\nwin\rcall")
    add("controls-only-nel-then-text", "char_map", "\x85free")
    add("char-map-c1-right-quote", "char_map", "don\x92t call")
    add("char-map-c1-euro", "char_map", "\x80100 prize")
    add("char-map-c1-ellipsis", "char_map", "win\x85call")
    add("char-map-c1-pound-is-latin1", "char_map", "\xa3100 cash")
    add("char-map-typographic-quote", "char_map", "don\u2019t \u201cwin\u201d")
    add("char-map-dashes", "char_map", "free\u2014cash \u2013 call \u2212 0")
    add("char-map-prime", "char_map", "don\u2032t")
    for code in range(0x80, 0xA0):
        add(f"char-map-c1-{code:02x}", "char_map", f"free{chr(code)}cash")
    add(
        "normalization-fullwidth",
        "normalization",
        "\uff26\uff32\uff25\uff25 \uff23\uff21\uff33\uff28 \uff12\uff10\uff12\uff16",
    )
    add("normalization-ligature-fi", "normalization", "\ufb01le \ufb01")
    add("normalization-ligature-ffl", "normalization", "\ufb04")
    add("normalization-kelvin", "normalization", "\u212a")
    add("normalization-angstrom", "normalization", "\u212b x")
    add("normalization-ohm", "normalization", "\u2126 x")
    add("normalization-composed-cafe", "normalization", "caf\xe9")
    add("normalization-decomposed-cafe", "normalization", "cafe\u0301")
    add("normalization-decomposed-naive", "normalization", "nai\u0308ve")
    add("normalization-mark-order", "normalization", "a\u0301\u0316 a\u0316\u0301 q\u0307\u0323 q\u0323\u0307")
    add("normalization-blocked-mark", "normalization", "a\u0323\u0302 e\u0328\u0301")
    add("normalization-mark-alone", "normalization", "\u0301free")
    add("normalization-mark-without-composite", "normalization", "x\u0301 win")
    add("normalization-hangul-jamo", "normalization", "\u1112\u1161\u11ab\u1100\u116e\u11a8")
    add("normalization-hangul-syllables", "normalization", "\ud55c\uad6d")
    add("normalization-hangul-lv-plus-t", "normalization", "\ud558\u11ab\uad6c\u11a8")
    add("normalization-halfwidth-katakana-voiced", "normalization", "\uff76\uff9e")
    add("normalization-kana-dakuten", "normalization", "\u30ab\u3099")
    add("normalization-superscript", "normalization", "win\xb2 \u2074")
    add("normalization-circled-number", "normalization", "\u2469 \u2460")
    add("normalization-fraction", "normalization", "\xbd cash")
    add("normalization-roman-numeral", "normalization", "\u216b")
    add("normalization-long-s-dot", "normalization", "\u1e9b")
    add("normalization-dz-digraph", "normalization", "\u01c4 \u01c5emal")
    add("normalization-arabic-ligature", "normalization", "\ufdfa")
    add("normalization-compat-nfd-model", "normalization", "\ufb01le caf\xe9 \u212a", "nfd")
    add("normalization-hangul-nfd-model", "normalization", "\ud55c\uad6d", "nfd")
    add("normalization-tibetan-marks", "normalization", "\u0f40\u0f71\u0f72\u0f74")
    add("normalization-oriya-two-part-vowel", "normalization", "\u0b15\u0b47\u0b3e")
    add("normalization-singleton-cjk-compat", "normalization", "\uf900\u2f800")
    add("lowercase-turkish-dotted-capital-i", "lowercase", "\u0130STANBUL")
    add("lowercase-turkish-dotless-small-i", "lowercase", "\u0131stanbul")
    add("lowercase-ascii-capital-i", "lowercase", "ISTANBUL I")
    add("lowercase-turkish-mixed", "lowercase", "\u0130\u0131Ii")
    add("lowercase-final-sigma", "lowercase", "\u039f\u0394\u039f\u03a3")
    add("lowercase-final-sigma-before-punctuation", "lowercase", "\u039f\u0394\u039f\u03a3.")
    add("lowercase-sigma-inside-word", "lowercase", "\u039f\u03a3\u039f\u03a3\u039f")
    add("lowercase-sigma-alone", "lowercase", "\u03a3")
    add("lowercase-sigma-after-apostrophe", "lowercase", "\u039b\u039f\u0393\u039f'\u03a3")
    add("lowercase-sigma-then-case-ignorable-then-letter", "lowercase", "\u039b\u039f\u0393\u039f\u03a3'\u0391")
    add("lowercase-sigma-after-mark", "lowercase", "\u039b\u039f\u0393\u039f\u0301\u03a3")
    add("lowercase-final-sigma-no-lowercase-model", "lowercase", "\u039f\u0394\u039f\u03a3", "nfd")
    add("lowercase-eszett", "lowercase", "STRASSE stra\xdfe STRA\u1e9eE")
    add("lowercase-kelvin-direct", "lowercase", "\u212a", "nfd")
    add("lowercase-cherokee", "lowercase", "\u13a0\u13a1 \uab70")
    add("lowercase-deseret-astral", "lowercase", "\U00010400\U00010401")
    add("lowercase-titlecase-dz", "lowercase", "\u01c5")
    add("lowercase-capitals", "lowercase", "FREE Cash WiN")
    add("lowercase-off", "lowercase", "FREE Cash", "nfd")
    for script, zero in [
        ("arabic-indic", 0x660),
        ("extended-arabic", 0x6F0),
        ("devanagari", 0x966),
        ("bengali", 0x9E6),
        ("thai", 0xE50),
        ("tibetan", 0xF20),
        ("myanmar", 0x1040),
        ("fullwidth", 0xFF10),
        ("math-bold", 0x1D7CE),
        ("adlam", 0x1E950),
    ]:
        digits = "".join(chr(zero + d) for d in (1, 2))
        for mode in ("zero", "remove", "keep"):
            add(f"digits-{script}-{mode}", "digits", f"win {digits} {chr(zero + 3)}", mode)
    for mode in ("zero", "remove", "keep"):
        add(f"digits-ascii-{mode}", "digits", "call 07781 123456 win 2026", mode)
        add(f"digits-inside-word-{mode}", "digits", "win5 w1n 12", mode)
        add(f"digits-only-{mode}", "digits", "123 456", mode)
        add(f"digits-other-numbers-{mode}", "digits", "\u3007 \u2155 \u00b3 \u2160 \u0f33", mode)
        add(f"digits-currency-{mode}", "digits", "\xa3100 $5 \u20ac20 \xa52000", mode)
        add(f"digits-remove-then-spaces-{mode}", "digits", "free 1 2 3 cash", mode)
    add("empty-after-cleaning-symbols", "empty", "\u2764\u2764")
    add("empty-after-cleaning-zero-width", "empty", "\u200b\u200d")
    add("words-apostrophe-inner", "words", "don't rock'n'roll")
    add("words-apostrophe-edges", "words", "'free' cash' 'win")
    add("words-double-apostrophe", "words", "don''t")
    add("words-apostrophe-then-space", "words", "don' t")
    add("words-underscore", "words", "free_cash _win_")
    add("words-currency-each-alone", "words", "$$ \xa3\xa3 \u20ac\u00a5 $free")
    add("words-other-currency-not-words", "words", "\u20b9100 \u20a9 \xa2")
    add("words-punctuation", "words", "free!cash?win.call,ok;txt:x")
    add("words-hyphen", "words", "free-cash")
    add("words-cjk", "words", "\u6211\u7231\u4f60 free")
    add("words-thai", "words", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35 win")
    add("words-combining-mark-not-word", "words", "x\u0301y")
    add("words-spacing-mark-devanagari", "words", "\u0915\u093e\u092e")
    add("words-astral-letters", "words", "\U00010400\U00010428 \U0001d400free")
    add("words-modifier-letter", "words", "free\u02b0cash")
    add("words-right-single-quote-folded", "words", "don\u2019t")
    add("terms-stopwords", "terms", "the free and a prize to you")
    add("terms-stopword-only", "tfidf", "the and a")
    add("terms-surface-form", "terms", "prizes winning calling cafe")
    add("terms-unknown", "tfidf", "zzqx vrrmph")
    add("terms-case-sensitive-no-lowercase", "terms", "CALL Free free", "nfd")
    add("tfidf-repeats-count", "tfidf", "free free free cash")
    add("tfidf-idf-zero-only", "tfidf", "zeroidf")
    add("tfidf-idf-zero-with-other", "tfidf", "zeroidf free")
    add("tfidf-many-terms", "tfidf", "free win prize call cash don't caf\xe9 txt mobile hello ok winner")
    add("scores-single-term", "scores", "hello")
    add("scores-strong-spam", "scores", "WINNER!! Claim your \xa31000 PRIZE now: call 01234 567890 free cash")
    add("scores-negative", "scores", "ok hello ok")
    add("scores-tie-threshold", "scores", "ok")
    return cases


def expected(model: dict, text) -> dict:
    """What the spec's steps give for `text` (run from the model's tables), checked against the
    same steps run with this Python's unicodedata and re: both must agree on every case."""
    raw = None if text is None else text if isinstance(text, str) else "".join(piece * times for piece, times in text)
    results = [case_entry(PortableModel(model, tables=tables), model, raw) for tables in (True, False)]
    if results[0] != results[1]:
        raise AssertionError(f"the tables and this Python disagree on {text!r}: {results}")
    return results[0]


def digest(value: str | list[str]) -> str:
    """sha256 of a text's UTF-8, or of a list's items joined by LF."""
    return hashlib.sha256(("\n".join(value) if isinstance(value, list) else value).encode("utf-8")).hexdigest()


def build_suite() -> tuple[dict[str, dict], dict]:
    """(model name -> model, the cases document)."""
    models = {name: make_model(**options) for name, options in MODELS.items()}
    cases = []
    for case_id, rule, model_name, text in texts():
        case = {"id": case_id, "rule": rule, "model": model_name}
        case.update({"text_repeat": text} if isinstance(text, list) else {"text": text})
        result = expected(models[model_name], text)
        if len(result.get("cleaned", "")) > LONG:  # a 20,000-character result: its digest
            for key in ("cleaned", "words", "terms"):
                value = result.pop(key)
                result[f"{key}_sha256"] = digest(value)
        case.update(result)
        cases.append(case)
    document = {
        "spec_version": SCHEMA_VERSION,
        "tolerance": TOLERANCE,
        "rules": RULES,
        "models": {name: f"model-{name}.json" for name in models},
        "cases": cases,
    }
    return models, document


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else Path(__file__).resolve().parents[1] / "tests" / "conformance")
    out.mkdir(parents=True, exist_ok=True)
    models, document = build_suite()
    for name, model in models.items():
        (out / f"model-{name}.json").write_bytes(model_json_bytes(model))
    (out / "cases.json").write_text(json.dumps(document, ensure_ascii=True, indent=1) + "\n", encoding="ascii")
    print(f"{len(document['cases'])} cases, {len(models)} models in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
