"""The review sample's rule hits: taken from the labelling by id, and per class."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from sortbox.label import hits_to_csr
from sortbox.review import message_texts, read_scores, rule_hits_in_order, rule_says

LABEL_IDS = pa.array(["a", "b", "c", "d"])
LABEL_HITS = pa.array([[2, 0], [], [1], [0, 2, 1]], pa.list_(pa.int32()))


def test_rule_hits_follow_the_scored_order_sorted_per_message():
    indptr, indices = rule_hits_in_order(["d", "a", "c", "b"], LABEL_IDS, LABEL_HITS)
    expected_indptr, expected_indices = hits_to_csr([[0, 1, 2], [0, 2], [1], []])
    assert indptr.tolist() == expected_indptr.tolist()
    assert indices.tolist() == expected_indices.tolist()


def test_a_subset_of_the_labelled_rows_is_fine():
    indptr, indices = rule_hits_in_order(["c"], LABEL_IDS, LABEL_HITS)
    assert indptr.tolist() == [0, 1] and indices.tolist() == [1]


def test_an_id_the_labelling_never_saw_is_an_error_naming_it():
    with pytest.raises(ValueError, match="'zz'"):
        rule_hits_in_order(["a", "zz"], LABEL_IDS, LABEL_HITS)


@pytest.mark.parametrize("ids", [["a", "b", "c", "d"], pa.array(["a", "b", "c", "d"])])
def test_the_labelled_order_itself_takes_the_hits_as_they_are(ids):
    indptr, indices = rule_hits_in_order(ids, LABEL_IDS, LABEL_HITS)
    expected_indptr, expected_indices = hits_to_csr([[0, 2], [], [1], [0, 1, 2]])
    assert indptr.tolist() == expected_indptr.tolist()
    assert indices.tolist() == expected_indices.tolist()


def test_message_texts_are_read_a_chunk_at_a_time_in_the_asked_order(tmp_path):
    import pyarrow.parquet as pq

    path = tmp_path / "messages.parquet"
    pq.write_table(pa.table({"id": [str(i) for i in range(10)], "text": [f"text {i}" for i in range(10)]}), path)
    wanted = ["7", "2", "9", "nope"]
    assert message_texts(path, wanted, chunk_rows=3) == ["text 7", "text 2", "text 9", ""]


@pytest.mark.parametrize(
    ("class_name", "expected"),
    [("spam", [True, False, False, True]), ("ham", [True, False, True, True]), ("other", [False] * 4)],
)
def test_rule_says_marks_messages_where_a_rule_of_the_class_fired(class_name, expected):
    indptr, indices = hits_to_csr([[0, 2], [], [1], [0, 1, 2]])
    says = rule_says(indptr, indices, ["spam", "ham", "ham"], class_name)
    assert says.dtype == np.bool_ and says.tolist() == expected


def test_read_scores_reads_back_every_id_the_scores_csv_writer_can_write(tmp_path):
    from sortbox.portable_scorer import CsvWriter, csv_safe

    ids = ["a", "=1+2", "'x", "with,comma", 'quo"te', "cr\rhere", "nl\nhere", "NA", "", "null", "  sp "]
    path = tmp_path / "scores.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = CsvWriter(handle)
        writer.writerow(["id", "a_score", "a_decision", "b_score", "b_decision"])
        writer.writerows([[csv_safe(i), repr(k / 10), "1", repr(1 - k / 7), "0"] for k, i in enumerate(ids)])
    read_ids, scores = read_scores(path, 2)
    assert read_ids.to_pylist() == ids
    assert scores.tolist() == [[k / 10, 1 - k / 7] for k in range(len(ids))]
