"""ReviewSample (per class, a CSV and an HTML view of messages for a person to judge) and
EvaluateFeedback (the run's decisions against the reviewed verdicts)."""

from __future__ import annotations

import csv
import logging

import luigi
import numpy as np
import pyarrow.parquet as pq

from sortbox.checkpoint import read_json, write_json
from sortbox.feedback import check_verdicts, feedback_metrics
from sortbox.label import hits_to_csr
from sortbox.portable_scorer import csv_unescape
from sortbox.review import pick_review_rows, render_review_csv, render_review_html, review_rows
from sortbox.rule_engines import best_matcher
from sortbox.rules import load_rules, rules_fingerprint
from sortbox.scoring import ModelSet
from sortbox.textnorm import TextCleaner, rule_view
from tasks.base import Artifact, SortboxTask
from tasks.config import cleaning, labelling, review
from tasks.feedback import ReadFeedback
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
        return {
            "scores": ScoreMessages(
                **self.same_run(), model_json=self.model_json, since=self.since, until=self.until
            )
        }

    def content_fingerprint(self) -> str:
        return rules_fingerprint(labelling().rules_path())

    def run(self):
        scores_task = self.requires()["scores"]
        model = ModelSet(load_models(scores_task.model_path()))
        ids, scores = read_scores(self.input_path("scores", "scores"), len(model.class_names))
        texts = message_texts(scores_task.input_path("messages", "messages"), ids)
        rules = load_rules(labelling().rules_path())
        cleaner = TextCleaner(cleaning().options().spec)
        indptr, indices = hits_to_csr(best_matcher(rules).match_many([rule_view(cleaner.map(t)) for t in texts]))
        spans = list(zip(indptr[:-1].tolist(), indptr[1:].tolist()))
        fired = [[rules[j].rule_id for j in indices[a:b]] for a, b in spans]
        fired_classes = [{rules[j].label for j in indices[a:b]} for a, b in spans]
        summary = {}
        with self.atomic_output() as out:
            for k, name in enumerate(model.class_names):
                rule_says = np.array([name in labels for labels in fired_classes], dtype=bool)
                decisions = scores[:, k] >= model.thresholds[k]
                picks = pick_review_rows(
                    scores[:, k],
                    float(model.thresholds[k]),
                    rule_says,
                    size=review().size,
                    seed=review().seed,
                    class_name=name,
                )
                rows = review_rows(
                    name, picks, ids=ids, texts=texts, scores=scores[:, k], decisions=decisions, rules_fired=fired
                )
                csv_name = self.artifact("csv", class_name=name)
                (out / csv_name).write_text(render_review_csv(rows), encoding="utf-8", newline="")
                (out / self.artifact("html", class_name=name)).write_text(
                    render_review_html(name, rows, csv_name), encoding="utf-8"
                )
                summary[name] = {
                    "rows": len(rows),
                    "threshold": float(model.thresholds[k]),
                    "disagreements": int((decisions != rule_says).sum()),
                }
            write_json(
                out / self.artifact("summary"), {"size": review().size, "seed": review().seed, "classes": summary}
            )


def read_scores(path, classes: int) -> tuple[list[str], np.ndarray]:
    """Ids and the score matrix (messages x classes) of a scores.csv."""
    ids, values = [], []
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for row in reader:
            ids.append(csv_unescape(row[0]))
            values.append([float(row[1 + 2 * k]) for k in range(classes)])
    return ids, np.array(values, dtype=np.float64).reshape(len(ids), classes)


def message_texts(path, ids: list[str]) -> list[str]:
    """The raw text of each id (what the reviewer reads), from the extracted messages."""
    table = pq.read_table(path, columns=["id", "text"])
    text_of = dict(zip(table.column("id").to_pylist(), table.column("text").to_pylist()))
    return [text_of.get(i) or "" for i in ids]


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
        decisions, known_ids, classes = {}, set(), []
        with open(self.input_path("scores", "scores"), encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            classes = [csv_unescape(c)[: -len("_score")] for c in header[1::2]]
            for row in reader:
                message_id = csv_unescape(row[0])
                known_ids.add(message_id)
                if message_id in wanted:
                    decisions[message_id] = {name: row[2 + 2 * k] == "1" for k, name in enumerate(classes)}
        with open(self.input_path("scores", "unscorable"), encoding="utf-8", newline="") as handle:
            known_ids.update(csv_unescape(row[0]) for row in list(csv.reader(handle))[1:])
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
