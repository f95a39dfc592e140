"""One luigi.Config class per section of config/luigi.cfg.

Secrets never live here: the database URL comes from the environment (SORTBOX_DB_URL) and is
never a parameter, so it cannot reach the scheduler, the visualiser or a log line.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import unicodedata
from pathlib import Path
from typing import Iterable

import luigi
from luigi.freezing import recursively_unfreeze

from sortbox.clean import CleaningOptions
from sortbox.drift import MEASURES, Limits
from sortbox.extract import SourceError, SourceSpec
from sortbox.model_selection import selection_grid, selection_repeats
from sortbox.settings import UNSET, SettingsError, check_section, refuse
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
        raise SourceError(
            f"[source] {name} = {value!r} is not an ISO date or date-time (e.g. 2026-11-23 or 2026-11-23T06:00)"
        ) from None


class UnsettableParameter(luigi.OptionalParameter):
    """An optional text option that `-` unsets: luigi takes an empty command-line value for "not
    given" and would keep the configuration file's value (`--source-timestamp-column -`)."""

    def parse(self, x):
        return None if isinstance(x, str) and x.strip() == UNSET else super().parse(x)


class UnsettableFloatParameter(luigi.OptionalFloatParameter):
    """An optional number that `-` unsets (see UnsettableParameter)."""

    def parse(self, x):
        return None if isinstance(x, str) and x.strip() == UNSET else super().parse(x)


def significant_values(config: luigi.Config, names: Iterable[str] | None = None) -> dict:
    """The values of a configuration section that shape an output, as plain JSON data: the
    options `names`, or every option of the section not declared `significant=False` (chunk sizes,
    worker counts, retries, directories whose content is hashed instead), plus what the section
    adds of its own (`extra_values`, e.g. [cleaning]'s Unicode version). A section normalises a
    value for hashing with `hash_value(name)` (a parsed date, a resolved path, an unfrozen grid)."""
    params = dict(config.get_params())
    chosen = [name for name, param in params.items() if param.significant] if names is None else list(names)
    unknown = [name for name in chosen if name not in params]
    if unknown:
        raise KeyError(f"[{config.get_task_family()}] has no option {', '.join(unknown)}")
    value_of = getattr(config, "hash_value", lambda name: getattr(config, name))
    values = {name: recursively_unfreeze(value_of(name)) for name in chosen}
    return {**values, **(config.extra_values() if names is None and hasattr(config, "extra_values") else {})}


