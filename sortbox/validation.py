"""A class's cross-validation figures (cv.json) from the grid search's out-of-fold scores: ROC and
PR AUC, their spread over the folds, the decision threshold, the curves; and the same figures
against the ground truth when the class was trained on rule labels and the truth knows it."""

from __future__ import annotations

import numpy as np

from sortbox.model_selection import choose_threshold, curves, evaluate_scores, fold_spread


def validation_figures(
    y: np.ndarray,
    scores: np.ndarray,
    *,
    truth: np.ndarray | None,
    best_params: dict,
    folds: int,
    seed: int,
    threshold_policy: str,
    threshold_target: float | None,
    measured_against: str,
    truth_column: str | None,
) -> dict:
    """cv.json of a class: `scores` are the out-of-fold probabilities of the training targets `y`;
    `truth` the targets from the label column (or None), judged too when it holds both kinds."""
    result = {
        "status": "validated",
        "best_params": best_params,
        "measured_against": measured_against,
        "positives": int(y.sum()),
        "messages": int(len(y)),
        **evaluate_scores(y, scores),
        "roc_auc_folds": fold_spread(y, scores, folds=folds, random_state=seed),
        "threshold": choose_threshold(y, scores, policy=threshold_policy, target=threshold_target),
        "curves": curves(y, scores),
    }
    if truth is not None and 0 < truth.sum() < len(truth):
        # Trained on rule labels, judged against the ground truth (when the truth knows the class).
        result["against_truth"] = {
            "measured_against": f"label column {truth_column}",
            "positives": int(truth.sum()),
            **evaluate_scores(truth, scores),
            "roc_auc_folds": fold_spread(truth, scores, folds=folds, random_state=seed),
        }
    return result
