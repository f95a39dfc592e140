"""Reviewed verdicts: reading them (bad ones named by file:line), the latest winning, the figures
against them, the gate's minimums and the labels they override; the review sample's picks."""

import csv
import io
from pathlib import Path

import numpy as np
import pytest

from sortbox.feedback import (
    FeedbackError,
    check_verdicts,
    feedback_gate,
    feedback_metrics,
    latest_verdicts,
    override_labels,
    read_feedback_csv,
    read_feedback_files,
    verdicts_from_rows,
    wilson_interval,
)
from sortbox.review import KINDS, pick_review_rows, render_review_csv, review_rows

HAND_WRITTEN = Path(__file__).resolve().parents[1] / "data" / "hand_written_messages.csv"


def read(text: str, name: str = "fb.csv"):
    return read_feedback_csv(io.StringIO(text, newline=""), name)


@pytest.mark.parametrize(
    "text, message",
    [
        ('id,class,verdict\n1,spam,yes\n2,spam,"no\n3,spam,yes\n', r"fb\.csv:\d+: not valid CSV .*quote"),
        ("id,class,verdict\n1,spam,yes\n2,spam,maybe\n", r"^fb\.csv:3: verdict 'maybe' is not yes or no"),
        ("id,class,verdict\n1,spam,Y E S\n", r"^fb\.csv:2: verdict 'Y E S' is not yes or no"),
        ("id,class,verdict\n1,spam,true\n", r"^fb\.csv:2: verdict 'true'"),
        ("id,verdict\n1,yes\n", r"^fb\.csv:1: no class column"),
        ("id,class,verdict\n,spam,yes\n", r"^fb\.csv:2: a verdict needs an id and a class"),
        ("id,class,verdict\n7,,no\n", r"^fb\.csv:2: a verdict needs an id and a class"),
    ],
)
def test_bad_feedback_files_are_one_line_naming_file_and_line(text, message):
    with pytest.raises(FeedbackError, match=message) as error:
        read(text)
    assert "\n" not in str(error.value)


def test_a_broken_quote_in_a_feedback_file_on_disk_names_it(tmp_path):
    (tmp_path / "a.csv").write_text("id,class,verdict\n1,spam,yes\n", encoding="utf-8")
    (tmp_path / "b.csv").write_text('id,class,verdict\n"2,spam,yes\n', encoding="utf-8")
    with pytest.raises(FeedbackError, match=r"b\.csv:\d+: not valid CSV"):
        read_feedback_files(tmp_path)
    (tmp_path / "c.csv").write_bytes(b"id,class,verdict\n3,spam,\xff\n")
    (tmp_path / "b.csv").unlink()
    with pytest.raises(FeedbackError, match=r"c\.csv:\d+: not UTF-8"):
        read_feedback_files(tmp_path)


def test_empty_verdicts_are_not_reviewed_and_cells_are_unescaped():
    verdicts, unreviewed = read("id,text,class,verdict,reviewer\n'=1,x,spam, YES ,ann\n2,y,spam,,\n3,z,spam,No,bob\n")
    assert unreviewed == 1
    assert [(v.id, v.class_name, v.verdict, v.origin, v.reviewer) for v in verdicts] == [
        ("=1", "spam", True, "fb.csv:2", "ann"),
        ("3", "spam", False, "fb.csv:4", "bob"),
    ]


def test_the_review_csv_reads_back_as_feedback_once_filled_in():
    rows = review_rows(
        "spam",
        [(0, ["highest"]), (1, ["threshold"])],
        ids=["=a", "b,\r\nc"],
        texts=['say "hi"', "+ok"],
        scores=np.array([0.9, 0.5]),
        decisions=np.array([True, False]),
        rules_fired=[["spam.txt:3"], []],
    )
    table = list(csv.reader(io.StringIO(render_review_csv(rows), newline="")))
    assert table[0] == [
        "id",
        "text",
        "class",
        "score",
        "decision",
        "rules",
        "sample",
        "verdict",
        "reviewer",
        "reviewed_at",
    ]
    assert (
        [r[0] for r in table[1:]] == ["'=a", "b,\r\nc"] and table[2][1] == "'+ok" and all(r[7] == "" for r in table[1:])
    )
    table[1][7], table[2][7] = "yes", "no"  # what a reviewer does in a spreadsheet
    out = io.StringIO(newline="")
    csv.writer(out).writerows(table)
    filled = out.getvalue()
    verdicts, unreviewed = read(filled, "review-spam.csv")
    assert unreviewed == 0
    assert [(v.id, v.class_name, v.verdict) for v in verdicts] == [("=a", "spam", True), ("b,\r\nc", "spam", False)]


def test_later_verdicts_win():
    verdicts, _ = read(
        "id,class,verdict,reviewed_at\n1,spam,yes,2026-01-05\n1,spam,no,2026-01-03\n2,spam,yes,\n2,spam,no,\n3,spam,no,2026-01-01\n3,spam,yes,2026-01-02\n"
    )
    latest = latest_verdicts(verdicts)
    assert {key: v.verdict for key, v in latest.items()} == {
        ("1", "spam"): True,
        ("2", "spam"): False,
        ("3", "spam"): True,
    }


def test_feedback_table_rows_later_wins_and_bad_verdicts_are_named():
    rows = [
        ("1", "spam", "yes", "ann", None),
        ("1", "spam", "no", "bob", "2026-01-02 10:00"),
        ("2", "ham", None, "c", None),
    ]
    latest = latest_verdicts(verdicts_from_rows(rows, "feedback"))
    assert {key: v.verdict for key, v in latest.items()} == {("1", "spam"): False}
    with pytest.raises(FeedbackError, match=r"^table feedback row 2: verdict 'perhaps' is not yes or no"):
        verdicts_from_rows([("1", "spam", "yes", "", None), ("2", "spam", "perhaps", "", None)], "feedback")


