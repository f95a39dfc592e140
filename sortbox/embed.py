"""Embedding: gensim Dictionary -> TF-IDF -> LSI, and the projection of messages into LSI space.

gensim is used for what it is good at (the vocabulary with document frequencies, the TF-IDF
weights, the LsiModel that carries the topics); the truncated SVD is computed here from the terms x
terms Gram matrix (see `fit_lsi`), and the projection is one sparse-times-dense product per chunk
instead of gensim's per-document path.
TF-IDF follows gensim's defaults exactly: raw term counts times log2(N / df), L2-normalised.
"""
from __future__ import annotations

from typing import Callable, Collection, Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from gensim.corpora import Dictionary
from gensim.models import LsiModel, TfidfModel
from gensim.models.lsimodel import Projection


def build_dictionary(
    token_chunks: Iterable[pa.ListArray | pa.ChunkedArray | Sequence[Sequence[str]]],
    vocabulary: Collection[str],
    *,
    no_above: float,
    keep_n: int,
) -> Dictionary:
    """A gensim Dictionary (term ids, document frequencies) over every message's terms.

    Keeps only terms of `vocabulary` (the tokenizer's frequent terms), then drops terms in more
    than `no_above` of the messages and keeps at most `keep_n` terms. The counting is vectorised
    over Arrow chunks (what `Dictionary.add_documents` does one Python list at a time); term ids
    follow the sorted vocabulary, so they do not depend on the order of the messages.
    """
    terms = sorted(set(vocabulary))
    known = pa.array(terms, type=pa.string())
    dfs = np.zeros(len(terms), dtype=np.int64)
    cfs = np.zeros(len(terms), dtype=np.int64)
    num_docs = num_pos = num_nnz = 0
    for chunk in token_chunks:
        chunk = _as_list_array(chunk)
        codes = pc.index_in(pc.list_flatten(chunk), value_set=known).to_numpy(zero_copy_only=False)
        parents = pc.list_parent_indices(chunk).to_numpy()
        num_docs += len(chunk)
        num_pos += len(codes)
        found = ~np.isnan(codes) if codes.dtype.kind == "f" else np.ones(len(codes), dtype=bool)
        codes, parents = codes[found].astype(np.int64), parents[found].astype(np.int64)
        pairs = np.sort(parents * len(terms) + codes)  # one (message, term) pair per message:
        pairs = pairs[np.concatenate((pairs[:1] == pairs[:1], pairs[1:] != pairs[:-1]))]  # 10x np.unique's hash
        num_nnz += len(pairs)
        cfs += np.bincount(codes, minlength=len(terms))
        dfs += np.bincount(pairs % max(len(terms), 1), minlength=len(terms))
    dictionary = Dictionary()
    present = np.flatnonzero(dfs)
    dictionary.token2id = {terms[i]: n for n, i in enumerate(present)}
    dictionary.dfs = {n: int(dfs[i]) for n, i in enumerate(present)}
    dictionary.cfs = {n: int(cfs[i]) for n, i in enumerate(present)}
    dictionary.num_docs, dictionary.num_pos, dictionary.num_nnz = num_docs, num_pos, num_nnz
    dictionary.filter_extremes(no_below=1, no_above=no_above, keep_n=keep_n)
    dictionary.compactify()
    if len(dictionary) == 0:
        raise ValueError("the vocabulary is empty: no term is frequent enough (lower [tokenize] min_word_frequency?)")
    return dictionary


def _as_list_array(chunk) -> pa.ListArray:
    if isinstance(chunk, pa.ChunkedArray):
        return chunk.combine_chunks()
    if isinstance(chunk, (pa.ListArray, pa.LargeListArray)):
        return chunk
    return pa.array(list(chunk), type=pa.list_(pa.string()))


def fit_tfidf(dictionary: Dictionary) -> TfidfModel:
    """gensim TF-IDF from the dictionary's document frequencies (no pass over the corpus needed)."""
    return TfidfModel(dictionary=dictionary, normalize=True)


