"""A model file is untrusted input (sortbox.model_file): every bad file is refused with one line
naming it and the field, never a traceback or a hang, whatever its content."""
import json
import os
import resource
import subprocess
import sys

import pytest

from sortbox import model_file
from sortbox.export import model_json_bytes
from sortbox.model_file import ModelFileError, read_model_file, validate_model
from sortbox.portable_scorer import PortableModel
from sortbox.wordlists import DEFAULT_TOKEN_PATTERN
from tests.conftest import REPO_ROOT
from tests.model_fuzz import KINDS, mutations
from tests.unit.test_export_scoring import tiny_model


def edited(edit):
    model = json.loads(model_json_bytes(tiny_model()))
    edit(model)
    return model


def put(path, value):
    def edit(model):
        target = model
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return edit


@pytest.mark.parametrize(
    "edit, message",
    [
        (put(["schema_version"], True), r"schema_version: must be the integer 2 .*, got true"),
        (put(["schema_version"], 2.0), r"schema_version: must be the integer 2 .*, got the number 2.0"),
        (put(["schema_version"], "2"), r"schema_version: must be the integer 2 .*, got the string '2'"),
        (put(["idf", 1], float("nan")), r"idf\[1\]: must be a finite number >= 0.0, got the number nan"),
        (put(["idf", 1], -1.0), r"idf\[1\]: must be a finite number >= 0.0"),
        (
            put(["classes", "spam", "weights", 0], float("inf")),
            r"classes.spam.weights\[0\]: must be a finite number, got the number inf",
        ),
        (
            put(["classes", "spam", "weights", 0], "0.5"),
            r"classes.spam.weights\[0\]: must be a finite number, got the string '0.5'",
        ),
        (
            put(["classes", "spam", "weights"], [0.1] * 3),
            r"classes.spam.weights: 3 entries, must be 4 \(one per vocabulary term\)",
        ),
        (put(["vocabulary"], ["call", "free"]), r"vocabulary: 2 terms but idf has 4"),
        (
            put(["terms", "surface_forms", "call"], 4),
            r"terms.surface_forms\['call'\]: must be a vocabulary index from 0 to 3, got the number 4",
        ),
        (
            put(["terms", "surface_forms", "call"], True),
            r"terms.surface_forms\['call'\]: must be a vocabulary index .*, got true",
        ),
        (put(["terms", "surface_forms", "call"], -1), r"terms.surface_forms\['call'\]: must be a vocabulary index"),
        # Words no text can produce: ScoreBatch's word table would read 'free\0' as 'free' and score unlike the
        # portable scorer.
        (
            put(["terms", "surface_forms", "free\0"], 3),
            r"terms.surface_forms: 'free\\x00' is not a word the tokenizer finds",
        ),
        (
            put(["terms", "surface_forms", "free prize"], 3),
            r"terms.surface_forms: 'free prize' is not a word the tokenizer finds",
        ),
        (put(["terms", "surface_forms", "$$"], 3), r"terms.surface_forms: '\$\$' is not a word the tokenizer finds"),
        (
            put(["tokenizer", "pattern"], "(a+)+$"),
            r"tokenizer.pattern: must be the pattern sortbox writes, .*got the string '\(a\+\)\+\$'",
        ),
        (
            put(["tokenizer", "pattern"], DEFAULT_TOKEN_PATTERN + "|(x+x+)+y"),
            r"tokenizer.pattern: must be the pattern sortbox writes",
        ),
        (put(["tokenizer", "regex_flavour"], "pcre"), r"tokenizer.regex_flavour: must be one of 'python-re'"),
        (
            put(["classes", "spam", "threshold"], 1.5),
            r"classes.spam.threshold: must be a finite number from 0.0 to 1.0, got the number 1.5",
        ),
        (put(["classes", "spam", "link"], "probit"), r"classes.spam.link: must be one of 'logistic'"),
        (put(["quarantine", "max_chars"], 0), r"quarantine.max_chars: must be an integer from 1 to"),
        (put(["quarantine", "max_chars"], True), r"quarantine.max_chars: must be an integer .*, got true"),
        (
            put(["cleaning", "digits"], "roman"),
            r"cleaning.digits: must be one of 'zero', 'remove', 'keep', got the string 'roman'",
        ),
        (
            put(["cleaning", "char_map", "x"], "y" * 1000),
            r"cleaning.char_map\['x'\]: a string of 1,000 characters, must be 0 to 8",
        ),
        (put(["cleaning", "char_map", "xy"], "z"), r"cleaning.char_map: key 'xy' must be one character"),
        (
            put(["cleaning", "removed_ranges"], [[0x2000, 0x2001], [0x1000, 0x1001]]),
            r"cleaning.removed_ranges\[1\]\[0\]: must be an integer from 8,194 to 1,114,111",
        ),
        (
            put(["cleaning", "removed_ranges"], [[0x41, 0x5A]]),
            r"cleaning.removed_ranges\[0\]\[0\]: must be an integer from 128",
        ),
        (
            put(["stopwords"], ["a", "b" * 20_000]),
            r"stopwords\[1\]: a string of 20,000 characters, must be 1 to 10,000",
        ),
        (put(["stopwords"], [[[[["deep"]]]]]), r"stopwords\[0\]: must be a string, got an array of 1 entries"),
        (put(["classes"], {}), r"classes: must be an object of 1 to 1,000 classes, got an object of 0 keys"),
        (
            lambda m: m["classes"].update({"sp\nam": m["classes"]["spam"]}),
            r"classes: class name 'sp\\nam' must be 1 to 200 of A-Z a-z 0-9 _ -",
        ),
        (lambda m: m.update(extra=1), r"the model: unknown key 'extra'"),
        (lambda m: m.pop("idf"), r"the model: missing key 'idf'"),
        (lambda m: m["classes"]["spam"].pop("intercept"), r"classes.spam: missing key 'intercept'"),
        (put(["golden", 0, "scores"], {"spam": 0.5, "ham": 0.5}), r"golden\[0\].scores: unknown key 'ham'"),
        (put(["model_id"], "x" * 64), r"model_id: must be 64 lower-case hex digits"),
    ],
)
def test_bad_model_fields_are_refused_naming_the_field(edit, message):
    with pytest.raises(ModelFileError, match=message):
        validate_model(edited(edit))
    with pytest.raises(ModelFileError, match=message):
        PortableModel(edited(edit))  # every reader goes through the same check


