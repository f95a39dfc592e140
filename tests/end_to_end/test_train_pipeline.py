"""The whole training DAG on the shipped sample (sqlite): manifest, exports, scores, report, fan-out."""
import csv
import datetime as dt
import json
import re
import shutil
import subprocess
import sys
import time

import joblib
import luigi
import numpy as np
import pyarrow.parquet as pq
import pytest
from gensim.models import LsiModel

from sortbox.embed import lsi_basis, tfidf_matrix
from tasks.embed import load_tfidf_inputs
from tests.conftest import REPO_ROOT, run_luigi
from workflows.train import TrainPipeline

RUN_DATE = dt.date(2026, 11, 23)
# Exactly two messages of the sample mention laundry: a class with 2 positives must be skipped.
RARE_RULE = "\\blaundry\\b\n"


@pytest.fixture(scope="module")
def trained(sample_sqlite, tmp_path_factory):
    """One TrainPipeline run on the sample with the shipped rules plus a 2-positive class, 2 workers.

    Records when each GridSearch starts and ends (event handlers run in the worker processes).
    """
    base = tmp_path_factory.mktemp("train")
    rules = base / "labels"
    shutil.copytree(REPO_ROOT / "dictionaries" / "labels", rules)
    (rules / "rare.txt").write_text(RARE_RULE)
    (rules / "promo.txt").write_text("# promotions: rules to be written\n\n")  # a class with no rules
    (rules / "README.md").write_text("not a rule file\n")
    events = base / "events.log"

    def record(kind):
        def handler(task):
            if task.get_task_family() == "GridSearchFold":
                with open(events, "a") as log:
                    log.write(f"{kind} {task.class_name}-{task.fold} {time.time()}\n")
        return handler

    luigi.Task.event_handler(luigi.Event.START)(record("start"))
    luigi.Task.event_handler(luigi.Event.SUCCESS)(record("end"))
    mp = pytest.MonkeyPatch()
    mp.setenv("SORTBOX_DB_URL", sample_sqlite)
    config = luigi.configuration.get_config()
    overrides = {
        ("paths", "output_root"): str(base / "runs"),
        ("labelling", "rules_dir"): str(rules),
        ("lsi", "num_topics"): "100",
        ("training", "folds"): "3",
    }
    saved = {key: config.get(*key, None) for key in overrides}
    for (section, option), value in overrides.items():
        config.set(section, option, value)
    try:
        result = run_luigi([TrainPipeline(run_date=RUN_DATE)], workers=2)
        assert result.scheduling_succeeded, result.summary_text
        manifest_path = TrainPipeline(run_date=RUN_DATE).manifest_path()
        yield {
            "manifest_path": manifest_path,
            "manifest": json.loads(manifest_path.read_text()),
            "events": events,
            "runs": base / "runs",
        }
    finally:
        for (section, option), value in saved.items():
            config.remove_option(section, option) if value is None else config.set(section, option, value)
        mp.undo()


def artifact(trained, name):
    return trained["manifest_path"].parent / trained["manifest"]["artifacts"][name]


def test_manifest_counts_add_up(trained):
    rows = trained["manifest"]["rows"]
    assert rows["extracted"] == 5574
    assert rows["extracted"] == rows["clean"] + rows["quarantined"] == rows["scored"] + rows["unscorable"]
    for key in ("model_json", "scores_csv", "unscorable_csv", "report_html"):
        assert artifact(trained, key).is_file(), key


def test_every_extracted_id_in_exactly_one_output(trained):
    with open(artifact(trained, "scores_csv")) as scores, open(artifact(trained, "unscorable_csv")) as bad:
        ids = [r["id"] for r in csv.DictReader(scores)] + [r["id"] for r in csv.DictReader(bad)]
    assert sorted(ids, key=int) == [str(i) for i in range(1, 5575)]


def test_two_positive_class_is_skipped_and_others_exported(trained):
    classes = trained["manifest"]["classes"]
    assert classes["rare"]["status"] == "skipped"
    assert classes["rare"]["reason"] == "2 positive messages, fewer than the 3 cross-validation folds"
    model = json.loads(artifact(trained, "model_json").read_text())
    assert sorted(model["classes"]) == ["notification", "personal", "spam"]
    assert model["skipped_classes"] == {"promo": classes["promo"]["reason"], "rare": classes["rare"]["reason"]}
    spam = classes["spam"]
    assert spam["status"] == "trained" and spam["cv_roc_auc"] > 0.97 and 0 < spam["threshold"] < 1
    assert spam["roc_auc_against_truth"] > 0.95  # trained on rule labels, judged against ham/spam truth


