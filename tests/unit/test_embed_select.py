"""Embedding (sortbox.embed), model selection (sortbox.model_selection), the linear classifier (sortbox.linear)
and the training rows (sortbox.sampling) on tiny inputs."""
import numpy as np
import pyarrow as pa
import pytest
from gensim import matutils

from sortbox.embed import build_dictionary, fit_lsi, fit_tfidf, idf_vector, lsi_basis, project, tfidf_matrix
from sortbox.linear import fold_into_terms, sigmoid
from sortbox.model_selection import (
    choose_threshold,
    class_target,
    class_target_arrow,
    fit_final,
    linear_form,
    untrainable_reason,
)

DOCS = [
    ["free", "prize", "call"],
    ["call", "me", "later"],
    ["free", "free", "entry"],
    ["love", "you"],
    ["prize", "entry", "call"],
]


def fitted():
    dictionary = build_dictionary(
        [DOCS[:2], DOCS[2:]], {"free", "prize", "call", "entry", "love", "you", "later"}, no_above=1.0, keep_n=100
    )
    tfidf = fit_tfidf(dictionary)
    return dictionary, tfidf, idf_vector(tfidf, len(dictionary))


def test_dictionary_keeps_only_vocabulary_terms():
    dictionary, _, _ = fitted()
    assert "me" not in dictionary.token2id and dictionary.dfs[dictionary.token2id["call"]] == 3


def test_empty_vocabulary_is_a_clear_error():
    with pytest.raises(ValueError, match="vocabulary is empty"):
        build_dictionary([DOCS], set(), no_above=1.0, keep_n=10)


def test_tfidf_matrix_equals_gensim():
    dictionary, tfidf, idf = fitted()
    matrix = tfidf_matrix(DOCS + [["unknown"]], dictionary.token2id, idf)
    for row, doc in enumerate(DOCS):
        expected = matutils.sparse2full(tfidf[dictionary.doc2bow(doc)], len(dictionary))
        np.testing.assert_allclose(matrix[row].toarray().ravel(), expected, atol=1e-12)
    assert matrix[len(DOCS)].nnz == 0  # nothing known: an all-zero row


def test_projection_equals_gensim_lsi_up_to_float32():
    dictionary, tfidf, idf = fitted()
    matrix = tfidf_matrix(DOCS, dictionary.token2id, idf)
    model = fit_lsi([matrix[:2], matrix[2:]], dictionary, num_topics=2, power_iters=2, random_seed=0)
    features = project(matrix, lsi_basis(model))
    assert features.dtype == np.float32 and features.shape == (5, 2)
    expected = matutils.corpus2dense(model[tfidf[[dictionary.doc2bow(d) for d in DOCS]]], 2).T
    np.testing.assert_allclose(features, expected, atol=1e-6)  # float32 storage


@pytest.mark.parametrize(
    "positives, total, folds, reason",
    [(2, 100, 5, "2 positive messages, fewer than the 5"), (100, 100, 3, "0 negative messages"), (5, 100, 5, None)],
)
def test_untrainable_reason(positives, total, folds, reason):
    y = np.array([1] * positives + [0] * (total - positives))
    result = untrainable_reason(y, folds)
    assert result is None if reason is None else reason in result


def test_class_target():
    assert class_target([["spam"], [], ["personal", "spam"]], "spam").tolist() == [1, 0, 1]


@pytest.mark.parametrize(
    "label_lists, class_name, expected",
    [
        ([["spam"], [], ["personal", "spam"]], "spam", [1, 0, 1]),
        ([["spam"], [], ["personal", "spam"]], "personal", [0, 0, 1]),
        ([["spam"], None, ["spamx"], ["x", "spam", "y"]], "spam", [1, 0, 0, 1]),  # a missing list, a longer name
        ([], "spam", []),
    ],
)
@pytest.mark.parametrize("chunks", [1, 2])
def test_class_target_arrow_is_class_target(label_lists, class_name, expected, chunks):
    cut = len(label_lists) // 2
    parts = [label_lists] if chunks == 1 else [label_lists[:cut], label_lists[cut:]]
    column = pa.chunked_array([pa.array(part, pa.list_(pa.string())) for part in parts])
    assert class_target_arrow(column, class_name).tolist() == expected
    assert class_target_arrow(column, class_name).dtype == class_target([], class_name).dtype
    if None not in label_lists:
        assert class_target_arrow(column, class_name).tolist() == class_target(label_lists, class_name).tolist()


Y = np.array([0, 0, 0, 0, 1, 0, 1, 1, 1, 1])
SCORES = np.array([0.05, 0.1, 0.2, 0.3, 0.35, 0.4, 0.6, 0.7, 0.8, 0.9])