class CheckedConfig(luigi.Config):
    """A configuration section whose values are checked when it is first read (while the DAG is
    scheduled): a bad value stops the run at once with one line naming the option and what is
    allowed (sortbox.settings.RULES), instead of failing hours later or silently."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        check_section(self.get_task_family(), {name: getattr(self, name) for name, _ in self.get_params()})
        self.check()

    def check(self) -> None:
        """Checks that need more than the value (a file that must exist)."""


def check_settings() -> None:
    """Read every section, so that any bad value stops the run while it is scheduled (exit 35).

    luigi's own parse errors (`--lsi-num-topics many`) are given the section's name."""
    for section in (
        database,
        source,
        shards,
        paths,
        cleaning,
        labelling,
        tokenize,
        dictionary,
        lsi,
        training,
        publish,
        sink,
        review,
        feedback,
    ):
        try:
            section()
        except SettingsError:
            raise
        except (ValueError, TypeError) as exc:
            message = _explain_parse_error(exc)
            raise SettingsError(
                message if message.startswith(f"[{section.__name__}]") else f"[{section.__name__}] {message}"
            ) from None


def _explain_parse_error(exc: Exception) -> str:
    """luigi says `lsi[args=(), kwargs={}]: Error when parsing the default value of 'num_topics'`;
    say which option and why (the underlying error names the bad value)."""
    message = " ".join(str(exc).split())
    option = re.search(r"value of '(\w+)'", message)
    cause = exc.__cause__ or exc.__context__
    if option and cause is not None:
        return f"{option.group(1)}: cannot be read: {' '.join(str(cause).split())}"
    return message


def require_holdout_rows() -> None:
    """The publish gate compares models on held-out rows: a night needs some."""
    fraction = training().holdout_fraction
    if fraction <= 0:
        raise refuse(
            "training",
            "holdout_fraction",
            fraction,
            "> 0 for a nightly run: the publish gate compares the new and the published model on the held-out rows",
        )


class database(CheckedConfig):
    """[database]: how extraction treats a flaky database (the URL itself comes from SORTBOX_DB_URL)."""

    retries = luigi.IntParameter(
        default=2,
        significant=False,
        description="Times a transient database error (dropped connection, timeout) is retried within the task.",
    )
    retry_delay_seconds = luigi.FloatParameter(
        default=10.0, significant=False, description="Seconds between two attempts of an extraction."
    )
    statement_timeout_seconds = luigi.FloatParameter(
        default=600.0,
        significant=False,
        description="Postgres cancels any extraction statement running longer (0: no limit).",
    )


class source(CheckedConfig):
    """[source]: which table and columns hold the messages, and which rows to read."""

    table = luigi.Parameter(default="messages", description="Table (or view) holding the messages.")
    id_column = luigi.Parameter(default="id", description="Unique message id column.")
    text_column = luigi.Parameter(default="body", description="Message text column.")
    timestamp_column = UnsettableParameter(
        default=None, description="Timestamp column for since/until windows (- unsets it)."
    )
    label_column = UnsettableParameter(
        default=None, description="Column with known labels, feedback or ground truth (- unsets it)."
    )
    label_separator = luigi.Parameter(default="|", description="Separator between several labels in one label cell.")
    sample_fraction = luigi.FloatParameter(default=1.0, description="Fraction of ids to sample, in (0, 1].")
    sample_seed = luigi.IntParameter(default=0, description="Seed of the deterministic id sample.")
    since = UnsettableParameter(default=None, description="Read rows with timestamp >= since (ISO; - unsets it).")
    until = UnsettableParameter(default=None, description="Read rows with timestamp < until (ISO; - unsets it).")
    chunk_size = luigi.IntParameter(default=50_000, significant=False, description="Rows per streamed chunk.")

    def check(self) -> None:
        self.spec()  # windows, fractions and sizes: SourceError names the option

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

    def hash_value(self, name: str):
        """As the extraction reads it: windows parsed (2026-01-01 and 2026-01-01T00:00 are one)."""
        value = getattr(self.spec(), name, getattr(self, name))
        return value.isoformat() if isinstance(value, dt.datetime) else value

    def significant(self) -> dict:
        """What changes the extracted rows: every significant option but label_separator, which
        only labelling reads."""
        return significant_values(
            self, [name for name, param in self.get_params() if param.significant and name != "label_separator"]
        )


class shards(CheckedConfig):
    """[shards]: how many id-hash buckets the row-linear stages run in (sortbox.shards)."""

    count = luigi.IntParameter(
        default=1,
        description="Shards of extract, clean, label and tokenise: each its own task, so that --workers N and "
        "workers on other hosts run N at once. Part of every output hash: the rows of the combined "
        "checkpoints come in shard order.",
    )


class paths(CheckedConfig):
    """[paths]: where outputs go."""

    output_root = luigi.Parameter(default="runs", significant=False, description="Root directory of all task outputs.")


class cleaning(CheckedConfig):
    """[cleaning]: how texts are normalised and which rows are quarantined."""

    unicode_normalization = luigi.Parameter(default="NFKC", description="NFC, NFKC, NFD or NFKD.")
    lowercase = luigi.BoolParameter(
        default=True, parsing=luigi.BoolParameter.EXPLICIT_PARSING, description="Lower-case texts."
    )
    digits = luigi.ChoiceParameter(
        default="zero", choices=["zero", "remove", "keep"], description="Digits: zero, remove or keep."
    )
    max_chars = luigi.IntParameter(default=20_000, description="Longer texts are quarantined as too_long.")
    quarantine_control_characters = luigi.BoolParameter(
        default=True,
        parsing=luigi.BoolParameter.EXPLICIT_PARSING,
        description="Quarantine texts holding control characters.",
    )

    def options(self) -> CleaningOptions:
        """The cleaning options handed to sortbox.clean."""
        spec = default_cleaning_spec(
            lowercase=self.lowercase, digits=self.digits, normalization=self.unicode_normalization
        )
        return CleaningOptions(
            spec=spec, max_chars=self.max_chars, quarantine_control_characters=self.quarantine_control_characters
        )

    def extra_values(self) -> dict:
        # The removed ranges come from Python's Unicode database, which changes between versions.
        return {"unicode_version": unicodedata.unidata_version}

    def significant(self) -> dict:
        return significant_values(self)


def _project_path(value: str) -> Path:
    """Relative paths of shipped resources (rules, stopwords) are relative to the repository root."""
    path = Path(value)
    return path if path.is_absolute() else REPO_ROOT / path


class labelling(CheckedConfig):
    """[labelling]: where training labels come from."""

    source = luigi.ChoiceParameter(
        default="rules",
        choices=["rules", "column", "rules+feedback"],
        description="rules (regexes), column ([source] label_column) or rules+feedback "
        "(reviewed verdicts override the rules).",
    )
    rules_dir = luigi.Parameter(
        default="dictionaries/labels",
        significant=False,
        description="Directory of <class>.txt rule files (their content is hashed, not the path).",
    )

    def rules_path(self) -> Path:
        return _project_path(self.rules_dir)

    def check(self) -> None:
        if self.source == "column" and not source().label_column:
            raise refuse(
                "labelling",
                "source",
                self.source,
                "rules when [source] label_column is unset (column trains on that column)",
            )
        if self.source == "rules+feedback" and not feedback().configured():
            raise refuse(
                "labelling",
                "source",
                self.source,
                "rules or column when neither [feedback] path nor [feedback] table is set",
            )


class tokenize(CheckedConfig):
    """[tokenize]: how cleaned texts become terms."""

    language = luigi.Parameter(default="english", description="Stopword list and Snowball stemmer language.")
    stopwords_dir = luigi.Parameter(
        default="dictionaries/stopwords",
        significant=False,
        description="Directory of <language>.txt stopword lists (their content is hashed, not the path).",
    )
    stem = luigi.BoolParameter(
        default=True, parsing=luigi.BoolParameter.EXPLICIT_PARSING, description="Snowball-stem words."
    )
    min_word_frequency = luigi.IntParameter(
        default=2, description="Terms seen fewer times are left out of the vocabulary."
    )

    def stopwords_path(self) -> Path:
        return _project_path(self.stopwords_dir)

    def check_stemmer(self) -> None:
        """The Snowball stemmer knows `language` (nltk is loaded only when there is tokenising to do:
        TokenizeMessages.check_before_run)."""
        if self.stem:
            from nltk.stem.snowball import SnowballStemmer

            if self.language not in SnowballStemmer.languages:
                raise refuse(
                    "tokenize",
                    "language",
                    self.language,
                    f"a Snowball stemmer language ({', '.join(SnowballStemmer.languages)}), or stem = false",
                )


class dictionary(CheckedConfig):
    """[dictionary]: which terms the model knows."""

    no_above = luigi.FloatParameter(default=0.5, description="Drop terms found in more than this share of messages.")
    keep_n = luigi.IntParameter(default=100_000, description="Keep at most this many (most frequent) terms.")


class lsi(CheckedConfig):
    """[lsi]: the latent semantic space."""

    num_topics = luigi.IntParameter(default=500, description="LSI dimensions.")
    power_iters = luigi.IntParameter(default=2, description="Power iterations of gensim's randomized SVD.")
    seed = luigi.IntParameter(default=0, description="Random seed of the SVD.")
    chunk_size = luigi.IntParameter(
        default=100_000,
        significant=False,
        description="Messages per sparse chunk merged into the SVD (not significant).",
    )


class training(CheckedConfig):
    """[training]: per-class model selection."""

    param_grid = luigi.DictParameter(
        default={"C": [0.1, 1.0, 10.0], "scale": [True]},
        description="Grid searched on more than small_data_rows training messages: "
        "LogisticRegression parameter (or topics, scale) -> values (JSON).",
    )
    small_data_param_grid = luigi.DictParameter(
        default={"C": [0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0]},
        description="Grid searched on at most small_data_rows training messages (JSON, as param_grid).",
    )
    small_data_rows = luigi.IntParameter(
        default=30_000,
        description="Up to this many training messages, small_data_param_grid is searched instead of param_grid.",
    )
    small_data_cv_repeats = luigi.IntParameter(
        default=3,
        description="Up to small_data_rows training messages, the grid search's folds are drawn this many "
        "times (different shuffles) and each candidate is judged by its mean over all of them.",
    )
    folds = luigi.IntParameter(default=3, description="Stratified cross-validation folds.")
    scoring = luigi.Parameter(default="roc_auc", description="scikit-learn scorer of the grid search.")
    seed = luigi.IntParameter(default=0, description="random_state of folds and models.")
    n_jobs = luigi.IntParameter(
        default=1, significant=False, description="joblib workers inside one grid search (not significant)."
    )
    threshold_policy = luigi.ChoiceParameter(
        default="max_f1", choices=["max_f1", "precision", "recall"], description="How the decision threshold is chosen."
    )
    threshold_target = UnsettableFloatParameter(
        default=None, description="Target precision or recall for those policies (- unsets it)."
    )
    class_thresholds = luigi.DictParameter(
        default={},
        description='Per class, a threshold policy instead of threshold_policy/threshold_target (JSON), e.g. '
        '{"notification": {"policy": "recall", "target": 0.9}}.',
    )
    holdout_fraction = luigi.FloatParameter(
        default=0.1, description="Share of ids never trained on (the publish gate's held-out rows)."
    )
    holdout_seed = luigi.IntParameter(default=1, description="Seed of the held-out id hash.")
    max_rows = luigi.IntParameter(
        default=100_000,
        description="At most this many messages are trained on (a deterministic id-hash sample); "
        "bounds training time and memory.",
    )

    def threshold_for(self, class_name: str) -> tuple[str, float | None]:
        """(policy, target) of the class's decision threshold: its class_thresholds entry, else the
        section's threshold_policy and threshold_target."""
        spec = self.class_thresholds.get(class_name)
        if spec is None:
            return self.threshold_policy, self.threshold_target
        return spec["policy"], spec.get("target")

    def unknown_threshold_classes(self, classes: list[str]) -> list[str]:
        """The classes class_thresholds names that this run does not train (a misspelt name, or a
        class of other rules: the shipped setting names the sample's notification class)."""
        return sorted(set(self.class_thresholds) - set(classes))

    def grid(self, rows: int | None = None) -> dict:
        """The grid searched on `rows` training messages (param_grid when None), as plain JSON
        data (luigi freezes dicts and lists)."""
        large, small = (
            json.loads(json.dumps(recursively_unfreeze(g))) for g in (self.param_grid, self.small_data_param_grid)
        )
        return large if rows is None else selection_grid(large, small, rows, small_data_rows=self.small_data_rows)

    def cv_repeats(self, rows: int) -> int:
        """How many times the grid search draws its folds on `rows` training messages."""
        return selection_repeats(self.small_data_cv_repeats, rows, small_data_rows=self.small_data_rows)

    def hash_value(self, name: str):
        if name in ("param_grid", "small_data_param_grid"):
            return json.loads(json.dumps(recursively_unfreeze(getattr(self, name))))
        return getattr(self, name)

    def significant(self) -> dict:
        return significant_values(self)


