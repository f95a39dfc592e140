"""LabelMessages, RuleReport and TokenizeMessages on the tiny corpus; reruns after a rule edit."""
import datetime as dt

import pyarrow.parquet as pq
import pytest

from sortbox.checkpoint import read_json
from tasks.label import LabelMessages, RuleReport
from tasks.tokenize import TokenizeMessages
from tests.conftest import make_messages_db, run_luigi

RUN_DATE = dt.date(2026, 11, 23)


@pytest.fixture
def rules(tmp_path, luigi_config):
    directory = tmp_path / "labels"
    directory.mkdir()
    (directory / "spam.txt").write_text("\\bwin(ner)?\\b\n\\b(free|prize)\\b\n\\bnever matches anything\\b\n")
    (directory / "personal.txt").write_text("\\blove you\\b\n\\bhey\\b\n")
    luigi_config({"labelling": {"rules_dir": str(directory)}})
    return directory


def only(root, family):
    (directory,) = (root / "2026-11-23").glob(f"{family}-*")
    return directory


def test_labels_and_rule_report(tiny_sqlite, pipeline_env, rules):
    root = pipeline_env(tiny_sqlite)
    assert run_luigi([RuleReport(run_date=RUN_DATE)]).scheduling_succeeded
    rows = pq.read_table(only(root, "LabelMessages") / "labels.parquet").to_pylist()
    labels = [next(row for row in rows if row["id"] == str(i)) for i in range(1, 7)]  # by id
    assert [row["labels"] for row in labels] == [["spam"], ["personal"], ["spam"], [], [], ["personal"]]
    assert [row["truth"] for row in labels] == [["spam"], ["ham"], ["spam"], ["ham"], ["ham"], ["ham"]]
    stats = read_json(only(root, "LabelMessages") / "rule_stats.json")
    spam = next(c for c in stats["classes"] if c["class"] == "spam")
    assert (spam["precision"], spam["recall"]) == (1.0, 1.0)
    report = (only(root, "RuleReport") / "rule_report.html").read_text()
    assert "Rules that never fire" in report and "spam.txt:3" in report
    csv_lines = (only(root, "RuleReport") / "rule_report.csv").read_text().splitlines()
    assert csv_lines[0].startswith("rule_id,class,pattern,hits,coverage,overlap,conflict,precision")
    assert len(csv_lines) == 1 + 5


def test_labels_from_column(tiny_sqlite, pipeline_env, rules, luigi_config):
    root = pipeline_env(tiny_sqlite)
    luigi_config({"labelling": {"source": "column"}})
    assert run_luigi([LabelMessages(run_date=RUN_DATE)]).scheduling_succeeded
    summary = read_json(only(root, "LabelMessages") / "summary.json")
    assert summary["classes"] == {"ham": 4, "spam": 2}


def test_label_column_with_unknown_separator_fails_clearly(tmp_path, pipeline_env, rules, luigi_config, caplog):
    url = f"sqlite:///{tmp_path / 'multi.sqlite'}"
    make_messages_db(url, [(1, "hello there", "personal|notification"), (2, "win a prize", "spam,notification")])
    pipeline_env(url)
    luigi_config({"labelling": {"source": "column"}})
    assert not run_luigi([LabelMessages(run_date=RUN_DATE)]).scheduling_succeeded
    assert "message id '2': label 'spam,notification'" in caplog.text


def test_tokens_vocabulary_and_surface_forms(tiny_sqlite, pipeline_env, luigi_config, monkeypatch, tmp_path):
    # No nltk data anywhere: the tokenizer, stopwords and stemmer must not need any.
    empty = tmp_path / "no_nltk_data"
    empty.mkdir()
    monkeypatch.setenv("NLTK_DATA", str(empty))
    root = pipeline_env(tiny_sqlite)
    luigi_config({"tokenize": {"min_word_frequency": 1}})
    assert run_luigi([TokenizeMessages(run_date=RUN_DATE)]).scheduling_succeeded
    tokens = pq.read_table(only(root, "TokenizeMessages") / "tokens.parquet").to_pylist()
    assert {"id": "4", "terms": ["ok", "lar", "joke", "wif", "u", "oni"]} in tokens
    vocabulary = read_json(only(root, "TokenizeMessages") / "vocabulary.json")
    forms = read_json(only(root, "TokenizeMessages") / "surface_forms.json")
    assert (vocabulary["win"], vocabulary["winner"]) == (1, 1) and forms["joking"] == "joke"


def test_every_example_of_every_rule_is_a_message_that_rule_matches(tiny_sqlite, pipeline_env, rules):
    # The tiny corpus has rules with 2, 1 and 0 hits: a rule with fewer hits than examples wanted
    # used to show the next rule's messages.
    import re

    root = pipeline_env(tiny_sqlite)
    assert run_luigi([RuleReport(run_date=RUN_DATE)]).scheduling_succeeded
    stats = read_json(only(root, "LabelMessages") / "rule_stats.json")
    hits = {
        row["id"]: set(row["rule_hits"])
        for row in pq.read_table(only(root, "LabelMessages") / "labels.parquet").to_pylist()
    }
    rule_texts = {
        row["id"]: row["rule_text"] for row in pq.read_table(only(root, "CleanShard") / "clean.parquet").to_pylist()
    }
    shown = 0
    for index, rule in enumerate(stats["rules"]):
        assert len(rule["examples"]) == min(rule["hits"], 3), rule["rule_id"]
        for example in rule["examples"]:
            assert index in hits[example["id"]], (rule["rule_id"], example["id"])
            assert re.search(rule["pattern"], rule_texts[example["id"]], re.IGNORECASE | re.ASCII), (
                rule["rule_id"],
                example["id"],
            )
            shown += 1
    assert shown >= 4
    # The page shows the same examples, in the rule's own row of the rules table.
    table = (only(root, "RuleReport") / "rule_report.html").read_text().split("<table id=\"rules\">")[1]
    for rule in stats["rules"]:
        row = table.split(f"<td>{rule['rule_id']}</td>")[1].split("</tr>")[0]
        examples = row.split("<td class='examples'>")[1]
        assert re.findall(r"<span>(\w+): ", examples) == [e["id"] for e in rule["examples"]], rule["rule_id"]
