"""The Java reference client (clients/java/SortboxScorer.java), compiled once, run with a Turkish
default locale: it passes the conformance suite and writes the Python scorer's scores.csv and
unscorable rows for every row of the sample and for 10,000 adversarial texts (one JVM per run).
javac missing: skipped, and failed under CI=true (scripts/test.sh installs a JDK there)."""

from __future__ import annotations

import collections
import csv
import io
import json
import math
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sortbox.portable_scorer import PortableModel
from sortbox.portable_scorer import main as python_scorer
from sortbox.sample_data import read_sms_collection
from tests.conftest import REPO_ROOT, SMS_TSV
from tests.unit.test_conformance import _script

SOURCE = REPO_ROOT / "clients" / "java" / "SortboxScorer.java"
SUITE = REPO_ROOT / "tests" / "conformance"
TURKISH = ["-Duser.language=tr", "-Duser.country=TR"]
TOLERANCE = json.loads((SUITE / "cases.json").read_text())["tolerance"]


@pytest.fixture(scope="module")
def java(tmp_path_factory) -> list[str]:
    """The command running the compiled client with a Turkish default locale."""
    if not shutil.which("javac") or not shutil.which("java"):
        if os.environ.get("CI") == "true":
            pytest.fail("javac/java not found: CI needs a JDK (scripts/test.sh installs default-jdk-headless as root)")
        pytest.skip("no JDK (javac) on this machine")
    classes = tmp_path_factory.mktemp("java-classes")
    subprocess.run(["javac", "-d", str(classes), str(SOURCE)], check=True, capture_output=True, text=True, timeout=300)
    return ["java", *TURKISH, "-cp", str(classes), "SortboxScorer"]


