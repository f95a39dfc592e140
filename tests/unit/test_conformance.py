"""The conformance suite (tests/conformance/) on the Python scorer, both ways it runs the text steps:
from the model's unicode tables (what a client ports) and with this Python's unicodedata and re.
Also: the tables are what this Python does, malformed tables are refused, version 1 still scores."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import re
import sys
import unicodedata

import pytest

from sortbox.model_file import ModelFileError, read_model_file, validate_model
from sortbox.portable_scorer import PortableModel
from sortbox.unicode_tables import SpecText, build_unicode_tables
from tests.conftest import REPO_ROOT

SUITE = REPO_ROOT / "tests" / "conformance"


def _script():
    """scripts/make_conformance_suite.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "make_conformance_suite", REPO_ROOT / "scripts" / "make_conformance_suite.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def suite() -> dict:
    document = json.loads((SUITE / "cases.json").read_text(encoding="ascii"))
    document["loaded"] = {name: read_model_file(SUITE / path) for name, path in document["models"].items()}
    return document


def _text(case: dict) -> str | None:
    return case["text"] if "text" in case else "".join(piece * times for piece, times in case["text_repeat"])


def _digest(value) -> str:
    return hashlib.sha256(("\n".join(value) if isinstance(value, list) else value).encode("utf-8")).hexdigest()


def _failures(scorer: PortableModel, cases: list[dict], tolerance: float) -> list[str]:
    """What `scorer` gets wrong, one line per case."""
    failures = []
    vocabulary = scorer.model["vocabulary"]
    for case in cases:
        text = _text(case)
        cleaned, reason = scorer.clean(text)
        got: dict = {}
        scores = None
        if reason:
            got["unscorable"] = f"quarantined:{reason}"
        else:
            words = scorer.words(cleaned)
            terms = [vocabulary[i] for i in scorer.term_indices(cleaned)]
            if "cleaned_sha256" in case:
                got.update(cleaned_sha256=_digest(cleaned), words_sha256=_digest(words), terms_sha256=_digest(terms))
            else:
                got.update(cleaned=cleaned, words=words, terms=terms)
            scores, reason = scorer.score(text)
            if reason:
                got["unscorable"] = reason
        expected = {key: case[key] for key in got if key in case}
        if got != expected or ("unscorable" in case) != ("unscorable" in got):
            failures.append(f"{case['id']}: got {got!r:.300}, expected {expected!r:.300}")
            continue
        for name, score in zip(scorer.class_names, scores or []):
            threshold = scorer.model["classes"][name]["threshold"]
            if not math.isclose(score, case["scores"][name], rel_tol=0, abs_tol=tolerance):
                failures.append(f"{case['id']}: {name} score {score!r}, expected {case['scores'][name]!r}")
            elif (
                int(score >= threshold) != case["decisions"][name] and abs(case["scores"][name] - threshold) > tolerance
            ):
                failures.append(
                    f"{case['id']}: {name} decision {int(score >= threshold)}, expected {case['decisions'][name]}"
                )
    return failures


@pytest.mark.parametrize("tables", [True, False], ids=["from-the-model-tables", "with-this-python"])
def test_conformance_suite_passes_on_the_python_scorer(suite, tables):
    scorers = {name: PortableModel(model, tables=tables) for name, model in suite["loaded"].items()}
    failures = []
    for name, scorer in scorers.items():
        failures += _failures(scorer, [case for case in suite["cases"] if case["model"] == name], suite["tolerance"])
    assert not failures, "\n".join(failures[:20])


