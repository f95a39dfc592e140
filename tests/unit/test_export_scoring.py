"""The model JSON (sortbox.export), the stdlib scorer and the vectorised scorer on a tiny model."""
import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest

from sortbox.export import EDGE_CASE_TEXTS, build_model, content_id, model_json_bytes
from sortbox.portable_scorer import PortableModel, csv_safe, logistic, main, score_csv
from sortbox.scoring import VectorModel
from sortbox.textnorm import default_cleaning_spec
from tests.conftest import REPO_ROOT

VOCABULARY = ["call", "free", "love", "prize"]
BASIS = np.array([[0.5, 0.1], [0.7, -0.2], [-0.6, 0.9], [0.8, 0.0]])


def tiny_model(**overrides):
    arguments = dict(
        run_date="2026-11-23",
        cleaning_spec=default_cleaning_spec(),
        max_chars=100,
        quarantine_controls=True,
        token_pattern=r"\w+(?:'\w+)*|[$£€¥]",
        stopwords=["you", "a"],
        stemmer="snowball-english",
        vocabulary=VOCABULARY,
        surface_forms={
            "call": "call",
            "calling": "call",
            "free": "free",
            "love": "love",
            "loving": "love",
            "prize": "prize",
            "prizes": "prize",
            "gone": "gone",
        },
        idf=np.array([1.0, 2.0, 1.5, 0.0]),
        basis=BASIS,
        classifiers={
            "spam": {
                "status": "trained",
                "coef": [2.0, -1.0],
                "intercept": -0.5,
                "threshold": {"threshold": 0.6, "policy": "max_f1"},
                "roc_auc": 0.99,
            },
            "rare": {"status": "skipped", "reason": "2 positive messages, fewer than the 5 cross-validation folds"},
        },
    )
    return build_model(**{**arguments, **overrides})


def test_weights_are_folded_per_term_and_skipped_classes_listed():
    model = tiny_model()
    np.testing.assert_allclose(model["classes"]["spam"]["weights"], BASIS @ np.array([2.0, -1.0]))
    assert model["skipped_classes"] == {"rare": "2 positive messages, fewer than the 5 cross-validation folds"}
    assert "gone" not in model["terms"]["surface_forms"]  # its term is not in the vocabulary
    assert model["terms"]["surface_forms"]["prizes"] == 3


def test_score_by_hand():
    scores, reason = PortableModel(tiny_model()).score("Free free call")
    # counts: free 2, call 1 -> weights 4 (idf 2) and 1 (idf 1), L2-normalised.
    norm = (4**2 + 1**2) ** 0.5
    per_term = BASIS @ np.array([2.0, -1.0])
    expected = logistic(-0.5 + 4 / norm * per_term[1] + 1 / norm * per_term[0])
    assert reason is None and scores[0] == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize(
    "text, reason",
    [
        (None, "quarantined:null_text"),
        ("", "quarantined:empty_text"),
        ("x" * 101, "quarantined:too_long"),
        ("a\x00b", "quarantined:control_characters"),
        ("\U0001F600", "quarantined:empty_after_cleaning"),
        ("you a", "no_known_term"),  # only stopwords
        ("prize prize", "no_known_term"),  # idf 0: carries no weight
    ],
)
def test_unscorable_reasons(text, reason):
    assert PortableModel(tiny_model()).score(text) == (None, reason)


def test_golden_vectors_replay():
    model = tiny_model()
    scorer = PortableModel(model)
    golden = {g["id"]: g for g in model["golden"]}
    assert golden["edge-control"]["unscorable"] == "quarantined:control_characters"
    assert {i for i, _ in EDGE_CASE_TEXTS} < set(golden)
    for entry in model["golden"]:
        scores, reason = scorer.score(entry["text"])
        assert (reason or None) == entry.get("unscorable")
        if scores:
            assert scores == [entry["scores"][name] for name in scorer.class_names]


