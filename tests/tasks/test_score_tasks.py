"""ScoreMessages: the run's own model reuses the run's cleaned rows; any other model cleans again."""
import csv
import datetime as dt
import json

from sortbox.clean import same_cleaning
from sortbox.scoring import ModelSet
from tasks.config import cleaning
from tasks.export import MODEL_FILE, ExportModelJson, ScoreMessages, load_models
from tests.conftest import run_luigi

RUN_DATE = dt.date(2026, 11, 24)


def rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return sorted(map(tuple, csv.reader(handle)))


def test_the_runs_own_model_cleans_like_the_run_even_after_json(sample_sqlite, pipeline_env, luigi_config):
    pipeline_env(sample_sqlite)
    luigi_config({"lsi": {"num_topics": "20"}})
    result = run_luigi([ScoreMessages(run_date=RUN_DATE)])
    assert result.scheduling_succeeded, result.summary_text
    model_path = ExportModelJson(run_date=RUN_DATE).output_dir() / MODEL_FILE
    # The model's cleaning spec has been through JSON (tuples became lists): still the same cleaning.
    assert same_cleaning(ModelSet(load_models(model_path)).cleaning_options(), cleaning().options())
    assert "clean" in ScoreMessages(run_date=RUN_DATE).requires()
    assert "clean" not in ScoreMessages(run_date=RUN_DATE, model_json=str(model_path)).requires()

    # The same model given as a file cleans the extracted rows again: the same rows either way.
    again = run_luigi([ScoreMessages(run_date=RUN_DATE, model_json=str(model_path))])
    assert again.scheduling_succeeded, again.summary_text
    reused, recleaned = ScoreMessages(run_date=RUN_DATE).output_dir(), ScoreMessages(run_date=RUN_DATE, model_json=str(model_path)).output_dir()
    assert reused != recleaned
    for name in ("scores.csv", "unscorable.csv"):
        assert rows(reused / name) == rows(recleaned / name)
    summary = json.loads((reused / "summary.json").read_text())
    assert summary["unscorable"] > 0 and summary["scored"] + summary["unscorable"] == summary["extracted"]


def test_other_cleaning_settings_are_not_the_same_cleaning(luigi_config):
    luigi_config({"cleaning": {"lowercase": "false"}})
    changed = cleaning().options()
    luigi_config({"cleaning": {"lowercase": "true"}})
    assert not same_cleaning(changed, cleaning().options())
