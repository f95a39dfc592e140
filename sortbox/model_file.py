"""Reading a model JSON as untrusted input: one validation for every reader, standard library only.

The portable scorer, `ScoreMessages`/`ScoreBatch` and the nightly gate (which loads the published
champion) all read model files through `read_model_file`, and every `PortableModel` checks its dict
with `validate_model`. A file is refused, with one line naming it and the first problem found,
unless it is exactly what sortbox writes (README "Model JSON format"):

- at most `MAX_FILE_BYTES`, UTF-8 JSON; NaN/Infinity, numbers that overflow to infinity, duplicate
  keys and nesting deeper than the parser's recursion limit are refused;
- every key present and no other, `schema_version` the integer 2 or 1 (`true` and `2.0` are not);
  a version-2 model's `unicode` tables well-formed (sorted, code points in range, bounded lengths);
- every field of its type, every number finite, thresholds and ROC AUCs in [0, 1], idf >= 0;
- `len(vocabulary) == len(idf) == len(weights)` of every class, every `surface_forms` word one match of
  the tokenizer and its index in range, `removed_ranges` sorted, disjoint and within U+0080..U+10FFFF;
- sizes bounded: terms, classes, golden entries, and the length of every string;
- the tokenizer is one of `TOKEN_PATTERNS`, the patterns sortbox itself writes (checked as a
  string, never compiled from the file): scoring time then depends on the texts and the size of
  the file only, never on a pattern someone wrote to backtrack.
"""
from __future__ import annotations

import json
import math
import os
import re
from functools import lru_cache
from pathlib import Path

from sortbox.unicode_tables import CLASSES, MAPPINGS, RANGES, parse_classes, parse_mappings, parse_ranges
from sortbox.wordlists import DEFAULT_TOKEN_PATTERN

SCHEMA_VERSION = 2
#: Versions a reader of this module accepts: 1 (no `unicode` tables: the text steps use the reading
#: Python's own Unicode data) and 2 (README "Model JSON format").
SCHEMA_VERSIONS = (1, 2)
#: The only tokenizer patterns a model may name: each is linear-time on any text with Python `re`
#: (`\w+(?:'\w+)*`: the apostrophe is not a \w character, so no two ways to match one text).
TOKEN_PATTERNS = (DEFAULT_TOKEN_PATTERN,)
_TOKENIZERS = {pattern: re.compile(pattern) for pattern in TOKEN_PATTERNS}
TOKENIZER_FIELDS = {"regex_flavour": "python-re", "input": "cleaned text"}
TFIDF = {"term_frequency": "raw count", "idf": "log2(documents / document frequency)", "normalization": "l2"}

MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_TERMS = 5_000_000
MAX_CLASSES = 1_000
MAX_GOLDEN = 10_000
MAX_WORD_CHARS = 10_000  # a stopword, surface form or vocabulary term
MAX_TEXT_CHARS = 1_000_000  # a golden text, a skip reason
MAX_LABEL_CHARS = 200  # ids, policies, stemmer names
MAX_REPLACEMENT_CHARS = 8  # a char_map replacement: bounds how much cleaning can grow a text
MAX_CHARS_LIMIT = 1 << 31  # quarantine.max_chars
CLASS_NAME = re.compile(r"[A-Za-z0-9_-]{1,200}")  # sortbox.rules' class names (rule file names)
UNICODE_VERSION = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}")
MAX_TABLE_CHARS = 1 << 22  # one unicode table's text (the largest, decompositions, is about 70,000)
MAX_DECOMPOSITION = 18  # code points in one full decomposition (U+FDFA has 18)
MAX_LOWERCASE = 3  # code points in one full lower-case mapping
MODEL_ID = re.compile(r"[0-9a-f]{64}")
RUN_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
NORMALIZATIONS = ("NFC", "NFKC", "NFD", "NFKD")
DIGITS = ("zero", "remove", "keep")

TOP_LEVEL_KEYS = {"schema_version", "run_date", "model_id", "cleaning", "quarantine", "tokenizer", "stopwords", "terms",
                  "vocabulary", "tfidf", "idf", "classes", "skipped_classes", "golden"}
UNICODE_KEYS = {
    "version",
    "decompositions",
    "combining_classes",
    "compositions",
    "lowercase",
    "cased",
    "case_ignorable",
    "word",
    "white_space",
    "decimal_digits",
}
CLASS_KEYS = {"weights", "intercept", "link", "threshold", "threshold_policy", "cv_roc_auc"}
GOLDEN_KEYS = {"id", "text", "cleaned", "words", "terms", "scores", "decisions", "unscorable"}


