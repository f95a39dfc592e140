"""scripts/make_benchmark_data.py: deterministic, perturbed, partly malformed benchmark tables."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from sortbox.sample_data import read_sms_collection

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "make_benchmark_data.py"
ROWS = 2000


def _load_script():
    """Import the script as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("make_benchmark_data", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bench = _load_script()
EMOJI_CHARS = set("".join(bench.EMOJI)) | {" "}


def build(path: Path, *, seed: int = 0, bad_fraction: float = 0.01, chunk: int = 700) -> list[tuple]:
    """Write a ROWS-row benchmark table to a sqlite file and read it back ordered by id."""
    url = f"sqlite:///{path}"
    assert bench.main(
        ["--rows", str(ROWS), "--db-url", url, "--table", "bench", "--seed", str(seed),
         "--bad-fraction", str(bad_fraction), "--chunk", str(chunk)]
    ) == 0
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [
                tuple(row)
                for row in conn.execute(sa.text("SELECT id, sender, received_at, body, truth FROM bench ORDER BY id"))
            ]
    finally:
        engine.dispose()


def is_bad(body: str | None) -> bool:
    """Whether a body is one of the deliberately malformed kinds (the source SMS are none of them)."""
    return (
        body is None
        or not body.strip()
        or set(body) <= EMOJI_CHARS
        or any(ch in bench.CONTROLS for ch in body)
        or len(body) >= bench.LONG_TEXT_CHARS
    )


def test_row_count_ids_and_schema(tmp_path):
    rows = build(tmp_path / "a.sqlite")
    assert len(rows) == ROWS
    assert [row[0] for row in rows] == list(range(1, ROWS + 1))
    assert {row[4] for row in rows} == {"ham", "spam"}
    assert rows[0][2] == "2026-01-01 00:00:30" and rows[-1][2] == "2026-01-01 16:40:00"


def test_same_seed_same_rows_whatever_the_chunk_size(tmp_path):
    assert build(tmp_path / "a.sqlite", seed=7, chunk=700) == build(tmp_path / "b.sqlite", seed=7, chunk=50_000)


def test_different_seed_different_rows(tmp_path):
    first, second = build(tmp_path / "a.sqlite", seed=1), build(tmp_path / "b.sqlite", seed=2)
    assert sum(a[3] != b[3] for a, b in zip(first, second)) > ROWS * 0.9


@pytest.mark.parametrize("bad_fraction", [0.0, 0.01, 0.1])
def test_about_bad_fraction_of_rows_are_bad(tmp_path, bad_fraction):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'a.sqlite'}")
    try:
        counts = bench.build_benchmark_table(engine, rows=ROWS, table_name="bench", bad_fraction=bad_fraction)
        with engine.connect() as conn:
            bodies = conn.execute(sa.text("SELECT body FROM bench")).scalars().all()
    finally:
        engine.dispose()
    bad = sum(is_bad(body) for body in bodies)
    assert bad == sum(counts.values())
    expected = ROWS * bad_fraction
    assert abs(bad - expected) <= max(3.0, 0.3 * expected)


def test_bad_rows_span_the_kinds_and_long_rows_stay_rare():
    sources = list(read_sms_collection(bench.SMS_TSV))
    kinds = [kind for _, kind in bench.generate_rows(sources, 50_000, bad_fraction=0.5)]
    assert set(kinds) == {None, *bench.BAD_KINDS, "long"}
    assert kinds.count("long") <= 50_000 * bench.LONG_MAX_RATE * 2


def test_texts_are_perturbed_and_vocabulary_grows(tmp_path):
    sources = {text for _, text in read_sms_collection(bench.SMS_TSV)}
    vocabulary = {word.lower() for text in sources for word in text.split()}
    bodies = [row[3] for row in build(tmp_path / "a.sqlite") if not is_bad(row[3])]
    changed = sum(body not in sources for body in bodies)
    assert changed > len(bodies) * 0.5
    new_words = {word.lower() for body in bodies for word in body.split()} - vocabulary
    assert len(new_words) > ROWS * 0.1


@pytest.mark.parametrize(
    "argv",
    [
        ["--rows", "0", "--db", "sqlite"],
        ["--rows", "10", "--db", "sqlite", "--bad-fraction", "1.5"],
        ["--rows", "10", "--db", "sqlite", "--db-url", "sqlite://"],
        ["--rows", "10"],
    ],
)
def test_bad_arguments_exit_non_zero(argv):
    with pytest.raises(SystemExit) as exited:
        bench.main(argv)
    assert exited.value.code == 2


def test_unusable_database_is_a_clear_error(capsys):
    assert bench.main(["--rows", "10", "--db-url", "not a url"]) == 1
    assert "cannot use database URL" in capsys.readouterr().err


def test_postgres_copy_gives_the_same_table_as_sqlite(tmp_path, postgres_engine, postgres_table):
    bench.build_benchmark_table(
        postgres_engine, rows=ROWS, table_name=postgres_table, seed=3, bad_fraction=0.1, chunk=700
    )
    with postgres_engine.connect() as conn:
        rows = conn.execute(
            sa.text(f'SELECT id, sender, received_at, body, truth FROM "{postgres_table}" ORDER BY id')
        ).all()
    as_sqlite = [(i, sender, at.strftime("%Y-%m-%d %H:%M:%S"), body, truth) for i, sender, at, body, truth in rows]
    assert as_sqlite == build(tmp_path / "a.sqlite", seed=3, bad_fraction=0.1)