@pytest.mark.parametrize(
    "policy, target, threshold",
    [("max_f1", None, 0.35), ("precision", 1.0, 0.6), ("recall", 1.0, 0.35), ("precision", 0.8, 0.35)],
)
def test_threshold_policies(policy, target, threshold):
    chosen = choose_threshold(Y, SCORES, policy=policy, target=target)
    assert chosen["threshold"] == pytest.approx(threshold)
    assert 0 <= chosen["precision"] <= 1 and 0 <= chosen["recall"] <= 1


@pytest.mark.parametrize(
    "policy, target, message",
    [
        ("median", None, "threshold policy must be one of"),
        ("precision", None, "needs a target"),
        ("recall", 1.5, "needs a target"),
    ],
)
def test_threshold_errors(policy, target, message):
    with pytest.raises(ValueError, match=message):
        choose_threshold(Y, SCORES, policy=policy, target=target)


@pytest.mark.parametrize(
    "params", [{"C": 1.0, "scale": True}, {"C": 1.0}, {"C": 1.0, "topics": 2}, {"C": 10.0, "topics": 1, "scale": True}]
)
def test_linear_form_reproduces_the_pipeline_and_folds_into_terms(params):
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(6, 3))
    tfidf = rng.random((40, 6))
    X = tfidf @ basis
    y = (X[:, 0] + rng.normal(scale=0.5, size=40) > 0).astype(int)
    pipeline = fit_final(X, y, params=params, random_state=0)
    linear = linear_form(pipeline)
    assert linear.coef_.shape == (3,)  # one weight per LSI topic, 0 for the topics the model does not use
    assert np.all(linear.coef_[params.get("topics", 3):] == 0)
    np.testing.assert_allclose(
        sigmoid(X @ linear.coef_ + linear.intercept_), pipeline.predict_proba(X)[:, 1], atol=1e-12
    )
    per_term = fold_into_terms(linear, basis)
    np.testing.assert_allclose(tfidf @ per_term + linear.intercept_, pipeline.decision_function(X), atol=1e-10)


def test_leading_topics_are_the_first_columns_and_scaling_is_off_by_default():
    from sortbox.model_selection import leading_columns, make_estimator

    X = np.arange(12.0).reshape(3, 4)
    assert leading_columns(X, 2).tolist() == [[0, 1], [4, 5], [8, 9]] and leading_columns(X) is X
    steps = make_estimator({"C": 2.0}, 0).named_steps
    assert type(steps["scale"]).__name__ == "CommonScale" and steps["model"].C == 2.0
    assert type(make_estimator({"scale": True}, 0).named_steps["scale"]).__name__ == "StandardScaler"


@pytest.mark.parametrize(
    "params, message",
    [({"topics": 0}, "topics must be a positive integer"), ({"topics": 2.5}, "topics must be a positive integer"),
     ({"topics": True}, "topics must be a positive integer"), ({"scale": "yes"}, "scale must be true or false")],
)
def test_selection_parameter_errors(params, message):
    from sortbox.model_selection import split_params

    with pytest.raises(ValueError, match=message):
        split_params(params)


@pytest.mark.parametrize(
    "grid, best, warned",
    [
        ({"C": [0.1, 1.0, 10.0]}, {"C": 0.1}, "best C = 0.1 is the smallest C of the grid (0.1 to 10): a smaller"),
        ({"C": [0.1, 1.0, 10.0]}, {"C": 10.0}, "best C = 10 is the largest C of the grid (0.1 to 10): a larger"),
        ({"C": [0.1, 1.0, 10.0]}, {"C": 1.0}, None),
        ({"C": [1.0]}, {"C": 1.0}, None),  # nothing to choose from: no edge
        ({}, {}, None),
        # The edge is judged within the candidate's own path: C=1 is the largest C tried with 10 topics.
        ({"C": [0.1, 1.0, 10.0], "topics": [10, 50]}, {"C": 1.0, "topics": 10}, None),
        ({"C": [0.1, 1.0, 10.0], "topics": [10, 50]}, {"C": 0.1, "topics": 50}, "best C = 0.1 is the smallest"),
    ],
)
def test_edge_warning(grid, best, warned):
    from sklearn.model_selection import ParameterGrid

    from sortbox.model_selection import edge_warning

    candidates = list(ParameterGrid(grid))
    message = edge_warning(candidates, candidates.index(best))
    assert message == warned if warned is None else message.startswith(warned)


