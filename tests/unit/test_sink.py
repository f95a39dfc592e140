"""sortbox.sink on sqlite: ids exactly as extracted, one row per id and class, a rerun adds nothing,
bad names, bad scores.csv files and a sink table with other columns are one clear line."""

import datetime as dt
import sqlite3

import pytest
import sqlalchemy as sa

from sortbox.portable_scorer import CsvWriter, csv_safe, scores_header
from sortbox.sink import SinkError, SinkSpec, export_done, export_scores, iter_score_rows, make_sink_engine
from tests.unit.test_portable_scorer_io import HOSTILE_IDS

RUN_DATE = dt.date(2026, 1, 28)
MODEL_IDS = {"spam": "m-spam", "-neg": "m-neg"}


def write_scores(path, ids, classes=("spam", "-neg")):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = CsvWriter(handle)
        writer.writerow(scores_header(list(classes)))
        writer.writerows(
            [csv_safe(i), *[cell for k in range(len(classes)) for cell in (repr(0.25 + k / 4), str(k % 2))]]
            for i in ids
        )
    return path


def export(engine, path, update_id="run-1", chunk_rows=2, spec=None):
    spec = spec or SinkSpec(table="scores", marker_table="exports", chunk_rows=chunk_rows)
    chunks = iter_score_rows(path, MODEL_IDS, RUN_DATE, chunk_rows=spec.chunk_rows)
    return export_scores(engine, spec, chunks, update_id=update_id, run_date=RUN_DATE)


@pytest.fixture
def engine(tmp_path):
    engine = make_sink_engine(f"sqlite:///{tmp_path / 'sink.sqlite'}")
    yield engine
    engine.dispose()


def table_rows(engine, table="scores"):
    with engine.connect() as conn:
        return conn.exec_driver_sql(f'SELECT id, class, score, decision, model_id, run_date FROM "{table}"').fetchall()


def test_every_id_is_written_as_extracted_once_per_class(engine, tmp_path):
    path = write_scores(tmp_path / "scores.csv", HOSTILE_IDS)
    assert export(engine, path) == 2 * len(HOSTILE_IDS)
    rows = table_rows(engine)
    assert sorted(r[0] for r in rows if r[1] == "spam") == sorted(HOSTILE_IDS)
    assert sorted(r[0] for r in rows if r[1] == "-neg") == sorted(HOSTILE_IDS)
    assert {(r[1], r[2], r[3], r[4], r[5]) for r in rows} == {
        ("spam", 0.25, 0, "m-spam", "2026-01-28"),
        ("-neg", 0.5, 1, "m-neg", "2026-01-28"),
    }


def test_a_second_export_of_the_same_run_adds_nothing(engine, tmp_path):
    path = write_scores(tmp_path / "scores.csv", ["1", "2", "3"])
    spec = SinkSpec(table="scores", marker_table="exports", chunk_rows=2)
    assert not export_done(engine, spec, "run-1")
    assert export(engine, path) == 6
    assert export_done(engine, spec, "run-1")
    assert export(engine, path) == 0
    assert len(table_rows(engine)) == 6
    assert export(engine, path, update_id="run-2") == 6  # another run is another export
    assert len(table_rows(engine)) == 12


def test_a_failing_export_leaves_no_row(engine, tmp_path):
    path = write_scores(tmp_path / "scores.csv", ["1", "2", "3", "4", "5"])
    export(engine, path, update_id="before")
    broken = tmp_path / "broken.csv"
    broken.write_text(path.read_text().replace("\n4,0.25", "\n4,", 1))  # an empty score in the second chunk
    with pytest.raises(SinkError, match="an empty score or decision cell in data rows 3-4$"):
        export(engine, broken, update_id="broken")
    assert len(table_rows(engine)) == 10
    assert not export_done(engine, SinkSpec(table="scores", marker_table="exports"), "broken")


@pytest.mark.parametrize(
    "option, value",
    [
        ("table", "scores; DROP TABLE messages"),
        ("table", 'sco"res'),
        ("table", "1scores"),
        ("table", ""),
        ("marker_table", "a" * 64),
        ("marker_table", "exports.x"),
    ],
)
def test_table_names_are_plain_identifiers(option, value):
    with pytest.raises(SinkError, match=rf"^\[sink\] {option} = .* is not allowed: must be letters, digits and _"):
        SinkSpec(**{option: value})


@pytest.mark.parametrize(
    "text, message",
    [
        ("key,spam_score,spam_decision\n1,0.5,1\n", "is not a scores.csv header"),
        ("id,spam_score,spam_verdict\n1,0.5,1\n", "are not a <class>_score, <class>_decision pair"),
        ("id,ham_score,ham_decision\n1,0.5,1\n", r"no model id for the class\(es\) \['ham'\]"),
        ("id,spam_score,spam_decision\n1,,1\n", "an empty score or decision cell"),
        ("id,spam_score,spam_decision\n1,high,1\n", "scores.csv: .*high"),
        ('id,spam_score,spam_decision\n"1,0.5,1\n', "scores.csv: "),
    ],
)
def test_a_bad_scores_file_is_one_line_naming_it(tmp_path, text, message):
    path = tmp_path / "scores.csv"
    path.write_text(text)
    with pytest.raises(SinkError, match=message) as raised:
        list(iter_score_rows(path, MODEL_IDS, RUN_DATE, chunk_rows=10))
    assert str(path) in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "create, message",
    [
        (
            "CREATE TABLE scores (id TEXT, class TEXT, score REAL)",
            r"\[sink\] table 'scores' in sqlite database 'sink.sqlite' has the columns \(id, class, score\); "
            r"sortbox writes \(id, class, score, decision, model_id, run_date\)",
        ),
        (
            "CREATE TABLE exports (update_id TEXT)",
            r"\[sink\] marker_table 'exports' in sqlite database 'sink.sqlite' has the columns \(update_id\)",
        ),
    ],
)
def test_an_existing_table_with_other_columns_is_refused(engine, tmp_path, create, message):
    with engine.begin() as conn:
        conn.exec_driver_sql(create)
    path = write_scores(tmp_path / "scores.csv", ["1"])
    with pytest.raises(SinkError, match=message) as raised:
        export(engine, path)
    assert "\n" not in str(raised.value)
    with sqlite3.connect(engine.url.database) as conn:
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name IN ('scores', 'exports')").fetchone()[0] == 1


@pytest.mark.parametrize(
    "url, message",
    [
        ("mysql://h/db", "unsupported sink database 'mysql'"),
        ("postgresql://h/db", "postgresql\\+psycopg2://"),
        ("nonsense", "not a database URL"),
    ],
)
def test_an_unusable_sink_url_is_one_line(url, message):
    with pytest.raises(SinkError, match=message):
        make_sink_engine(url)


def test_the_sink_table_is_reflected_by_sqlalchemy(engine, tmp_path):
    export(engine, write_scores(tmp_path / "scores.csv", ["1"]))
    assert [c["name"] for c in sa.inspect(engine).get_columns("scores")] == [
        "id",
        "class",
        "score",
        "decision",
        "model_id",
        "run_date",
    ]
