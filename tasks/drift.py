"""DriftReport: tonight's rows against the night of the release now live (see sortbox/drift.py)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from sortbox import gating
from sortbox.checkpoint import read_json, write_json
from sortbox.drift import night_drift, profiled_texts, status_line
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
        live_profile = live_dir / PROFILE_FILE if live_dir else None
        challenger = json.loads(self.input_path("model", "model").read_text(encoding="utf-8"))
        counts = self.read_input("tokens", "vocabulary")
        report, profile = night_drift(
            night=self.run_date.isoformat(), challenger=challenger,
            texts=profiled_texts(self.input_path("messages", "messages"), max_rows=config.max_rows),
            term_counts=[counts[term] for term in challenger["vocabulary"]], min_count=tokenize().min_word_frequency,
            live_name=live_dir.name if live_dir else None,
            live_night=release_info(live_dir)["run_date"] if live_dir else None, live_models=live_models,
            live_profile=read_json(live_profile) if live_profile is not None and live_profile.is_file() else None,
            clean_summary=self.read_input("clean", "summary"), label_summary=self.read_input("labels", "summary"),
            rule_rows=self.read_input("labels", "rule_stats")["rules"],
            held_out=lambda: gate(challenger, live_models, *held_out_rows(self), margin=publish().margin),
            limits=config.limits(), top_movers=config.top_movers, progress=self.report_progress,
        )  # fmt: skip
        logger.info("drift %s: %s", self.run_date, status_line(report))
        from sortbox.drift_report import render_drift_report  # matplotlib: only when the page is drawn
        from tasks.report import TrainingReport  # here: TrainingReport links to this task's page

        training_report = os.path.relpath(TrainingReport(**self.same_run()).output_path("report"), self.output_dir())
        with self.atomic_output() as out:
            write_json(out / self.artifact("drift"), report)
            write_json(out / self.artifact("profile"), profile)
            (out / self.artifact("html")).write_text(
                render_drift_report(report, training_report_href=training_report), encoding="utf-8"
            )
