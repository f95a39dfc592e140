"""The publish gate's data: the held-out rows (labels joined to the raw texts) and the decisions,
champion against challenger on those rows, then refused where the reviewed messages say a class
is not good enough (sortbox.publish.gate, sortbox.feedback.feedback_gate)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from sortbox.feedback import feedback_gate
from sortbox.publish import gate
from sortbox.sampling import holdout_mask


def held_out_rows(labels_path: Path, messages_path: Path, *, fraction: float, seed: int) -> tuple[list, list]:
    """(texts, label lists) of the held-out ids (`holdout_mask` with `fraction` and `seed`), in id
    order: the labels Parquet file (id, labels) joined to the extracted messages (id, text)."""
    labels = pq.read_table(labels_path, columns=["id", "labels"])
    held_out = holdout_mask(labels.column("id").to_pylist(), fraction=fraction, seed=seed)
    label_of = {
        i: cell
        for i, cell, h in zip(labels.column("id").to_pylist(), labels.column("labels").to_pylist(), held_out)
        if h
    }
    messages = pq.read_table(messages_path, columns=["id", "text"])
    rows = [
        (i, t) for i, t in zip(messages.column("id").to_pylist(), messages.column("text").to_pylist()) if i in label_of
    ]
    return [t for _, t in rows], [label_of[i] for i, _ in rows]


def gate_decisions(
    challenger: dict,
    champions: dict,
    texts: list,
    labels: list,
    *,
    margin: float,
    evaluated: dict,
    min_precision: float | None,
    min_recall: float | None,
) -> dict:
    """Per class publish or keep: `gate` on the held-out rows, then a class the gate would publish
    is kept when its figures against the reviewed messages (`evaluated`, EvaluateFeedback's
    classes) fall below `min_precision`/`min_recall`, with that reason."""
    decisions = gate(challenger, champions, texts, labels, margin=margin)
    refused = feedback_gate(evaluated, decisions, min_precision=min_precision, min_recall=min_recall)
    for name, why in refused.items():
        if decisions[name]["decision"] == "publish":
            decisions[name] = {**decisions[name], "decision": "keep", "reason": why}
    return decisions
