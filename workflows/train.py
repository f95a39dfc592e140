"""TrainPipeline: the whole training DAG; its own output is the run manifest.

luigi --module workflows.train TrainPipeline --local-scheduler [--run-date 2026-11-23] [--workers 2]
"""

from __future__ import annotations

from sortbox.checkpoint import read_json, write_json
from sortbox.manifest import build_manifest, git_sha, library_versions, relative_artifacts
from tasks import REPO_ROOT
from tasks.base import Artifact, SortboxTask
from tasks.clean import CleanMessages
from tasks.config import cleaning, dictionary, labelling, lsi, significant_values, source, tokenize, training
from tasks.drift import DriftReport
from tasks.export import ExportModelJson
from tasks.extract import ExtractMessages
from tasks.label import LabelMessages, RuleReport
from tasks.report import TrainingReport
from tasks.review import EvaluateFeedback, ReviewSample
from tasks.score import ScoreMessages
from tasks.tokenize import TokenizeMessages
from tasks.train import TrainClassifiers


class TrainPipeline(SortboxTask):
    """Runs every stage for `run_date` and writes manifest.json describing the run."""

    artifacts = {"manifest": Artifact("manifest.json", read_json)}

    def requires(self):
        night = {"drift": DriftReport(**self.same_run())} if self.nightly else {}
        return {
            **night,
            "messages": ExtractMessages(**self.same_run()),
            "clean": CleanMessages(**self.same_run()),
            "labels": LabelMessages(**self.same_run()),
            "rule_report": RuleReport(**self.same_run()),
            "tokens": TokenizeMessages(**self.same_run()),
            "classes": TrainClassifiers(**self.same_run()),
            "model": ExportModelJson(**self.same_run()),
            "scores": ScoreMessages(**self.same_run()),
            "report": TrainingReport(**self.same_run()),
            "review": ReviewSample(**self.same_run()),
            "feedback": EvaluateFeedback(**self.same_run()),
        }

    def run(self):
        artifacts = {
            "model_json": self.input_path("model", "model"),
            "scores_csv": self.input_path("scores", "scores"),
            "unscorable_csv": self.input_path("scores", "unscorable"),
            "report_html": self.input_path("report", "report"),
            "rule_report_html": self.input_path("rule_report", "html"),
            "rule_report_csv": self.input_path("rule_report", "csv"),
            "quarantine_parquet": self.input_path("clean", "quarantine"),
            "review_dir": self.input_dir("review"),
            **({"drift_html": self.input_path("drift", "html")} if self.nightly else {}),
        }
        manifest = build_manifest(
            run_date=self.run_date.isoformat(),
            code={"git_sha": git_sha(REPO_ROOT), "versions": library_versions()},
            parameters=manifest_parameters(),
            clean=self.read_input("clean", "summary"),
            labels=self.read_input("labels", "summary"),
            tokens=self.read_input("tokens", "summary"),
            classes=self.read_input("classes", "classes"),
            scores=self.read_input("scores", "summary"),
            feedback=self.read_input("feedback", "feedback"),
            artifacts=relative_artifacts(self.output_dir(), artifacts),
            drift=self.read_input("drift", "drift") if self.nightly else None,
        )
        with self.atomic_output() as out:
            write_json(out / self.artifact("manifest"), manifest)

    def manifest_path(self):
        return self.output_path("manifest")


def manifest_parameters() -> dict:
    """The configuration the manifest records, section by section."""
    return {
        "source": source().significant(),
        "cleaning": significant_values(cleaning()),
        "labelling": {**significant_values(labelling()), "rules_dir": labelling().rules_dir},
        "tokenize": significant_values(tokenize()),
        "dictionary": significant_values(dictionary()),
        "lsi": significant_values(lsi()),
        "training": significant_values(training()),
    }
