"""One luigi.Config class per section of config/luigi.cfg.

Secrets never live here: the database URL comes from the environment (SORTBOX_DB_URL) and is
never a parameter, so it cannot reach the scheduler, the visualiser or a log line.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import unicodedata
from pathlib import Path

import luigi
from luigi.freezing import recursively_unfreeze

from sortbox.clean import CleaningOptions
from sortbox.extract import SourceError, SourceSpec
from sortbox.select import selection_grid
from sortbox.textnorm import default_cleaning_spec
from tasks import REPO_ROOT

DB_URL_VARIABLE = "SORTBOX_DB_URL"
SAMPLE_DATABASE = REPO_ROOT / "data" / "sample.sqlite"


def database_url() -> str:
    """The database to read: $SORTBOX_DB_URL, or the shipped sample sqlite database."""
    return os.environ.get(DB_URL_VARIABLE) or f"sqlite:///{SAMPLE_DATABASE}"


def _parse_moment(name: str, value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise SourceError(f"[source] {name} = {value!r} is not an ISO date or date-time (e.g. 2026-11-23 or 2026-11-23T06:00)") from None


class database(luigi.Config):
    """[database]: how extraction treats a flaky database (the URL itself comes from SORTBOX_DB_URL)."""

    retries = luigi.IntParameter(default=2, description="Times a failed extraction is retried within the run.")
    statement_timeout_seconds = luigi.FloatParameter(default=600.0, description="Postgres cancels any extraction statement running longer (0: no limit).")


class source(luigi.Config):
    """[source]: which table and columns hold the messages, and which rows to read."""

    table = luigi.Parameter(default="messages", description="Table (or view) holding the messages.")
    id_column = luigi.Parameter(default="id", description="Unique message id column.")
    text_column = luigi.Parameter(default="body", description="Message text column.")
    timestamp_column = luigi.OptionalParameter(default=None, description="Timestamp column for since/until windows.")
    label_column = luigi.OptionalParameter(default=None, description="Column with known labels (feedback or ground truth).")
    label_separator = luigi.Parameter(default="|", description="Separator between several labels in one label cell.")
    sample_fraction = luigi.FloatParameter(default=1.0, description="Fraction of ids to sample, in (0, 1].")
    sample_seed = luigi.IntParameter(default=0, description="Seed of the deterministic id sample.")
    since = luigi.OptionalParameter(default=None, description="Read rows with timestamp >= since (ISO).")
    until = luigi.OptionalParameter(default=None, description="Read rows with timestamp < until (ISO).")
    chunk_size = luigi.IntParameter(default=50_000, description="Rows per streamed chunk.")

    def spec(self) -> SourceSpec:
        """The validated source description handed to sortbox.extract."""
        return SourceSpec(
            table=self.table,
            id_column=self.id_column,
            text_column=self.text_column,
            timestamp_column=self.timestamp_column or None,
            label_column=self.label_column or None,
            sample_fraction=self.sample_fraction,
            sample_seed=self.sample_seed,
            since=_parse_moment("since", self.since),
            until=_parse_moment("until", self.until),
            chunk_size=self.chunk_size,
        )

    def significant(self) -> dict:
        """What changes the extracted rows (chunk_size does not)."""
        spec = self.spec()
        return {
            "table": spec.table,
            "id_column": spec.id_column,
            "text_column": spec.text_column,
            "timestamp_column": spec.timestamp_column,
            "label_column": spec.label_column,
            "sample_fraction": spec.sample_fraction,
            "sample_seed": spec.sample_seed,
            "since": spec.since.isoformat() if spec.since else None,
            "until": spec.until.isoformat() if spec.until else None,
        }


class paths(luigi.Config):
    """[paths]: where outputs go."""

    output_root = luigi.Parameter(default="runs", description="Root directory of all task outputs.")


class cleaning(luigi.Config):
    """[cleaning]: how texts are normalised and which rows are quarantined."""

    unicode_normalization = luigi.Parameter(default="NFKC", description="NFC, NFKC, NFD or NFKD.")
    lowercase = luigi.BoolParameter(default=True, parsing=luigi.BoolParameter.EXPLICIT_PARSING, description="Lower-case texts.")
    digits = luigi.ChoiceParameter(default="zero", choices=["zero", "remove", "keep"], description="Digits: zero, remove or keep.")
    max_chars = luigi.IntParameter(default=20_000, description="Longer texts are quarantined as too_long.")
    quarantine_control_characters = luigi.BoolParameter(
        default=True, parsing=luigi.BoolParameter.EXPLICIT_PARSING, description="Quarantine texts holding control characters."
    )

    def options(self) -> CleaningOptions:
        """The cleaning options handed to sortbox.clean."""
        spec = default_cleaning_spec(lowercase=self.lowercase, digits=self.digits, normalization=self.unicode_normalization)
        return CleaningOptions(spec=spec, max_chars=self.max_chars, quarantine_control_characters=self.quarantine_control_characters)

    def significant(self) -> dict:
        return {
            "unicode_normalization": self.unicode_normalization,
            "lowercase": self.lowercase,
            "digits": self.digits,
            "max_chars": self.max_chars,
            "quarantine_control_characters": self.quarantine_control_characters,
            # The removed ranges come from Python's Unicode database, which changes between versions.
            "unicode_version": unicodedata.unidata_version,
        }


def _project_path(value: str) -> Path:
    """Relative paths of shipped resources (rules, stopwords) are relative to the repository root."""
    path = Path(value)
    return path if path.is_absolute() else REPO_ROOT / path


class labelling(luigi.Config):
    """[labelling]: where training labels come from."""

    source = luigi.ChoiceParameter(default="rules", choices=["rules", "column"], description="rules (regexes) or column ([source] label_column).")
    rules_dir = luigi.Parameter(default="dictionaries/labels", description="Directory of <class>.txt rule files.")

    def rules_path(self) -> Path:
        return _project_path(self.rules_dir)


class tokenize(luigi.Config):
    """[tokenize]: how cleaned texts become terms."""

    language = luigi.Parameter(default="english", description="Stopword list and Snowball stemmer language.")
    stopwords_dir = luigi.Parameter(default="dictionaries/stopwords", description="Directory of <language>.txt stopword lists.")
    stem = luigi.BoolParameter(default=True, parsing=luigi.BoolParameter.EXPLICIT_PARSING, description="Snowball-stem words.")
    min_word_frequency = luigi.IntParameter(default=2, description="Terms seen fewer times are left out of the vocabulary.")

    def stopwords_path(self) -> Path:
        return _project_path(self.stopwords_dir)


class dictionary(luigi.Config):
    """[dictionary]: which terms the model knows."""

    no_above = luigi.FloatParameter(default=0.5, description="Drop terms found in more than this share of messages.")
    keep_n = luigi.IntParameter(default=100_000, description="Keep at most this many (most frequent) terms.")


class lsi(luigi.Config):
    """[lsi]: the latent semantic space."""

    num_topics = luigi.IntParameter(default=500, description="LSI dimensions.")
    power_iters = luigi.IntParameter(default=2, description="Power iterations of gensim's randomized SVD.")
    seed = luigi.IntParameter(default=0, description="Random seed of the SVD.")
    chunk_size = luigi.IntParameter(default=100_000, description="Messages per sparse chunk merged into the SVD (not significant).")


class training(luigi.Config):
    """[training]: per-class model selection."""

    param_grid = luigi.DictParameter(
        default={"C": [0.1, 1.0, 10.0], "scale": [True]},
        description="Grid searched on more than small_data_rows training messages: LogisticRegression parameter (or topics, scale) -> values (JSON).",
    )
    small_data_param_grid = luigi.DictParameter(
        default={"C": [0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0]},
        description="Grid searched on at most small_data_rows training messages (JSON, as param_grid).",
    )
    small_data_rows = luigi.IntParameter(default=30_000, description="Up to this many training messages, small_data_param_grid is searched instead of param_grid.")
    folds = luigi.IntParameter(default=3, description="Stratified cross-validation folds.")
    scoring = luigi.Parameter(default="roc_auc", description="scikit-learn scorer of the grid search.")
    seed = luigi.IntParameter(default=0, description="random_state of folds and models.")
    n_jobs = luigi.IntParameter(default=1, description="joblib workers inside one grid search (not significant).")
    threshold_policy = luigi.ChoiceParameter(default="max_f1", choices=["max_f1", "precision", "recall"], description="How the decision threshold is chosen.")
    threshold_target = luigi.OptionalFloatParameter(default=None, description="Target precision or recall for those policies.")
    holdout_fraction = luigi.FloatParameter(default=0.1, description="Share of ids never trained on (the publish gate's held-out rows).")
    holdout_seed = luigi.IntParameter(default=1, description="Seed of the held-out id hash.")
    max_rows = luigi.IntParameter(default=100_000, description="At most this many messages are trained on (a deterministic id-hash sample); bounds training time and memory.")

    def grid(self, rows: int | None = None) -> dict:
        """The grid searched on `rows` training messages (param_grid when None), as plain JSON
        data (luigi freezes dicts and lists)."""
        large, small = (json.loads(json.dumps(recursively_unfreeze(g))) for g in (self.param_grid, self.small_data_param_grid))
        return large if rows is None else selection_grid(large, small, rows, small_data_rows=self.small_data_rows)

    def significant(self) -> dict:
        return {
            "param_grid": self.grid(),
            "small_data_param_grid": json.loads(json.dumps(recursively_unfreeze(self.small_data_param_grid))),
            "small_data_rows": self.small_data_rows,
            "folds": self.folds,
            "scoring": self.scoring,
            "seed": self.seed,
            "threshold_policy": self.threshold_policy,
            "threshold_target": self.threshold_target,
            "holdout_fraction": self.holdout_fraction,
            "holdout_seed": self.holdout_seed,
            "max_rows": self.max_rows,
        }


class publish(luigi.Config):
    """[publish]: where published models live and when a new one may replace them."""

    root = luigi.Parameter(default="published", description="Publish root: releases/, current, history.json.")
    keep = luigi.IntParameter(default=5, description="Releases kept for rollback.")
    margin = luigi.FloatParameter(default=0.01, description="A class is published unless its held-out ROC AUC is lower by more than this.")
