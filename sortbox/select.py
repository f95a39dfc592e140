"""Model selection per class: grid search, out-of-fold scores, a decision threshold, the final fit.

The estimator is a standardisation followed by logistic regression on the LSI features: linear
from the TF-IDF vector to the logit, so it can be folded into one weight per term (see
`fold_into_terms`). Every random choice takes an explicit `random_state`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sortbox.extract import sample_cutoff, sample_hash

THRESHOLD_POLICIES = ("max_f1", "precision", "recall")


def make_estimator(params: dict, random_state: int) -> Pipeline:
    """StandardScaler + LogisticRegression with `params` (keys of LogisticRegression, e.g. C)."""
    model = LogisticRegression(max_iter=2000, random_state=random_state, **params)
    return Pipeline([("scale", StandardScaler()), ("model", model)])


def class_target(label_lists: Sequence[Sequence[str]], class_name: str) -> np.ndarray:
    """1 where a message carries `class_name`, else 0."""
    return np.fromiter((class_name in labels for labels in label_lists), dtype=np.int8, count=len(label_lists))


def holdout_mask(ids: Sequence[str], *, fraction: float, seed: int) -> np.ndarray:
    """True for the ids held out of training: a deterministic share `fraction` chosen by hashing
    the id (like extraction's sample), so the same ids stay held out night after night and the
    published model and a new one can be compared on rows neither was trained on."""
    if fraction <= 0:
        return np.zeros(len(ids), dtype=bool)
    cutoff = sample_cutoff(fraction)
    return np.fromiter((sample_hash(seed, i) < cutoff for i in ids), dtype=bool, count=len(ids))


def untrainable_reason(y: np.ndarray, folds: int) -> str | None:
    """Why a class cannot be cross-validated with `folds` stratified folds, or None."""
    positives = int(y.sum())
    negatives = int(len(y) - positives)
    if positives < folds:
        return f"{positives} positive messages, fewer than the {folds} cross-validation folds"
    if negatives < folds:
        return f"{negatives} negative messages, fewer than the {folds} cross-validation folds"
    return None


def _folds(folds: int, random_state: int) -> StratifiedKFold:
    return StratifiedKFold(n_splits=folds, shuffle=True, random_state=random_state)


def grid_search(X: np.ndarray, y: np.ndarray, *, param_grid: dict, folds: int, scoring: str, n_jobs: int, random_state: int) -> dict:
    """GridSearchCV over `param_grid` (LogisticRegression parameter -> values).

    Returns {"best_params", "best_score", "scoring", "table": one row per candidate}.
    """
    search = GridSearchCV(
        make_estimator({}, random_state),
        {f"model__{name}": list(values) for name, values in param_grid.items()},
        scoring=scoring,
        cv=_folds(folds, random_state),
        n_jobs=n_jobs,
        refit=False,
    )
    search.fit(X, y)
    results = search.cv_results_
    table = [
        {
            "params": {name.removeprefix("model__"): value for name, value in params.items()},
            "mean_score": float(results["mean_test_score"][i]),
            "std_score": float(results["std_test_score"][i]),
            "rank": int(results["rank_test_score"][i]),
            "fit_seconds": float(results["mean_fit_time"][i]),
        }
        for i, params in enumerate(results["params"])
    ]
    best = {name.removeprefix("model__"): value for name, value in search.best_params_.items()}
    return {"best_params": best, "best_score": float(search.best_score_), "scoring": scoring, "table": table}


def out_of_fold_scores(X: np.ndarray, y: np.ndarray, *, params: dict, folds: int, n_jobs: int, random_state: int) -> np.ndarray:
    """Probability of the class for every message, each predicted by a model that did not see it."""
    return cross_val_predict(make_estimator(params, random_state), X, y, cv=_folds(folds, random_state), method="predict_proba", n_jobs=n_jobs)[:, 1]


def choose_threshold(y: np.ndarray, scores: np.ndarray, *, policy: str, target: float | None = None) -> dict:
    """The decision threshold by `policy`, with the precision/recall/F1 it gives on (y, scores).

    max_f1: the threshold of highest F1. precision / recall: the lowest threshold whose
    precision reaches `target` (most recall), or the highest whose recall stays >= `target`.
    """
    if policy not in THRESHOLD_POLICIES:
        raise ValueError(f"threshold policy must be one of {THRESHOLD_POLICIES}, got {policy!r}")
    if policy != "max_f1" and (target is None or not 0.0 < target <= 1.0):
        raise ValueError(f"threshold policy {policy!r} needs a target in (0, 1], got {target!r}")
    precision, recall, thresholds = precision_recall_curve(y, scores)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(precision), where=(precision + recall) > 0)
    if policy == "max_f1":
        index = int(np.argmax(f1))
    elif policy == "precision":
        reaching = np.flatnonzero(precision >= target)
        index = int(reaching[0]) if len(reaching) else int(np.argmax(precision))
    else:
        reaching = np.flatnonzero(recall >= target)
        index = int(reaching[-1]) if len(reaching) else 0
    return {
        "threshold": float(thresholds[index]),
        "policy": policy,
        "target": target,
        "precision": float(precision[index]),
        "recall": float(recall[index]),
        "f1": float(f1[index]),
    }


def evaluate_scores(y: np.ndarray, scores: np.ndarray) -> dict:
    """ROC AUC and PR AUC (average precision) of scores against y."""
    return {"roc_auc": float(roc_auc_score(y, scores)), "pr_auc": float(average_precision_score(y, scores))}


def curves(y: np.ndarray, scores: np.ndarray, points: int = 200) -> dict:
    """ROC and precision/recall-vs-threshold curves, thinned to about `points` points, for plots."""
    fpr, tpr, _ = roc_curve(y, scores)
    precision, recall, thresholds = precision_recall_curve(y, scores)

    def thin(*arrays):
        step = max(1, len(arrays[0]) // points)
        return [a[::step].tolist() for a in arrays]

    fpr, tpr = thin(fpr, tpr)
    precision, recall, thresholds = thin(precision[:-1], recall[:-1], thresholds)
    return {"roc": {"fpr": fpr, "tpr": tpr}, "pr": {"threshold": thresholds, "precision": precision, "recall": recall}}


@dataclass(frozen=True)
class LinearClassifier:
    """A fitted model in LSI-feature space: logit = features @ coef_ + intercept_."""

    coef_: np.ndarray
    intercept_: float


def fit_final(X: np.ndarray, y: np.ndarray, *, params: dict, random_state: int) -> Pipeline:
    """The estimator with `params`, fitted on all rows."""
    return make_estimator(params, random_state).fit(X, y)


def linear_form(pipeline: Pipeline) -> LinearClassifier:
    """The fitted pipeline as one linear function of X: the standardisation folded into the weights."""
    scaler, model = pipeline.named_steps["scale"], pipeline.named_steps["model"]
    scale = np.where(scaler.scale_ == 0, 1.0, scaler.scale_)
    weights = model.coef_.ravel().astype(np.float64) / scale
    intercept = float(model.intercept_[0] - weights @ scaler.mean_)
    return LinearClassifier(coef_=weights, intercept_=intercept)


def fold_into_terms(classifier: LinearClassifier, basis: np.ndarray) -> np.ndarray:
    """Per-term weights: logit = tfidf_vector @ (basis @ coef_) + intercept_ (basis: terms x topics)."""
    return basis @ classifier.coef_


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """The logistic link, numerically stable for large |logit|: exp(-|x|) never overflows, and it
    is exp(-x) for x >= 0 (1 / (1 + e)) and exp(x) for x < 0 (e / (1 + e))."""
    logits = np.asarray(logits, dtype=np.float64)
    exp = np.exp(-np.abs(logits))
    return np.where(logits >= 0, 1.0 / (1.0 + exp), exp / (1.0 + exp))
