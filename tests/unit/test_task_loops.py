"""The loops moved out of the tasks (issue #15), each on a few inline rows: scoring into the two
CSV files, the training sample's features, a labelling run, the gate's held-out join and
decisions, extraction into Parquet, the run manifest, a class's validation figures, the review
sample and the decisions the feedback is judged against."""

import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sortbox.clean import CleaningOptions, iter_clean_chunks
from sortbox.embed import project, term_array, tfidf_arrow
from sortbox.extract import (
    MESSAGE_SCHEMA,
    SourceError,
    SourceSpec,
    extract_to_parquet,
    make_engine,
    snapshot_connection,
)
from sortbox.feedback import Verdict, read_decisions
from sortbox.gating import gate_decisions, held_out_rows
from sortbox.label import RuleStats
from sortbox.labelling import (
    FeedbackOverrides,
    apply_feedback,
    fallback_rules,
    label_shard,
    label_summary,
    rule_stats_file,
    rules_file,
)
from sortbox.manifest import build_manifest, class_entry
from sortbox.model_selection import evaluate_scores
from sortbox.review import match_rules, review_samples
from sortbox.rule_engines import RuleMatcher
from sortbox.rules import Rule, read_rule_files
from sortbox.sampling import holdout_mask
from sortbox.score_files import NothingScorable, combine_summaries, concat_csv_files, write_score_files
from sortbox.scoring import ModelSet
from sortbox.shards import shard_key
from sortbox.textnorm import default_cleaning_spec
from sortbox.training_sample import embed_training_sample
from sortbox.validation import validation_figures
from tests.conftest import TINY_CORPUS
from tests.unit.test_export_scoring import tiny_model


def messages(rows):
    """Extracted messages (id, text, timestamp, label) as extraction writes them."""
    return pa.table(
        {
            "id": [r[0] for r in rows],
            "text": [r[1] for r in rows],
            "undecodable": [False] * len(rows),
            "timestamp": [None] * len(rows),
            "label": [None] * len(rows),
            "undecodable_column": [None] * len(rows),
        },
        schema=MESSAGE_SCHEMA,
    )


def score(rows, chunk=2, part=False):
    model = ModelSet([tiny_model()])
    table = messages(rows)
    chunks = [table.slice(start, chunk) for start in range(0, table.num_rows, chunk)]
    cleaned = iter_clean_chunks(chunks, CleaningOptions(default_cleaning_spec(), max_chars=100))
    scores, unscorable, seen = io.StringIO(), io.StringIO(), []
    summary = write_score_files(
        model, cleaned, scores, unscorable, extracted=len(rows), on_chunk=lambda s, u: seen.append((s, u)), part=part
    )
    return summary, scores.getvalue().splitlines(), unscorable.getvalue().splitlines(), seen


def test_every_row_is_scored_or_unscorable_with_its_reason():
    summary, scores, unscorable, seen = score(
        [("1", "free prize"), ("2", "x" * 101), ("3", "nothing known"), ("4", "call love")]
    )
    assert scores[0] == "id,spam_score,spam_decision" and [line.split(",")[0] for line in scores[1:]] == ["1", "4"]
    assert unscorable == ["id,reason", "2,quarantined:too_long", "3,no_known_term"]
    assert summary == {
        "model_id": tiny_model()["model_id"],
        "extracted": 4,
        "scored": 2,
        "unscorable": 2,
        "unscorable_reasons": {"no_known_term": 1, "quarantined:too_long": 1},
    }
    assert seen[-1] == (2, 2)


