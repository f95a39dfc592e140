"""sortbox.shards: shard key ranges, the plan of a run, its consistent cut, combining shards."""

import sqlite3

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sortbox.checkpoint import write_parquet_chunks
from sortbox.extract import SourceError, SourceSpec, extract_to_parquet, make_engine, plan_shards, snapshot_connection
from sortbox.sampling import TrainingRowPicker, sample_hash, training_rows
from sortbox.shards import check_shard_rows, concat_parquet, shard_cutoffs, shard_key, shard_of, sum_counts


@pytest.mark.parametrize("count", [1, 2, 3, 16, 4096])
def test_shards_split_the_key_range_into_equal_parts(count):
    cutoffs = shard_cutoffs(count)
    assert len(cutoffs) == count - 1 and cutoffs == sorted(cutoffs)
    sizes = np.diff([0, *(int(c, 16) for c in cutoffs), 16**8])
    assert sizes.max() - sizes.min() <= 1


@pytest.mark.parametrize("count", [0, -1, 4097])
def test_a_shard_count_out_of_range_is_refused(count):
    with pytest.raises(ValueError, match="between 1 and 4096"):
        shard_cutoffs(count)


def test_every_id_has_one_shard_and_the_shards_are_even():
    ids = [str(i) for i in range(20_000)]
    shards = np.array([shard_of(i, 4) for i in ids])
    assert set(shards) == {0, 1, 2, 3}
    assert np.bincount(shards).min() > 4_600  # 5,000 each, give or take the hash
    assert shard_of(None, 4) == 0
    # The key ranges are contiguous: ordering by the key orders by shard.
    by_key = sorted(ids, key=shard_key)
    assert [shard_of(i, 4) for i in by_key] == sorted(shards)


def test_the_shard_key_is_not_the_sample_key():
    # A sample (seed 0) keeps the ids whose sample key is low: they must not all fall in shard 0.
    kept = [str(i) for i in range(5_000) if sample_hash(0, str(i)) < "20000000"]
    assert len({shard_of(i, 4) for i in kept}) == 4


def messages_db(path, rows):
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE messages (id INTEGER, body TEXT)")
        conn.executemany("INSERT INTO messages VALUES (?, ?)", rows)
    return f"sqlite:///{path}"


SPEC = SourceSpec(table="messages", id_column="id", text_column="body", chunk_size=3)


def test_the_plan_pins_the_id_bound_and_counts_every_shard(tmp_path):
    url = messages_db(tmp_path / "m.sqlite", [(i, f"text {i}") for i in range(1, 41)] + [(None, "no id")])
    engine = make_engine(url)
    with snapshot_connection(engine) as conn:
        plan = plan_shards(conn, SPEC, 3)
    engine.dispose()
    expected = np.bincount([shard_of(str(i), 3) for i in range(1, 41)] + [0], minlength=3).tolist()
    assert plan == {
        "shards": 3,
        "rows": expected,
        "total": 41,
        "id_bound": 40,
        "null_timestamps_outside_window": 0,
    }


def test_rows_added_after_the_plan_stay_out_and_a_changed_table_fails_the_shard(tmp_path):
    path = tmp_path / "m.sqlite"
    url = messages_db(path, [(i, f"text {i}") for i in range(1, 31)])
    engine = make_engine(url)
    with snapshot_connection(engine) as conn:
        plan = plan_shards(conn, SPEC, 2)
    with sqlite3.connect(path) as conn:  # a new message arrives: a larger id, outside the cut
        conn.execute("INSERT INTO messages VALUES (31, 'late')")
    read = []
    for shard in range(2):
        spec = SourceSpec(**{**SPEC.__dict__, "shard": shard, "shard_count": 2, "id_bound": plan["id_bound"]})
        with snapshot_connection(engine) as conn:
            rows, _ = extract_to_parquet(
                conn, spec, tmp_path / f"s{shard}.parquet", described={}, planned_rows=plan["rows"][shard]
            )
        read.append(rows)
    assert read == plan["rows"]
    with sqlite3.connect(path) as conn:  # a message below the bound disappears: the cut is broken
        conn.execute("DELETE FROM messages WHERE id = 7")
    shard = shard_of("7", 2)
    spec = SourceSpec(**{**SPEC.__dict__, "shard": shard, "shard_count": 2, "id_bound": plan["id_bound"]})
    with snapshot_connection(engine) as conn, pytest.raises(SourceError, match="the table changed while the run"):
        extract_to_parquet(conn, spec, tmp_path / "again.parquet", described={}, planned_rows=plan["rows"][shard])
    engine.dispose()


