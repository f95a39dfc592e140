"""Model selection per class: grid search, out-of-fold scores, a decision threshold, the final fit.

The estimator is a logistic regression on the leading LSI features (optionally standardised):
linear from the TF-IDF vector to the logit, so it can be folded into one weight per term (see
`sortbox.linear.fold_into_terms`). Every random choice takes an explicit `random_state`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sortbox.linear import LinearClassifier

if TYPE_CHECKING:
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import Pipeline

# scikit-learn (and joblib, scipy.stats) are imported inside the functions that fit or score: the
# training tasks import this module, and a no-op rerun of the whole DAG should not pay ~0.5 s to
# load scikit-learn. What scoring, export and the embedding need lives apart, without it:
# sortbox.linear (LinearClassifier, fold_into_terms, sigmoid) and sortbox.sampling (holdout_mask,
# training_rows).

THRESHOLD_POLICIES = ("max_f1", "precision", "recall")


# Grid keys that are not LogisticRegression parameters: how many leading LSI components the model
# sees, and whether they are standardised first. Every other key goes to LogisticRegression.
SELECTION_KEYS = ("topics", "scale")
MAX_ITER = 2000


def leading_columns(X: np.ndarray, topics: int | None = None) -> np.ndarray:
    """The first `topics` columns of X (all of them when None): the leading k components of a
    500-topic LSI are the k-topic LSI, so k is a model parameter that costs no extra SVD."""
    return X if topics is None else X[:, :topics]


class CommonScale:
    """Divides every feature by one number, the root mean square of all features on the training
    rows: the LSI components keep their relative scale (a tail topic stays small, so the penalty
    keeps it small), while the solver sees values of order 1. Raw LSI features of L2-normalised
    TF-IDF vectors are of order 1/sqrt(topics), where lbfgs's gradient tolerance stops it long
    before the optimum; one common factor changes no model, only what a given C means."""

    def fit(self, X: np.ndarray, y=None) -> "CommonScale":
        rms = float(np.sqrt(np.mean(np.square(X, dtype=np.float64))))
        self.scale_ = rms if rms > 0 else 1.0
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return X / self.scale_

    def fit_transform(self, X: np.ndarray, y=None) -> np.ndarray:
        return self.fit(X).transform(X)

    def get_params(self, deep: bool = True) -> dict:
        return {}

    def set_params(self, **params) -> "CommonScale":
        return self


def split_params(params: dict) -> tuple[int | None, bool, dict]:
    """(topics, scale, LogisticRegression parameters) of one grid candidate. Without `scale` the
    LSI features keep their relative scale (see `CommonScale`): their variance already falls with
    the topic's singular value, and standardising each of them (`scale` true) gives the noisy
    tail the weight of the leading topics."""
    topics = params.get("topics")
    if topics is not None and (not isinstance(topics, int) or isinstance(topics, bool) or topics < 1):
        raise ValueError(f"grid parameter topics must be a positive integer, got {topics!r}")
    scale = params.get("scale", False)
    if not isinstance(scale, bool):
        raise ValueError(f"grid parameter scale must be true or false, got {scale!r}")
    return topics, scale, {k: v for k, v in params.items() if k not in SELECTION_KEYS}


def make_estimator(params: dict, random_state: int) -> Pipeline:
    """Leading `topics` columns -> standardisation when `scale`, else `CommonScale` ->
    LogisticRegression with the other keys of `params` (e.g. C, class_weight)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    topics, scale, model_params = split_params(params)
    # The grid may set max_iter.
    model = LogisticRegression(**{"max_iter": MAX_ITER, **model_params}, random_state=random_state)
    return Pipeline(
        [
            ("topics", FunctionTransformer(leading_columns, kw_args={"topics": topics})),
            ("scale", StandardScaler() if scale else CommonScale()),
            ("model", model),
        ]
    )


def class_target(label_lists: Sequence[Sequence[str]], class_name: str) -> np.ndarray:
    """1 where a message carries `class_name`, else 0."""
    return np.fromiter((class_name in labels for labels in label_lists), dtype=np.int8, count=len(label_lists))


def class_target_arrow(label_lists: pa.Array | pa.ChunkedArray, class_name: str) -> np.ndarray:
    """`class_target` of an Arrow column of label lists (a missing list carries no class), without
    making a Python list of every message's labels: 0.03 s instead of 0.8 s for 100,000 messages."""
    if isinstance(label_lists, pa.ChunkedArray):
        label_lists = label_lists.combine_chunks()
    y = np.zeros(len(label_lists), dtype=np.int8)
    carried = pc.equal(pc.list_flatten(label_lists), class_name).to_numpy(zero_copy_only=False)
    y[pc.list_parent_indices(label_lists).to_numpy()[carried]] = 1
    return y


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
    from sklearn.model_selection import StratifiedKFold

    return StratifiedKFold(n_splits=folds, shuffle=True, random_state=random_state)


