"""GateModels (champion/challenger per class on held-out rows) and PublishModels (atomic release)."""
from __future__ import annotations

import logging
from pathlib import Path

import pyarrow.parquet as pq

from sortbox.checkpoint import read_json, write_json
from sortbox.feedback import feedback_gate
from sortbox.model_file import read_model_file
from sortbox.publish import current_release, gate, publish_release, release_files, release_models
from sortbox.select import holdout_mask
from tasks.base import SortboxTask
from tasks.config import feedback, publish, require_holdout_rows, training
from tasks.export import MODEL_FILE, ExportModelJson
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

    def requires(self):
        return {"model": ExportModelJson(run_date=self.run_date), "labels": LabelMessages(run_date=self.run_date), "messages": ExtractMessages(run_date=self.run_date),
                "feedback": EvaluateFeedback(run_date=self.run_date)}

    def significant_config(self) -> dict:
        require_holdout_rows()
        return {"publish_root": str(Path(publish().root).resolve()), "margin": publish().margin}

    def run(self):
        challenger = read_model_file(self.input_dir("model") / MODEL_FILE)
        champion_dir = current_release(Path(publish().root))
        champions = release_models(champion_dir) if champion_dir else {}
        labels = pq.read_table(self.input_dir("labels") / "labels.parquet", columns=["id", "labels"])
        held_out = holdout_mask(labels.column("id").to_pylist(), fraction=training().holdout_fraction, seed=training().holdout_seed)
        label_of = {i: l for i, l, h in zip(labels.column("id").to_pylist(), labels.column("labels").to_pylist(), held_out) if h}
        messages = pq.read_table(self.input_dir("messages") / "messages.parquet", columns=["id", "text"])
        rows = [(i, t) for i, t in zip(messages.column("id").to_pylist(), messages.column("text").to_pylist()) if i in label_of]
        self.set_status_message(f"comparing with {champion_dir or 'no published model'} on {len(rows):,} held-out rows")
        decisions = gate(challenger, champions, [t for _, t in rows], [label_of[i] for i, _ in rows], margin=publish().margin)
        evaluated = read_json(self.input_dir("feedback") / "feedback.json")["classes"]
        refused = feedback_gate(evaluated, decisions, min_precision=feedback().min_precision, min_recall=feedback().min_recall)
        decisions.update({name: {**decisions[name], "decision": "keep", "reason": why} for name, why in refused.items() if decisions[name]["decision"] == "publish"})
        for name, decision in decisions.items():
            logger.info("gate %s: %s (%s)", name, decision["decision"], decision["reason"])
        with self.atomic_output() as out:
            write_json(out / "gate.json", {"champion_release": str(champion_dir) if champion_dir else None, "held_out_rows": len(rows), "classes": decisions})


class PublishModels(SortboxTask):
    """Publishes the gated release (one model file per class) and makes it current, atomically.

    Output: publish.json (the release directory and what it holds).
    """

    def requires(self):
        return {"gate": GateModels(run_date=self.run_date), "model": ExportModelJson(run_date=self.run_date)}

    def run(self):
        gate_result = read_json(self.input_dir("gate") / "gate.json")
        challenger = read_model_file(self.input_dir("model") / MODEL_FILE)
        champion_dir = gate_result["champion_release"]
        champions = release_models(Path(champion_dir)) if champion_dir else {}
        files, classes = release_files(challenger, champions, gate_result["classes"])
        name = f"{self.run_date.isoformat()}-{self.output_hash()}"
        info = {"release": name, "run_date": self.run_date.isoformat(), "previous": champion_dir, "classes": classes}
        release = publish_release(Path(publish().root), name, files, info, keep=publish().keep)
        with self.atomic_output() as out:
            write_json(out / "publish.json", {"release_dir": str(release.resolve()), **info})