def test_fold_spread_is_the_auc_within_each_grid_search_fold():
    from sklearn.metrics import roc_auc_score

    from sortbox.model_selection import _folds, fold_spread

    rng = np.random.default_rng(2)
    y = (rng.random(60) < 0.3).astype(int)
    scores = y + rng.normal(scale=0.8, size=60)
    spread = fold_spread(y, scores, folds=3, random_state=0)
    per_fold = [roc_auc_score(y[test], scores[test]) for _, test in _folds(3, 0).split(np.zeros(60), y)]
    assert spread["folds"] == 3
    assert spread["mean"] == pytest.approx(np.mean(per_fold)) and spread["std"] == pytest.approx(np.std(per_fold))
    assert spread["min"] == min(per_fold) and spread["max"] == max(per_fold)


def test_sigmoid_is_stable():
    assert sigmoid(np.array([-1000.0, 0.0, 1000.0])).tolist() == [0.0, 0.5, 1.0]


def test_lsi_is_deterministic_for_a_seed():
    dictionary, _, idf = fitted()
    matrix = tfidf_matrix(DOCS, dictionary.token2id, idf)
    bases = [
        lsi_basis(fit_lsi([matrix[:3], matrix[3:]], dictionary, num_topics=2, power_iters=2, random_seed=7))
        for _ in range(2)
    ]
    assert np.array_equal(bases[0], bases[1])


def test_lsi_matches_the_exact_svd_on_the_randomized_path():
    # 300 messages x 120 terms with a decaying spectrum (as text has); 10 topics + 20 probes < 120
    # terms, so the randomized subspace iteration (not the dense fallback) is what is checked
    # against numpy's exact SVD.
    import scipy.sparse as sp
    from gensim.corpora import Dictionary

    rng = np.random.default_rng(3)
    left, _ = np.linalg.qr(rng.normal(size=(300, 120)))
    right, _ = np.linalg.qr(rng.normal(size=(120, 120)))
    dense = (left * 10 * 0.8 ** np.arange(120)) @ right.T
    matrix = sp.csr_matrix(dense)
    dictionary = Dictionary([[f"t{i}" for i in range(120)]])
    model = fit_lsi(
        [matrix[:150], matrix[150:]], dictionary, num_topics=10, power_iters=2, random_seed=0, extra_dims=20
    )
    _, singular, vt = np.linalg.svd(dense, full_matrices=False)
    np.testing.assert_allclose(model.projection.s, singular[:10], rtol=1e-6)
    overlap = np.abs(lsi_basis(model).T @ vt[:10].T)  # |cos| between matching topics
    np.testing.assert_allclose(np.diag(overlap), 1.0, atol=1e-5)


def test_lsi_drops_topics_beyond_the_rank_of_the_corpus():
    dictionary, _, idf = fitted()
    matrix = tfidf_matrix(DOCS[:2], dictionary.token2id, idf)  # two messages: rank 2
    model = fit_lsi([matrix], dictionary, num_topics=5, power_iters=2, random_seed=0)
    assert lsi_basis(model).shape == (len(dictionary), 2) and model.num_topics == 2


def test_lsi_does_not_depend_on_chunk_boundaries():
    dictionary, _, idf = fitted()
    matrix = tfidf_matrix(DOCS, dictionary.token2id, idf)
    one = lsi_basis(fit_lsi([matrix], dictionary, num_topics=2, power_iters=2, random_seed=7))
    three = lsi_basis(
        fit_lsi([matrix[:1], matrix[1:3], matrix[3:]], dictionary, num_topics=2, power_iters=2, random_seed=7)
    )
    np.testing.assert_allclose(one, three, atol=1e-12)


def test_lsi_of_no_known_term_is_a_clear_error():
    import scipy.sparse as sp

    dictionary, _, _ = fitted()
    with pytest.raises(ValueError, match="no message with a known term"):
        fit_lsi([sp.csr_matrix((3, len(dictionary)))], dictionary, num_topics=2, power_iters=2, random_seed=0)


def test_has_known_term():
    import pyarrow as pa

    from sortbox.embed import has_known_term

    terms = pa.array([["free", "zzz"], [], ["zzz"], ["call"]], type=pa.list_(pa.string()))
    assert has_known_term(terms, pa.array(["free", "call"])).tolist() == [True, False, False, True]