def test_the_java_client_passes_the_conformance_suite(java):
    result = subprocess.run(
        [*java, "--conformance", str(SUITE / "cases.json")], capture_output=True, text=True, timeout=300
    )
    cases = len(json.loads((SUITE / "cases.json").read_text())["cases"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == f"conformance: {cases} cases, 0 failed"


def _sample_model() -> dict:
    """A made-up model over the sample's own words (seeded weights): every sample row exercises
    cleaning, words and scoring with a vocabulary that matches it. Never published."""
    script = _script()
    scorer = PortableModel(
        script.make_model(normalization="NFKC", lowercase=True, digits="zero", controls=True), tables=False
    )
    counts = collections.Counter()
    for _, text in read_sms_collection(SMS_TSV):
        cleaned, reason = scorer.clean(text)
        if not reason:
            counts.update(set(scorer.words(cleaned)))
    rng = random.Random(18)
    stopwords = ["a", "the", "to", "you"]
    terms = {
        word: (math.log2(5574 / n), rng.gauss(0, 2), rng.gauss(0, 2))
        for word, n in sorted(counts.items())
        if n >= 2 and word not in stopwords
    }
    return script.make_model(
        normalization="NFKC",
        lowercase=True,
        digits="zero",
        controls=True,
        terms=terms,
        other_forms={},
        stopwords=stopwords,
    )


def _score_both(
    java: list[str], model: dict, messages_csv: str, tmp_path: Path
) -> tuple[tuple[str, str], tuple[str, str]]:
    """((scores, unscorable) of the Python scorer, (scores, unscorable) of the Java client)."""
    (tmp_path / "model.json").write_text(json.dumps(model), encoding="utf-8")
    (tmp_path / "messages.csv").write_bytes(messages_csv.encode("utf-8"))
    out = io.StringIO()
    sys_stdout, sys.stdout = sys.stdout, out
    try:
        assert (
            python_scorer(
                [
                    str(tmp_path / "model.json"),
                    str(tmp_path / "messages.csv"),
                    "--unscorable",
                    str(tmp_path / "python-unscorable.csv"),
                ]
            )
            == 0
        )
    finally:
        sys.stdout = sys_stdout
    result = subprocess.run(
        [
            *java,
            str(tmp_path / "model.json"),
            str(tmp_path / "messages.csv"),
            "--unscorable",
            str(tmp_path / "java-unscorable.csv"),
        ],
        capture_output=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    read = lambda name: (tmp_path / name).read_text(encoding="utf-8")  # noqa: E731
    return (out.getvalue(), read("python-unscorable.csv")), (result.stdout.decode("utf-8"), read("java-unscorable.csv"))


def _assert_same_scores(python: tuple[str, str], java: tuple[str, str], thresholds: dict[str, float]) -> int:
    """Same rows, ids, unscorable reasons and decisions; scores within the tolerance (a decision
    may differ only for a score within the tolerance of its threshold). Returns the rows compared."""
    assert java[1] == python[1]  # unscorable rows: byte for byte
    python_rows = list(csv.reader(io.StringIO(python[0])))
    java_rows = list(csv.reader(io.StringIO(java[0])))
    assert java_rows[0] == python_rows[0] and len(java_rows) == len(python_rows)
    names = [column[: -len("_score")] for column in python_rows[0][1::2]]
    for expected, got in zip(python_rows[1:], java_rows[1:]):
        assert got[0] == expected[0]
        for column, name in enumerate(names):
            score, java_score = float(expected[1 + 2 * column]), float(got[1 + 2 * column])
            assert abs(score - java_score) <= TOLERANCE, (expected[0], name, score, java_score)
            if abs(score - thresholds[name]) > TOLERANCE:
                assert got[2 + 2 * column] == expected[2 + 2 * column], (expected[0], name)
    return len(python_rows) - 1


def _csv(rows: list[tuple[str, str | None]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["id", "text"])
    for message_id, text in rows:
        writer.writerow([message_id] if text is None else [message_id, text])  # a short row: a NULL text
    return "\ufeff" + out.getvalue()


def test_java_and_python_agree_on_every_row_of_the_sample(java, tmp_path):
    model = _sample_model()
    rows = [(str(number), text) for number, (_, text) in enumerate(read_sms_collection(SMS_TSV), start=1)]
    python, java_output = _score_both(java, model, _csv(rows), tmp_path)
    thresholds = {name: spec["threshold"] for name, spec in model["classes"].items()}
    assert _assert_same_scores(python, java_output, thresholds) + len(python[1].splitlines()) - 1 == len(rows)


#: Pieces adversarial texts are made of: what made a naive port diverge, and CSV's hard cases.
PIECES = [
    "\u0130",
    "\u0131",
    "I",
    "i",
    "\u03a3",
    "\u03c3",
    "\u03c2",
    "\u039f\u0394\u039f\u03a3",
    "\u212a",
    "\u212b",
    "\x85",
    "\xa0",
    "\u3000",
    "\u2028",
    "\u2029",
    "\u1680",
    "\ufeff",
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\xad",
    "\x7f",
    "\x81",
    "\x92",
    "\x9f",
    "\x00",
    "\t",
    "\n",
    "\r",
    "\r\n",
    "\x0b",
    "\x1c",
    "\u0301",
    "\u0308",
    "\u0327",
    "\u0316",
    "\u0345",
    "\u093c",
    "\u3099",
    "\u0660",
    "\u0966",
    "\uff11",
    "\U0001d7ce",
    "\u2155",
    "\xb2",
    "\u2460",
    "\u216b",
    "\u3007",
    "\uff26\uff32\uff25\uff25",
    "\ufb01",
    "\ufb04",
    "\ufdfa",
    "\u1100\u1161\u11a8",
    "\uac00",
    "\uff76\uff9e",
    "\U0001f600",
    "\U0001f468\u200d\U0001f469",
    "\u2764\ufe0f",
    "\U00010400",
    "\U00020000",
    "\ue000",
    "\U000e0080",
    "'",
    "''",
    "\u2019",
    '"',
    '""',
    ",",
    " ",
    "   ",
    "$",
    "\xa3",
    "\u20ac",
    "\xa5",
    "\u20b9",
    "0",
    "07781",
    "=",
    "+",
    "-",
    "@",
    "\u01c5",
    "\u1e9e",
    "\xdf",
    "\u0f73",
    "\u0b47\u0b3e",
    "\U0001d15e",
]


def adversarial_rows(count: int, words: list[str], seed: int) -> list[tuple[str, str | None]]:
    """`count` (id, text) rows from `seed`: model words in several cases joined with PIECES and
    random code points; a few texts at and over max_chars, a few NULL texts, hostile ids."""
    rng = random.Random(seed)
    rows = []
    for number in range(count):
        parts = []
        for _ in range(rng.randint(1, 12)):
            roll = rng.random()
            if roll < 0.35:
                word = rng.choice(words)
                parts.append(rng.choice([word, word.upper(), word.capitalize(), word.title()]))
            elif roll < 0.8:
                parts.append(rng.choice(PIECES))
            else:
                code = rng.choice(
                    [rng.randrange(0x80, 0x3000), rng.randrange(0x3000, 0x10000), rng.randrange(0x10000, 0x110000)]
                )
                parts.append(chr(code) if not 0xD800 <= code <= 0xDFFF else "x")
            if rng.random() < 0.5:
                parts.append(" ")
        text = "".join(parts)
        if number % 997 == 0:
            text = rng.choice(["\U0001f600", " ", "a"]) * rng.choice([19_999, 20_000, 20_001]) + text[:1]
        if number % 1499 == 0:
            text = None
        message_id = rng.choice(
            [
                f"a-{number}",
                f"={number}",
                f"-{number}",
                f"'{number}",
                f"+{number}.5",
                f"id,{number}",
                f'"{number}"',
                f"n\n{number}",
                f"r\r{number}",
                f"\u0130{number}",
            ]
        )
        rows.append((message_id, text))
    return rows


def test_java_and_python_agree_on_10000_adversarial_texts(java, tmp_path):
    model = _script().make_model(normalization="NFKC", lowercase=True, digits="zero", controls=True)
    rows = adversarial_rows(10_000, sorted(model["terms"]["surface_forms"]), seed=18)
    python, java_output = _score_both(java, model, _csv(rows), tmp_path)
    thresholds = {name: spec["threshold"] for name, spec in model["classes"].items()}
    compared = _assert_same_scores(python, java_output, thresholds)
    assert compared > 2_000  # enough rows were scored, not only quarantined
    assert compared + len(list(csv.reader(io.StringIO(python[1])))) - 1 == len(rows)


def test_java_refuses_a_version_1_model_clearly(java, tmp_path):
    model = json.loads((SUITE / "model-zero.json").read_text())
    del model["unicode"]
    model["schema_version"] = 1
    (tmp_path / "v1.json").write_text(json.dumps(model))
    (tmp_path / "messages.csv").write_text("id,text\n1,free\n")
    result = subprocess.run(
        [*java, str(tmp_path / "v1.json"), str(tmp_path / "messages.csv")], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"SortboxScorer: model file {tmp_path / 'v1.json'}: schema_version 1: this client reads schema_version 2 only"
        " (version 1 carries no unicode tables;"
        " score it with python -m sortbox.portable_scorer, or export the model again)"
    ]