def idf_vector(tfidf: TfidfModel, num_terms: int) -> np.ndarray:
    """The idf weight of every term id, as a dense float64 vector."""
    idf = np.zeros(num_terms, dtype=np.float64)
    for term_id, weight in tfidf.idfs.items():
        idf[term_id] = weight
    return idf


def has_known_term(terms: pa.ListArray | pa.ChunkedArray, known: pa.Array) -> np.ndarray:
    """True for each message (a list of terms) with at least one term in `known`."""
    if isinstance(terms, pa.ChunkedArray):
        terms = terms.combine_chunks()
    flat = pc.list_flatten(terms)
    parents = pc.list_parent_indices(terms).to_numpy()
    hit = pc.is_in(flat, value_set=known).to_numpy(zero_copy_only=False)
    return np.bincount(parents[hit], minlength=len(terms)) > 0


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


def term_array(token2id: dict[str, int]) -> pa.Array:
    """The dictionary's terms in id order, for `tfidf_arrow`."""
    terms = [""] * len(token2id)
    for term, index in token2id.items():
        terms[index] = term
    return pa.array(terms, type=pa.string())


def tfidf_arrow(terms: pa.ListArray | pa.ChunkedArray, known: pa.Array, idf: np.ndarray) -> sp.csr_matrix:
    """`tfidf_matrix` for an Arrow column of term lists, with no Python loop over the messages:
    `known` is `term_array(token2id)`; equal to `tfidf_matrix(terms.to_pylist(), token2id, idf)`."""
    terms = _as_list_array(terms)
    codes = pc.index_in(pc.list_flatten(terms), value_set=known)
    parents = pc.list_parent_indices(terms).to_numpy()
    found = pc.is_valid(codes).to_numpy(zero_copy_only=False)
    indices = codes.drop_null().to_numpy().astype(np.int64)
    indptr = np.zeros(len(terms) + 1, dtype=np.int64)
    np.cumsum(np.bincount(parents[found], minlength=len(terms)), out=indptr[1:])
    return tfidf_from_indices(indices, indptr, idf)


def tfidf_from_indices(indices: Sequence[int], indptr: Sequence[int], idf: np.ndarray) -> sp.csr_matrix:
    """TF-IDF rows from term indices in CSR layout (row r holds indices[indptr[r]:indptr[r+1]]):
    raw counts times idf, terms of idf 0 dropped (as gensim does), rows L2-normalised."""
    counts = sp.csr_matrix(
        (
            np.ones(len(indices), dtype=np.float64),
            np.asarray(indices, dtype=np.int64),
            np.asarray(indptr, dtype=np.int64),
        ),
        shape=(len(indptr) - 1, len(idf)),
    )
    counts.sum_duplicates()  # repeated terms become their count
    weighted = counts.multiply(idf).tocsr()
    weighted.eliminate_zeros()
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
    inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.csr_matrix(sp.diags(inverse) @ weighted)


def term_gram(tfidf_chunks: Iterable[sp.csr_matrix]) -> tuple[sp.csr_matrix, int]:
    """G = A^T A over the messages x terms TF-IDF matrix A, accumulated a chunk at a time, and the
    number of messages. Short messages make G very sparse (a term pair is stored only when the two
    terms share a message), so it stays small however many messages there are."""
    gram: sp.csr_matrix | None = None
    messages = 0
    for chunk in tfidf_chunks:
        messages += chunk.shape[0]
        part = sp.csr_matrix(chunk.T @ chunk)
        gram = part if gram is None else gram + part
    if gram is None:
        raise ValueError("LSI saw no message")
    return gram, messages