class publish(CheckedConfig):
    """[publish]: where published models live and when a new one may replace them."""

    root = luigi.Parameter(default="published", description="Publish root: releases/, current, history.json.")
    keep = luigi.IntParameter(default=5, significant=False, description="Releases kept for rollback.")
    margin = luigi.FloatParameter(
        default=0.01, description="A class is published unless its held-out ROC AUC is lower by more than this."
    )

    def hash_value(self, name: str):
        return str(Path(self.root).resolve()) if name == "root" else getattr(self, name)


class nightly(luigi.Config):
    """[nightly]: which rows a night (NightlyRetrain --date D) trains on: timestamps before D + 1 day."""

    window_days = luigi.OptionalIntParameter(
        default=None, description="Train on the last N days before D + 1 day only (empty: every row before it)."
    )


class drift(luigi.Config):
    """[drift]: the night-to-night drift report (DriftReport) and what its status may block.

    Each measure is `warn` from <measure>_warn and `alert` from <measure>_alert (absolute values;
    see sortbox/drift.py MEASURES and README "Drift report").
    """

    block_publish_on = luigi.ChoiceParameter(
        default="none",
        choices=["none", "warn", "alert"],
        description="Refuse to publish a night whose drift status is this or worse (none: never).",
    )
    max_rows = luigi.IntParameter(
        default=20_000, description="Rows (an id-hash sample) the models score for the drift report."
    )
    top_movers = luigi.IntParameter(default=5, description="Rules with the biggest hit-rate change that are reported.")
    rows_change_warn = luigi.FloatParameter(
        default=MEASURES["rows_change"][1].warn, description="warn: relative change of the rows extracted."
    )
    rows_change_alert = luigi.FloatParameter(
        default=MEASURES["rows_change"][1].alert, description="alert: relative change of the rows extracted."
    )
    quarantine_share_warn = luigi.FloatParameter(
        default=MEASURES["quarantine_share"][1].warn, description="warn: change of the share of rows quarantined."
    )
    quarantine_share_alert = luigi.FloatParameter(
        default=MEASURES["quarantine_share"][1].alert, description="alert: change of the share of rows quarantined."
    )
    label_share_warn = luigi.FloatParameter(
        default=MEASURES["label_share"][1].warn, description="warn: change of a class's share of labelled messages."
    )
    label_share_alert = luigi.FloatParameter(
        default=MEASURES["label_share"][1].alert, description="alert: change of a class's share of labelled messages."
    )
    rule_hit_rate_warn = luigi.FloatParameter(
        default=MEASURES["rule_hit_rate"][1].warn, description="warn: change of a rule's hit rate."
    )
    rule_hit_rate_alert = luigi.FloatParameter(
        default=MEASURES["rule_hit_rate"][1].alert, description="alert: change of a rule's hit rate."
    )
    unknown_word_share_warn = luigi.FloatParameter(
        default=MEASURES["unknown_word_share"][1].warn,
        description="warn: change of the share of words unknown to a class model.",
    )
    unknown_word_share_alert = luigi.FloatParameter(
        default=MEASURES["unknown_word_share"][1].alert,
        description="alert: change of the share of words unknown to a class model.",
    )
    unscorable_share_warn = luigi.FloatParameter(
        default=MEASURES["unscorable_share"][1].warn,
        description="warn: change of the share of rows a class model cannot score.",
    )
    unscorable_share_alert = luigi.FloatParameter(
        default=MEASURES["unscorable_share"][1].alert,
        description="alert: change of the share of rows a class model cannot score.",
    )
    score_psi_warn = luigi.FloatParameter(
        default=MEASURES["score_psi"][1].warn, description="warn: population stability index of a class's live scores."
    )
    score_psi_alert = luigi.FloatParameter(
        default=MEASURES["score_psi"][1].alert,
        description="alert: population stability index of a class's live scores.",
    )
    score_ks_warn = luigi.FloatParameter(
        default=MEASURES["score_ks"][1].warn, description="warn: KS statistic of a class's live scores."
    )
    score_ks_alert = luigi.FloatParameter(
        default=MEASURES["score_ks"][1].alert, description="alert: KS statistic of a class's live scores."
    )
    auc_drop_warn = luigi.FloatParameter(
        default=MEASURES["auc_drop"][1].warn,
        description="warn: held-out ROC AUC drop of the challenger vs the champion.",
    )
    auc_drop_alert = luigi.FloatParameter(
        default=MEASURES["auc_drop"][1].alert,
        description="alert: held-out ROC AUC drop of the challenger vs the champion.",
    )

    def limits(self):
        """measure -> sortbox.drift.Limits (raises ValueError naming the measure when warn > alert)."""
        result = {}
        for name in MEASURES:
            try:
                result[name] = Limits(getattr(self, f"{name}_warn"), getattr(self, f"{name}_alert"))
            except ValueError as exc:
                raise ValueError(f"[drift] {name}_warn / {name}_alert: {exc}") from None
        return result

    def hash_value(self, name: str):
        self.limits()  # warn > alert stops the run while it is scheduled
        return getattr(self, name)


