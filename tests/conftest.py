"""Shared fixtures: the tiny canonical corpus, luigi configuration per test, sqlite and Postgres sources."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import luigi
import luigi.configuration
import pytest
import sqlalchemy as sa

from sortbox.sample_data import (
    SAMPLE_EPOCH,
    SAMPLE_INTERVAL,
    build_sample_database,
    read_sms_collection,
    write_messages,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
SMS_TSV = REPO_ROOT / "data" / "sms_spam_collection.tsv"
DEFAULT_TEST_DATABASE_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
#: The `luigi` command of this virtual environment.
LUIGI = str(Path(sys.executable).with_name("luigi"))

#: The task families of the training DAG (workflows.train.TrainPipeline and all it requires): what a
#: clean run leaves outputs for and luigid lists, so that the task list cannot silently shrink.
#: [training] for end-to-end tests about anything but the models' quality: 3 folds, C 0.1 and 1
#: whatever the number of messages, the folds drawn once (fits are most of a small run's time).
SMALL_TRAINING = {
    "folds": "3",
    "param_grid": '{"C": [0.1, 1.0]}',
    "small_data_param_grid": '{"C": [0.1, 1.0]}',
    "small_data_cv_repeats": "1",
}
TRAINING_FAMILIES = {
    "PlanShards",
    "ExtractShard",
    "ExtractMessages",
    "CleanShard",
    "CleanMessages",
    "LabelShard",
    "LabelMessages",
    "RuleReport",
    "TokenizeShard",
    "TokenizeMessages",
    "BuildDictionary",
    "FitTfidf",
    "FitLsi",
    "EmbedMessages",
    "GridSearchFold",
    "GridSearch",
    "CrossValidate",
    "FitClassifier",
    "TrainClassifiers",
    "ExportModelJson",
    "ScoreShard",
    "ScoreMessages",
    "TrainingReport",
    "TrainPipeline",
    "ReviewSample",
    "ReadFeedback",
    "EvaluateFeedback",
}

#: The canonical tiny corpus: (id, body, truth). Reused by unit, task and end-to-end tests.
TINY_CORPUS = [
    (1, "WINNER!! You have won a £1000 prize. Call 09061701461 now to claim", "spam"),
    (2, "Hey, are we still meeting for lunch at 12?", "ham"),
    (3, "FREE entry in 2 a wkly comp to win FA Cup tkts. Text FA to 87121", "spam"),
    (4, "Ok lar... Joking wif u oni...", "ham"),
    (5, "Your parcel will be delivered today between 10:00 and 12:00", "ham"),
    (6, "I'll call you back later, love you", "ham"),
]


@pytest.fixture
def luigi_config():
    """Set luigi configuration values for one test; everything set is restored afterwards.

    Usage: luigi_config({"paths": {"output_root": str(tmp_path)}, "source": {...}})
    """
    config = luigi.configuration.get_config()
    saved: list[tuple[str, str, str | None]] = []

    def apply(values: dict[str, dict[str, object]]) -> None:
        for section, options in values.items():
            if not config.has_section(section):
                config.add_section(section)
            for option, value in options.items():
                previous = config.get(section, option, None)
                saved.append((section, option, previous))
                config.set(section, option, "" if value is None else str(value))

    yield apply
    for section, option, previous in reversed(saved):
        if previous is None:
            config.remove_option(section, option)
        else:
            config.set(section, option, previous)


def make_messages_db(url: str, rows: list[tuple], *, table: str = "messages") -> None:
    """(Re)create a `messages` table at `url` holding (id, body, truth) rows; timestamps as in the sample."""
    records = (
        {
            "id": i,
            "sender": "+447700900000",
            "received_at": SAMPLE_EPOCH + i * SAMPLE_INTERVAL,
            "body": body,
            "truth": truth,
        }
        for i, body, truth in rows
    )
    engine = sa.create_engine(url)
    try:
        write_messages(engine, records, table_name=table)
    finally:
        engine.dispose()


@pytest.fixture
def tiny_sqlite(tmp_path) -> str:
    """A sqlite database with the tiny corpus; returns its SQLAlchemy URL."""
    url = f"sqlite:///{tmp_path / 'tiny.sqlite'}"
    make_messages_db(url, TINY_CORPUS)
    return url


@pytest.fixture(scope="session")
def sample_sqlite(tmp_path_factory) -> str:
    """The full sample database (5,574 SMS), built once per session; returns its URL."""
    path = tmp_path_factory.mktemp("sample") / "sample.sqlite"
    build_sample_database(SMS_TSV, path)
    return f"sqlite:///{path}"


@pytest.fixture
def pipeline_env(tmp_path, luigi_config, monkeypatch):
    """Point the pipeline at a fresh output root; returns a function that selects the database."""
    # Errors under test must fail at once, not after extraction's retries.
    luigi_config({"paths": {"output_root": str(tmp_path / "runs")}, "database": {"retries": 0}})

    def use_database(url: str) -> Path:
        monkeypatch.setenv("SORTBOX_DB_URL", url)
        return tmp_path / "runs"

    return use_database


def _postgres_url() -> str:
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)


@pytest.fixture(scope="session")
def postgres_engine():
    """An engine on the test Postgres: skipped (loudly) when unreachable, a failure under CI=true."""
    url = _postgres_url()
    engine = sa.create_engine(url, hide_parameters=True)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # any connection problem means "no Postgres here"
        engine.dispose()
        reason = f"Postgres at TEST_DATABASE_URL is not reachable ({type(exc).__name__}); Postgres tests NOT RUN"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + " — and CI=true requires them")
        pytest.skip(reason)
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_table(postgres_engine):
    """A unique table name in the test Postgres, dropped after the test."""
    name = f"sortbox_test_{uuid.uuid4().hex[:10]}"
    yield name
    with postgres_engine.begin() as conn:
        conn.execute(sa.text(f'DROP TABLE IF EXISTS "{name}"'))


@pytest.fixture(scope="session")
def sms_pairs() -> list[tuple[str, str]]:
    """The SMS Spam Collection as (label, text) pairs."""
    return list(read_sms_collection(SMS_TSV))


def run_luigi(tasks: list[luigi.Task], workers: int = 1) -> luigi.execution_summary.LuigiRunResult:
    """Build tasks with the local scheduler and return luigi's detailed result."""
    return luigi.build(tasks, local_scheduler=True, workers=workers, detailed_summary=True, log_level="WARNING")


def run_luigi_command(args: list[str], *, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """`luigi ARGS` as a user types it, from the repository root, its output captured."""
    return subprocess.run([LUIGI, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
