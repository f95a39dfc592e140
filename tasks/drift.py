"""DriftReport: tonight's rows against the night of the release now live (see sortbox/drift.py)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pyarrow.parquet as pq

from sortbox import gating
from sortbox.checkpoint import read_json, write_json
from sortbox.drift import NOT_COMPARED, compare_profiles, model_statistics, night_profile, sample_rows
from sortbox.publish import PROFILE_FILE, current_release, gate, release_info, release_models
from tasks.base import Artifact, SortboxTask
from tasks.clean import CleanMessages
from tasks.config import DRIFT_REPORT_OPTIONS, drift, publish, tokenize, training
from tasks.export import ExportModelJson
from tasks.extract import ExtractMessages
from tasks.label import LabelMessages
from tasks.tokenize import TokenizeMessages

logger = logging.getLogger("luigi-interface")


def held_out_rows(task: SortboxTask) -> tuple[list, list]:
    """(texts, label lists) of the held-out rows of a task that requires "labels" and "messages"."""
    config = training()
    return gating.held_out_rows(
        task.input_path("labels", "labels"), task.input_path("messages", "messages"),
        fraction=config.holdout_fraction, seed=config.holdout_seed,
    )  # fmt: skip


class DriftReport(SortboxTask):
    """Output: drift.json (every measure, its status, the worst status), drift.html (page with
    plots) and profile.json (tonight's profile under the challenger's and the live models: the
    profile the release carries is made from it). No message text and no id in any of them."""

    reads = (
        publish,
        (drift, DRIFT_REPORT_OPTIONS),
        (tokenize, ("min_word_frequency",)),
        (training, ("holdout_fraction", "holdout_seed")),
    )
    artifacts = {
        "drift": Artifact("drift.json", read_json),
        "html": Artifact("drift.html"),
        "profile": Artifact("profile.json", read_json),
    }

    def requires(self):
        return {
            "messages": ExtractMessages(**self.same_run()),
            "clean": CleanMessages(**self.same_run()),
            "labels": LabelMessages(**self.same_run()),
            "model": ExportModelJson(**self.same_run()),
            "tokens": TokenizeMessages(**self.same_run()),
        }

    def run(self):
        config = drift()
        live_dir = current_release(Path(publish().root))
        live_models = release_models(live_dir) if live_dir else {}
        challenger = json.loads(self.input_path("model", "model").read_text(encoding="utf-8"))
        messages = pq.read_table(self.input_path("messages", "messages"), columns=["id", "text"])
        texts = (
            messages.column("text")
            .take(sample_rows(messages.column("id").to_pylist(), max_rows=config.max_rows))
            .to_pylist()
        )
        passes = 1 + len(live_models)

        def progress(done_pass: int, label: str):
            return lambda done, total: self.report_progress(
                done_pass * total + done, passes * total, f"{label}: {done:,} of {total:,} rows"
            )

        # The challenger was trained on these rows: its unknown words are counted leave-one-out.
        counts = self.read_input("tokens", "vocabulary")
        term_counts = [counts[term] for term in challenger["vocabulary"]]
        challenger_stats, _ = model_statistics(
            challenger,
            texts,
            term_counts=term_counts,
            min_count=tokenize().min_word_frequency,
            progress=progress(0, "challenger"),
        )
        live_stats, live_scores = {}, {}
        for number, (name, model) in enumerate(sorted(live_models.items()), start=1):
            stats, scores = model_statistics(model, texts, progress=progress(number, f"live {name}"))
            live_stats[name], live_scores[name] = stats[name], scores[name]
        clean = self.read_input("clean", "summary")
        labels = self.read_input("labels", "summary")
        rules = self.read_input("labels", "rule_stats")["rules"]
        common = night_profile(
            extracted=clean["extracted"],
            quarantine_reasons=clean["reasons"],
            label_messages=labels["messages"],
            label_counts=labels["classes"],
            rules=rules,
            models={},
        )
        live_profile_path = live_dir / PROFILE_FILE if live_dir else None
        report = {
            "night": self.run_date.isoformat(),
            "live_release": live_dir.name if live_dir else None,
            "live_night": release_info(live_dir)["run_date"] if live_dir else None,
            "profiled_rows": len(texts),
        }
        if live_profile_path is not None and live_profile_path.is_file():
            self.set_status_message("comparing with the live night")
            held_out = gate(
                challenger,
                live_models,
                *held_out_rows(self),
                margin=publish().margin,
            )
            comparison = compare_profiles(
                read_json(live_profile_path),
                {**common, "models": live_stats},
                live_scores,
                held_out,
                limits=config.limits(),
                top_movers=config.top_movers,
            )
            report.update(comparison, note=None)
        else:
            note = (
                "no release is live yet"
                if live_dir is None
                else f"the live release {live_dir.name} has no drift profile (published before drift reports)"
            )
            report.update(status=NOT_COMPARED, measures=[], details={}, note=f"Nothing to compare with: {note}.")
        logger.info(
            "drift %s: %s",
            self.run_date,
            report["status"]
            + "".join(
                f"; {m['measure']} {m['subject']} {m['status']}" for m in report["measures"] if m["status"] != "ok"
            ),
        )
        from sortbox.drift_report import render_drift_report  # matplotlib: only when the page is drawn
        from tasks.report import TrainingReport  # here: TrainingReport links to this task's page

        training_report = os.path.relpath(TrainingReport(**self.same_run()).output_path("report"), self.output_dir())
        with self.atomic_output() as out:
            write_json(out / self.artifact("drift"), report)
            profile = {**common, "models": {"challenger": challenger_stats, "live": live_stats}}
            write_json(out / self.artifact("profile"), profile)
            (out / self.artifact("html")).write_text(
                render_drift_report(report, training_report_href=training_report), encoding="utf-8"
            )