def test_an_empty_shard_is_a_valid_shard(tmp_path):
    url = messages_db(tmp_path / "m.sqlite", [(1, "only one")])
    engine = make_engine(url)
    empty = 1 - shard_of("1", 2)
    spec = SourceSpec(**{**SPEC.__dict__, "shard": empty, "shard_count": 2})
    with snapshot_connection(engine) as conn:
        assert extract_to_parquet(conn, spec, tmp_path / "e.parquet", described={}, planned_rows=0) == (0, 0)
    engine.dispose()
    assert pq.read_table(tmp_path / "e.parquet").num_rows == 0


def test_a_shard_outside_the_count_is_refused():
    with pytest.raises(SourceError, match="not one of the 2 shards"):
        SourceSpec(**{**SPEC.__dict__, "shard": 2, "shard_count": 2})


def test_combining_keeps_every_row_in_shard_order(tmp_path):
    schema = pa.schema([("id", pa.string())])
    parts = []
    for n, ids in enumerate([["a", "b"], [], ["c", "d", "e"]]):
        parts.append(tmp_path / f"{n}.parquet")
        write_parquet_chunks(parts[-1], schema, [pa.table({"id": ids}, schema=schema)])
    assert concat_parquet(parts, tmp_path / "all.parquet", schema, batch_size=2) == 5
    assert pq.read_table(tmp_path / "all.parquet").column("id").to_pylist() == ["a", "b", "c", "d", "e"]
    # One shard: the same file (linked), not a copy.
    assert concat_parquet(parts[2:], tmp_path / "one.parquet", schema) == 3
    assert (tmp_path / "one.parquet").stat().st_ino == parts[2].stat().st_ino


def test_shard_counts_are_checked_and_summed():
    check_shard_rows("t", [1, 2], [1, 2])
    with pytest.raises(ValueError, match="shard 1: 3 rows, planned 2"):
        check_shard_rows("t", [1, 3], [1, 2])
    assert sum_counts([{"b": 1, "a": 2}, {"b": 3}]) == {"a": 2, "b": 4}


@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_the_training_rows_picked_chunk_by_chunk_are_those_picked_at_once(chunk):
    rng = np.random.default_rng(3)
    ids = [f"m{i}" for i in range(500)]
    has_terms = rng.random(500) > 0.1
    picker = TrainingRowPicker(holdout_fraction=0.2, seed=5, max_rows=120)
    for start in range(0, 500, chunk):
        picker.add(ids[start : start + chunk], has_terms[start : start + chunk])
    at_once = training_rows(ids, has_terms, holdout_fraction=0.2, seed=5, max_rows=120)
    assert picker.rows().tolist() == at_once.tolist() and len(at_once) == 120
    held = sum(sample_hash(5, i) < "33333333" for i in ids)
    assert (picker.messages, picker.held_out, picker.without_known_terms) == (500, held, int((~has_terms).sum()))
    # The sample is the lowest hashes among the eligible: none left out sorts below one kept.
    kept = {ids[r] for r in at_once}
    eligible = [i for i, t in zip(ids, has_terms) if t and sample_hash(5, i) >= "33333333"]
    assert max(sample_hash(5, i) for i in kept) <= min(sample_hash(5, i) for i in eligible if i not in kept)
