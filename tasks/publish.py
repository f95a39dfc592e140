"""GateModels (champion/challenger per class on held-out rows) and PublishModels (atomic release)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import luigi

from sortbox.checkpoint import read_json, write_json
from sortbox.drift import release_profile
from sortbox.gating import gate_decisions
from sortbox.publish import (
    PROFILE_FILE,
    current_release,
    hold_reason,
    publish_release,
    release_files,
    release_info,
    release_models,
)
from tasks.base import Artifact, SortboxTask
from tasks.config import drift, feedback, publish, require_holdout_rows
from tasks.drift import DriftReport, held_out_rows
from tasks.export import ExportModelJson
from tasks.extract import ExtractMessages
from tasks.label import LabelMessages
from tasks.review import EvaluateFeedback

logger = logging.getLogger("luigi-interface")


class GateModels(SortboxTask):
    """Output: gate.json: per class publish or keep, with both ROC AUCs on the held-out rows.

    The champion is whatever `[publish] root/current` holds when the gate runs, each of its files
    checked before use (a bad one fails this task naming the file); it is recorded,
    and a night that has been decided stays decided (rerunning the same run date after a
    rollback does not undo the rollback).
    """

    reads = (publish, (feedback, ("min_precision", "min_recall")))
    artifacts = {"gate": Artifact("gate.json", read_json)}

    def requires(self):
        return {
            "model": ExportModelJson(**self.same_run()),
            "labels": LabelMessages(**self.same_run()),
            "messages": ExtractMessages(**self.same_run()),
            "drift": DriftReport(**self.same_run()),
            "feedback": EvaluateFeedback(**self.same_run()),
        }

    def config_extras(self) -> dict:
        require_holdout_rows()  # while the DAG is scheduled: a night needs held-out rows
        return {}

    def run(self):
        champion_dir = current_release(Path(publish().root))
        texts, labels = held_out_rows(self)
        self.report_progress(
            0, 1, f"comparing with {champion_dir or 'no published model'} on {len(texts):,} held-out rows"
        )
        decisions = gate_decisions(
            self.read_input("model", "model"),
            release_models(champion_dir) if champion_dir else {},
            texts,
            labels,
            margin=publish().margin,
            evaluated=self.read_input("feedback", "feedback")["classes"],
            min_precision=feedback().min_precision,
            min_recall=feedback().min_recall,
        )
        for name, decision in decisions.items():
            logger.info("gate %s: %s (%s)", name, decision["decision"], decision["reason"])
        drift_entry = {
            "status": self.read_input("drift", "drift")["status"],
            "report_html": str(self.input_path("drift", "html")),
        }
        gated = {
            "champion_release": str(champion_dir) if champion_dir else None,
            "held_out_rows": len(texts),
            "classes": decisions,
            "drift": drift_entry,
        }
        with self.atomic_output() as out:
            write_json(out / self.artifact("gate"), gated)
        self.report_progress(1, 1, "gated")


class PublishModels(SortboxTask):
    """Publishes the gated release (one model file per class, and the night's drift profile) and
    makes it current, atomically; unless the night is older than the live release's night or its
    drift status blocks publishing ([drift] block_publish_on), when nothing is published and the
    log says why. `force` publishes in both cases.

    Output: publish.json (the release directory and what it holds; `published`, `held_because`).
    """

    reads = ((publish, ("root",)), (drift, ("block_publish_on",)))
    artifacts = {"publish": Artifact("publish.json", read_json)}

    force = luigi.BoolParameter(
        default=False,
        description="Make the night's release current even when it is older than the live one or its drift blocks it.",
    )

    def requires(self):
        return {
            "gate": GateModels(**self.same_run()),
            "model": ExportModelJson(**self.same_run()),
            "drift": DriftReport(**self.same_run()),
        }

    def run(self):
        gate_result = self.read_input("gate", "gate")
        challenger = self.read_input("model", "model")
        champion_dir = gate_result["champion_release"]
        champions = release_models(Path(champion_dir)) if champion_dir else {}
        files, classes = release_files(challenger, champions, gate_result["classes"])
        files[PROFILE_FILE] = json.dumps(self.profile(gate_result["classes"]), sort_keys=True).encode()
        name = f"{self.run_date.isoformat()}-{self.output_hash()}"
        info = {
            "release": name,
            "run_date": self.run_date.isoformat(),
            "previous": champion_dir,
            "classes": classes,
            "drift": gate_result["drift"]["status"],
        }
        live = current_release(Path(publish().root))
        held = hold_reason(
            self.run_date.isoformat(),
            release_info(live)["run_date"] if live else None,
            drift_status=gate_result["drift"]["status"],
            block_on=drift().block_publish_on,
            force=self.force,
        )
        if held:
            logger.warning(
                "night %s trained and gated but NOT published: %s; %s stays current "
                "(rerun with --force-publish to publish it)",
                self.run_date,
                held,
                live.name if live else "nothing",
            )
            release = live
        else:
            release = publish_release(Path(publish().root), name, files, info, keep=publish().keep)
        with self.atomic_output() as out:
            write_json(
                out / self.artifact("publish"),
                {
                    **info,
                    "release_dir": str(release.resolve()) if release else None,
                    "release": release.name if release else None,
                    "published": not held,
                    "held_because": held,
                },
            )

    def profile(self, decisions: dict) -> dict:
        """The release's drift profile: tonight's rows; per class the model the release holds."""
        tonight = self.read_input("drift", "profile")
        models = {
            name: tonight["models"]["challenger" if decision["decision"] == "publish" else "live"].get(name)
            for name, decision in decisions.items()
        }
        return release_profile(tonight, {name: stats for name, stats in models.items() if stats is not None})