def test_training_rows_leave_out_held_out_and_termless_rows_and_cap_by_hash():
    from sortbox.sampling import holdout_mask, training_rows

    ids = [str(i) for i in range(1000)]
    has_terms = np.ones(1000, dtype=bool)
    has_terms[::7] = False
    held = holdout_mask(ids, fraction=0.2, seed=1)
    rows = training_rows(ids, has_terms, holdout_fraction=0.2, seed=1, max_rows=10_000)
    assert rows.tolist() == np.flatnonzero(has_terms & ~held).tolist()
    capped = training_rows(ids, has_terms, holdout_fraction=0.2, seed=1, max_rows=100)
    assert len(capped) == 100 and set(capped) <= set(rows) and np.all(np.diff(capped) > 0)
    # The sample follows the ids, not their order: shuffling the rows picks the same ids.
    order = np.random.default_rng(0).permutation(1000)
    shuffled = training_rows([ids[i] for i in order], has_terms[order], holdout_fraction=0.2, seed=1, max_rows=100)
    assert sorted(ids[order[i]] for i in shuffled) == sorted(ids[i] for i in capped)


@pytest.mark.parametrize(
    "has_terms, max_rows, message",
    [(np.ones(2, dtype=bool), 5, "3 ids but 2"), (np.ones(3, dtype=bool), 0, "max_rows must be at least 1")],
)
def test_training_rows_errors(has_terms, max_rows, message):
    from sortbox.sampling import training_rows

    with pytest.raises(ValueError, match=message):
        training_rows(["a", "b", "c"], has_terms, holdout_fraction=0.1, seed=0, max_rows=max_rows)


@pytest.mark.parametrize(
    "grid",
    [
        {"C": [0.01, 1.0], "class_weight": [None, "balanced"]},
        {"C": [0.1, 10.0], "topics": [2, 4], "scale": [False, True]},
    ],
)
def test_grid_search_agrees_with_cross_validating_each_candidate(grid):
    from sklearn.model_selection import ParameterGrid, StratifiedKFold, cross_val_predict, cross_val_score

    from sortbox.model_selection import grid_search, make_estimator

    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 4)) * [1.0, 0.5, 0.2, 0.1]
    y = (X[:, 0] + X[:, 2] + rng.normal(scale=1.0, size=120) > 0.5).astype(int)
    result, out_of_fold = grid_search(X, y, param_grid=grid, folds=3, scoring="roc_auc", n_jobs=1, random_state=0)
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    candidates = list(ParameterGrid(grid))
    reference = [cross_val_score(make_estimator(c, 0), X, y, cv=folds, scoring="roc_auc").mean() for c in candidates]
    # Warm starts along C reach the same optimum as cold starts within lbfgs's tolerance (1e-4).
    np.testing.assert_allclose([row["mean_score"] for row in result["table"]], reference, atol=1e-3)
    assert result["best_params"] == candidates[int(np.argmax(reference))]
    expected = cross_val_predict(make_estimator(result["best_params"], 0), X, y, cv=folds, method="predict_proba")[:, 1]
    np.testing.assert_allclose(out_of_fold, expected, atol=1e-3)
    best_row = next(row for row in result["table"] if row["params"] == result["best_params"])
    assert np.mean(result["fold_scores"]) == pytest.approx(best_row["mean_score"])


def test_repeated_folds_judge_each_candidate_by_its_mean_over_every_shuffle():
    from sklearn.model_selection import ParameterGrid, StratifiedKFold, cross_val_predict, cross_val_score

    from sortbox.model_selection import fold_spread, grid_search, make_estimator

    rng = np.random.default_rng(2)
    X = rng.normal(size=(90, 4)) * [1.0, 0.5, 0.2, 0.1]
    y = (X[:, 0] + X[:, 2] + rng.normal(scale=1.5, size=90) > 0.5).astype(int)
    grid = {"C": [0.001, 0.01, 0.1, 1.0, 10.0]}
    result, out_of_fold = grid_search(
        X, y, param_grid=grid, folds=3, scoring="roc_auc", n_jobs=1, random_state=5, repeats=3
    )
    shuffles = [StratifiedKFold(n_splits=3, shuffle=True, random_state=5 + r) for r in range(3)]
    candidates = list(ParameterGrid(grid))
    per_shuffle = np.array(
        [[cross_val_score(make_estimator(c, 0), X, y, cv=s, scoring="roc_auc") for s in shuffles] for c in candidates]
    )  # candidate x shuffle x fold
    reference = per_shuffle.mean(axis=(1, 2))
    np.testing.assert_allclose([row["mean_score"] for row in result["table"]], reference, atol=1e-3)
    assert result["best_params"] == candidates[int(np.argmax(reference))] and result["repeats"] == 3
    best = int(np.argmax(reference))
    np.testing.assert_allclose(result["fold_scores"], per_shuffle[best].ravel(), atol=1e-3)
    # The out-of-fold scores are the first shuffle's (each row scored once), the folds fold_spread recomputes.
    expected = cross_val_predict(make_estimator(result["best_params"], 0), X, y, cv=shuffles[0], method="predict_proba")
    np.testing.assert_allclose(out_of_fold, expected[:, 1], atol=1e-3)
    spread = fold_spread(y, out_of_fold, folds=3, random_state=5)
    np.testing.assert_allclose(spread["mean"], per_shuffle[best, 0].mean(), atol=1e-3)
    # One shuffle is the search as before; a repetition count below 1 is refused.
    once, _ = grid_search(X, y, param_grid=grid, folds=3, scoring="roc_auc", n_jobs=1, random_state=5)
    np.testing.assert_allclose(
        [row["mean_score"] for row in once["table"]], per_shuffle[:, 0].mean(axis=1), atol=1e-3
    )
    with pytest.raises(ValueError, match="repeats must be a positive integer"):
        grid_search(X, y, param_grid=grid, folds=3, scoring="roc_auc", n_jobs=1, random_state=5, repeats=0)