def test_shards_scored_apart_and_combined_are_one_scoring(tmp_path):
    rows = [("1", "free prize"), ("2", "x" * 101), ("3", "nothing known"), ("4", "call love"), ("5", "love")]
    whole = score(rows)
    # The shards in order; one scores nothing and one is empty: neither is an error on its own.
    parts = [score(shard, part=True) for shard in (rows[:2], rows[2:3], [], rows[3:])]
    assert parts[1][0]["scored"] == 0 and parts[2][0]["extracted"] == 0
    assert combine_summaries([part[0] for part in parts]) == whole[0]
    for column, name in ((1, "scores.csv"), (2, "unscorable.csv")):
        paths = []
        for number, part in enumerate(parts):
            paths.append(tmp_path / f"{number}-{name}")
            paths[-1].write_text("".join(line + "\r\n" for line in part[column]))
        concat_csv_files(paths, tmp_path / name)
        assert (tmp_path / name).read_text().splitlines() == whole[column]
    with pytest.raises(NothingScorable, match=r"none of the 1 rows could be scored: \{'no_known_term': 1\}"):
        combine_summaries([parts[1][0], parts[2][0]])
    other = tmp_path / "other-header.csv"
    other.write_text("id,ham_score,ham_decision\r\n")
    with pytest.raises(ValueError, match="other-header.csv: its header is not the header of"):
        concat_csv_files([tmp_path / "0-scores.csv", other], tmp_path / "mixed.csv")


def test_nothing_scorable_and_lost_rows_are_errors():
    with pytest.raises(NothingScorable, match=r"none of the 2 rows could be scored: \{'no_known_term': 2\}"):
        score([("1", "nothing"), ("2", "known? no")])
    model = ModelSet([tiny_model()])
    cleaned = iter_clean_chunks([messages([("1", "free")])], CleaningOptions(default_cleaning_spec()))
    with pytest.raises(RuntimeError, match="scoring lost rows: 3 extracted, 1 scored"):
        write_score_files(model, cleaned, io.StringIO(), io.StringIO(), extracted=3)


def test_training_sample_is_projected_in_two_passes(tmp_path):
    ids = [str(i) for i in range(12)]
    terms = [["free", "prize"] if i % 3 else ["unknown"] for i in range(12)]
    tokens = tmp_path / "tokens.parquet"
    pq.write_table(pa.table({"id": ids, "terms": terms}), tokens, row_group_size=5)
    known, idf = term_array({"free": 0, "prize": 1}), np.array([1.0, 2.0])
    basis = np.array([[0.5, 0.1], [0.7, -0.2]])
    rows, summary = embed_training_sample(
        tokens,
        tmp_path / "features.npy",
        known=known,
        idf=idf,
        basis=basis,
        holdout_fraction=0.3,
        holdout_seed=1,
        max_rows=100,
        chunk_rows=5,
    )
    held_out = holdout_mask(ids, fraction=0.3, seed=1)
    expected = [i for i in range(12) if i % 3 and not held_out[i]]
    assert rows.tolist() == expected
    assert summary == {
        "messages": 12,
        "held_out": int(held_out.sum()),
        "without_known_terms": 4,
        "eligible": len(expected),
        "trained_on": len(expected),
        "max_rows": 100,
    }
    features = np.load(tmp_path / "features.npy")
    want = project(tfidf_arrow(pa.array([terms[i] for i in expected], pa.list_(pa.string())), known, idf), basis)
    np.testing.assert_allclose(features, want, rtol=1e-6)  # float32 on disk
    rows, summary = embed_training_sample(
        tokens,
        tmp_path / "capped.npy",
        known=known,
        idf=idf,
        basis=basis,
        holdout_fraction=0.3,
        holdout_seed=1,
        max_rows=2,
        chunk_rows=5,
    )
    assert len(rows) == summary["trained_on"] == 2 and np.load(tmp_path / "capped.npy").shape == (2, 2)


RULES = [Rule("spam.txt:1", "spam", r"\bwin\b"), Rule("personal.txt:1", "personal", r"\blove\b")]


def chunk(ids, texts, labels):
    return pa.table({"id": ids, "rule_text": texts, "label": labels})


def label_and_combine(shards, write, *, rules, matcher, source, has_truth, overrides=None, on_chunk=None):
    """Each shard's chunks labelled (label_shard), then the shards combined in order (the
    statistics merged, the verdicts applied), as LabelShard and LabelMessages do."""
    labelled, parts = [], []
    for chunks in shards:
        stats = label_shard(
            chunks, labelled.append, rules=rules, matcher=matcher, source=source, separator="|",
            has_truth=has_truth, on_chunk=on_chunk,
        )  # fmt: skip
        parts.append(stats.to_json())
    if overrides:
        apply_feedback(labelled, write, overrides)
    else:
        for chunk in labelled:
            write(chunk)
    return RuleStats.merged(rules, parts)


