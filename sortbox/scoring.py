"""Vectorised scoring with the published model JSON: the same algorithm as the portable scorer,
a chunk of messages at a time (one regex scan, one sparse matrix product per chunk)."""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from sortbox.clean import CleaningOptions
from sortbox.embed import tfidf_from_indices
from sortbox.portable_scorer import PortableModel, csv_safe
from sortbox.select import sigmoid


class VectorModel:
    """Model JSON as arrays: weights (terms x classes), intercepts, thresholds, idf."""

    def __init__(self, model: dict):
        self.portable = PortableModel(model)  # validates the schema; shares parsing rules
        self.class_names = self.portable.class_names
        self.weights = np.array([model["classes"][name]["weights"] for name in self.class_names], dtype=np.float64).T.reshape(len(model["idf"]), len(self.class_names))
        self.intercepts = np.array([model["classes"][name]["intercept"] for name in self.class_names], dtype=np.float64)
        self.thresholds = np.array([model["classes"][name]["threshold"] for name in self.class_names], dtype=np.float64)
        self.idf = np.asarray(model["idf"], dtype=np.float64)
        # One scan per chunk: cleaned texts hold no newline, so "\n" marks message boundaries.
        self._chunk_pattern = re.compile(f"(?:{self.portable.token_pattern.pattern})|\\n")
        self._lookup = {word: None for word in self.portable.stopwords}
        self._lookup.update(self.portable.surface_forms)

    def cleaning_options(self) -> CleaningOptions:
        """The model's own cleaning and quarantine settings (not the current configuration's)."""
        return CleaningOptions(spec=self.portable.model["cleaning"], max_chars=self.portable.max_chars, quarantine_control_characters=self.portable.quarantine_controls)

    def tfidf(self, cleaned_texts: Sequence[str]) -> sp.csr_matrix:
        """Messages x terms L2-normalised TF-IDF of cleaned texts (unknown words ignored)."""
        indptr, indices = [0], []
        lookup = self._lookup
        for word in self._chunk_pattern.findall("\n".join(cleaned_texts)):
            if word == "\n":
                indptr.append(len(indices))
                continue
            index = lookup.get(word)
            if index is not None:
                indices.append(index)
        if cleaned_texts:
            indptr.append(len(indices))
        return tfidf_from_indices(indices, indptr, self.idf)

    def score(self, cleaned_texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities: messages x classes, known: False where no word of a message is known)."""
        matrix = self.tfidf(cleaned_texts)
        logits = matrix @ self.weights + self.intercepts
        return sigmoid(logits), np.diff(matrix.indptr) > 0


class ModelSet:
    """Several models scored side by side (a release holds one model file per class).

    They must share cleaning and quarantine settings, so that one pass of cleaning serves all;
    a message is scorable only when every model knows one of its words.
    """

    def __init__(self, models: Sequence[dict]):
        if not models:
            raise ValueError("no model to score with")
        first = models[0]
        for model in models[1:]:
            if model["cleaning"] != first["cleaning"] or model["quarantine"] != first["quarantine"]:
                raise ValueError(f"models {first['model_id'][:12]} and {model['model_id'][:12]} clean texts differently: score them separately")
        self.vectors = sorted((VectorModel(m) for m in models), key=lambda v: v.class_names)
        self.class_names = [name for vector in self.vectors for name in vector.class_names]
        if len(set(self.class_names)) != len(self.class_names):
            raise ValueError(f"several models score the same class: {self.class_names}")
        self.thresholds = np.concatenate([vector.thresholds for vector in self.vectors])
        self.model_ids = sorted(m["model_id"] for m in models)

    def cleaning_options(self) -> CleaningOptions:
        return self.vectors[0].cleaning_options()

    def header(self) -> list[str]:
        return ["id"] + [column for name in self.class_names for column in (f"{name}_score", f"{name}_decision")]

    def score(self, cleaned_texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities: messages x classes, scorable by every model)."""
        results = [vector.score(cleaned_texts) for vector in self.vectors]
        known = np.logical_and.reduce([k for _, k in results])
        return np.hstack([p for p, _ in results]), known


def scores_table(model: VectorModel | ModelSet, ids: Sequence[str], scores: np.ndarray) -> list[list[str]]:
    """scores.csv rows for scored messages (same formatting as the portable scorer)."""
    decisions = scores >= model.thresholds
    rows = []
    for message_id, row_scores, row_decisions in zip(ids, scores.tolist(), decisions.tolist()):
        cells = [csv_safe(message_id)]
        for score, decision in zip(row_scores, row_decisions):
            cells += [repr(score), "1" if decision else "0"]
        rows.append(cells)
    return rows


def unscorable_rows(quarantine: pa.Table) -> list[list[str]]:
    """unscorable.csv rows (id, reason) for quarantined messages."""
    return [[csv_safe(i or ""), f"quarantined:{r}"] for i, r in zip(quarantine.column("id").to_pylist(), quarantine.column("reason").to_pylist())]
