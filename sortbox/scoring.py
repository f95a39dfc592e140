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


def scores_table(model: VectorModel, ids: Sequence[str], scores: np.ndarray) -> list[list[str]]:
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
