"""TrainingReport: one HTML page per run with label distribution, per-class curves and grid tables."""

from __future__ import annotations

import os

from tasks.base import Artifact, SortboxTask
from tasks.config import labelling, lsi, training
from tasks.embed import EmbedMessages
from tasks.label import LabelMessages, RuleReport
from tasks.review import EvaluateFeedback
from tasks.train import TrainClassifiers


class TrainingReport(SortboxTask):
    """Output: report.html and its PNG plots; a night's links to its drift report."""

    reads = (
        (labelling, ("source",)),
        (lsi, ("num_topics",)),
        (training, ("folds", "threshold_policy", "class_thresholds")),
    )
    artifacts = {"report": Artifact("report.html")}

    def drift_report(self):
        """Where the night's DriftReport writes its page (it runs after this task: no dependency)."""
        from tasks.drift import DriftReport  # here: tasks.drift imports this module

        return DriftReport(**self.same_run()).output_path("html")

    def requires(self):
        return {
            "classes": TrainClassifiers(**self.same_run()),
            "labels": LabelMessages(**self.same_run()),
            "rule_report": RuleReport(**self.same_run()),
            "features": EmbedMessages(**self.same_run()),
            "feedback": EvaluateFeedback(**self.same_run()),
        }

    def warm_up(self) -> None:
        import sortbox.training_report  # noqa: F401  (matplotlib, 0.9 s: once, see SortboxTask.warm_up)

    def run(self):
        from sortbox.training_report import render_training_report  # matplotlib: only when the report is drawn

        labels = self.read_input("labels", "summary")
        with self.atomic_output() as out:
            # The link must hold once the temporary directory is renamed: relative to the final one.
            rule_report = os.path.relpath(self.input_path("rule_report", "html"), self.output_dir())
            drift_report = os.path.relpath(self.drift_report(), self.output_dir()) if self.nightly else None
            render_training_report(
                out,
                page_name=self.artifact("report"),
                classes=self.read_input("classes", "classes"),
                label_counts=labels["classes"],
                messages=labels["messages"],
                rule_report_href=rule_report,
                training_sample=self.read_input("features", "summary"),
                drift_report_href=drift_report,
                progress=self.progress_between(0, 99, "training report: plotted classes"),
                feedback=self.read_input("feedback", "feedback"),
                run_info={
                    "run_date": self.run_date.isoformat(),
                    "label source": labelling().source,
                    "LSI topics": lsi().num_topics,
                    "folds": training().folds,
                    "threshold policy": threshold_policies(training()),
                },
            )
        self.report_progress(1, 1, "training report written")


def threshold_policies(config) -> str:
    """The run's threshold policy, and the classes that have their own ("max_f1; notification: recall 0.9")."""
    own = [
        f"{name}: {spec['policy']}" + (f" {spec['target']}" if spec.get("target") is not None else "")
        for name, spec in sorted(config.class_thresholds.items())
    ]
    return "; ".join([config.threshold_policy, *own])