#: What DriftReport's page and status depend on ([drift] block_publish_on acts on publishing only).
DRIFT_REPORT_OPTIONS = tuple(name for name, _ in drift.get_params() if name != "block_publish_on")


SINK_URL_VARIABLE = "SORTBOX_SINK_URL"


def sink_url() -> str:
    """The database the scores are written to: $SORTBOX_SINK_URL, or the source database."""
    return os.environ.get(SINK_URL_VARIABLE) or database_url()


class sink(CheckedConfig):
    """[sink]: the table ExportScores writes the scores into (database: SORTBOX_SINK_URL, else the source's)."""

    table = luigi.Parameter(
        default="sortbox_scores", description="Table of id, class, score, decision, model_id, run_date."
    )
    marker_table = luigi.Parameter(default="sortbox_score_exports", description="One marker row per committed export.")
    chunk_rows = luigi.IntParameter(
        default=100_000, significant=False, description="scores.csv rows read and written per chunk."
    )

    def check(self) -> None:
        self.spec()

    def spec(self):
        """The validated sink description handed to sortbox.sink (SinkError names the option)."""
        from sortbox.sink import SinkSpec

        return SinkSpec(table=self.table, marker_table=self.marker_table, chunk_rows=self.chunk_rows)


class review(CheckedConfig):
    """[review]: the review sample of every run (tasks.review.ReviewSample)."""

    size = luigi.IntParameter(
        default=50, description="Messages per class in the review sample (split over its five kinds)."
    )
    seed = luigi.IntParameter(default=0, description="Seed of the random picks of the review sample.")

    def check(self) -> None:
        if self.size < 5:
            raise refuse("review", "size", self.size, "an integer >= 5 (one message of each kind at least)")
        if not 0 <= self.seed <= 2**32 - 1:
            raise refuse("review", "seed", self.seed, f"an integer from 0 to {2**32 - 1}")


class feedback(CheckedConfig):
    """[feedback]: reviewed verdicts, read as truth (tasks.feedback)."""

    path = UnsettableParameter(
        default=None, description="A filled-in review CSV, or a directory of them (id, class, verdict; - unsets it)."
    )
    table = UnsettableParameter(
        default=None,
        description="A table of the source database with id, class, verdict, reviewer, reviewed_at (- unsets it).",
    )
    min_precision = UnsettableFloatParameter(
        default=None, description="The gate publishes no class whose precision against the reviewed messages is lower."
    )
    min_recall = UnsettableFloatParameter(
        default=None, description="The gate publishes no class whose recall against the reviewed messages is lower."
    )

    def configured(self) -> bool:
        return bool(self.path or self.table)

    def csv_path(self) -> Path | None:
        return Path(self.path) if self.path else None

    def check(self) -> None:
        for name in ("min_precision", "min_recall"):
            value = getattr(self, name)
            if value is not None and not 0 < value <= 1:
                raise refuse("feedback", name, value, "a number in (0, 1], or empty")
        if self.path and not Path(self.path).exists():
            raise refuse("feedback", "path", self.path, "an existing CSV file or directory of CSV files")