def top_eigenvectors(
    gram: sp.spmatrix,
    k: int,
    *,
    extra_dims: int,
    power_iters: int,
    random_seed: int,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The k leading eigenvectors (columns, m x k) and eigenvalues of a symmetric PSD matrix.

    Randomized subspace iteration (Halko, Martinsson & Tropp 2011) with k + extra_dims seeded
    Gaussian probes and `power_iters` extra products with the matrix; exact (dense eigh) when the
    probes would span the whole space anyway. Each column's largest entry is made positive so a
    sign flip inside LAPACK never changes the result. `progress(done, total)` is called after each
    product with the matrix (and once for the dense case).
    """
    report = progress or (lambda done, total: None)
    m = gram.shape[0]
    width = k + extra_dims
    if width >= m:
        values, vectors = np.linalg.eigh(gram.toarray() if sp.issparse(gram) else np.asarray(gram))
        report(1, 1)
    else:
        steps = power_iters + 2
        probes = np.random.default_rng(random_seed).standard_normal((m, width))
        basis, _ = np.linalg.qr(gram @ probes)
        report(1, steps)
        for step in range(power_iters):
            basis, _ = np.linalg.qr(gram @ basis)
            report(2 + step, steps)
        small = basis.T @ (gram @ basis)
        values, small_vectors = np.linalg.eigh((small + small.T) / 2)
        vectors = basis @ small_vectors
        report(steps, steps)
    order = np.argsort(values)[::-1][:k]
    values, vectors = np.clip(values[order], 0.0, None), vectors[:, order]
    signs = np.sign(vectors[np.abs(vectors).argmax(axis=0), np.arange(vectors.shape[1])])
    return vectors * np.where(signs == 0, 1.0, signs), values


def fit_lsi(
    tfidf_chunks: Iterable[sp.csr_matrix],
    dictionary: Dictionary,
    *,
    num_topics: int,
    power_iters: int,
    random_seed: int,
    extra_dims: int = 100,
    progress: Callable[[int, int], None] | None = None,
) -> LsiModel:
    """LSI of the TF-IDF corpus (chunks of messages x terms) as a gensim LsiModel.

    The term basis U and singular values s are those of the truncated SVD of the corpus, computed
    as the leading eigenvectors of the terms x terms matrix A^T A (one streaming pass to build it,
    then randomized subspace iteration on it) instead of gensim's merge of one randomized SVD per
    chunk: the same model up to the randomized approximation, many times faster on short messages,
    and independent of chunk boundaries. Topics whose singular value is numerically zero (a corpus
    of lower rank than `num_topics`) are dropped. `progress` follows the decomposition (see
    `top_eigenvectors`); the streaming pass is the caller's to follow (it owns the chunks).
    """
    gram, messages = term_gram(tfidf_chunks)
    if gram.nnz == 0:
        raise ValueError("LSI saw no message with a known term")
    vectors, values = top_eigenvectors(
        gram,
        min(num_topics, gram.shape[0]),
        extra_dims=extra_dims,
        power_iters=power_iters,
        random_seed=random_seed,
        progress=progress,
    )
    singular = np.sqrt(values)
    # Eigenvalues of A^T A carry rounding noise of about 1e-16 of the largest: anything below
    # 1e-10 of it is a direction the corpus does not have.
    keep = int(np.sum(values > values[0] * 1e-10))
    model = LsiModel(
        id2word=dictionary,
        num_topics=keep,
        power_iters=power_iters,
        extra_samples=extra_dims,
        random_seed=random_seed,
        dtype=np.float64,
    )
    model.projection = Projection(len(dictionary), keep, dtype=np.float64)
    model.projection.u, model.projection.s = vectors[:, :keep], singular[:keep]
    model.docs_processed = messages
    return model


def lsi_basis(model: LsiModel) -> np.ndarray:
    """The terms x topics projection basis U (gensim's unscaled `lsi[tfidf_vector]` is U^T x)."""
    return np.asarray(model.projection.u[:, : model.num_topics], dtype=np.float64)


def project(tfidf: sp.csr_matrix, basis: np.ndarray) -> np.ndarray:
    """LSI features of messages: one sparse x dense product, float32 result (messages x topics)."""
    return np.asarray(tfidf @ basis, dtype=np.float32)
