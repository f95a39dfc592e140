"""NightlyRetrain's gate: a worse challenger (trained on shuffled labels) is not published, a better
one is; rolling back restores the previous release."""
import datetime as dt
import json
import random
import shutil
import sqlite3

import pytest

from sortbox.publish import current_release, release_models, rollback
from sortbox.sampling import holdout_mask
from tests.conftest import SMALL_TRAINING, run_luigi
from workflows.nightly import NightlyRetrain

SMALL = {
    "lsi": {"num_topics": "40"},
    "training": SMALL_TRAINING,
    "labelling": {"source": "column"},
}


@pytest.fixture
def shuffled_sqlite(sample_sqlite, tmp_path):
    """The sample with the truth of every training id shuffled (held-out ids keep theirs)."""
    path = tmp_path / "shuffled.sqlite"
    shutil.copy(sample_sqlite.removeprefix("sqlite:///"), path)
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT id, truth FROM messages ORDER BY id").fetchall()
        held = holdout_mask([str(i) for i, _ in rows], fraction=0.1, seed=1)
        training = [(i, t) for (i, t), h in zip(rows, held) if not h]
        labels = [t for _, t in training]
        random.Random(7).shuffle(labels)
        conn.executemany("UPDATE messages SET truth = ? WHERE id = ?", [(t, i) for (i, _), t in zip(training, labels)])
    return f"sqlite:///{path}"


def night(date, url, monkeypatch):
    monkeypatch.setenv("SORTBOX_DB_URL", url)
    result = run_luigi([NightlyRetrain(date=date)])
    assert result.scheduling_succeeded, result.summary_text
    return json.loads(next(NightlyRetrain(date=date).output_dir().glob("nightly.json")).read_text())


def test_gate_publishes_better_keeps_worse_and_rollback_restores(
    sample_sqlite, shuffled_sqlite, pipeline_env, luigi_config, tmp_path, monkeypatch
):
    pipeline_env(sample_sqlite)
    root = tmp_path / "published"
    luigi_config({**SMALL, "publish": {"root": str(root)}})

    first = night(dt.date(2026, 1, 5), shuffled_sqlite, monkeypatch)  # nothing published yet: published
    assert {c["decision"] for c in first["classes"].values()} == {"publish"}
    assert first["day_scored"]["scored"] + first["day_scored"]["unscorable"] == first["day_scored"]["extracted"] > 0
    release_one = current_release(root)

    second = night(dt.date(2026, 1, 6), sample_sqlite, monkeypatch)  # true labels: better, published
    assert second["classes"]["spam"]["decision"] == "publish", second["classes"]["spam"]
    assert second["classes"]["spam"]["challenger_roc_auc"] > second["classes"]["spam"]["champion_roc_auc"]
    release_two = current_release(root)
    good_spam = release_models(release_two)["spam"]["model_id"]

    third = night(dt.date(2026, 1, 7), shuffled_sqlite, monkeypatch)  # shuffled again: worse, kept
    spam = third["classes"]["spam"]
    assert spam["decision"] == "keep" and spam["reason"].startswith("worse"), spam
    assert release_models(current_release(root))["spam"]["model_id"] == good_spam

    assert rollback(root) == root / "releases" / release_two.name
    assert rollback(root) == root / "releases" / release_one.name
    assert current_release(root) == release_one
