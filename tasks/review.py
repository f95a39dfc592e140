"""ReviewSample (per class, a CSV and an HTML view of messages for a person to judge) and
EvaluateFeedback (the run's decisions against the reviewed verdicts)."""

from __future__ import annotations

import logging

import luigi
import pyarrow as pa
import pyarrow.parquet as pq

from sortbox.checkpoint import read_json, write_json
from sortbox.feedback import check_verdicts, feedback_metrics, read_decisions
from sortbox.review import (
    match_rules,
    message_texts,
    read_scores,
    render_review_csv,
    render_review_html,
    review_samples,
    rule_hits_in_order,
)
from sortbox.rules import load_rules, rules_fingerprint
from sortbox.scoring import ModelSet
from tasks.base import Artifact, SortboxTask
from tasks.config import cleaning, labelling, review
from tasks.feedback import ReadFeedback
from tasks.label import LabelMessages
from tasks.score import ScoreMessages, load_models

logger = logging.getLogger("luigi-interface")


class ReviewSample(SortboxTask):
    """Output: review-<class>.csv and review-<class>.html per class, summary.json.

    An internal run artifact (it holds message texts by nature): it lives with the run's outputs,
    never under the publish root. Same parameters as ScoreMessages, whose scores it samples."""

    reads = (review, cleaning)
    artifacts = {
        "csv": Artifact("review-{class_name}.csv"),
        "html": Artifact("review-{class_name}.html"),
        "summary": Artifact("summary.json", read_json),
    }

    model_json = luigi.Parameter(
        default="", description="As ScoreMessages: a published model, or empty for this run's export."
    )
    since = luigi.OptionalParameter(default=None, description="As ScoreMessages.")
    until = luigi.OptionalParameter(default=None, description="As ScoreMessages.")

    def requires(self):
        inputs = {
            "scores": ScoreMessages(**self.same_run(), model_json=self.model_json, since=self.since, until=self.until)
        }
        if not self.model_json and self.since is None and self.until is None:
            # The run's own model on the run's own rows: LabelMessages has already run the rules on
            # every scored message, so they are not cleaned and matched again here.
            inputs["labels"] = LabelMessages(**self.same_run())
        return inputs

    def content_fingerprint(self) -> str:
        return rules_fingerprint(labelling().rules_path())

    def run(self):
        scores_task = self.requires()["scores"]
        model = ModelSet(load_models(scores_task.model_path()))
        ids, scores = read_scores(self.input_path("scores", "scores"), len(model.class_names))
        rules = load_rules(labelling().rules_path())
        messages = scores_task.input_path("messages", "messages")
        samples = review_samples(
            model.class_names, model.thresholds, ids=ids, scores=scores,
            rule_hits=self.rule_hits(ids, rules, messages), rules=rules,
            texts_of=lambda wanted: message_texts(messages, wanted), size=review().size, seed=review().seed,
        )  # fmt: skip
        summary = {}
        with self.atomic_output() as out:
            for name, rows, entry in samples:
                summary[name] = entry
                csv_name = self.artifact("csv", class_name=name)
                (out / csv_name).write_text(render_review_csv(rows), encoding="utf-8", newline="")
                html_page = render_review_html(name, rows, csv_name)
                (out / self.artifact("html", class_name=name)).write_text(html_page, encoding="utf-8")
            write_json(
                out / self.artifact("summary"), {"size": review().size, "seed": review().seed, "classes": summary}
            )


    def rule_hits(self, ids: pa.Array, rules: list, messages) -> tuple:
        """The rules that fired on each scored message: the labelling's when this run labelled these
        rows, else the raw texts cleaned and matched here."""
        if "labels" in self.requires():
            labels = pq.read_table(self.input_path("labels", "labels"), columns=["id", "rule_hits"])
            return rule_hits_in_order(
                ids, labels.column("id").combine_chunks(), labels.column("rule_hits").combine_chunks()
            )
        # A published model's scores of other rows: every text is read and matched (as many as were scored).
        return match_rules(message_texts(messages, ids.to_pylist()), rules, cleaning().options().spec)


class EvaluateFeedback(SortboxTask):
    """Output: feedback.json: per class precision and recall of the run's decisions against the
    reviewed messages (count and 95% Wilson interval), and the verdicts left out and why."""

    artifacts = {"feedback": Artifact("feedback.json", read_json)}

    model_json = luigi.Parameter(
        default="", description="As ScoreMessages: a published model, or empty for this run's export."
    )

    def requires(self):
        return {
            "feedback": ReadFeedback(**self.same_run()),
            "scores": ScoreMessages(**self.same_run(), model_json=self.model_json),
        }

    def run(self):
        verdicts, read = self.read_input("feedback", "verdicts")
        wanted = {message_id for message_id, _ in verdicts}
        decisions, known_ids, classes = read_decisions(
            self.input_path("scores", "scores"), self.input_path("scores", "unscorable"), wanted
        )
        checked = check_verdicts(verdicts, known_ids, classes)
        for problem, origins in checked.examples.items():
            logger.warning(
                "feedback: %s verdicts left out as %s, e.g. %s", _count(checked, problem), problem, ", ".join(origins)
            )
        with self.atomic_output() as out:
            write_json(
                out / self.artifact("feedback"),
                {
                    "read": read,
                    **checked.summary(),
                    "classes": feedback_metrics(checked.verdicts, decisions, classes) if verdicts else {},
                },
            )


def _count(checked, problem: str) -> int:
    return checked.unknown_ids if problem == "unknown_id" else sum(checked.unknown_classes.values())
