"""A fitted linear classifier in LSI-feature space, folded into one weight per term, and the
logistic link that turns its logit into a score. numpy only: scoring and export import it without
scikit-learn (sortbox.model_selection fits the classifier and gives its `linear_form`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LinearClassifier:
    """A fitted model in LSI-feature space: logit = features @ coef_ + intercept_."""

    coef_: np.ndarray
    intercept_: float


def fold_into_terms(classifier: LinearClassifier, basis: np.ndarray) -> np.ndarray:
    """Per-term weights: logit = tfidf_vector @ (basis @ coef_) + intercept_ (basis: terms x topics)."""
    return basis @ classifier.coef_


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """The logistic link, numerically stable for large |logit|: exp(-|x|) never overflows, and it
    is exp(-x) for x >= 0 (1 / (1 + e)) and exp(x) for x < 0 (e / (1 + e))."""
    logits = np.asarray(logits, dtype=np.float64)
    exp = np.exp(-np.abs(logits))
    return np.where(logits >= 0, 1.0 / (1.0 + exp), exp / (1.0 + exp))