def test_a_labelling_run_writes_every_chunk_and_gathers_the_statistics(tmp_path):
    (tmp_path / "spam.txt").write_text("\\bwin\\b\n")
    (tmp_path / "promo.txt").write_text("# nothing yet\n")
    files = read_rule_files(tmp_path)
    matcher = RuleMatcher(files.rules)
    written, progress = [], []
    shards = [[chunk(["1", "2"], ["win now", "hello"], ["spam", None])], [chunk(["3"], ["win win"], [None])]]
    stats = label_and_combine(
        shards, written.append, rules=files.rules, matcher=matcher, source="rules", has_truth=True,
        on_chunk=progress.append,
    )  # fmt: skip
    assert [t.column("labels").to_pylist() for t in written] == [[["spam"], []], [["spam"]]]
    assert progress == [2, 1] and stats.messages == 3
    summary = label_summary(stats, files, matcher.fallback_rule_ids, messages=3, source="rules", overrides=None)
    assert summary["classes"] == {"spam": 2} and summary["classes_without_rules"] == {
        "promo": files.empty_classes["promo"]
    }
    assert (
        label_summary(stats, files, [], messages=3, source="column", overrides=None)["classes_without_rules"] == {}
    )
    assert fallback_rules(rules_file(files.rules, matcher)) == matcher.fallback_rule_ids
    assert rules_file(files.rules, matcher) == [
        {"rule_id": "spam.txt:1", "class": "spam", "pattern": "\\bwin\\b", "engine": "RuleMatcher"}
    ]
    assert rule_stats_file(stats, files, has_truth=True)["has_truth"] is True


def test_reviewed_verdicts_override_the_rules_labels():
    verdicts = {
        ("2", "spam"): Verdict("2", "spam", True, "fb.csv:2"),
        ("1", "spam"): Verdict("1", "spam", False, "fb.csv:3"),
        ("9", "spam"): Verdict("9", "spam", True, "fb.csv:4"),
        ("1", "promo"): Verdict("1", "promo", True, "fb.csv:5"),
    }
    overrides = FeedbackOverrides(verdicts, {"spam", "personal"})
    written = []
    label_and_combine(
        [[chunk(["1", "2"], ["win now", "love"], [None, None])]],
        written.append,
        rules=RULES,
        matcher=RuleMatcher(RULES),
        source="rules",  # with feedback, the rules label the shards and the verdicts apply when combined
        has_truth=False,
        overrides=overrides,
    )
    assert written[0].column("labels").to_pylist() == [[], ["personal", "spam"]]
    assert overrides.counts() == {"personal": 1, "spam": 1}
    assert overrides.summary()["applied"] == 2


def test_the_rule_statistics_of_shards_add_up_to_those_of_the_whole():
    rules = RULES + [Rule("spam.txt:2", "spam", r"\bprize\b"), Rule("personal.txt:2", "personal", r"\bwin\b")]
    texts = ["win a prize", "love you", "win win", "prize draw", "hello", "love to win", "prize", "win"]
    truth = ["spam", "personal", "spam", None, "personal", "personal|spam", "spam", None]
    rows = [chunk([str(i)], [t], [c]) for i, (t, c) in enumerate(zip(texts, truth))]
    options = {"rules": rules, "matcher": RuleMatcher(rules), "source": "rules", "has_truth": True}
    whole = label_and_combine([rows], [].append, **options)
    for cut in ([3, 5], [1, 2, 7], [8]):
        bounds = [0, *cut, len(rows)]
        merged = label_and_combine([rows[a:b] for a, b in zip(bounds, bounds[1:])], [].append, **options)
        assert merged.rule_rows() == whole.rule_rows() and merged.class_rows() == whole.class_rows()
        assert merged.messages == whole.messages == 8
    assert [len(row["examples"]) for row in whole.rule_rows()] == [3, 2, 3, 3]  # "love" hits twice