def test_the_suite_covers_every_rule_and_the_known_pitfalls(suite):
    cases = suite["cases"]
    assert len(cases) >= 200
    assert len({case["id"] for case in cases}) == len(cases)
    assert {case["rule"] for case in cases} == set(suite["rules"])
    ids = " ".join(case["id"] for case in cases)
    for pitfall in [
        "turkish-dotted-capital-i",
        "turkish-dotless-small-i",
        "final-sigma",
        "kelvin",
        "-nel",
        "-nbsp",
        "ideographic",
        "-bom",
        "zwsp",
        "zwj",
        "controls-del",
        "controls-c1",
        "char-map-c1",
        "mark",
        "digits-arabic-indic",
        "digits-other-numbers",
        "fullwidth",
        "ligature",
        "length-astral-20000",
        "length-astral-20001",
        "length-20001-spaces",
        "hangul",
        "null-text",
        "tie-threshold",
        "idf-zero",
    ]:
        assert pitfall in ids, pitfall
    for mode in ("zero", "remove", "keep"):
        assert any(case["rule"] == "digits" and case["model"] == mode for case in cases), mode
    assert any(
        case["scores"]["tie"] == 0.5 == suite["loaded"][case["model"]]["classes"]["tie"]["threshold"]
        and case["decisions"]["tie"] == 1
        for case in cases
        if "scores" in case
    )


def test_the_committed_suite_is_what_the_script_writes(suite):
    """The expectations are the current scorer's: regenerating changes nothing."""
    models, document = _script().build_suite()
    assert {name: model["model_id"] for name, model in models.items()} == {
        name: m["model_id"] for name, m in suite["loaded"].items()
    }
    assert document["cases"] == suite["cases"]


def _sample_code_points():
    """Every code point below U+3400 (scripts with case, marks, digits, spaces), then every 61st."""
    return [c for c in list(range(0x3400)) + list(range(0x3400, 0x110000, 61)) if not 0xD800 <= c <= 0xDFFF]


@pytest.mark.parametrize("normalization", ["NFKC", "NFD"])
def test_the_tables_say_what_this_python_does(normalization):
    """Each table against unicodedata/str.lower/re, code point by code point."""
    spec = SpecText(
        {
            "cleaning": {
                "char_map": {},
                "unicode_normalization": normalization,
                "removed_ranges": [],
                "lowercase": True,
                "digits": "keep",
            },
            "unicode": build_unicode_tables(normalization),
            "quarantine": {"max_chars": 10, "control_characters": True},
        }
    )
    assert build_unicode_tables(normalization)["version"] == unicodedata.unidata_version
    word, space, digit = re.compile(r"\w"), re.compile(r"\s"), re.compile(r"\d")
    wrong = []
    for code in _sample_code_points():
        char = chr(code)
        if (
            spec.normalize([code]) != [ord(c) for c in unicodedata.normalize(normalization, char)]
            or spec.lower([code]) != [ord(c) for c in char.lower()]
            or (code in spec.word) != bool(word.match(char))
            or (code in spec.white_space) != bool(space.match(char))
            or (code in spec.decimal) != bool(digit.match(char))
            or (code in spec.white_space) != (not char.strip())
        ):
            wrong.append(f"U+{code:04X}")
    assert not wrong, wrong[:20]


def test_composition_and_final_sigma_on_sequences():
    """Sequences where order, blocking and context matter, against unicodedata and str.lower."""
    spec = PortableModel(json.loads((SUITE / "model-zero.json").read_text()), tables=True).spec_text
    texts = [
        "a\u0301\u0316",
        "a\u0316\u0301",
        "e\u0328\u0301",
        "\u0b47\u0b3e",
        "\u1100\u1161\u11a8",
        "\uac00\u11a8",
        "\u0f40\u0f71\u0f72\u0f74",
        "\u00c7\u0301",
        "c\u0327\u0301",
        "c\u0301\u0327",
        "\u0041\u030a\u0301",
        "\u1e9b\u0323",
        "\u212b\u0301",
        "\u0344\u0301",
        "\u0915\u093c\u094d",
        "\u05d1\u05bc\u05bf",
        "\u3099\u304b",
        "\u304b\u3099\u3099",
        "\U0001d15f\U0001d165\U0001d16e",
    ]
    for text in texts:
        assert "".join(map(chr, spec.normalize([ord(c) for c in text]))) == unicodedata.normalize("NFKC", text), text
    for text in [
        "\u03a3",
        "A\u03a3",
        "A\u03a3B",
        "A\u03a3'",
        "A'\u03a3",
        "A\u03a3'B",
        "\u03a3\u03a3",
        "A\u0301\u03a3 ",
        "1\u03a3",
        "\u1f08\u03a3",
        "\u02b0\u03a3",
    ]:
        assert "".join(map(chr, spec.lower([ord(c) for c in text]))) == text.lower(), text


