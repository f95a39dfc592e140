"""Embedding: gensim Dictionary -> TF-IDF -> LSI, and the projection of messages into LSI space.

gensim is used for what it is good at (the vocabulary with document frequencies, the TF-IDF
weights, the randomized truncated SVD) and fed sparse matrices a chunk at a time; the projection
itself is one sparse-times-dense product per chunk instead of gensim's per-document path.
TF-IDF follows gensim's defaults exactly: raw term counts times log2(N / df), L2-normalised.
"""
from __future__ import annotations

from typing import Collection, Iterable, Sequence

import numpy as np
import scipy.sparse as sp
from gensim.corpora import Dictionary
from gensim.models import LsiModel, TfidfModel
from gensim.models.lsimodel import Projection


def build_dictionary(token_chunks: Iterable[Sequence[Sequence[str]]], vocabulary: Collection[str], *, no_above: float, keep_n: int) -> Dictionary:
    """A gensim Dictionary (term ids, document frequencies) over every message's terms.

    Keeps only terms of `vocabulary` (the tokenizer's frequent terms), then drops terms in more
    than `no_above` of the messages and keeps at most `keep_n` terms.
    """
    dictionary = Dictionary()
    for chunk in token_chunks:
        dictionary.add_documents(chunk, prune_at=None)
    wanted = set(vocabulary)
    dictionary.filter_tokens(bad_ids=[i for term, i in dictionary.token2id.items() if term not in wanted])
    dictionary.filter_extremes(no_below=1, no_above=no_above, keep_n=keep_n)
    dictionary.compactify()
    if len(dictionary) == 0:
        raise ValueError("the vocabulary is empty: no term is frequent enough (lower [tokenize] min_word_frequency?)")
    return dictionary


def fit_tfidf(dictionary: Dictionary) -> TfidfModel:
    """gensim TF-IDF from the dictionary's document frequencies (no pass over the corpus needed)."""
    return TfidfModel(dictionary=dictionary, normalize=True)


def idf_vector(tfidf: TfidfModel, num_terms: int) -> np.ndarray:
    """The idf weight of every term id, as a dense float64 vector."""
    idf = np.zeros(num_terms, dtype=np.float64)
    for term_id, weight in tfidf.idfs.items():
        idf[term_id] = weight
    return idf


def tfidf_matrix(documents: Sequence[Sequence[str]], token2id: dict[str, int], idf: np.ndarray) -> sp.csr_matrix:
    """Messages x terms TF-IDF matrix (float64, rows L2-normalised; unknown terms ignored).

    Equal to gensim's `tfidf[dictionary.doc2bow(doc)]` for every document; a message with no
    known term gives an all-zero row.
    """
    indptr = [0]
    indices: list[int] = []
    for doc in documents:
        ids = [token2id[t] for t in doc if t in token2id]
        indices.extend(ids)
        indptr.append(len(indices))
    return tfidf_from_indices(indices, indptr, idf)


def tfidf_from_indices(indices: Sequence[int], indptr: Sequence[int], idf: np.ndarray) -> sp.csr_matrix:
    """TF-IDF rows from term indices in CSR layout (row r holds indices[indptr[r]:indptr[r+1]]):
    raw counts times idf, terms of idf 0 dropped (as gensim does), rows L2-normalised."""
    counts = sp.csr_matrix(
        (np.ones(len(indices), dtype=np.float64), np.asarray(indices, dtype=np.int64), np.asarray(indptr, dtype=np.int64)),
        shape=(len(indptr) - 1, len(idf)),
    )
    counts.sum_duplicates()  # repeated terms become their count
    weighted = counts.multiply(idf).tocsr()
    weighted.eliminate_zeros()
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
    inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.csr_matrix(sp.diags(inverse) @ weighted)


def fit_lsi(tfidf_chunks: Iterable[sp.csr_matrix], dictionary: Dictionary, *, num_topics: int, power_iters: int, random_seed: int) -> LsiModel:
    """Fit LSI on TF-IDF chunks (messages x terms), each merged into the model as one sparse matrix."""
    model = LsiModel(id2word=dictionary, num_topics=num_topics, power_iters=power_iters, random_seed=random_seed, dtype=np.float64)
    for chunk in tfidf_chunks:
        if chunk.nnz:
            # What LsiModel.add_documents does with a sparse matrix, except that gensim 4.4 forgets
            # to pass random_seed there, which made two identical runs give different models.
            update = Projection(
                model.num_terms, model.num_topics, chunk.T.tocsc(),  # gensim wants terms x documents
                extra_dims=model.extra_samples, power_iters=power_iters, dtype=model.dtype, random_seed=random_seed,
            )
            model.projection.merge(update, decay=model.decay)
            model.docs_processed += chunk.shape[0]
    if model.projection.u is None:
        raise ValueError("LSI saw no message with a known term")
    return model


def lsi_basis(model: LsiModel) -> np.ndarray:
    """The terms x topics projection basis U (gensim's unscaled `lsi[tfidf_vector]` is U^T x)."""
    return np.asarray(model.projection.u[:, : model.num_topics], dtype=np.float64)


def project(tfidf: sp.csr_matrix, basis: np.ndarray) -> np.ndarray:
    """LSI features of messages: one sparse x dense product, float32 result (messages x topics)."""
    return np.asarray(tfidf @ basis, dtype=np.float32)
