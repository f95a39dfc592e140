"""ScoreBatch: score rows of the configured source with an already exported model, no retraining.

    luigi --module workflows.score ScoreBatch --model-json runs/.../model.json --local-scheduler \
          [--source-since 2026-11-22 --source-until 2026-11-23]
"""
from __future__ import annotations

from pathlib import Path

import luigi

from sortbox.checkpoint import read_json, write_json
from sortbox.manifest import relative_artifacts
from tasks.base import SortboxTask
from tasks.config import source
from tasks.export import ScoreMessages


class ScoreBatch(SortboxTask):
    """Output: batch.json (model id, row counts, paths of scores.csv and unscorable.csv)."""

    model_json = luigi.Parameter(description="The published model JSON to score with.")

    def requires(self):
        if not Path(self.model_json).is_file():
            raise FileNotFoundError(f"model JSON {self.model_json!r} does not exist")
        return {"scores": ScoreMessages(run_date=self.run_date, model_json=self.model_json)}

    def run(self):
        summary = read_json(self.input_dir("scores") / "summary.json")
        with self.atomic_output() as out:
            write_json(out / "batch.json", {
                "run_date": self.run_date.isoformat(),
                "model_json": str(Path(self.model_json).resolve()),
                "model_id": summary["model_id"],
                "source": source().significant(),
                "rows": {key: summary[key] for key in ("extracted", "scored", "unscorable")},
                "unscorable_reasons": summary["unscorable_reasons"],
                "artifacts": relative_artifacts(self.output_dir(), {
                    "scores_csv": self.input_dir("scores") / "scores.csv",
                    "unscorable_csv": self.input_dir("scores") / "unscorable.csv",
                }),
            })