class ModelFileError(ValueError):
    """A model file or dict that is not a valid sortbox model: one line, naming the field."""


def read_model_file(path: str | os.PathLike) -> dict:
    """The validated model of the JSON file at `path`; ModelFileError naming the file otherwise."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ModelFileError(f"{size:,} bytes, more than the {MAX_FILE_BYTES:,} a model file may have")
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise ModelFileError(f"more than the {MAX_FILE_BYTES:,} bytes a model file may have")
        model = parse_model_json(data)
        validate_model(model)
    except ModelFileError as exc:
        raise ModelFileError(f"model file {path}: {exc}") from None
    except OSError as exc:
        raise ModelFileError(f"model file {path}: cannot read it ({exc.strerror or exc})") from None
    return model


def _refuse_constant(name: str):
    raise ModelFileError(f"{name} is not a number JSON allows")


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen = set()
        duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ModelFileError(f"key {duplicate[:50]!r} appears twice in one object")
    return result


def parse_model_json(data: bytes) -> object:
    """JSON text -> Python values, refusing NaN/Infinity, duplicate keys and runaway nesting."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelFileError(f"not UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise ModelFileError("JSON nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        if isinstance(exc, ModelFileError):
            raise
        raise ModelFileError(f"not valid JSON: {str(exc).splitlines()[0][:200]}") from None


# --- checks of one value; `where` is its path in the file, e.g. classes.spam.weights[3] ----------


def _describe(value: object) -> str:
    """A short description of any JSON value (never the repr of a big or deeply nested one)."""
    if type(value) is list:
        return f"an array of {len(value):,} entries"
    if type(value) is dict:
        return f"an object of {len(value):,} keys"
    if value is None or type(value) is bool:
        return json.dumps(value)
    if type(value) is str:
        return f"the string {value[:40]!r}{'...' if len(value) > 40 else ''}"
    text = repr(value)
    return f"the number {text[:40]}{'...' if len(text) > 40 else ''}"


def _fail(where: str, what: str, value: object) -> None:
    raise ModelFileError(f"{where}: must be {what}, got {_describe(value)}")


def _object(value: object, where: str, keys: set[str], *, optional: set[str] = frozenset()) -> dict:
    if type(value) is not dict:
        _fail(where, "an object", value)
    missing = sorted(keys - optional - value.keys())
    unknown = sorted(value.keys() - keys)
    if missing:
        raise ModelFileError(f"{where}: missing key {missing[0]!r}")
    if unknown:
        raise ModelFileError(f"{where}: unknown key {unknown[0][:50]!r}")
    return value


def _string(value: object, where: str, *, max_chars: int, min_chars: int = 0) -> str:
    if type(value) is not str:
        _fail(where, "a string", value)
    if not min_chars <= len(value) <= max_chars:
        raise ModelFileError(f"{where}: a string of {len(value):,} characters, must be {min_chars} to {max_chars:,}")
    return value


def _choice(value: object, where: str, allowed: tuple) -> object:
    if type(value) is not str or value not in allowed:
        _fail(where, "one of " + ", ".join(map(repr, allowed)), value)
    return value


def _boolean(value: object, where: str) -> bool:
    if type(value) is not bool:
        _fail(where, "true or false", value)
    return value


def _integer(value: object, where: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:  # type(True) is bool, not int
        _fail(where, f"an integer from {low:,} to {high:,}", value)
    return value


def _number(value: object, where: str, low: float = -math.inf, high: float = math.inf) -> float:
    if type(value) is float:
        if math.isfinite(value) and low <= value <= high:
            return value
    elif type(value) is int and -1e308 < value < 1e308 and low <= value <= high:
        return value
    bounds = "" if low == -math.inf else f" >= {low}" if high == math.inf else f" from {low} to {high}"
    _fail(where, f"a finite number{bounds}", value)


def _list(value: object, where: str, *, max_length: int, length: int | None = None) -> list:
    if type(value) is not list:
        _fail(where, "an array", value)
    if length is not None and len(value) != length:
        raise ModelFileError(f"{where}: {len(value):,} entries, must be {length:,} (one per vocabulary term)")
    if len(value) > max_length:
        raise ModelFileError(f"{where}: {len(value):,} entries, more than the {max_length:,} allowed")
    return value


def _numbers(value: object, where: str, *, length: int, low: float = -math.inf) -> list:
    _list(value, where, max_length=MAX_TERMS, length=length)
    for index, number in enumerate(value):
        # The common case (a float) is tested inline: this loop runs once per term and class.
        if type(number) is not float or not math.isfinite(number) or number < low:
            _number(number, f"{where}[{index}]", low)
    return value


def _strings(value: object, where: str, *, max_length: int, max_chars: int = MAX_WORD_CHARS) -> list:
    _list(value, where, max_length=max_length)
    for index, item in enumerate(value):
        if type(item) is not str or not 0 < len(item) <= max_chars:
            _string(item, f"{where}[{index}]", max_chars=max_chars, min_chars=1)
    return value


def _class_name(name: str, where: str) -> str:
    if not CLASS_NAME.fullmatch(name):
        raise ModelFileError(f"{where}: class name {name[:50]!r} must be 1 to 200 of A-Z a-z 0-9 _ -")
    return name


def _validate_cleaning(cleaning: object) -> None:
    _object(cleaning, "cleaning", {"char_map", "unicode_normalization", "removed_ranges", "lowercase", "digits"})
    char_map = cleaning["char_map"]
    if type(char_map) is not dict:
        _fail("cleaning.char_map", "an object", char_map)
    for source, target in char_map.items():
        if len(source) != 1:
            raise ModelFileError(f"cleaning.char_map: key {source[:20]!r} must be one character")
        _string(target, f"cleaning.char_map[{source!r}]", max_chars=MAX_REPLACEMENT_CHARS)
    _choice(cleaning["unicode_normalization"], "cleaning.unicode_normalization", NORMALIZATIONS)
    ranges = _list(cleaning["removed_ranges"], "cleaning.removed_ranges", max_length=0x110000)
    previous = 0x7F
    for index, pair in enumerate(ranges):
        where = f"cleaning.removed_ranges[{index}]"
        if type(pair) is not list or len(pair) != 2:
            _fail(where, "a [first, last] pair", pair)
        first = _integer(pair[0], f"{where}[0]", previous + 1, 0x10FFFF)
        _integer(pair[1], f"{where}[1]", first, 0x10FFFF)
        previous = pair[1]
    _boolean(cleaning["lowercase"], "cleaning.lowercase")
    _choice(cleaning["digits"], "cleaning.digits", DIGITS)


def _validate_golden(golden: object, class_names: set[str]) -> None:
    _list(golden, "golden", max_length=MAX_GOLDEN)
    for index, entry in enumerate(golden):
        where = f"golden[{index}]"
        _object(entry, where, GOLDEN_KEYS, optional=GOLDEN_KEYS - {"id", "text"})
        _string(entry["id"], f"{where}.id", max_chars=MAX_LABEL_CHARS)
        _string(entry["text"], f"{where}.text", max_chars=MAX_TEXT_CHARS)
        if "cleaned" in entry:
            _string(entry["cleaned"], f"{where}.cleaned", max_chars=MAX_TEXT_CHARS)
        for key in ("words", "terms"):
            if key in entry:
                _strings(entry[key], f"{where}.{key}", max_length=MAX_TEXT_CHARS)
        if "unscorable" in entry:
            _string(entry["unscorable"], f"{where}.unscorable", max_chars=MAX_LABEL_CHARS)
        for key, check in (
            ("scores", lambda v, w: _number(v, w, 0.0, 1.0)),
            ("decisions", lambda v, w: _integer(v, w, 0, 1)),
        ):
            if key in entry:
                values = _object(entry[key], f"{where}.{key}", class_names)
                for name, value in values.items():
                    check(value, f"{where}.{key}.{name}")


def _table_text(tables: dict, key: str, syntax: re.Pattern) -> str:
    text = tables[key]
    if type(text) is not str or len(text) > MAX_TABLE_CHARS:
        _fail(f"unicode.{key}", f"a string of at most {MAX_TABLE_CHARS:,} characters", text)
    if not syntax.fullmatch(text):
        raise ModelFileError(
            f'unicode.{key}: not in the table syntax of README "Model JSON format" (upper-case hex code points)'
        )
    return text


def _check_code_points(codes, where: str) -> None:
    for code in codes:
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise ModelFileError(f"{where}: {code:X} is not a character's code point")


def _check_ascending(keys: list, where: str) -> None:
    for index in range(1, len(keys)):
        if keys[index] <= keys[index - 1]:
            raise ModelFileError(f"{where}: entry {index + 1} is not after entry {index} (entries ascend, no overlap)")


def _validate_unicode(tables: object) -> None:
    """The `unicode` object of a schema-2 model: well-formed tables (their content is data)."""
    _object(tables, "unicode", UNICODE_KEYS)
    if type(tables["version"]) is not str or not UNICODE_VERSION.fullmatch(tables["version"]):
        _fail("unicode.version", "a Unicode version such as 14.0.0", tables["version"])
    for key in sorted(UNICODE_KEYS):
        if type(tables[key]) is not str or len(tables[key]) > MAX_TABLE_CHARS:
            _fail(f"unicode.{key}", f"a string of at most {MAX_TABLE_CHARS:,} characters", tables[key])
    _validate_unicode_texts(tuple(sorted(tables.items())))


@lru_cache(maxsize=8)
def _validate_unicode_texts(items: tuple[tuple[str, str], ...]) -> None:
    """The tables' content checks, remembered: every model of a Unicode version carries the same
    tables, and checking them costs about 0.1 s (an invalid table raises, and is not remembered)."""
    tables = dict(items)
    for key, width, longest in (
        ("decompositions", 1, MAX_DECOMPOSITION),
        ("lowercase", 1, MAX_LOWERCASE),
        ("compositions", 2, 1),
    ):
        entries = parse_mappings(_table_text(tables, key, MAPPINGS))
        for number, (source, target) in enumerate(entries, start=1):
            if len(source) != width or not 0 < len(target) <= longest:
                raise ModelFileError(f"unicode.{key}: entry {number} must map {width} code point(s) to 1 to {longest}")
            _check_code_points(source + target, f"unicode.{key}")
        _check_ascending([source for source, _ in entries], f"unicode.{key}")
    classes = parse_classes(_table_text(tables, "combining_classes", CLASSES))
    for first, last, klass in classes:
        _check_code_points((first, last), "unicode.combining_classes")
        if last < first or not 1 <= klass <= 254:
            raise ModelFileError(
                f"unicode.combining_classes: {first:04X}-{last:04X}:{klass} must be an ascending range "
                "and a class from 1 to 254"
            )
    _check_disjoint([(first, last) for first, last, _ in classes], "unicode.combining_classes")
    for key in ("cased", "case_ignorable", "word", "white_space", "decimal_digits"):
        ranges = parse_ranges(_table_text(tables, key, RANGES))
        for first, last in ranges:
            _check_code_points((first, last), f"unicode.{key}")
        _check_disjoint(ranges, f"unicode.{key}")
        # U+03A3 case-ignorable would let one text make the final sigma rule scan it once per sigma.
        if key == "case_ignorable" and any(first <= 0x03A3 <= last for first, last in ranges):
            raise ModelFileError(
                "unicode.case_ignorable: must not hold U+03A3 (the capital sigma the final sigma rule looks around)"
            )


def _check_disjoint(ranges: list[tuple[int, int]], where: str) -> None:
    previous = -1
    for number, (first, last) in enumerate(ranges, start=1):
        if first <= previous or last < first:
            raise ModelFileError(
                f"{where}: range {number} ({first:04X}-{last:04X}) is not ascending, or overlaps the one before"
            )
        previous = last


def validate_model(model: object) -> dict:
    """`model` unchanged if it is a valid schema-1 or schema-2 model dict; ModelFileError naming the first bad field."""
    if type(model) is dict and model.get("schema_version") == 1 and type(model["schema_version"]) is int:
        _object(model, "the model", TOP_LEVEL_KEYS)
    else:
        _object(model, "the model", TOP_LEVEL_KEYS | {"unicode"})
    version = model["schema_version"]
    if type(version) is not int or version not in SCHEMA_VERSIONS:
        _fail(
            "schema_version", f"the integer {SCHEMA_VERSION} (or 1, an older model; no other version is read)", version
        )
    if version >= 2:
        _validate_unicode(model["unicode"])
    if type(model["run_date"]) is not str or not RUN_DATE.fullmatch(model["run_date"]):
        _fail("run_date", "a YYYY-MM-DD date", model["run_date"])
    if type(model["model_id"]) is not str or not MODEL_ID.fullmatch(model["model_id"]):
        _fail("model_id", "64 lower-case hex digits", model["model_id"])
    _validate_cleaning(model["cleaning"])
    quarantine = _object(model["quarantine"], "quarantine", {"max_chars", "control_characters"})
    _integer(quarantine["max_chars"], "quarantine.max_chars", 1, MAX_CHARS_LIMIT)
    _boolean(quarantine["control_characters"], "quarantine.control_characters")
    tokenizer = _object(model["tokenizer"], "tokenizer", {"pattern", *TOKENIZER_FIELDS})
    if tokenizer["pattern"] not in TOKEN_PATTERNS:
        _fail(
            "tokenizer.pattern",
            "the pattern sortbox writes, " + " or ".join(map(repr, TOKEN_PATTERNS)) + " (no other pattern is run)",
            tokenizer["pattern"],
        )
    for key, expected in TOKENIZER_FIELDS.items():
        _choice(tokenizer[key], f"tokenizer.{key}", (expected,))
    if model["tfidf"] != TFIDF:
        _fail("tfidf", f"exactly {TFIDF}", model["tfidf"])

    idf = _list(model["idf"], "idf", max_length=MAX_TERMS)
    terms = len(idf)
    if terms == 0:
        raise ModelFileError("idf: no term (a model needs at least one)")
    _numbers(idf, "idf", length=terms, low=0.0)
    _strings(model["vocabulary"], "vocabulary", max_length=MAX_TERMS)
    if len(model["vocabulary"]) != terms:
        raise ModelFileError(f"vocabulary: {len(model['vocabulary']):,} terms but idf has {terms:,}")
    _strings(model["stopwords"], "stopwords", max_length=MAX_TERMS)
    term_spec = _object(model["terms"], "terms", {"stemmer", "surface_forms"})
    if term_spec["stemmer"] is not None:
        _string(term_spec["stemmer"], "terms.stemmer", max_chars=MAX_LABEL_CHARS)
    forms = term_spec["surface_forms"]
    if type(forms) is not dict:
        _fail("terms.surface_forms", "an object", forms)
    if len(forms) > MAX_TERMS * 16:
        raise ModelFileError(f"terms.surface_forms: {len(forms):,} words, more than the {MAX_TERMS * 16:,} allowed")
    # Only words the tokenizer can find: any other (e.g. 'free\0') is never looked up by the
    # portable scorer, but ScoreBatch's word table packs words NUL-padded and would read it as 'free'.
    whole_word = _TOKENIZERS[tokenizer["pattern"]].fullmatch
    for word, index in forms.items():
        if not 0 < len(word) <= MAX_WORD_CHARS:
            raise ModelFileError(
                f"terms.surface_forms: a word of {len(word):,} characters, must be 1 to {MAX_WORD_CHARS:,}"
            )
        if not whole_word(word):
            raise ModelFileError(
                f"terms.surface_forms: {word[:40]!r} is not a word the tokenizer finds (one match of tokenizer.pattern)"
            )
        if type(index) is not int or not 0 <= index < terms:
            _fail(f"terms.surface_forms[{word[:40]!r}]", f"a vocabulary index from 0 to {terms - 1:,}", index)

    classes = model["classes"]
    if type(classes) is not dict or not 0 < len(classes) <= MAX_CLASSES:
        _fail("classes", f"an object of 1 to {MAX_CLASSES:,} classes", classes)
    for name, spec in classes.items():
        where = f"classes.{_class_name(name, 'classes')}"
        _object(spec, where, CLASS_KEYS)
        _numbers(spec["weights"], f"{where}.weights", length=terms)
        _number(spec["intercept"], f"{where}.intercept")
        _choice(spec["link"], f"{where}.link", ("logistic",))
        _number(spec["threshold"], f"{where}.threshold", 0.0, 1.0)
        _string(spec["threshold_policy"], f"{where}.threshold_policy", max_chars=MAX_LABEL_CHARS)
        _number(spec["cv_roc_auc"], f"{where}.cv_roc_auc", 0.0, 1.0)
    skipped = model["skipped_classes"]
    if type(skipped) is not dict or len(skipped) > MAX_CLASSES:
        _fail("skipped_classes", f"an object of at most {MAX_CLASSES:,} classes", skipped)
    for name, reason in skipped.items():
        _class_name(name, "skipped_classes")
        if reason is not None:
            _string(reason, f"skipped_classes.{name}", max_chars=MAX_TEXT_CHARS)
    _validate_golden(model["golden"], set(classes))
    return model
