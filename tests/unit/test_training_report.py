"""The training report (sortbox.training_report): HTML page and PNG plots from a tiny classes.json."""
import re

import numpy as np
import pytest

from sortbox.training_report import _operating_point, render_training_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SKIP_REASON = "2 positive messages, fewer than the 5 cross-validation folds"

CLASSES = {
    "spam": {
        "status": "trained",
        "reason": None,
        "classifier_dir": "/tmp/x/FitClassifier-2ec3",
        "grid": {
            "status": "searched",
            "positives": 706,
            "negatives": 4850,
            "best_params": {"C": 0.1, "class_weight": "balanced"},
            "best_score": 0.9975,
            "scoring": "roc_auc",
            "table": [
                {
                    "params": {"C": 0.1, "class_weight": None},
                    "mean_score": 0.9972,
                    "std_score": 0.0009,
                    "rank": 2,
                    "fit_seconds": 0.25,
                },
                {
                    "params": {"C": 0.1, "class_weight": "balanced"},
                    "mean_score": 0.9975,
                    "std_score": 0.0005,
                    "rank": 1,
                    "fit_seconds": 0.23,
                },
            ],
        },
        "cv": {
            "status": "validated",
            "best_params": {"C": 0.1, "class_weight": "balanced"},
            "roc_auc": 0.9974,
            "pr_auc": 0.990,
            "threshold": {
                "threshold": 0.4926,
                "policy": "max_f1",
                "target": None,
                "precision": 0.9676,
                "recall": 0.9717,
                "f1": 0.9696,
            },
            "curves": {
                "roc": {"fpr": [0.0, 0.0, 0.01, 0.2, 1.0], "tpr": [0.0, 0.5, 0.97, 0.99, 1.0]},
                "pr": {
                    "threshold": [0.05, 0.2, 0.4926, 0.8, 0.95],
                    "precision": [0.13, 0.6, 0.9676, 0.99, 1.0],
                    "recall": [1.0, 0.99, 0.9717, 0.6, 0.1],
                },
            },
            "against_truth": {"roc_auc": 0.9896, "pr_auc": 0.9748},
        },
    },
    "tiny": {
        "status": "skipped",
        "reason": SKIP_REASON,
        "classifier_dir": "/tmp/x/FitClassifier-aaaa",
        "grid": {"status": "skipped", "reason": SKIP_REASON, "positives": 2, "negatives": 5000},
        "cv": {"status": "skipped", "reason": SKIP_REASON, "positives": 2, "negatives": 5000},
    },
}

RUN_INFO = {"run_date": "2026-11-23", "label source": "rules", "num_topics": 100, "folds": 5}


def render(tmp_path, rule_report_href="../LabelMessages-7f2b/rule_report.html", classes=CLASSES, **extra):
    return render_training_report(
        tmp_path,
        classes=classes,
        label_counts={"spam": 706, "tiny": 2},
        messages=5556,
        rule_report_href=rule_report_href,
        run_info=RUN_INFO,
        **extra,
    )


def test_html_references_exactly_the_pngs_written_and_they_are_real_pngs(tmp_path):
    page = render(tmp_path)
    assert page == tmp_path / "report.html"
    text = page.read_text(encoding="utf-8")
    referenced = set(re.findall(r"<img src='([^']+)'", text))
    written = {p.name for p in tmp_path.glob("*.png")}
    assert written == {"labels.png", "roc_spam.png", "pr_spam.png"}
    assert referenced == written
    for name in written:
        assert (tmp_path / name).read_bytes()[:8] == PNG_MAGIC


def test_page_shows_skip_reason_threshold_scores_and_run_info(tmp_path):
    text = render(tmp_path).read_text(encoding="utf-8")
    assert SKIP_REASON in text
    assert "0.4926" in text  # the chosen threshold
    assert "0.9974" in text and "0.9896" in text  # CV and against-truth ROC AUC
    assert "2026-11-23" in text and "num_topics" in text
    assert "12.7%" in text  # 706 of 5556 messages
    assert "<tr class='best'><td class='num'>1</td>" in text  # grid sorted by rank, best first and highlighted


