"""Embedding (sortbox.embed) and model selection (sortbox.select) on tiny inputs."""
import numpy as np
import pytest
from gensim import matutils

from sortbox.embed import build_dictionary, fit_lsi, fit_tfidf, idf_vector, lsi_basis, project, tfidf_matrix
from sortbox.select import (
    choose_threshold,
    class_target,
    fit_final,
    fold_into_terms,
    linear_form,
    sigmoid,
    untrainable_reason,
)

DOCS = [["free", "prize", "call"], ["call", "me", "later"], ["free", "free", "entry"], ["love", "you"], ["prize", "entry", "call"]]


def fitted():
    dictionary = build_dictionary([DOCS[:2], DOCS[2:]], {"free", "prize", "call", "entry", "love", "you", "later"}, no_above=1.0, keep_n=100)
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
    [("median", None, "threshold policy must be one of"), ("precision", None, "needs a target"), ("recall", 1.5, "needs a target")],
)
def test_threshold_errors(policy, target, message):
    with pytest.raises(ValueError, match=message):
        choose_threshold(Y, SCORES, policy=policy, target=target)


def test_linear_form_reproduces_the_pipeline_and_folds_into_terms():
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(6, 3))
    tfidf = rng.random((40, 6))
    X = tfidf @ basis
    y = (X[:, 0] + rng.normal(scale=0.5, size=40) > 0).astype(int)
    pipeline = fit_final(X, y, params={"C": 1.0}, random_state=0)
    linear = linear_form(pipeline)
    np.testing.assert_allclose(sigmoid(X @ linear.coef_ + linear.intercept_), pipeline.predict_proba(X)[:, 1], atol=1e-12)
    per_term = fold_into_terms(linear, basis)
    np.testing.assert_allclose(tfidf @ per_term + linear.intercept_, pipeline.decision_function(X), atol=1e-10)


def test_sigmoid_is_stable():
    assert sigmoid(np.array([-1000.0, 0.0, 1000.0])).tolist() == [0.0, 0.5, 1.0]


def test_lsi_is_deterministic_for_a_seed():
    dictionary, _, idf = fitted()
    matrix = tfidf_matrix(DOCS, dictionary.token2id, idf)
    bases = [lsi_basis(fit_lsi([matrix[:3], matrix[3:]], dictionary, num_topics=2, power_iters=2, random_seed=7)) for _ in range(2)]
    assert np.array_equal(bases[0], bases[1])
