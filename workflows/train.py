"""TrainPipeline: the whole training DAG; its own output is the run manifest.

    luigi --module workflows.train TrainPipeline --local-scheduler [--run-date 2026-11-23] [--workers 2]
"""
from __future__ import annotations

from sortbox.checkpoint import read_json, write_json
from sortbox.manifest import git_sha, library_versions, relative_artifacts
from tasks import REPO_ROOT
from tasks.base import Artifact, SortboxTask
from tasks.clean import CleanMessages
from tasks.config import cleaning, dictionary, labelling, lsi, source, tokenize, training
from tasks.drift import DriftReport
from tasks.export import ExportModelJson, ScoreMessages
from tasks.extract import ExtractMessages
from tasks.label import LabelMessages, RuleReport
from tasks.report import TrainingReport
from tasks.review import EvaluateFeedback, ReviewSample
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
        clean = self.read_input("clean", "summary")
        labels = self.read_input("labels", "summary")
        tokens = self.read_input("tokens", "summary")
        classes = self.read_input("classes", "classes")
        scores = self.read_input("scores", "summary")
        with self.atomic_output() as out:
            manifest = {
                "run_date": self.run_date.isoformat(),
                "git_sha": git_sha(REPO_ROOT),
                "versions": library_versions(),
                "model_id": scores["model_id"],
                "parameters": {
                    "source": source().significant(),
                    "cleaning": cleaning().significant(),
                    "labelling": {"source": labelling().source, "rules_dir": labelling().rules_dir},
                    "tokenize": {"language": tokenize().language, "stem": tokenize().stem, "min_word_frequency": tokenize().min_word_frequency},
                    "dictionary": {"no_above": dictionary().no_above, "keep_n": dictionary().keep_n},
                    "lsi": {"num_topics": lsi().num_topics, "power_iters": lsi().power_iters, "seed": lsi().seed},
                    "training": training().significant(),
                },
                "rows": {
                    "extracted": clean["extracted"],
                    "clean": clean["clean"],
                    "quarantined": clean["quarantined"],
                    "quarantine_reasons": clean["reasons"],
                    "scored": scores["scored"],
                    "unscorable": scores["unscorable"],
                    "unscorable_reasons": scores["unscorable_reasons"],
                },
                "labels": {"source": labels["source"], "messages_per_class": labels["classes"], "fallback_rules": labels["fallback_rules"],
                           "classes_without_rules": labels.get("classes_without_rules", {}), "ignored_rule_files": labels.get("ignored_rule_files", []),
                           "feedback": labels.get("feedback")},
                "vocabulary": {"distinct_terms": tokens["distinct_terms"], "kept": tokens["vocabulary"]},
                "classes": {name: class_entry(entry) for name, entry in classes.items()},
                "feedback": self.read_input("feedback", "feedback"),
                "artifacts": relative_artifacts(
                    self.output_dir(),
                    {
                        "model_json": self.input_path("model", "model"),
                        "scores_csv": self.input_path("scores", "scores"),
                        "unscorable_csv": self.input_path("scores", "unscorable"),
                        "report_html": self.input_path("report", "report"),
                        "rule_report_html": self.input_path("rule_report", "html"),
                        "rule_report_csv": self.input_path("rule_report", "csv"),
                        "quarantine_parquet": self.input_path("clean", "quarantine"),
                        "review_dir": self.input_dir("review"),
                    },
                ),
            }
            if self.nightly:
                manifest["drift"] = {"status": self.read_input("drift", "drift")["status"]}
                manifest["artifacts"].update(relative_artifacts(self.output_dir(), {"drift_html": self.input_path("drift", "html")}))
            write_json(out / self.artifact("manifest"), manifest)

    def manifest_path(self):
        return self.output_path("manifest")


def class_entry(entry: dict) -> dict:
    """The manifest's view of one class: status, reason, CV figures, threshold, parameters."""
    cv = entry["cv"]
    result = {
        "status": entry["status"],
        "reason": entry["reason"],
        "cv_roc_auc": cv.get("roc_auc"),
        "cv_pr_auc": cv.get("pr_auc"),
        "threshold": cv["threshold"]["threshold"] if "threshold" in cv else None,
        "best_params": cv.get("best_params"),
        "positives": entry["grid"].get("positives"),
    }
    if "against_truth" in cv:
        result["roc_auc_against_truth"] = cv["against_truth"]["roc_auc"]
    return result
