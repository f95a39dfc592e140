"""ReviewSample (per class, a CSV and an HTML view of messages for a person to judge) and
EvaluateFeedback (the run's decisions against the reviewed verdicts)."""

from __future__ import annotations

import csv
import logging

import luigi
import numpy as np
import pyarrow.parquet as pq

from sortbox.checkpoint import write_json
from sortbox.feedback import check_verdicts, feedback_metrics
from sortbox.label import hits_to_csr
from sortbox.portable_scorer import csv_unescape
from sortbox.review import (
    message_texts,
    pick_review_rows,
    read_scores,
    render_review_csv,
    render_review_html,
    review_rows,
    rule_hits_in_order,
    rule_says,
)
from sortbox.rule_engines import best_matcher
from sortbox.rules import load_rules, rules_fingerprint
from sortbox.scoring import ModelSet
from sortbox.textnorm import TextCleaner, rule_view
from tasks.base import SortboxTask
from tasks.config import cleaning, labelling, review
from tasks.export import ScoreMessages, load_models
from tasks.feedback import ReadFeedback, load_verdicts
from tasks.label import LabelMessages

logger = logging.getLogger("luigi-interface")


class ReviewSample(SortboxTask):
    """Output: review-<class>.csv and review-<class>.html per class, summary.json.

    An internal run artifact (it holds message texts by nature): it lives with the run's outputs,
    never under the publish root. Same parameters as ScoreMessages, whose scores it samples."""

    model_json = luigi.Parameter(
        default="", description="As ScoreMessages: a published model, or empty for this run's export."
    )
    since = luigi.OptionalParameter(default=None, description="As ScoreMessages.")
    until = luigi.OptionalParameter(default=None, description="As ScoreMessages.")

    def requires(self):
        inputs = {
            "scores": ScoreMessages(
                **self.same_run(), model_json=self.model_json, since=self.since, until=self.until
            )
        }
        if not self.model_json and self.since is None and self.until is None:
            # The run's own model on the run's own rows: LabelMessages has already run the rules on
            # every scored message, so they are not cleaned and matched again here.
            inputs["labels"] = LabelMessages(**self.same_run())
        return inputs

    def significant_config(self) -> dict:
        return {"size": review().size, "seed": review().seed, "cleaning": cleaning().significant()}

    def content_fingerprint(self) -> str:
        return rules_fingerprint(labelling().rules_path())

    def run(self):
        scores_task = self.requires()["scores"]
        model = ModelSet(load_models(scores_task.model_path()))
        ids, scores = read_scores(self.input_dir("scores") / "scores.csv", len(model.class_names))
        rules = load_rules(labelling().rules_path())
        messages = scores_task.input_dir("messages") / "messages.parquet"
        indptr, indices = self.rule_hits(ids, rules, messages)
        rule_classes = [rule.label for rule in rules]
        picked, summary = {}, {}
        for k, name in enumerate(model.class_names):
            says = rule_says(indptr, indices, rule_classes, name)
            decisions = scores[:, k] >= model.thresholds[k]
            picks = pick_review_rows(
                scores[:, k], float(model.thresholds[k]), says, size=review().size, seed=review().seed, class_name=name
            )
            picked[name] = (k, picks, decisions)
            summary[name] = {
                "rows": len(picks),
                "threshold": float(model.thresholds[k]),
                "disagreements": int((decisions != says).sum()),
            }
        wanted = sorted({i for _, picks, _ in picked.values() for i, _ in picks})
        text_of = dict(zip((ids[i] for i in wanted), message_texts(messages, [ids[i] for i in wanted])))
        with self.atomic_output() as out:
            for name, (k, picks, decisions) in picked.items():
                rows = review_rows(
                    name,
                    picks,
                    ids=ids,
                    texts=_Lookup(lambda i: text_of[ids[i]]),
                    scores=scores[:, k],
                    decisions=decisions,
                    rules_fired=_Lookup(lambda i: [rules[j].rule_id for j in indices[indptr[i] : indptr[i + 1]]]),
                )
                (out / f"review-{name}.csv").write_text(render_review_csv(rows), encoding="utf-8", newline="")
                (out / f"review-{name}.html").write_text(
                    render_review_html(name, rows, f"review-{name}.csv"), encoding="utf-8"
                )
            write_json(out / "summary.json", {"size": review().size, "seed": review().seed, "classes": summary})

    def rule_hits(self, ids: list[str], rules, messages) -> tuple[np.ndarray, np.ndarray]:
        """(offsets, rule indices) of the rules that fire on each scored message: the labelling's
        when this run labelled these rows, else the raw texts cleaned and matched here."""
        if "labels" in self.input():
            labels = pq.read_table(self.input_dir("labels") / "labels.parquet", columns=["id", "rule_hits"])
            return rule_hits_in_order(
                ids, labels.column("id").combine_chunks(), labels.column("rule_hits").combine_chunks()
            )
        cleaner = TextCleaner(cleaning().options().spec)
        texts = message_texts(messages, ids)
        return hits_to_csr(best_matcher(rules).match_many([rule_view(cleaner.map(t)) for t in texts]))


class _Lookup:
    """Index access computed on demand (only the picked rows are ever looked up)."""

    def __init__(self, at):
        self._at = at

    def __getitem__(self, index):
        return self._at(index)


class EvaluateFeedback(SortboxTask):
    """Output: feedback.json: per class precision and recall of the run's decisions against the
    reviewed messages (count and 95% Wilson interval), and the verdicts left out and why."""

    model_json = luigi.Parameter(
        default="", description="As ScoreMessages: a published model, or empty for this run's export."
    )

    def requires(self):
        return {
            "feedback": ReadFeedback(**self.same_run()),
            "scores": ScoreMessages(**self.same_run(), model_json=self.model_json),
        }

    def run(self):
        verdicts, read = load_verdicts(self.input_dir("feedback"))
        wanted = {message_id for message_id, _ in verdicts}
        decisions, known_ids, classes = {}, set(), []
        with open(self.input_dir("scores") / "scores.csv", encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            classes = [csv_unescape(c)[: -len("_score")] for c in header[1::2]]
            for row in reader:
                message_id = csv_unescape(row[0])
                known_ids.add(message_id)
                if message_id in wanted:
                    decisions[message_id] = {name: row[2 + 2 * k] == "1" for k, name in enumerate(classes)}
        with open(self.input_dir("scores") / "unscorable.csv", encoding="utf-8", newline="") as handle:
            known_ids.update(csv_unescape(row[0]) for row in list(csv.reader(handle))[1:])
        checked = check_verdicts(verdicts, known_ids, classes)
        for problem, origins in checked.examples.items():
            logger.warning(
                "feedback: %s verdicts left out as %s, e.g. %s", _count(checked, problem), problem, ", ".join(origins)
            )
        with self.atomic_output() as out:
            write_json(
                out / "feedback.json",
                {
                    "read": read,
                    **checked.summary(),
                    "classes": feedback_metrics(checked.verdicts, decisions, classes) if verdicts else {},
                },
            )


def _count(checked, problem: str) -> int:
    return checked.unknown_ids if problem == "unknown_id" else sum(checked.unknown_classes.values())