def test_a_valid_model_passes_unchanged():
    model = edited(lambda m: None)
    assert validate_model(model) is model


GOOD = model_json_bytes(tiny_model())


@pytest.mark.parametrize(
    "content, message",
    [
        (GOOD.replace(b'"intercept":-0.5', b'"intercept":NaN'), "NaN is not a number JSON allows"),
        (GOOD.replace(b'"intercept":-0.5', b'"intercept":-Infinity'), "-Infinity is not a number JSON allows"),
        (
            GOOD.replace(b'"intercept":-0.5', b'"intercept":1e999'),
            r"classes.spam.intercept: must be a finite number, got the number inf",
        ),
        (
            GOOD.replace(b'"intercept":-0.5', b'"intercept":' + b"9" * 5000),
            r"not valid JSON: Exceeds the limit \(4300 digits\)",
        ),
        (
            GOOD.replace(b'"schema_version":2', b'"schema_version":2,"schema_version":2'),
            "key 'schema_version' appears twice in one object",
        ),
        (
            GOOD.replace(b'"stopwords":[', b'"stopwords":[' + b"[" * 100_000 + b"]" * 100_000 + b","),
            "JSON nested too deeply",
        ),
        (GOOD[: len(GOOD) // 2], "not valid JSON: "),
        (b"", "not valid JSON: Expecting value at line 1 column 1"),
        (GOOD.replace(b'"call"', b'"c\xffall"', 1), r"not UTF-8 \(byte \d+\)"),
        (b"[1, 2]", "the model: must be an object, got an array of 2 entries"),
        (None, "cannot read it"),
    ],
)
def test_bad_model_files_are_refused_naming_the_file(tmp_path, content, message):
    path = tmp_path / "model.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelFileError, match=f"^model file {path}: {message}") as refused:
        read_model_file(path)
    assert "\n" not in str(refused.value)


def test_a_file_over_the_size_limit_is_refused_before_it_is_parsed(tmp_path, monkeypatch):
    path = tmp_path / "model.json"
    path.write_bytes(GOOD)
    monkeypatch.setattr(model_file, "MAX_FILE_BYTES", len(GOOD) - 1)
    with pytest.raises(
        ModelFileError,
        match=f"model file {path}: {len(GOOD):,} bytes, more than the {len(GOOD) - 1:,} a model file may have",
    ):
        read_model_file(path)


FUZZ_FILES = 2_016  # 224 of each kind
HOSTILE_MESSAGES = "id,text\n" + "".join(
    f"{number},{text}\n"
    for number, text in enumerate(
        [
            "free prize call",
            "a" * 5000 + "!",
            "love " * 2000,
            "x" * 30 + "\u00e9" * 30,
            "\U0001f600",
            "",
            "call'" * 500,
        ],
        start=1,
    )
)


def test_fuzzed_model_files_exit_0_or_2_in_time_never_a_traceback(tmp_path):
    """2,016 mutated model files (tests/model_fuzz.py: wrong types, NaN/Infinity, huge and deeply
    nested values, hostile patterns, truncation, byte edits, broken structure, harmless edits):
    the portable scorer's main() on each, in one worker process, exits 0 or 2 within 2 s of CPU with one
    line on stderr; a few files also run as `python -m sortbox.portable_scorer`."""
    messages = tmp_path / "messages.csv"
    messages.write_text(HOSTILE_MESSAGES, encoding="utf-8")
    files = []
    for number, (kind, data) in enumerate(mutations(tiny_model(), FUZZ_FILES, seed=13)):
        path = tmp_path / f"{number:04d}-{kind}.json"
        path.write_bytes(data)
        files.append(path)
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    try:
        worker = subprocess.run(
            [sys.executable, "-m", "tests.model_fuzz", str(messages)],
            input=json.dumps(list(map(str, files))),
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            env=environment,
            timeout=120,
        )
    except subprocess.TimeoutExpired as stuck:
        started = [
            json.loads(line) for line in (stuck.stdout or b"").decode().splitlines() if line.startswith('{"start"')
        ]
        pytest.fail(f"the scorer hung on {started[-1]['start'] if started else 'the first file'}")
    assert worker.returncode == 0, worker.stderr[-3000:]
    results = [json.loads(line) for line in worker.stdout.splitlines() if not line.startswith('{"start"')]
    assert len(results) == FUZZ_FILES
    codes = {0: [], 2: []}
    for result in results:
        assert result["escaped"] is None, f"{result['path']}: {result['escaped']}"
        assert result["code"] in (0, 2), result
        assert result["cpu_seconds"] < 2, result
        if result["code"] == 2:
            assert result["stderr"] == [result["stderr"][0]] and result["stderr"][0].startswith(
                f"portable_scorer: model file {result['path']}: "
            ), result
        else:
            assert result["stderr"][-1].startswith("portable_scorer: ") and "scored" in result["stderr"][-1], result
        codes[result["code"]].append(result["path"])
    assert sum("-valid.json" in path for path in codes[0]) == FUZZ_FILES // len(KINDS)  # harmless edits still score
    for kind in KINDS[:-1]:  # every kind of damage is refused at least once
        assert any(f"-{kind}.json" in path for path in codes[2]), kind

    # The command line on a few of them: the same exit codes, one line, no traceback.
    chosen = {path for path in codes[2] if "-pattern" in path or "-deep" in path}
    for path in sorted(chosen)[:6] + codes[0][:2]:
        started = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(
            [sys.executable, "-m", "sortbox.portable_scorer", path, str(messages)],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            timeout=60,  # a hang; the bound on the work is the CPU time below
        )
        finished = resource.getrusage(resource.RUSAGE_CHILDREN)
        assert (finished.ru_utime + finished.ru_stime) - (started.ru_utime + started.ru_stime) < 2
        expected = next(r for r in results if r["path"] == path)
        assert done.returncode == expected["code"] and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.splitlines()[-1] == expected["stderr"][-1]
