"""The output hash follows the configuration a task declares it reads (`reads`): changing an
option it reads gives a new output directory; changing one it does not read, or one that shapes
no output (chunk sizes, worker counts), keeps it. Nothing runs: only hashes are compared."""
import datetime as dt

import pytest

from tasks.clean import CleanMessages
from tasks.config import cleaning, significant_values
from tasks.drift import DriftReport
from tasks.embed import BuildDictionary, EmbedMessages, FitLsi
from tasks.export import ExportModelJson
from tasks.extract import ExtractMessages
from tasks.label import LabelMessages
from tasks.publish import GateModels, PublishModels
from tasks.review import ReviewSample
from tasks.score import ScoreMessages
from tasks.tokenize import TokenizeMessages
from tasks.train import GridSearch

RUN_DATE = dt.date(2026, 11, 23)


def night(task):
    return lambda: task(run_date=RUN_DATE, nightly=True)


def day(task, **params):
    return lambda: task(run_date=RUN_DATE, **params)


@pytest.mark.parametrize(
    "make, section, option, value, changes",
    [
        (day(ExtractMessages), "source", "table", "other", True),
        (day(ExtractMessages), "source", "chunk_size", "7", False),
        (day(ExtractMessages), "source", "label_separator", ";", False),
        (day(LabelMessages), "source", "label_separator", ";", True),
        (day(ExtractMessages), "database", "retries", "5", False),
        (day(CleanMessages), "cleaning", "digits", "keep", True),
        (day(ExtractMessages), "cleaning", "digits", "keep", False),
        (day(TokenizeMessages), "tokenize", "min_word_frequency", "3", True),
        (day(CleanMessages), "tokenize", "min_word_frequency", "3", False),
        (day(BuildDictionary), "dictionary", "no_above", "0.4", True),
        (day(TokenizeMessages), "dictionary", "no_above", "0.4", False),
        (day(FitLsi), "lsi", "num_topics", "50", True),
        (day(FitLsi), "lsi", "chunk_size", "7", False),
        (day(BuildDictionary), "lsi", "num_topics", "50", False),
        (day(EmbedMessages), "training", "max_rows", "10", True),
        (day(EmbedMessages), "training", "folds", "5", False),
        (day(GridSearch, class_name="spam"), "training", "folds", "5", True),
        (day(GridSearch, class_name="spam"), "training", "n_jobs", "2", False),
        (day(ExportModelJson), "tokenize", "stem", "false", True),
        (day(ScoreMessages), "review", "size", "10", False),
        (day(ReviewSample), "review", "size", "10", True),
        (night(DriftReport), "drift", "max_rows", "10", True),
        (night(DriftReport), "drift", "block_publish_on", "alert", False),
        (night(PublishModels), "drift", "block_publish_on", "alert", True),
        (night(GateModels), "publish", "margin", "0.5", True),
        (night(GateModels), "feedback", "min_recall", "0.5", True),
        (night(GateModels), "publish", "keep", "2", False),
    ],
)
def test_the_hash_follows_the_options_a_task_reads(
    make, section, option, value, changes, luigi_config, tmp_path, monkeypatch
):
    monkeypatch.setenv("SORTBOX_DB_URL", f"sqlite:///{tmp_path / 'none.sqlite'}")  # hashed as a digest, never opened
    luigi_config({"paths": {"output_root": str(tmp_path)}})
    before = make().output_hash()
    luigi_config({section: {option: value}})
    assert (make().output_hash() != before) is changes


def test_a_section_adds_values_of_its_own_and_names_are_checked():
    assert "unicode_version" in significant_values(cleaning())
    assert "unicode_version" not in significant_values(cleaning(), ["digits"])
    with pytest.raises(KeyError, match=r"\[cleaning\] has no option colour"):
        significant_values(cleaning(), ["colour"])
