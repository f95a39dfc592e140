"""TrainPipeline: the whole training DAG; its own output is the run manifest.

    luigi --module workflows.train TrainPipeline --local-scheduler [--run-date 2026-11-23]
"""
from __future__ import annotations

from sortbox.checkpoint import read_json, write_json
from sortbox.manifest import git_sha, library_versions, relative_artifacts
from tasks import REPO_ROOT
from tasks.base import SortboxTask
from tasks.clean import CleanMessages
from tasks.config import cleaning, source
from tasks.extract import ExtractMessages


class TrainPipeline(SortboxTask):
    """Runs every stage for `run_date` and writes manifest.json describing the run."""

    def requires(self):
        return {
            "messages": ExtractMessages(run_date=self.run_date),
            "clean": CleanMessages(run_date=self.run_date),
        }

    def run(self):
        clean_summary = read_json(self.input_dir("clean") / "summary.json")
        with self.atomic_output() as out:
            final_dir = self.output_dir()
            manifest = {
                "run_date": self.run_date.isoformat(),
                "git_sha": git_sha(REPO_ROOT),
                "versions": library_versions(),
                "parameters": {"source": source().significant(), "cleaning": cleaning().significant()},
                "rows": {
                    "extracted": clean_summary["extracted"],
                    "clean": clean_summary["clean"],
                    "quarantined": clean_summary["quarantined"],
                    "quarantine_reasons": clean_summary["reasons"],
                },
                "artifacts": relative_artifacts(
                    final_dir,
                    {
                        "messages_parquet": self.input_dir("messages") / "messages.parquet",
                        "clean_parquet": self.input_dir("clean") / "clean.parquet",
                        "quarantine_parquet": self.input_dir("clean") / "quarantine.parquet",
                    },
                ),
            }
            write_json(out / "manifest.json", manifest)

    def manifest_path(self):
        return self.output_dir() / "manifest.json"
