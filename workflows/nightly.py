"""NightlyRetrain: extract -> train -> export -> gate -> publish -> score the night's rows.

    luigi --module workflows.nightly NightlyRetrain --date 2026-11-23 --local-scheduler
(what scripts/nightly.sh runs from cron). A night means its date: training reads the rows [source]
selects with timestamps before date + 1 day ([nightly] window_days back), so rerunning an old date
trains the same model; a night older than the live release's night is trained and gated but not
made current unless --force-publish. DriftReport compares the night with the live release's night.
The day's rows [date, date + 1 day) are then scored with the release now current.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import luigi

from sortbox.checkpoint import read_json, write_json
from sortbox.manifest import relative_artifacts
from tasks.base import Artifact, SortboxTask
from tasks.drift import DriftReport
from tasks.publish import PublishModels
from tasks.score import ScoreMessages
from tasks.sink import ExportScores
from workflows.train import TrainPipeline


class NightlyRetrain(SortboxTask):
    """Output: nightly.json: the training manifest, the gate's decisions, the release, the day's scores."""

    artifacts = {"nightly": Artifact("nightly.json", read_json)}

    date = luigi.DateParameter(
        default=dt.date.today(), description="The night: run date of training and the day whose rows are scored."
    )
    force_publish = luigi.BoolParameter(
        default=False,
        description="Make the night's release current even when it is older than the live one "
        "or its drift blocks publishing.",
    )

    @property
    def run_date(self) -> dt.date:
        """Every output of the night is dated by `date` (this replaces the inherited parameter)."""
        return self.date

    def requires(self):
        night = {"run_date": self.date, "nightly": True}
        return {
            "train": TrainPipeline(**night),
            "publish": PublishModels(**night, force=self.force_publish),
            "drift": DriftReport(**night),
        }

    def run(self):
        published = self.read_input("publish", "publish")
        day = {"since": self.date.isoformat(), "until": (self.date + dt.timedelta(days=1)).isoformat()}
        # Dynamic: the release to score with exists only once PublishModels has run.
        scores = yield ScoreMessages(run_date=self.date, nightly=True, model_json=published["release_dir"], **day)
        yield ExportScores(
            run_date=self.date, nightly=True, model_json=published["release_dir"], **day
        )  # the day's scores into [sink] table
        drift = self.read_input("drift", "drift")
        summary = read_json(Path(scores.path) / ScoreMessages.artifact("summary"))
        with self.atomic_output() as out:
            write_json(
                out / self.artifact("nightly"),
                {
                    "date": self.date.isoformat(),
                    "release": published["release"],
                    "release_dir": published["release_dir"],
                    "published": published["published"],
                    "held_because": published["held_because"],
                    "classes": published["classes"],
                    "drift": {
                        "status": drift["status"],
                        "alerts": [
                            f"{m['measure']} {m['subject']}" for m in drift["measures"] if m["status"] == "alert"
                        ],
                    },
                    "day_scored": {"window": day, **{k: summary[k] for k in ("extracted", "scored", "unscorable")}},
                    "artifacts": relative_artifacts(
                        self.output_dir(),
                        {
                            "manifest": TrainPipeline(run_date=self.date, nightly=True).manifest_path(),
                            "drift_html": self.input_path("drift", "html"),
                            "scores_csv": Path(scores.path) / ScoreMessages.artifact("scores"),
                            "unscorable_csv": Path(scores.path) / ScoreMessages.artifact("unscorable"),
                        },
                    ),
                },
            )
