"""scripts/naive_baseline.py (the benchmark's baseline) runs end to end on a tiny table and fails clearly."""
import json
import subprocess
import sys

from tests.conftest import REPO_ROOT, TINY_CORPUS, make_messages_db


def run(*args):
    return subprocess.run(
        [sys.executable, "scripts/naive_baseline.py", *args], cwd=REPO_ROOT, capture_output=True, text=True
    )


def test_naive_baseline_trains_and_scores(tmp_path):
    url = f"sqlite:///{tmp_path / 'tiny.sqlite'}"
    make_messages_db(
        url, [(n * 1000 + i, body, truth) for n in range(4) for i, body, truth in TINY_CORPUS]
    )  # 4 copies: positives in both folds
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "spam.txt").write_text("free|prize|win\n")
    done = run(
        "--db-url",
        url,
        "--table",
        "messages",
        "--rules-dir",
        str(tmp_path / "labels"),
        "--num-topics",
        "3",
        "--folds",
        "2",
        "--param-grid",
        '{"C": [1.0]}',
        "--out",
        str(tmp_path / "out"),
        "--timings-json",
        str(tmp_path / "t.json"),
    )
    assert done.returncode == 0, done.stderr
    timings = json.loads((tmp_path / "t.json").read_text())
    assert set(timings["steps"]) == {
        "read",
        "clean",
        "label",
        "tokenize",
        "dictionary",
        "tfidf",
        "lsi",
        "train",
        "export",
    }
    assert timings["classes"]["spam"]["status"] == "trained"
    scores = (tmp_path / "out" / "scores.csv").read_text().splitlines()
    assert scores[0] == "id,spam_score" and len(scores) == 1 + timings["rows"]


def test_naive_baseline_names_a_missing_table(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    done = run(
        "--db-url",
        url,
        "--table",
        "nowhere",
        "--out",
        str(tmp_path / "out"),
        "--timings-json",
        str(tmp_path / "t.json"),
    )
    assert done.returncode != 0 and "'nowhere' does not exist" in done.stderr