def _broken(edit):
    model = json.loads((SUITE / "model-zero.json").read_text())
    edit(model["unicode"])
    return model


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.update(word="0030-0039,0020"), r"unicode.word: range 2 \(0020-0020\) is not ascending"),
        (lambda t: t.update(word="0030-0039,zz"), r"unicode.word: not in the table syntax"),
        (lambda t: t.update(white_space="D800"), r"unicode.white_space: D800 is not a character's code point"),
        (lambda t: t.update(case_ignorable="0027,0300-03FF"), r"unicode.case_ignorable: must not hold U\+03A3"),
        (lambda t: t.update(lowercase="0041>0061,0041>0062"), r"unicode.lowercase: entry 2 is not after entry 1"),
        (
            lambda t: t.update(lowercase="0041>0061 0062 0063 0064"),
            r"unicode.lowercase: entry 1 must map 1 code point\(s\) to 1 to 3",
        ),
        (
            lambda t: t.update(compositions="0041>00C0"),
            r"unicode.compositions: entry 1 must map 2 code point\(s\) to 1 to 1",
        ),
        (
            lambda t: t.update(combining_classes="0300-0314:255"),
            r"unicode.combining_classes: 0300-0314:255 must be .* a class from 1 to 254",
        ),
        (lambda t: t.update(decompositions=["00A0", "0020"]), r"unicode.decompositions: must be a string of at most"),
        (lambda t: t.update(version="fourteen"), r"unicode.version: must be a Unicode version such as 14.0.0"),
        (lambda t: t.pop("word"), r"unicode: missing key 'word'"),
    ],
)
def test_malformed_unicode_tables_are_refused_naming_the_table(edit, message):
    with pytest.raises(ModelFileError, match=message):
        validate_model(_broken(edit))


def test_a_version_1_model_is_still_scored_by_the_python_scorer():
    """Version 1 (no tables) scores with this Python's Unicode data, as before; asking for tables is refused."""
    model = json.loads((SUITE / "model-zero.json").read_text())
    del model["unicode"]
    model["schema_version"] = 1
    assert (
        PortableModel(model).score("FREE cash")[0]
        == PortableModel(json.loads((SUITE / "model-zero.json").read_text())).score("FREE cash")[0]
    )
    with pytest.raises(ModelFileError, match="schema_version 1: the model carries no unicode tables"):
        PortableModel(model, tables=True)
    with pytest.raises(ModelFileError, match="the model: unknown key 'unicode'"):
        validate_model({**model, "unicode": {}})


def test_the_readme_spec_names_no_python_function_or_module():
    """README "Model JSON format" defines every step by itself: a client needs no Python to read it."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    spec = readme[readme.index("## Model JSON format (schema_version 2)") : readme.index("\n## Scores\n")]
    python_names = re.compile(
        r"sortbox[./]\w|\.py\b|unicodedata|\bstr\.\w|\bre\.\w|\bmath\.\w|python -m|\b[a-z_]+\(\)|\bimport\b"
    )
    assert not python_names.findall(spec)
    for step in (
        "null_text",
        "too_long",
        "empty_text",
        "control_characters",
        "empty_after_cleaning",
        "no_known_term",
        "1e-9",
    ):
        assert step in spec
