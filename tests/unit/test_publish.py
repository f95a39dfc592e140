"""Publishing (sortbox.publish): single-class files, the gate, releases, atomic current, rollback."""
import json

import pytest

from sortbox.export import content_id
from sortbox.portable_scorer import PortableModel
from sortbox.publish import (
    PublishError,
    current_release,
    gate,
    publish_release,
    release_files,
    release_models,
    rollback,
    single_class_model,
)
from tests.unit.test_export_scoring import tiny_model

TEXTS = ["free prize call", "free prize", "prize call free", "love you", "loving call", "love love"]
LABELS = [["spam"], ["spam"], ["spam"], [], [], []]


def two_class_model(spam_coef=(2.0, -1.0), **overrides):
    classifiers = {
        "spam": {
            "status": "trained",
            "coef": list(spam_coef),
            "intercept": -0.5,
            "threshold": {"threshold": 0.5, "policy": "max_f1"},
            "roc_auc": 0.9,
        },
        "love": {
            "status": "trained",
            "coef": [-1.0, 1.0],
            "intercept": 0.0,
            "threshold": {"threshold": 0.5, "policy": "max_f1"},
            "roc_auc": 0.9,
        },
    }
    return tiny_model(classifiers=classifiers, **overrides)


def test_single_class_model_is_a_complete_model():
    single = single_class_model(two_class_model(), "spam")
    assert list(single["classes"]) == ["spam"] and single["model_id"] == content_id(single)
    scorer = PortableModel(single)
    for entry in single["golden"]:
        if "scores" in entry:
            assert scorer.score(entry["text"])[0] == [entry["scores"]["spam"]]


def test_gate_publishes_better_keeps_worse():
    good = two_class_model()  # spam weights favour "free"/"prize": separates the spam texts
    bad = two_class_model(spam_coef=(-2.0, 1.0))  # the opposite: ranks spam last
    champions = {"spam": single_class_model(good, "spam")}
    worse = gate(bad, champions, TEXTS, LABELS, margin=0.01)
    assert (
        worse["spam"]["decision"] == "keep" and worse["spam"]["challenger_roc_auc"] < worse["spam"]["champion_roc_auc"]
    )
    assert worse["love"] == {"decision": "publish", "reason": "no published model for this class yet"}
    better = gate(good, {"spam": single_class_model(bad, "spam")}, TEXTS, LABELS, margin=0.01)
    assert better["spam"]["decision"] == "publish"


def test_gate_keeps_a_champion_the_challenger_lacks():
    challenger = tiny_model()  # classes: spam; rare skipped
    champions = {
        "rare": single_class_model(two_class_model(), "love")
        | {"classes": {"rare": two_class_model()["classes"]["love"]}}
    }
    decisions = gate(challenger, champions, TEXTS, LABELS, margin=0.0)
    assert decisions["rare"]["decision"] == "keep" and "2 positive messages" in decisions["rare"]["reason"]


def test_gate_cannot_judge_without_both_label_values():
    champions = {"spam": single_class_model(two_class_model(), "spam")}
    decisions = gate(two_class_model(), champions, TEXTS, [[]] * len(TEXTS), margin=0.0)
    assert decisions["spam"]["decision"] == "keep" and "cannot judge" in decisions["spam"]["reason"]


def test_release_publish_and_rollback(tmp_path):
    root = tmp_path / "published"
    first = two_class_model()
    files, classes = release_files(first, {}, gate(first, {}, TEXTS, LABELS, margin=0.0))
    one = publish_release(root, "2026-01-01-a", files, {"classes": classes}, keep=2)
    assert current_release(root) == one.resolve()
    assert sorted(release_models(one)) == ["love", "spam"]
    assert (root / "current").is_symlink() and not (root / "current").resolve().name.startswith(".")

    second = two_class_model(spam_coef=(-2.0, 1.0))
    champions = release_models(one)
    files, classes = release_files(second, champions, gate(second, champions, TEXTS, LABELS, margin=0.01))
    assert classes["spam"]["decision"] == "keep" and classes["spam"]["model_id"] == champions["spam"]["model_id"]
    two = publish_release(root, "2026-01-02-b", files, {"classes": classes}, keep=2)
    assert current_release(root) == two.resolve()

    assert rollback(root) == root / "releases" / "2026-01-01-a"
    assert current_release(root) == one.resolve()
    with pytest.raises(PublishError, match="nothing to roll back to"):
        rollback(root)


def test_keep_prunes_old_releases_but_never_the_current(tmp_path):
    root = tmp_path / "published"
    model = two_class_model()
    files, classes = release_files(model, {}, gate(model, {}, TEXTS, LABELS, margin=0.0))
    for night in range(4):
        publish_release(root, f"night-{night}", files, {"classes": classes}, keep=2)
    assert sorted(p.name for p in (root / "releases").iterdir()) == ["night-2", "night-3"]
    assert json.loads((root / "history.json").read_text()) == ["night-2", "night-3"]
    assert current_release(root).name == "night-3"
    with pytest.raises(PublishError, match="keep must be at least 1"):
        publish_release(root, "x", files, {}, keep=0)


def test_republishing_the_same_release_is_idempotent(tmp_path):
    root = tmp_path / "published"
    model = two_class_model()
    files, classes = release_files(model, {}, gate(model, {}, TEXTS, LABELS, margin=0.0))
    a = publish_release(root, "n1", files, {"classes": classes}, keep=3)
    b = publish_release(root, "n1", files, {"classes": classes}, keep=3)
    assert a == b and json.loads((root / "history.json").read_text()) == ["n1"]
    assert not [p for p in root.rglob(".*")], "no temporary file or link is left behind"


def test_nothing_to_publish():
    model = tiny_model()
    with pytest.raises(PublishError, match="no class has a model"):
        release_files(model, {}, {"spam": {"decision": "keep", "reason": "x"}})
