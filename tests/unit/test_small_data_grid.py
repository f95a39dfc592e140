"""The default model on a small data set: its best regularisation is inside the default grid, and
whenever a best C is on the edge of a grid, the search says so and the report shows it."""

import configparser
import json

import numpy as np
import pytest

from sortbox.embed import build_dictionary, fit_lsi, fit_tfidf, idf_vector, lsi_basis, project, tfidf_matrix
from sortbox.model_selection import (
    class_target,
    grid_search,
    regularisation_paths,
    selection_grid,
    selection_repeats,
)
from sortbox.sample_data import read_sms_collection
from sortbox.sampling import training_rows
from sortbox.textnorm import TextCleaner, default_cleaning_spec
from sortbox.tokenizer import TermTally, Tokenizer
from sortbox.training_report import render_training_report
from sortbox.wordlists import load_stopwords
from tests.conftest import REPO_ROOT, SMS_TSV

SMALL = 600  # messages: a small labelled data set, as users start with


def shipped_selection(rows: int) -> tuple[dict, int, int]:
    """The grid GridSearch searches on `rows` messages with [training] as shipped in
    config/luigi.cfg (checked against the defaults of the luigi.Config class, so that the test
    judges what a user actually gets), the folds, and how many times they are drawn."""
    from tasks.config import training

    parser = configparser.ConfigParser()
    parser.read(REPO_ROOT / "config" / "luigi.cfg")
    section = parser["training"]
    shipped = (
        json.loads(section["param_grid"]),
        json.loads(section["small_data_param_grid"]),
        section.getint("small_data_rows"),
        section.getint("small_data_cv_repeats"),
        section.getint("folds"),
    )
    unfrozen = (
        json.loads(json.dumps(dict(training.param_grid._default))),
        json.loads(json.dumps(dict(training.small_data_param_grid._default))),
        training.small_data_rows._default,
        training.small_data_cv_repeats._default,
        training.folds._default,
    )
    assert shipped == unfrozen, "config/luigi.cfg and tasks.config.training disagree"
    large, small, small_data_rows, cv_repeats, folds = shipped
    grid = selection_grid(large, small, rows, small_data_rows=small_data_rows)
    return grid, folds, selection_repeats(cv_repeats, rows, small_data_rows=small_data_rows)


@pytest.fixture(scope="module")
def small_sms():
    """LSI features (sortbox's own stages, 500 topics as shipped) and ham/spam truth of SMALL
    messages of the SMS collection, chosen by id hash as sortbox samples."""
    pairs = list(read_sms_collection(SMS_TSV))
    keep = training_rows(
        [str(i) for i in range(len(pairs))],
        np.ones(len(pairs), dtype=bool),
        holdout_fraction=0.0,
        seed=0,
        max_rows=SMALL,
    )
    cleaner = TextCleaner(default_cleaning_spec())
    tokenizer = Tokenizer(load_stopwords(REPO_ROOT / "dictionaries" / "stopwords", "english"))
    tally = TermTally()
    documents = tokenizer.tokenize([cleaner.clean(pairs[i][1]) for i in keep], tally)
    dictionary = build_dictionary([documents], tally.vocabulary(2), no_above=0.5, keep_n=100_000)
    matrix = tfidf_matrix(documents, dictionary.token2id, idf_vector(fit_tfidf(dictionary), len(dictionary)))
    known = matrix.getnnz(axis=1) > 0
    X = project(matrix, lsi_basis(fit_lsi([matrix], dictionary, num_topics=500, power_iters=2, random_seed=0)))[known]
    return X, class_target([[pairs[i][0]] for i in keep[known]], "spam")


def on_edge(search: dict) -> bool:
    """Whether the best C is the smallest or largest C tried with the best candidate's other parameters."""
    candidates = [row["params"] for row in search["table"]]
    best = candidates.index(search["best_params"])
    (path,) = [p for p in regularisation_paths(candidates) if best in p]
    return len(path) > 1 and best in (path[0], path[-1])


def report_text(tmp_path, search: dict) -> str:
    cv = {
        "roc_auc": 0.9,
        "pr_auc": 0.8,
        "threshold": {
            "threshold": 0.5,
            "policy": "max_f1",
            "target": None,
            "precision": 0.9,
            "recall": 0.8,
            "f1": 0.85,
        },
        "curves": {
            "roc": {"fpr": [0.0, 1.0], "tpr": [0.0, 1.0]},
            "pr": {"threshold": [0.5], "precision": [0.9], "recall": [0.8]},
        },
    }
    classes = {"spam": {"status": "trained", "reason": None, "grid": {"status": "searched", **search}, "cv": cv}}
    return render_training_report(
        tmp_path, classes=classes, label_counts={"spam": 1}, messages=10, rule_report_href=None, run_info={}
    ).read_text(encoding="utf-8")


def test_default_model_on_small_data_keeps_its_best_c_inside_the_grid_or_says_so(small_sms, tmp_path):
    X, y = small_sms
    grid, folds, repeats = shipped_selection(len(y))
    search, _ = grid_search(
        X, y, param_grid=grid, folds=folds, scoring="roc_auc", n_jobs=1, random_state=0, repeats=repeats
    )
    # Said exactly when it is so, in grid.json (the search result is written as it is) and in the report.
    assert (search["edge_warning"] is not None) == on_edge(search), search
    assert ("edge of the grid" in report_text(tmp_path, search)) == on_edge(search)
    # The default grid is wide enough for a small data set: the models all sat on C's lower edge.
    assert not on_edge(search), search["edge_warning"]


def test_a_best_c_on_the_edge_is_always_said(small_sms, tmp_path):
    X, y = small_sms
    grid, folds, repeats = shipped_selection(len(y))
    two = {**grid, "C": sorted(grid["C"])[:2]}  # with two values of C, the best one is always on an edge
    search, _ = grid_search(
        X, y, param_grid=two, folds=folds, scoring="roc_auc", n_jobs=1, random_state=0, repeats=repeats
    )
    assert on_edge(search) and search["edge_warning"].startswith(f"best C = {search['best_params']['C']:g} is the")
    assert "Regularisation on the edge of the grid" in report_text(tmp_path, search)