def test_unknown_ids_and_classes_are_counted_with_where_they_come_from():
    verdicts, _ = read("id,class,verdict\n1,spam,yes\n99,spam,no\n1,promo,yes\n2,promo,no\n2,spam,no\n")
    checked = check_verdicts(latest_verdicts(verdicts), known_ids={"1", "2"}, classes=["spam", "ham"])
    assert checked.verdicts == {("1", "spam"): True, ("2", "spam"): False}
    assert checked.summary() == {
        "verdicts": 2,
        "unknown_ids": 1,
        "unknown_classes": {"promo": 2},
        "examples": {"unknown_id": ["fb.csv:3"], "unknown_class": ["fb.csv:4", "fb.csv:5"]},
    }


def test_wilson_interval_matches_the_textbook_values():
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 0) is None
    assert wilson_interval(5, 5)[1] == 1.0


def test_precision_and_recall_against_verdicts():
    verdicts = {
        ("a", "spam"): True,
        ("b", "spam"): True,
        ("c", "spam"): False,
        ("d", "spam"): False,
        ("q", "spam"): True,
    }
    decisions = {"a": {"spam": True}, "b": {"spam": False}, "c": {"spam": True}, "d": {"spam": False}}
    figures = feedback_metrics(verdicts, decisions, ["spam"])["spam"]
    assert figures["reviewed"] == 4 and figures["reviewed_yes"] == 2 and figures["not_scored"] == 1
    assert figures["precision"]["value"] == 0.5 and figures["precision"]["count"] == 2
    assert figures["recall"]["value"] == 0.5 and figures["recall"]["count"] == 2
    assert figures["recall"]["ci95"] == pytest.approx(list(wilson_interval(1, 2)))


def test_the_gate_refuses_classes_below_the_minimums_or_unmeasured():
    metrics = {
        "spam": {"precision": {"value": 0.9, "count": 20}, "recall": {"value": 0.5, "count": 10}},
        "ham": {"precision": {"value": 0.99, "count": 50}, "recall": {"value": 0.95, "count": 40}},
        "promo": {"precision": {"value": None, "count": 0}, "recall": {"value": None, "count": 0}},
    }
    refused = feedback_gate(metrics, ["spam", "ham", "promo", "news"], min_precision=0.8, min_recall=0.7)
    assert set(refused) == {"spam", "promo", "news"}  # news: no feedback at all
    assert "recall against 10 reviewed messages is 0.500, below [feedback] min_recall = 0.7" in refused["spam"]
    assert "cannot be measured" in refused["promo"]
    assert feedback_gate(metrics, ["spam", "news"], min_precision=None, min_recall=None) == {}
    assert feedback_gate(metrics, ["ham"], min_precision=0.99, min_recall=None) == {}


def test_verdicts_override_the_rules_for_reviewed_ids_only():
    labels = [["spam"], ["notification", "spam"], [], ["personal"]]
    verdicts = {("1", "notification"): True, ("1", "spam"): False, ("2", "spam"): False, ("3", "personal"): True}
    assert list(override_labels(["1", "2", "3", "4"], labels, verdicts)) == [
        ["notification"],
        ["notification"],
        ["personal"],
        ["personal"],
    ]


def test_the_hand_written_set_is_big_enough_and_knows_every_class():
    with open(HAND_WRITTEN, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) >= 250 and len({r["id"] for r in rows}) == len(rows)
    classes = [c for r in rows for c in r["classes"].split("|")]
    assert set(classes) == {"notification", "personal", "spam"}
    assert classes.count("notification") >= 120 and min(classes.count(c) for c in set(classes)) >= 50


def test_review_picks_are_deterministic_and_cover_every_kind():
    rng = np.random.default_rng(3)
    scores = rng.random(200)
    rule_says = rng.random(200) < 0.3
    picks = pick_review_rows(scores, 0.6, rule_says, size=20, seed=7, class_name="spam")
    assert picks == pick_review_rows(scores, 0.6, rule_says, size=20, seed=7, class_name="spam")
    assert picks != pick_review_rows(scores, 0.6, rule_says, size=20, seed=8, class_name="spam")
    kinds = {kind for _, found in picks for kind in found}
    assert kinds == set(KINDS)
    by_kind = {kind: [i for i, found in picks if kind in found] for kind in KINDS}
    assert set(by_kind["highest"]) == set(np.argsort(-scores)[:4].tolist())
    assert all(scores[i] >= 0.6 for i in by_kind["random_positive"]) and all(
        scores[i] < 0.6 for i in by_kind["random_negative"]
    )
    assert all((scores[i] >= 0.6) != rule_says[i] for i in by_kind["disagreement"])
    assert len({i for i, _ in picks}) == len(picks) <= 20


def test_the_training_report_shows_the_figures_against_reviewed_messages():
    from sortbox.training_report import feedback_section

    verdicts = {("a", "spam"): True, ("b", "spam"): False, ("c", "spam"): True}
    figures = feedback_metrics(verdicts, {"a": {"spam": True}, "b": {"spam": True}, "c": {"spam": False}}, ["spam"])
    section = feedback_section({"classes": figures, "unknown_ids": 4, "unknown_classes": {"promo": 2}})
    assert "0.500 [0.09, 0.91] (n=2)" in section  # precision 1 of 2, recall 1 of 2
    assert "4 verdicts about messages not in this run, 2 about classes the model lacks" in section
    assert "No reviewed verdicts" in feedback_section({"classes": {}})
    assert "<script" not in feedback_section({"classes": {"<script>": figures["spam"]}})