def test_regularisation_paths_group_by_all_but_c_in_increasing_c():
    from sortbox.model_selection import regularisation_paths

    candidates = [
        {"C": 10.0, "class_weight": None},
        {"C": 0.1, "class_weight": None},
        {"C": 1.0, "class_weight": "balanced"},
        {"C": 0.1, "class_weight": "balanced"},
    ]
    assert sorted(regularisation_paths(candidates)) == [[1, 0], [3, 2]]
    assert regularisation_paths([{"penalty": "l2"}]) == [[0]]


def test_npy_row_writer_streams_blocks_and_checks_the_shape(tmp_path):
    from sortbox.checkpoint import NpyRowWriter

    with NpyRowWriter(tmp_path / "a.npy", rows=5, columns=2) as writer:
        writer.write(np.arange(6).reshape(3, 2))
        writer.write(np.arange(4).reshape(2, 2))
    loaded = np.load(tmp_path / "a.npy")
    assert loaded.dtype == np.float32 and loaded.tolist() == [[0, 1], [2, 3], [4, 5], [0, 1], [2, 3]]
    with pytest.raises(ValueError, match="does not fit"):
        with NpyRowWriter(tmp_path / "b.npy", rows=1, columns=2) as writer:
            writer.write(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="1 rows written, 2 declared"):
        with NpyRowWriter(tmp_path / "c.npy", rows=2, columns=2) as writer:
            writer.write(np.zeros((1, 2)))


def test_dictionary_equals_gensims_add_documents_and_filter_extremes():
    import pyarrow as pa
    from gensim.corpora import Dictionary

    vocabulary = {"free", "prize", "call", "entry", "love", "you", "later"}
    ours = build_dictionary(
        [pa.array(DOCS[:2], type=pa.list_(pa.string())), DOCS[2:]], vocabulary, no_above=0.5, keep_n=3
    )
    reference = Dictionary(DOCS)
    reference.filter_tokens(bad_ids=[i for term, i in reference.token2id.items() if term not in vocabulary])
    reference.filter_extremes(no_below=1, no_above=0.5, keep_n=3)
    assert {t: ours.dfs[i] for t, i in ours.token2id.items()} == {
        t: reference.dfs[i] for t, i in reference.token2id.items()
    }
    assert ours.num_docs == reference.num_docs == 5


def test_tfidf_arrow_equals_tfidf_matrix():
    import pyarrow as pa

    from sortbox.embed import term_array, tfidf_arrow

    dictionary, _, idf = fitted()
    docs = DOCS + [["unknown"], [], ["free", "unknown", "free"]]
    expected = tfidf_matrix(docs, dictionary.token2id, idf)
    got = tfidf_arrow(
        pa.chunked_array(
            [pa.array(docs[:3], type=pa.list_(pa.string())), pa.array(docs[3:], type=pa.list_(pa.string()))]
        ),
        term_array(dictionary.token2id),
        idf,
    )
    assert got.shape == expected.shape and abs(got - expected).max() < 1e-15


@pytest.mark.parametrize("rows, expected", [(1, "small"), (30_000, "small"), (30_001, "large")])
def test_selection_grid_follows_the_number_of_training_messages(rows, expected):
    from sortbox.model_selection import selection_grid

    grids = {"small": {"C": [0.001, 0.01]}, "large": {"C": [0.1, 1.0], "scale": [True]}}
    assert selection_grid(grids["large"], grids["small"], rows, small_data_rows=30_000) == grids[expected]


@pytest.mark.parametrize("rows, expected", [(1, 3), (30_000, 3), (30_001, 1)])
def test_folds_are_drawn_repeatedly_on_small_data_only(rows, expected):
    from sortbox.model_selection import selection_repeats

    assert selection_repeats(3, rows, small_data_rows=30_000) == expected
