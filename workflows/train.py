"""TrainPipeline: the whole training DAG; its own output is the run manifest.

    luigi --module workflows.train TrainPipeline --local-scheduler [--run-date 2026-11-23]
"""
from __future__ import annotations

from sortbox.checkpoint import read_json, write_json
from sortbox.manifest import git_sha, library_versions, relative_artifacts
from tasks import REPO_ROOT
from tasks.base import SortboxTask
from tasks.clean import CleanMessages
from tasks.config import cleaning, labelling, source, tokenize
from tasks.extract import ExtractMessages
from tasks.label import LabelMessages, RuleReport
from tasks.tokenize import TokenizeMessages


class TrainPipeline(SortboxTask):
    """Runs every stage for `run_date` and writes manifest.json describing the run."""

    def requires(self):
        return {
            "messages": ExtractMessages(run_date=self.run_date),
            "clean": CleanMessages(run_date=self.run_date),
            "labels": LabelMessages(run_date=self.run_date),
            "rule_report": RuleReport(run_date=self.run_date),
            "tokens": TokenizeMessages(run_date=self.run_date),
        }

    def run(self):
        clean_summary = read_json(self.input_dir("clean") / "summary.json")
        label_summary = read_json(self.input_dir("labels") / "summary.json")
        token_summary = read_json(self.input_dir("tokens") / "summary.json")
        with self.atomic_output() as out:
            manifest = {
                "run_date": self.run_date.isoformat(),
                "git_sha": git_sha(REPO_ROOT),
                "versions": library_versions(),
                "parameters": {
                    "source": source().significant(),
                    "cleaning": cleaning().significant(),
                    "labelling": {"source": labelling().source, "rules_dir": labelling().rules_dir},
                    "tokenize": {"language": tokenize().language, "stem": tokenize().stem, "min_word_frequency": tokenize().min_word_frequency},
                },
                "rows": {
                    "extracted": clean_summary["extracted"],
                    "clean": clean_summary["clean"],
                    "quarantined": clean_summary["quarantined"],
                    "quarantine_reasons": clean_summary["reasons"],
                },
                "labels": {"source": label_summary["source"], "classes": label_summary["classes"], "fallback_rules": label_summary["fallback_rules"]},
                "vocabulary": {"distinct_terms": token_summary["distinct_terms"], "kept": token_summary["vocabulary"]},
                "artifacts": relative_artifacts(
                    self.output_dir(),
                    {
                        "messages_parquet": self.input_dir("messages") / "messages.parquet",
                        "clean_parquet": self.input_dir("clean") / "clean.parquet",
                        "quarantine_parquet": self.input_dir("clean") / "quarantine.parquet",
                        "labels_parquet": self.input_dir("labels") / "labels.parquet",
                        "rule_report_html": self.input_dir("rule_report") / "rule_report.html",
                        "rule_report_csv": self.input_dir("rule_report") / "rule_report.csv",
                        "tokens_parquet": self.input_dir("tokens") / "tokens.parquet",
                    },
                ),
            }
            write_json(out / "manifest.json", manifest)

    def manifest_path(self):
        return self.output_dir() / "manifest.json"
