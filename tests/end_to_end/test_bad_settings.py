"""A bad setting stops the run while the DAG is scheduled: one line naming the option and the
allowed values, exit 35 ([retcode] scheduling_error), nothing read or written. As the invalid
regex does (tests/end_to_end/test_cli.py::test_bad_regex_stops_the_run_before_extraction)."""

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import pytest

from tasks.embed import FitLsi
from tests.conftest import LUIGI, REPO_ROOT, run_luigi
from workflows.nightly import NightlyRetrain
from workflows.train import TrainPipeline

RUN_DATE = dt.date(2026, 1, 28)

BAD_SETTINGS = [
    ("lsi", "num_topics", "0", "[lsi] num_topics = 0 is not allowed: must be an integer >= 1"),
    ("lsi", "num_topics", "many", "[lsi] num_topics: cannot be read: invalid literal for int() with base 10: 'many'"),
    ("training", "folds", "1", "[training] folds = 1 is not allowed: must be an integer >= 2"),
    (
        "training",
        "param_grid",
        '{"C": [0]}',
        "[training] param_grid: candidate {'C': 0} is refused by LogisticRegression: "
        "The 'C' parameter of LogisticRegression must be a float in the range (0.0, inf]",
    ),
    (
        "training",
        "param_grid",
        '{"penalty": ["l3"]}',
        "[training] param_grid: candidate {'penalty': 'l3'} is refused by LogisticRegression: The 'penalty' parameter",
    ),
    (
        "training",
        "param_grid",
        '{"C": [1.0], "Cee": [1]}',
        "[training] param_grid: unknown LogisticRegression parameter 'Cee' (known: C, class_weight",
    ),
    (
        "training",
        "param_grid",
        '{"penalty": ["l1"], "solver": ["lbfgs"]}',
        "Solver lbfgs supports only 'l2' or None penalties, got l1 penalty",
    ),
    (
        "training",
        "scoring",
        "rocauc",
        "[training] scoring = 'rocauc' is not allowed: must be a scikit-learn scorer name",
    ),
    (
        "training",
        "threshold_policy",
        "precision",
        "[training] threshold_target = None is not allowed: "
        "must be a number in (0, 1] when threshold_policy = precision",
    ),
    (
        "training",
        "class_thresholds",
        '{"notification": {"policy": "recall"}}',
        "[training] class_thresholds = {'notification': {'policy': 'recall'}} is not allowed: must be a JSON object",
    ),
    ("training", "n_jobs", "0", "[training] n_jobs = 0 is not allowed: must be a non-zero integer"),
    ("training", "max_rows", "0", "[training] max_rows = 0 is not allowed"),
    (
        "training",
        "holdout_fraction",
        "1.0",
        "[training] holdout_fraction = 1.0 is not allowed: must be a number in [0, 1)",
    ),
    ("training", "seed", "-1", "[training] seed = -1 is not allowed: must be an integer from 0 to 4294967295"),
    ("cleaning", "max_chars", "0", "[cleaning] max_chars = 0 is not allowed: must be an integer >= 1"),
    (
        "cleaning",
        "unicode_normalization",
        "NFX",
        "[cleaning] unicode_normalization = 'NFX' is not allowed: must be one of NFC, NFKC, NFD, NFKD",
    ),
    ("cleaning", "digits", "nope", "[cleaning] digits: cannot be read: nope is not a valid choice"),
    ("dictionary", "no_above", "0", "[dictionary] no_above = 0.0 is not allowed: must be a number in (0, 1]"),
    ("tokenize", "language", "klingon", "no stopword list for language 'klingon' (available: english)"),
    ("tokenize", "stem", "maybe", "[tokenize] stem: cannot be read: cannot interpret 'maybe' as boolean"),
    ("source", "since", "2026-13-01", "[source] since = '2026-13-01' is not an ISO date or date-time"),
    ("source", "table", "", "[source] table = '' is not allowed: must be a non-empty text"),
    ("tokenize", "min_word_frequency", "0", "[tokenize] min_word_frequency = 0 is not allowed"),
    ("source", "sample_fraction", "0", "[source] sample_fraction = 0.0 is not allowed: must be a number in (0, 1]"),
    (
        "database",
        "statement_timeout_seconds",
        "-1",
        "[database] statement_timeout_seconds = -1.0 is not allowed: must be a finite number >= 0",
    ),
    ("database", "retries", "-1", "[database] retries = -1 is not allowed: must be an integer >= 0"),
    ("publish", "keep", "0", "[publish] keep = 0 is not allowed: must be an integer >= 1"),
]


