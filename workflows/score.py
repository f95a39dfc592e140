"""ScoreBatch: score rows of the configured source with an already exported model, no retraining.

    luigi --module workflows.score ScoreBatch --model-json published/current --local-scheduler \
          [--source-since 2026-01-27 --source-until 2026-01-28]

`--model-json` is a model file (a run's `model.json`, a release's `model-<class>.json`) or a
release directory (`published/current`, `published/releases/<name>`): every class in it scores.
When it has run, it prints the absolute paths of scores.csv, unscorable.csv and, last, batch.json.
"""

from __future__ import annotations

from pathlib import Path

import luigi

from sortbox.checkpoint import read_json, write_json
from sortbox.manifest import relative_artifacts
from sortbox.publish import RELEASE_FILE
from tasks.base import Artifact, SortboxTask
from tasks.config import source
from tasks.review import EvaluateFeedback, ReviewSample
from tasks.score import ScoreMessages
from tasks.sink import ExportScores


class ScoreBatch(SortboxTask):
    """Output: batch.json (model id, row counts, paths of scores.csv and unscorable.csv)."""

    artifacts = {"batch": Artifact("batch.json", read_json)}

    model_json = luigi.Parameter(
        description="The model JSON, or a release directory (published/current), to score with."
    )

    def requires(self):
        path = Path(self.model_json)
        if path.is_dir() and not (path / RELEASE_FILE).is_file():
            raise FileNotFoundError(
                f"--model-json {self.model_json!r} is a directory but not a release (it has no {RELEASE_FILE}): "
                "give a model JSON file or a release directory such as published/current"
            )
        if not path.exists():
            raise FileNotFoundError(
                f"--model-json {self.model_json!r} does not exist "
                "(a model JSON file or a release directory such as published/current)"
            )
        return {
            "scores": ScoreMessages(run_date=self.run_date, model_json=self.model_json),
            "export": ExportScores(run_date=self.run_date, model_json=self.model_json),
            "review": ReviewSample(run_date=self.run_date, model_json=self.model_json),
            "feedback": EvaluateFeedback(run_date=self.run_date, model_json=self.model_json),
        }

    def run(self):
        summary = self.read_input("scores", "summary")
        with self.atomic_output() as out:
            write_json(
                out / self.artifact("batch"),
                {
                    "run_date": self.run_date.isoformat(),
                    "model_json": str(Path(self.model_json).resolve()),
                    "model_id": summary["model_id"],
                    "source": source().significant(),
                    "rows": {key: summary[key] for key in ("extracted", "scored", "unscorable")},
                    "unscorable_reasons": summary["unscorable_reasons"],
                    "feedback": self.read_input("feedback", "feedback"),
                    "artifacts": relative_artifacts(
                        self.output_dir(),
                        {
                            "scores_csv": self.input_path("scores", "scores"),
                            "unscorable_csv": self.input_path("scores", "unscorable"),
                            "review_dir": self.input_dir("review"),
                        },
                    ),
                },
            )
        # What a user opens next, the batch record last (as demo.sh prints the run manifest last).
        for key in ("scores", "unscorable"):
            print(f"{ScoreMessages.artifact(key)}: {self.input_path('scores', key).resolve()}")
        print(f"{self.artifact('batch')}: {self.output_path('batch').resolve()}")
