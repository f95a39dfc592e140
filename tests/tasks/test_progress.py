"""Every task that can take more than a second reports a percentage that moves and ends at 100."""

import datetime as dt
from collections import defaultdict

import luigi.worker

from tests.conftest import run_luigi
from workflows.train import TrainPipeline

RUN_DATE = dt.date(2026, 11, 24)
SLOW_TASKS = (
    "BuildDictionary",
    "FitTfidf",
    "FitLsi",
    "GridSearchFold",
    "CrossValidate",
    "FitClassifier",
    "RuleReport",
    "ExportModelJson",
    "TrainingReport",
)


def test_slow_tasks_report_increasing_progress_ending_at_100(sample_sqlite, pipeline_env, luigi_config, monkeypatch):
    pipeline_env(sample_sqlite)
    luigi_config(
        {
            "source": {"sample_fraction": "0.2"},
            "lsi": {"num_topics": "20"},
            "training": {"folds": "3", "param_grid": '{"C": [0.1, 1.0]}'},
            "labelling": {"source": "column"},
        }
    )
    seen: dict[str, list[int]] = defaultdict(list)

    def record(reporter, percentage):  # what the worker gives each running task as set_progress_percentage
        seen[reporter._task_id].append(percentage)

    monkeypatch.setattr(luigi.worker.TaskStatusReporter, "update_progress_percentage", record)
    assert run_luigi([TrainPipeline(run_date=RUN_DATE)]).scheduling_succeeded

    for family in SLOW_TASKS:
        runs = {task_id: values for task_id, values in seen.items() if task_id.startswith(f"{family}_")}
        assert runs, f"{family} reported no progress at all"
        for task_id, values in runs.items():
            assert values == sorted(values), f"{task_id} went backwards: {values}"
            assert len(set(values)) >= 2 and values[-1] == 100, f"{task_id} did not move to 100: {values}"