def _fit_path(
    X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, path: list[dict], scorer, random_state: int
) -> list[tuple[float, np.ndarray, float]]:
    """Candidates that differ only in C, on one fold, in increasing C: the features (leading
    topics, standardisation) are prepared once, and each logistic regression starts from the
    previous candidate's solution (the regularisation path), which converges in far fewer
    iterations than a cold start and to the same optimum (within the solver's tolerance). Per
    candidate: its score on the fold, its probabilities there, and the seconds its fit took."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    topics, scale, _ = split_params(path[0])
    train_X, test_X = leading_columns(X[train], topics), leading_columns(X[test], topics)
    scaler = (StandardScaler() if scale else CommonScale()).fit(train_X)
    train_X, test_X = scaler.transform(train_X), scaler.transform(test_X)
    model = LogisticRegression(max_iter=MAX_ITER, random_state=random_state, warm_start=True)
    results = []
    for params in path:
        start = time.perf_counter()
        model.set_params(**split_params(params)[2]).fit(train_X, y[train])
        seconds = time.perf_counter() - start
        results.append((float(scorer(model, test_X, y[test])), model.predict_proba(test_X)[:, 1], seconds))
    return results


def selection_grid(param_grid: dict, small_data_param_grid: dict, rows: int, *, small_data_rows: int) -> dict:
    """The grid searched on `rows` training messages: `small_data_param_grid` up to
    `small_data_rows` messages, else `param_grid`. Few messages want stronger regularisation and
    LSI features at their relative scale (standardising them gives the noisy tail topics the
    weight of the leading ones), and every fit is cheap there; on many messages the standardised
    model scores as well and its solver converges in half the time (see README, Model quality)."""
    return small_data_param_grid if rows <= small_data_rows else param_grid


def selection_repeats(small_data_cv_repeats: int, rows: int, *, small_data_rows: int) -> int:
    """How many times the folds are drawn (with different shuffles) on `rows` training messages:
    `small_data_cv_repeats` up to `small_data_rows` messages, else once. On a few hundred messages
    one split's scores of neighbouring values of C differ by less than their noise, so the choice
    follows the split; the mean over several splits steadies it. Fits are cheap there; on many
    messages one split decides as well and the fits are the training's cost (see README, Model
    quality)."""
    return small_data_cv_repeats if rows <= small_data_rows else 1


def cv_splits(y: np.ndarray, *, folds: int, repeats: int, random_state: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The stratified folds of `repeats` shuffles, repetition r seeded `random_state + r`: the
    first repetition is the split `fold_spread` recomputes (the out-of-fold scores are its)."""
    return [
        split
        for repetition in range(repeats)
        for split in _folds(folds, random_state + repetition).split(np.zeros(len(y)), y)
    ]


def regularisation_paths(candidates: list[dict]) -> list[list[int]]:
    """Candidate indices grouped by everything but C, each group in increasing C."""
    groups: dict[str, list[int]] = {}
    for index, params in enumerate(candidates):
        key = repr(sorted((k, v) for k, v in params.items() if k != "C"))
        groups.setdefault(key, []).append(index)
    return [sorted(group, key=lambda i: candidates[i].get("C", 1.0)) for group in groups.values()]


@dataclass(frozen=True)
class SearchPlan:
    """What a grid search fits: the candidates, the (train, test) splits (`cv_splits`), the
    candidates grouped into regularisation paths, and the folds and repeats that made the splits.
    Computed from the labels alone, so a task that fits one split and the task that combines the
    splits compute the same plan."""

    candidates: list[dict]
    splits: list[tuple[np.ndarray, np.ndarray]]
    paths: list[list[int]]
    folds: int
    repeats: int


def search_plan(y: np.ndarray, *, param_grid: dict, folds: int, repeats: int, random_state: int) -> SearchPlan:
    """The grid search of `param_grid` on the stratified folds of `y` (drawn `repeats` times)."""
    from sklearn.model_selection import ParameterGrid

    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    candidates = list(ParameterGrid(param_grid))
    splits = cv_splits(y, folds=folds, repeats=repeats, random_state=random_state)
    return SearchPlan(candidates, splits, regularisation_paths(candidates), folds, repeats)


#: One candidate on one split: its score, its probabilities on the split's test rows, its fit seconds.
SplitResult = tuple[float, np.ndarray, float]