def test_held_out_rows_join_labels_to_raw_texts(tmp_path):
    ids = [str(i) for i in range(20)]
    pq.write_table(
        pa.table({"id": ids, "labels": [["spam"] if i % 2 else [] for i in range(20)]}), tmp_path / "labels.parquet"
    )
    pq.write_table(pa.table({"id": ids, "text": [f"text {i}" for i in range(20)]}), tmp_path / "messages.parquet")
    texts, labels = held_out_rows(tmp_path / "labels.parquet", tmp_path / "messages.parquet", fraction=0.4, seed=3)
    held = [i for i, h in enumerate(holdout_mask(ids, fraction=0.4, seed=3)) if h]
    assert held and texts == [f"text {i}" for i in held]
    assert labels == [["spam"] if i % 2 else [] for i in held]


def test_the_gate_keeps_a_class_the_reviewed_messages_refuse():
    model = tiny_model()
    texts, labels = ["free prize", "love", "call free", "love love"], [["spam"], [], ["spam"], []]
    decisions = gate_decisions(model, {}, texts, labels, margin=0.01, evaluated={}, min_precision=None, min_recall=None)
    assert decisions["spam"]["decision"] == "publish"
    evaluated = {
        "spam": {"reviewed": 10, "precision": {"value": 0.2, "count": 10}, "recall": {"value": 0.9, "count": 10}}
    }
    refused = gate_decisions(
        model, {}, texts, labels, margin=0.01, evaluated=evaluated, min_precision=0.5, min_recall=None
    )
    assert refused["spam"]["decision"] == "keep" and "precision" in refused["spam"]["reason"]


def test_extraction_writes_every_row_and_refuses_an_empty_selection(tiny_sqlite, tmp_path):
    spec = SourceSpec(table="messages", id_column="id", text_column="body", label_column="truth", chunk_size=4)
    engine, seen = make_engine(tiny_sqlite), []
    with snapshot_connection(engine) as conn:
        rows, no_time = extract_to_parquet(
            conn, spec, tmp_path / "m.parquet", described={}, progress=lambda d, t: seen.append((d, t))
        )
        empty = SourceSpec(table="messages", id_column="id", text_column="body", sample_fraction=1e-9, chunk_size=4)
        with pytest.raises(SourceError, match=r"no rows to extract from table 'messages' with \{'x': 1\}"):
            extract_to_parquet(conn, empty, tmp_path / "e.parquet", described={"x": 1})
    engine.dispose()
    assert (rows, no_time) == (len(TINY_CORPUS), 0) and seen == [(4, 6), (6, 6)]
    # In the order of the shard key (sortbox.shards): the same for any number of shards.
    by_key = sorted((str(i) for i, _, _ in TINY_CORPUS), key=shard_key)
    assert pq.read_table(tmp_path / "m.parquet").column("id").to_pylist() == by_key


def test_the_manifest_is_assembled_from_the_summaries():
    cv = {
        "roc_auc": 0.9,
        "pr_auc": 0.8,
        "threshold": {"threshold": 0.4},
        "best_params": {"C": 1.0},
        "against_truth": {"roc_auc": 0.7},
    }
    classes = {
        "spam": {"status": "trained", "reason": None, "cv": cv, "grid": {"positives": 5}},
        "rare": {"status": "skipped", "reason": "too few", "cv": {"status": "skipped"}, "grid": {"positives": 1}},
    }
    manifest = build_manifest(
        run_date="2026-11-23",
        code={"git_sha": None, "versions": {}},
        parameters={"lsi": {"num_topics": 5}},
        clean={"extracted": 6, "clean": 5, "quarantined": 1, "reasons": {"empty": 1}},
        labels={"source": "rules", "classes": {"spam": 2}, "fallback_rules": []},
        tokens={"distinct_terms": 9, "vocabulary": 4},
        classes=classes,
        scores={"model_id": "m", "scored": 4, "unscorable": 2, "unscorable_reasons": {"no_known_term": 1}},
        feedback={},
        artifacts={"model_json": "../m/model.json"},
        drift={"status": "ok", "measures": []},
    )
    assert manifest["rows"]["quarantined"] == 1 and manifest["rows"]["scored"] == 4 and manifest["model_id"] == "m"
    assert manifest["labels"]["classes_without_rules"] == {} and manifest["labels"]["feedback"] is None
    assert manifest["classes"]["spam"] == {
        "status": "trained",
        "reason": None,
        "cv_roc_auc": 0.9,
        "cv_pr_auc": 0.8,
        "threshold": 0.4,
        "best_params": {"C": 1.0},
        "positives": 5,
        "roc_auc_against_truth": 0.7,
    }
    assert class_entry(classes["rare"])["threshold"] is None
    assert manifest["drift"] == {"status": "ok"} and json.dumps(manifest)