def test_class_without_rules_is_skipped_with_its_reason(trained):
    reason = "no rules: promo.txt is empty or holds only comments"
    assert trained["manifest"]["classes"]["promo"] == {
        **trained["manifest"]["classes"]["promo"],
        "status": "skipped",
        "reason": reason,
    }
    labels = trained["manifest"]["labels"]
    assert labels["classes_without_rules"] == {"promo": reason} and labels["ignored_rule_files"] == ["README.md"]
    assert reason in artifact(trained, "report_html").read_text()
    assert reason in artifact(trained, "rule_report_html").read_text()


def test_grid_searches_ran_in_parallel(trained):
    spans = {}
    for line in trained["events"].read_text().splitlines():
        kind, name, moment = line.split()
        spans.setdefault(name, {})[kind] = float(moment)
    intervals = sorted((s["start"], s["end"]) for s in spans.values() if "end" in s)
    # 3 folds of spam, personal and notification; rare and promo (no rules) are skipped: no folds.
    assert len(intervals) == 9
    assert any(later_start < earlier_end for (_, earlier_end), (later_start, _) in zip(intervals, intervals[1:])), (
        intervals
    )


def test_stdlib_scorer_reproduces_scores_csv(trained, tmp_path):
    messages = pq.read_table(next(trained["runs"].rglob("ExtractMessages-*/messages.parquet")), columns=["id", "text"])
    source = tmp_path / "messages.csv"
    with open(source, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        writer.writerows(zip(messages.column("id").to_pylist(), messages.column("text").to_pylist()))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sortbox.portable_scorer",
            str(artifact(trained, "model_json")),
            str(source),
            "--unscorable",
            str(tmp_path / "bad.csv"),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    stdlib = {row["id"]: row for row in csv.DictReader(done.stdout.splitlines())}
    with open(artifact(trained, "scores_csv")) as handle:
        pipeline = {row["id"]: row for row in csv.DictReader(handle)}
    assert stdlib.keys() == pipeline.keys()
    worst = max(
        abs(float(stdlib[i][c]) - float(pipeline[i][c])) for i in pipeline for c in pipeline[i] if c.endswith("_score")
    )
    assert worst <= 1e-9
    assert all(stdlib[i][c] == pipeline[i][c] for i in pipeline for c in pipeline[i] if c.endswith("_decision"))


def test_scores_equal_the_sklearn_pipeline(trained):
    runs = trained["runs"]
    _, token2id, idf = load_tfidf_inputs(next(runs.rglob("BuildDictionary-*")), next(runs.rglob("FitTfidf-*")))
    basis = lsi_basis(LsiModel.load(str(next(runs.rglob("FitLsi-*/lsi.gensim")))))
    tokens = pq.read_table(next(runs.rglob("TokenizeMessages-*/tokens.parquet")))
    # The scikit-learn pipeline's input is the LSI projection of the TF-IDF vector (float64 here;
    # the training checkpoint stores it as float32).
    features = tfidf_matrix(tokens.column("terms").to_pylist(), token2id, idf) @ basis
    ids = tokens.column("id").to_pylist()
    with open(artifact(trained, "scores_csv")) as handle:
        scores = {row["id"]: row for row in csv.DictReader(handle)}
    rows = [i for i, message_id in enumerate(ids) if message_id in scores]
    for name in ("notification", "personal", "spam"):
        (fit_dir,) = [p for p in runs.rglob(f"FitClassifier-{name}-*") if p.is_dir()]
        expected = joblib.load(fit_dir / "pipeline.joblib").predict_proba(features[rows])[:, 1]
        got = np.array([float(scores[ids[i]][f"{name}_score"]) for i in rows])
        assert np.abs(expected - got).max() <= 1e-6


def test_model_json_is_small(trained):
    model = json.loads(artifact(trained, "model_json").read_text())
    terms, topics = len(model["vocabulary"]), trained["manifest"]["parameters"]["lsi"]["num_topics"]
    assert artifact(trained, "model_json").stat().st_size < terms * topics * 8 / 4  # far below the dense matrix


def test_report_shows_curves_and_links_the_rule_report(trained):
    report = artifact(trained, "report_html")
    page = report.read_text()
    for image in ("roc_spam.png", "pr_spam.png", "labels.png"):
        assert image in page and (report.parent / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (rule_link,) = re.findall(r"href='([^']*rule_report\.html)'", page)
    assert (report.parent / rule_link).resolve().is_file()
    assert "2 positive messages" in page