def fit_split(
    X: np.ndarray, y: np.ndarray, plan: SearchPlan, split: int, *, scoring: str, random_state: int, n_jobs: int = 1
) -> list[SplitResult]:
    """Every candidate of `plan` on its split number `split` (each regularisation path in turn,
    see `_fit_path`; `n_jobs` paths at once), in candidate order: the work of one grid-search
    task of one split."""
    from joblib import Parallel, delayed
    from sklearn.metrics import get_scorer

    scorer = get_scorer(scoring)
    train, test = plan.splits[split]
    done = Parallel(n_jobs=n_jobs)(
        delayed(_fit_path)(X, y, train, test, [plan.candidates[i] for i in path], scorer, random_state)
        for path in plan.paths
    )
    results: dict[int, SplitResult] = {}
    for path, path_results in zip(plan.paths, done):
        results.update(zip(path, path_results))
    return [results[i] for i in range(len(plan.candidates))]


def select_candidate(
    plan: SearchPlan, y: np.ndarray, runs: dict[tuple[int, int], SplitResult], *, scoring: str
) -> tuple[dict, np.ndarray]:
    """The best candidate of `plan` from every (candidate, split) result: the highest mean score
    over every split (the first of the best rank, as GridSearchCV picks), its out-of-fold
    probabilities on the first repetition's folds, and the table of all candidates."""
    from scipy.stats import rankdata

    candidates, splits = plan.candidates, plan.splits
    scores = np.array([[runs[i, f][0] for f in range(len(splits))] for i in range(len(candidates))])
    seconds = np.array([[runs[i, f][2] for f in range(len(splits))] for i in range(len(candidates))])
    means, stds = scores.mean(axis=1), scores.std(axis=1)
    ranks = rankdata(-means, method="min").astype(int)
    best = int(np.argmin(ranks))  # the first candidate of the best rank, as GridSearchCV picks
    out_of_fold = np.empty(len(y), dtype=np.float64)
    for fold, (_, test) in enumerate(splits[: plan.folds]):  # the first repetition covers every row once
        out_of_fold[test] = runs[best, fold][1]
    table = [
        {
            "params": dict(params),
            "mean_score": float(means[i]),
            "std_score": float(stds[i]),
            "rank": int(ranks[i]),
            "fit_seconds": float(seconds[i].mean()),
        }
        for i, params in enumerate(candidates)
    ]
    result = {
        "best_params": dict(candidates[best]),
        "best_score": float(means[best]),
        "scoring": scoring,
        "repeats": plan.repeats,
        "fold_scores": [float(s) for s in scores[best]],
        "edge_warning": edge_warning(candidates, best),
        "table": table,
    }
    return result, out_of_fold


def grid_search(
    X: np.ndarray,
    y: np.ndarray,
    *,
    param_grid: dict,
    folds: int,
    scoring: str,
    n_jobs: int,
    random_state: int,
    repeats: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict, np.ndarray]:
    """Every candidate of `param_grid` (LogisticRegression parameter -> values) on the same
    stratified folds, as GridSearchCV does, keeping each fold model's predictions. Candidates
    that differ only in C are fitted along the regularisation path (see `_fit_path`).

    With `repeats` > 1 the folds are drawn that many times with different shuffles (see
    `cv_splits`) and a candidate's score is its mean over every fold of every repetition (see
    `selection_repeats`).

    Returns ({"best_params", "best_score", "scoring", "repeats", "fold_scores" (the best
    candidate's score on each fold, repetition after repetition), "edge_warning" (see
    `edge_warning`; None when the best C is inside the grid), "table": one row per candidate},
    the best candidate's out-of-fold probabilities on the first repetition's folds): the
    threshold and the cross-validated figures come from the models the search already fitted, so
    no model is fitted twice. `progress(done, total)` is called as each (regularisation path,
    fold) job finishes. The same as `search_plan`, `fit_split` on every split and
    `select_candidate`, which the training tasks run as one task per split.
    """
    from joblib import Parallel, delayed
    from sklearn.metrics import get_scorer

    plan = search_plan(y, param_grid=param_grid, folds=folds, repeats=repeats, random_state=random_state)
    scorer = get_scorer(scoring)
    jobs = [(path, fold) for path in plan.paths for fold in range(len(plan.splits))]
    done = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_fit_path)(X, y, *plan.splits[fold], [plan.candidates[i] for i in path], scorer, random_state)
        for path, fold in jobs
    )
    runs: dict[tuple[int, int], SplitResult] = {}
    for number, ((path, fold), results) in enumerate(zip(jobs, done), start=1):
        for index, result in zip(path, results):
            runs[index, fold] = result
        if progress is not None:
            progress(number, len(jobs))
    return select_candidate(plan, y, runs, scoring=scoring)