def test_decisions_are_read_back_from_the_score_files(tmp_path):
    header = "id,spam_score,spam_decision,ham_score,ham_decision\n"
    (tmp_path / "scores.csv").write_text(header + "1,0.9,1,0.1,0\n2,0.2,0,0.7,1\n")
    (tmp_path / "unscorable.csv").write_text("id,reason\n3,no_known_term\n")
    decisions, known, classes = read_decisions(tmp_path / "scores.csv", tmp_path / "unscorable.csv", {"2", "3", "9"})
    assert classes == ["spam", "ham"] and known == {"1", "2", "3"}
    assert decisions == {"2": {"spam": False, "ham": True}}


def test_review_samples_show_where_model_and_rules_disagree():
    texts = ["WIN now", "win big", "hello", "hi there", "win", "lunch?"]
    scores = np.array([[0.9], [0.2], [0.8], [0.1], [0.7], [0.3]])
    rules = [Rule("spam.txt:1", "spam", r"\bwin\b")]
    asked = []

    def texts_of(ids):
        asked.append(ids)
        return [texts[int(i)] for i in ids]

    samples = list(
        review_samples(["spam"], [0.5], ids=[str(i) for i in range(6)], scores=scores,
                       rule_hits=match_rules(texts, rules, default_cleaning_spec()), rules=rules,
                       texts_of=texts_of, size=5, seed=0)
    )  # fmt: skip
    [(name, rows, entry)] = samples
    assert len(asked) == 1 and set(asked[0]) == {row["id"] for row in rows}  # only the picked texts are read
    assert all(row["text"] == texts[int(row["id"])] for row in rows)
    assert {row["id"]: row["rules"] for row in rows if row["rules"]} == {
        str(i): "spam.txt:1" for i in (0, 1, 4) if str(i) in {row["id"] for row in rows}
    }
    assert name == "spam" and entry["threshold"] == 0.5 and entry["rows"] == len(rows) > 0
    assert entry["disagreements"] == 2  # "win big" scored low, "hello" scored high
    assert {row["id"] for row in rows} <= {str(i) for i in range(6)}


def test_validation_figures_judge_against_the_truth_only_when_it_knows_the_class():
    y = np.array([1, 0, 1, 0, 1, 0, 1, 0, 1, 0])
    scores = np.array([0.9, 0.1, 0.8, 0.3, 0.7, 0.2, 0.6, 0.4, 0.35, 0.05])
    options = dict(best_params={"C": 1.0}, folds=2, seed=0, threshold_policy="max_f1", threshold_target=None,
                   measured_against="rule labels", truth_column="truth")  # fmt: skip
    plain = validation_figures(y, scores, truth=None, **options)
    assert plain["status"] == "validated" and plain["positives"] == 5 and plain["messages"] == 10
    assert plain["roc_auc"] == pytest.approx(evaluate_scores(y, scores)["roc_auc"]) and "against_truth" not in plain
    judged = validation_figures(y, scores, truth=np.array([1, 0, 1, 0, 0, 0, 1, 0, 0, 0]), **options)
    assert judged["against_truth"]["positives"] == 3
    assert judged["against_truth"]["measured_against"] == "label column truth"
    assert "against_truth" not in validation_figures(y, scores, truth=np.zeros(10, dtype=int), **options)