def test_rule_report_link_or_its_absence(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with_link = render(tmp_path / "a").read_text(encoding="utf-8")
    assert "href='../LabelMessages-7f2b/rule_report.html'" in with_link
    without = render(tmp_path / "b", rule_report_href=None).read_text(encoding="utf-8")
    assert "rule_report.html" not in without
    assert "No rule report" in without


def test_text_is_escaped(tmp_path):
    classes = {"tiny": {**CLASSES["tiny"], "reason": "<script>alert(1)</script>"}}
    text = render(tmp_path, classes=classes).read_text(encoding="utf-8")
    assert "<script>" not in text
    assert "&lt;script&gt;" in text


def test_class_names_that_cannot_be_file_names_are_refused(tmp_path):
    with pytest.raises(ValueError, match="class name"):
        render(tmp_path, classes={"../evil": CLASSES["tiny"]})


def test_operating_point_is_nearest_tpr_with_lowest_fpr():
    fpr = np.array([0.0, 0.0, 0.1, 0.3, 1.0])
    tpr = np.array([0.0, 0.8, 0.8, 0.95, 1.0])
    assert _operating_point(fpr, tpr, 0.82) == (0.0, 0.8)
    assert _operating_point(fpr, tpr, 0.94) == (0.3, 0.95)


def test_the_report_explains_why_positives_are_fewer_than_labelled_messages(tmp_path):
    sample = {
        "messages": 5556,
        "held_out": 561,
        "without_known_terms": 40,
        "eligible": 4955,
        "trained_on": 4000,
        "max_rows": 4000,
    }
    page = render(tmp_path, rule_report_href=None, training_sample=sample).read_text(encoding="utf-8")
    assert "trained on: 4,000 of the 5,556 messages" in page
    assert "561 held-out ids (<code>[training] holdout_fraction</code>" in page
    assert "40 messages with no known term, and 955 beyond <code>[training] max_rows</code> (4,000)" in page


def spam_with(grid_extra: dict, cv_extra: dict) -> dict:
    entry = CLASSES["spam"]
    return {"spam": {**entry, "grid": {**entry["grid"], **grid_extra}, "cv": {**entry["cv"], **cv_extra}}}


def test_figures_say_what_they_are_measured_against_on_how_many_positives_and_their_spread(tmp_path):
    spread = {"folds": 3, "mean": 0.9973, "std": 0.0011, "min": 0.9958, "max": 0.9984}
    truth = {
        "measured_against": "label column truth",
        "positives": 747,
        "roc_auc": 0.9896,
        "pr_auc": 0.9748,
        "roc_auc_folds": {"folds": 3, "mean": 0.9895, "std": 0.0031, "min": 0.9861, "max": 0.9936},
    }
    classes = spam_with(
        {}, {"measured_against": "rule labels", "positives": 706, "roc_auc_folds": spread, "against_truth": truth}
    )
    text = render(tmp_path, classes=classes).read_text(encoding="utf-8")
    assert "rule labels, 706 positives" in text and "label column truth, 747 positives" in text
    assert "0.9974 ± 0.0011" in text and "0.9896 ± 0.0031" in text  # in the summary table
    assert "Per fold (3 folds): mean 0.9973, standard deviation 0.0011, from 0.9958 to 0.9984." in text


def test_best_c_on_the_edge_of_the_grid_is_a_warning_in_the_summary_and_the_class_section(tmp_path):
    warning = (
        "best C = 0.1 is the smallest C of the grid (0.1 to 10): a smaller (stronger regularisation) C might score "
        "higher; widen the grid ([training] param_grid or small_data_param_grid)"
    )
    text = render(tmp_path, classes=spam_with({"edge_warning": warning}, {})).read_text(encoding="utf-8")
    assert "(on the edge of the grid)" in text and f"Regularisation on the edge of the grid:</strong> {warning}" in text
    (tmp_path / "quiet").mkdir()
    quiet = render(tmp_path / "quiet", classes=spam_with({"edge_warning": None}, {})).read_text(encoding="utf-8")
    assert "edge of the grid" not in quiet