def edge_warning(candidates: list[dict], best: int) -> str | None:
    """Why the best candidate's C may not be the best C there is, or None: it is the smallest or
    the largest C of its regularisation path (the candidates that differ from it only in C), so
    a value beyond the grid might score higher."""
    (path,) = [path for path in regularisation_paths(candidates) if best in path]
    values = sorted({candidates[i]["C"] for i in path if "C" in candidates[i]})
    chosen = candidates[best].get("C")
    if len(values) < 2 or chosen not in (values[0], values[-1]):
        return None
    side, beyond = (
        ("smallest", "smaller (stronger regularisation)")
        if chosen == values[0]
        else ("largest", "larger (weaker regularisation)")
    )
    return (
        f"best C = {chosen:g} is the {side} C of the grid ({values[0]:g} to {values[-1]:g}): a {beyond} C might "
        "score higher; widen the grid ([training] param_grid or small_data_param_grid)"
    )


def fold_spread(y: np.ndarray, scores: np.ndarray, *, folds: int, random_state: int) -> dict:
    """ROC AUC of `scores` against y within each of the grid search's folds (the same stratified
    splits, recomputed from y and the seed): mean, standard deviation, min and max. A fold
    without both classes in y is left out (its AUC is undefined)."""
    from sklearn.metrics import roc_auc_score

    per_fold = [
        float(roc_auc_score(y[test], scores[test]))
        for _, test in _folds(folds, random_state).split(np.zeros(len(y)), y)
        if 0 < y[test].sum() < len(test)
    ]
    if not per_fold:
        return {"folds": 0}
    return {
        "folds": len(per_fold),
        "mean": float(np.mean(per_fold)),
        "std": float(np.std(per_fold)),
        "min": min(per_fold),
        "max": max(per_fold),
    }


def choose_threshold(y: np.ndarray, scores: np.ndarray, *, policy: str, target: float | None = None) -> dict:
    """The decision threshold by `policy`, with the precision/recall/F1 it gives on (y, scores).

    max_f1: the threshold of highest F1. precision / recall: the lowest threshold whose
    precision reaches `target` (most recall), or the highest whose recall stays >= `target`.
    """
    if policy not in THRESHOLD_POLICIES:
        raise ValueError(f"threshold policy must be one of {THRESHOLD_POLICIES}, got {policy!r}")
    if policy != "max_f1" and (target is None or not 0.0 < target <= 1.0):
        raise ValueError(f"threshold policy {policy!r} needs a target in (0, 1], got {target!r}")
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(y, scores)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    f1 = np.divide(
        2 * precision * recall, precision + recall, out=np.zeros_like(precision), where=(precision + recall) > 0
    )
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
    from sklearn.metrics import average_precision_score, roc_auc_score

    return {"roc_auc": float(roc_auc_score(y, scores)), "pr_auc": float(average_precision_score(y, scores))}


def curves(y: np.ndarray, scores: np.ndarray, points: int = 200) -> dict:
    """ROC and precision/recall-vs-threshold curves, thinned to about `points` points, for plots."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    fpr, tpr, _ = roc_curve(y, scores)
    precision, recall, thresholds = precision_recall_curve(y, scores)

    def thin(*arrays):
        step = max(1, len(arrays[0]) // points)
        return [a[::step].tolist() for a in arrays]

    fpr, tpr = thin(fpr, tpr)
    precision, recall, thresholds = thin(precision[:-1], recall[:-1], thresholds)
    return {"roc": {"fpr": fpr, "tpr": tpr}, "pr": {"threshold": thresholds, "precision": precision, "recall": recall}}


def fit_final(X: np.ndarray, y: np.ndarray, *, params: dict, random_state: int) -> Pipeline:
    """The estimator with `params`, fitted on all rows."""
    return make_estimator(params, random_state).fit(X, y)


def linear_form(pipeline: Pipeline) -> LinearClassifier:
    """The fitted pipeline as one linear function of X (all its columns): the scaling folded into
    the weights, and weight 0 for the topics the model does not use."""
    model = pipeline.named_steps["model"]
    weights = model.coef_.ravel().astype(np.float64)
    intercept = float(model.intercept_[0])
    scaler = pipeline.named_steps["scale"]
    if isinstance(scaler, CommonScale):
        weights = weights / scaler.scale_
    else:
        scale = np.where(scaler.scale_ == 0, 1.0, scaler.scale_)
        weights = weights / scale
        intercept -= float(weights @ scaler.mean_)
    full = np.zeros(pipeline.n_features_in_, dtype=np.float64)
    full[: len(weights)] = weights
    return LinearClassifier(coef_=full, intercept_=intercept)