def test_golden_texts_are_made_up_from_the_vocabulary():
    model = tiny_model()
    synthetic = [g for g in model["golden"] if g["id"].startswith("golden-")]
    assert len(synthetic) >= 20 and len(model["golden"]) == len(synthetic) + len(EDGE_CASE_TEXTS)
    # per class, its strongest words each way first: "prize" has idf 0, so never chosen
    weights = dict(zip(VOCABULARY, model["classes"]["spam"]["weights"]))
    assert synthetic[0]["terms"] == sorted(
        ["call", "free", "love"], key=lambda t: -weights[t] * dict(zip(VOCABULARY, [1.0, 2.0, 1.5, 0.0]))[t]
    )
    assert {"scores", "unscorable"} & set(synthetic[0])
    decisions = {g["decisions"]["spam"] for g in synthetic if "decisions" in g}
    assert decisions == {0, 1}, "both decisions are exercised"
    known = set(model["terms"]["surface_forms"]) | set(model["stopwords"]) | {"zzqxv"}
    for entry in synthetic:  # every word is a word of the model (or the one made-up unknown word)
        assert set(entry.get("words", [])) <= known, entry


def test_json_is_deterministic_and_identified_by_content():
    first, second = tiny_model(), tiny_model()
    assert model_json_bytes(first) == model_json_bytes(second)
    assert first["model_id"] == content_id(first) == content_id(tiny_model(run_date="2030-01-01"))
    changed = tiny_model(idf=np.array([1.0, 2.0, 1.5, 0.1]))
    assert changed["model_id"] != first["model_id"]


def test_no_trained_class_is_an_error():
    with pytest.raises(ValueError, match="no class could be trained"):
        tiny_model(classifiers={"rare": {"status": "skipped", "reason": "x"}})


def test_vectorised_scorer_equals_stdlib_scorer():
    model = tiny_model()
    portable, vector = PortableModel(model), VectorModel(model)
    texts = ["free prize call", "loving you", "calling calling free", "nothing known", "prizes"]
    cleaned = [portable.clean(t)[0] for t in texts]
    scores, known = vector.score(cleaned)
    assert known.tolist() == [True, True, True, False, False]
    for row, text in enumerate(texts):
        expected, _ = portable.score(text)
        if expected:
            assert abs(scores[row, 0] - expected[0]) < 1e-12


@pytest.mark.parametrize(
    "value, safe",
    [
        ("=cmd|'/c calc'!A1", "'=cmd|'/c calc'!A1"),
        ("+1+1", "'+1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-5", "-5"),
        ("-2.5e3", "-2.5e3"),
        ("abc", "abc"),
        ("\tx", "'\tx"),
    ],
)
def test_csv_formula_injection_is_defused(value, safe):
    assert csv_safe(value) == safe


def test_cli_round_trip(tmp_path, capsys):
    model_path = tmp_path / "model.json"
    model_path.write_bytes(model_json_bytes(tiny_model()))
    messages = tmp_path / "messages.csv"
    messages.write_text("id,text\n1,free prize\n=2,call me\n3,\n", encoding="utf-8")
    assert main([str(model_path), str(messages), "--unscorable", str(tmp_path / "bad.csv")]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["id", "spam_score", "spam_decision"] and [r[0] for r in rows[1:]] == ["1", "'=2"]
    assert (tmp_path / "bad.csv").read_text().splitlines() == ["id,reason", "3,quarantined:empty_text"]


@pytest.mark.parametrize(
    "content, message",
    [("id,body\n1,x\n", "needs a header with columns id,text"), (None, "No such file")],
)
def test_cli_errors(tmp_path, capsys, content, message):
    model_path = tmp_path / "model.json"
    model_path.write_bytes(model_json_bytes(tiny_model()))
    messages = tmp_path / "messages.csv"
    if content is not None:
        messages.write_text(content)
    assert main([str(model_path), str(messages)]) == 2
    assert message in capsys.readouterr().err


def test_unknown_schema_version():
    with pytest.raises(ValueError, match="schema_version: must be the integer 2 .*, got the number 99"):
        PortableModel({**tiny_model(), "schema_version": 99})


def test_portable_scorer_imports_nothing_heavy():
    code = (
        "import sys, sortbox.portable_scorer\n"
        "heavy = {'numpy', 'pandas', 'nltk', 'gensim', 'sklearn', 'scipy', 'pyarrow'} & set(sys.modules)\n"
        "print(sorted(heavy)); sys.exit(1 if heavy else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_score_csv_counts():
    out, bad = io.StringIO(), io.StringIO()
    assert score_csv(PortableModel(tiny_model()), [{"id": "1", "text": "free"}, {"id": "2", "text": ""}], out, bad) == (
        1,
        1,
    )
    assert json.loads(json.dumps(tiny_model()))  # plain JSON all the way down
