"""TrainingReport: one HTML page per run with label distribution, per-class curves and grid tables."""
from __future__ import annotations

import os

from sortbox.checkpoint import read_json
from tasks.base import SortboxTask
from tasks.config import labelling, lsi, training
from tasks.embed import EmbedMessages
from tasks.label import LabelMessages, RuleReport
from tasks.review import EvaluateFeedback
from tasks.train import TrainClassifiers


class TrainingReport(SortboxTask):
    """Output: report.html and its PNG plots; a night's links to its drift report."""

    def drift_report(self):
        """Where the night's DriftReport writes its page (it runs after this task: no dependency)."""
        from tasks.drift import DriftReport  # here: tasks.drift imports this module

        return DriftReport(**self.same_run()).output_dir() / "drift.html"

    def requires(self):
        return {"classes": TrainClassifiers(**self.same_run()), "labels": LabelMessages(**self.same_run()), "rule_report": RuleReport(**self.same_run()), "features": EmbedMessages(**self.same_run()), "feedback": EvaluateFeedback(**self.same_run())}

    def run(self):
        from sortbox.training_report import render_training_report  # matplotlib: only when the report is drawn

        labels = read_json(self.input_dir("labels") / "summary.json")
        with self.atomic_output() as out:
            # The link must hold once the temporary directory is renamed: relative to the final one.
            rule_report = os.path.relpath(self.input_dir("rule_report") / "rule_report.html", self.output_dir())
            drift_report = os.path.relpath(self.drift_report(), self.output_dir()) if self.nightly else None
            render_training_report(
                out,
                classes=read_json(self.input_dir("classes") / "classes.json"),
                label_counts=labels["classes"],
                messages=labels["messages"],
                rule_report_href=rule_report,
                training_sample=read_json(self.input_dir("features") / "summary.json"),
                drift_report_href=drift_report,
                progress=self.progress_between(0, 99, "training report: plotted classes"),
                feedback=read_json(self.input_dir("feedback") / "feedback.json"),
                run_info={
                    "run_date": self.run_date.isoformat(),
                    "label source": labelling().source,
                    "LSI topics": lsi().num_topics,
                    "folds": training().folds,
                    "threshold policy": training().threshold_policy,
                },
            )
        self.report_progress(1, 1, "training report written")
