"""The rule report (sortbox.rule_report): CSV cells that round-trip, an HTML page that tells the truth."""
import csv
import io
import re

import pytest

from sortbox.label import RuleStats
from sortbox.portable_scorer import csv_safe
from sortbox.rule_report import render_rule_report_csv, render_rule_report_html
from sortbox.rules import Rule

HOSTILE_IDS = [
    "plain", "a,b", 'say "hi"', "line\nbreak", "carriage\rreturn", "crlf\r\nend", "\r", "\n", "=1+1", "'=1+1", "''x",
    "+44", "-x", "-5", "@SUM(A1)", "\tx", "\rx", "'", "x" * 10_000, "", " =x", "=HYPERLINK(\"http://x\")",
]


def stats_for(ids: list[str], patterns: list[str] | None = None) -> dict:
    """rule_stats.json content for one rule per id, each hit once by its message (the id's row)."""
    patterns = patterns or [f"w{i}" for i in range(len(ids))]
    rules = [Rule(f"c.txt:{i + 1}", "c", pattern) for i, pattern in enumerate(patterns)]
    stats = RuleStats(rules)
    stats.update(ids, [f"text of {i}" for i in ids], [[i] for i in range(len(ids))], None)
    return {"messages": stats.messages, "rules": stats.rule_rows(), "classes": stats.class_rows(), "has_truth": False}


def read_back(text: str) -> list[list[str]]:
    """What a program gets from rule_report.csv: csv rows, each cell with one leading ' dropped."""
    return [
        [cell[1:] if cell.startswith("'") else cell for cell in row]
        for row in csv.reader(io.StringIO(text, newline=""))
    ]


def test_every_id_round_trips_through_the_csv():
    rows = read_back(render_rule_report_csv(stats_for(HOSTILE_IDS)))
    header, body = rows[0], rows[1:]
    assert [row[header.index("example_id")] for row in body] == HOSTILE_IDS
    assert [row[header.index("example_text")] for row in body] == [f"text of {i}"[:200] for i in HOSTILE_IDS]


@pytest.mark.parametrize(
    "value, cell",
    [("=x", "'=x"), ("'=x", "''=x"), ("+1+1", "'+1+1"), ("-x", "'-x"), ("@x", "'@x"), ("\tx", "'\tx"), ("\rx", "'\rx"),
     ("'", "''"), ("abc", "abc"), ("", "")],
)
def test_csv_cells_are_spreadsheet_safe_and_unambiguous(value, cell):
    assert csv_safe(value) == cell


def test_every_data_cell_of_the_csv_is_escaped():
    text = render_rule_report_csv(stats_for(["=id"], patterns=["=cmd|' /c calc'!A0"]))
    (row,) = list(csv.reader(io.StringIO(text, newline="")))[1:]
    assert row[0] == "c.txt:1" and row[2] == "'=cmd|' /c calc'!A0" and "'=id" in row and "text of =id" in row
    formulas = [
        cell
        for cell in row
        if cell[:1] in ("=", "+", "@", "\t", "\r") or (cell[:1] == "-" and not re.fullmatch(r"-[\d.]+", cell))
    ]
    assert formulas == []


def page_of(patterns: list[str], hits: list[list[int]], truth=None, labels=None) -> str:
    labels = labels or ["spam"] * len(patterns)
    rules = [Rule(f"{label}.txt:{i + 1}", label, p) for i, (label, p) in enumerate(zip(labels, patterns))]
    stats = RuleStats(rules)
    ids = [f"m{i}" for i in range(len(hits))]
    stats.update(ids, [f"text {i}" for i in ids], hits, truth)
    return render_rule_report_html(
        {
            "messages": stats.messages,
            "rules": stats.rule_rows(),
            "classes": stats.class_rows(),
            "has_truth": truth is not None,
            "classes_without_rules": {"promo": "no rules: promo.txt is empty or holds only comments"},
            "ignored_files": ["README.md"],
        }
    )


def test_long_patterns_are_cut_with_the_whole_pattern_as_tooltip():
    long = "(?:" + "|".join(f"word{i}" for i in range(60)) + ")"
    page = page_of([long, "short"], [[0], [1]])
    assert f"title='{long}'" in page and f"{long[:90]}…" in page and f">{long}<" not in page
    assert "<code>short</code>" in page
    assert "table-layout: fixed" in page and "overflow-wrap: anywhere" in page


def test_rules_working_for_another_class_are_flagged_at_the_top():
    # ham.txt:1 fires on three messages whose truth is spam: it works for spam.
    page = page_of(
        ["h", "s"], [[0, 1], [0, 1], [0, 1], [1]], truth=[["spam"], ["spam"], ["spam"], ["ham"]], labels=["ham", "spam"]
    )
    alert = page.index("Rules working for another class")
    assert alert < page.index("<h2>Classes</h2>") < page.index("<table id=\"rules\">")
    flagged_table = page[alert:page.index("</table>", alert)]
    assert (
        "ham.txt:1" in flagged_table
        and "spam (100.0%, by truth)" in flagged_table
        and "spam.txt:2" not in flagged_table
    )
    assert "class='flagged' data-class='ham'" in page


def test_page_filters_by_class_sorts_and_needs_no_network():
    page = page_of(["a", "b"], [[0], [1]], labels=["ham", "spam"])
    assert "<option>ham</option><option>spam</option>" in page and "id=\"class-filter\"" in page
    assert "sorted-asc" in page and "addEventListener(\"click\"" in page
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page) and "http" not in page
    assert (
        "<code>promo</code>: no rules: promo.txt is empty or holds only comments" in page
        and "Not rule files, ignored: &#x27;README.md&#x27;" in page
    )


def test_the_page_opens_with_the_shared_head_then_the_reports_own_style():
    from sortbox.html_page import BASE_CSS, page_head

    page = render_rule_report_html(stats_for(["1"]))
    head = page[: page.index("<body>") + len("<body>")]
    assert head.startswith(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>sortbox rule report</title>'
    )
    style = head[head.index("<style>") + len("<style>") : head.index("</style>")]
    assert style.strip().startswith(BASE_CSS) and "th { position: sticky; top: 0; }" in style[len(BASE_CSS):]
    assert "<title>a &lt;b&gt; &amp; c</title>" in page_head("a <b> & c", "")