@pytest.mark.parametrize("section, option, value, message", BAD_SETTINGS, ids=lambda v: str(v)[:30])
def test_a_bad_setting_stops_the_run_while_scheduling(
    tiny_sqlite, pipeline_env, luigi_config, caplog, section, option, value, message
):
    root = pipeline_env(tiny_sqlite)
    luigi_config({section: {option: value}})
    result = run_luigi([TrainPipeline(run_date=RUN_DATE)])
    assert not result.scheduling_succeeded
    assert message in caplog.text
    assert not root.exists() or not any(root.rglob("*")), "nothing may be extracted or written"


def test_a_language_without_a_snowball_stemmer_is_refused_unless_stem_is_off(
    tiny_sqlite, pipeline_env, luigi_config, caplog, tmp_path
):
    root = pipeline_env(tiny_sqlite)
    stopwords = tmp_path / "stopwords"
    stopwords.mkdir()
    (stopwords / "klingon.txt").write_text("qapla\n")
    luigi_config({"tokenize": {"language": "klingon", "stopwords_dir": str(stopwords)}})
    assert not run_luigi([TrainPipeline(run_date=RUN_DATE)]).scheduling_succeeded
    assert (
        "[tokenize] language = 'klingon' is not allowed: must be a Snowball stemmer language (arabic, danish"
        in caplog.text
    )
    assert not root.exists() or not any(root.rglob("*"))


def test_column_labels_need_a_label_column(tiny_sqlite, pipeline_env, luigi_config, caplog):
    pipeline_env(tiny_sqlite)
    luigi_config({"labelling": {"source": "column"}, "source": {"label_column": "-"}})
    assert not run_luigi([TrainPipeline(run_date=RUN_DATE)]).scheduling_succeeded
    assert (
        "[labelling] source = 'column' is not allowed: must be rules when [source] label_column is unset" in caplog.text
    )


def test_a_night_needs_held_out_rows_for_its_gate(tiny_sqlite, pipeline_env, luigi_config, caplog):
    root = pipeline_env(tiny_sqlite)
    luigi_config({"training": {"holdout_fraction": "0"}, "publish": {"root": str(root.parent / "published")}})
    assert not run_luigi([NightlyRetrain(date=RUN_DATE)]).scheduling_succeeded
    assert "[training] holdout_fraction = 0.0 is not allowed: must be > 0 for a nightly run" in caplog.text
    assert not root.exists() or not any(root.rglob("*"))


def test_num_topics_above_the_vocabulary_is_capped_with_a_warning(tiny_sqlite, pipeline_env, luigi_config, caplog):
    pipeline_env(tiny_sqlite)
    luigi_config({"lsi": {"num_topics": "500"}, "tokenize": {"min_word_frequency": "1"}})
    result = run_luigi([FitLsi(run_date=RUN_DATE)])
    assert result.scheduling_succeeded, result.summary_text
    summary = json.loads((FitLsi(run_date=RUN_DATE).output_dir() / "summary.json").read_text())
    assert summary["num_topics"] <= summary["terms"] < 500
    assert f"[lsi] num_topics = 500 is more than the {summary['terms']} terms of the vocabulary" in caplog.text


def cli(
    args: list[str], db_url: str, tmp_path: Path, module: str = "workflows.train", task: str = "TrainPipeline"
) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "LUIGI_CONFIG_PATH"}
    environment["SORTBOX_DB_URL"] = db_url
    return subprocess.run(
        [
            LUIGI,
            "--module",
            module,
            task,
            "--local-scheduler",
            "--run-date",
            RUN_DATE.isoformat(),
            "--paths-output-root",
            str(tmp_path / "runs"),
            *args,
        ],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_bad_setting_on_the_command_line_exits_35_before_extraction(tiny_sqlite, tmp_path):
    done = cli(["--training-param-grid", '{"C": [0.1, -1]}'], tiny_sqlite, tmp_path)
    assert done.returncode == 35, done.stderr[-3000:]  # [retcode] scheduling_error
    assert "SettingsError: [training] param_grid: candidate {'C': -1} is refused by LogisticRegression" in done.stderr
    assert not (tmp_path / "runs").exists()


def test_a_dash_unsets_an_option_of_the_configuration_file(tiny_sqlite, tmp_path):
    """config/luigi.cfg sets timestamp_column = received_at; an empty value on the command line
    is "not given" to luigi (the file's value stays), `-` unsets it."""
    extracted = {}
    for value in ("", "-"):
        root = tmp_path / (value or "empty")
        done = cli(
            ["--source-timestamp-column", value, "--database-retries", "0"],
            tiny_sqlite,
            root,
            module="tasks.extract",
            task="ExtractMessages",
        )
        assert done.returncode == 0, done.stderr[-3000:]
        (summary,) = (root / "runs").rglob("ExtractMessages-*/summary.json")
        extracted[value] = json.loads(summary.read_text())["source"]["timestamp_column"]
    assert extracted == {"": "received_at", "-": None}
