"""BuildDictionary -> FitTfidf -> FitLsi -> EmbedMessages: gensim models and LSI features, each checkpointed.

gensim's save() writes side files next to the main one (large arrays as .npy), so every model is
saved into the task's temporary directory, which is renamed into place once.
"""
from __future__ import annotations

import numpy as np
from gensim.corpora import Dictionary
from gensim.models import LsiModel, TfidfModel

from sortbox.checkpoint import iter_parquet_chunks, parquet_row_count, read_json, write_json
from sortbox.embed import build_dictionary, fit_lsi, fit_tfidf, idf_vector, lsi_basis, project, tfidf_matrix
from tasks.base import SortboxTask
from tasks.config import dictionary, lsi
from tasks.tokenize import TokenizeMessages

DICTIONARY_FILE = "dictionary.gensim"
TFIDF_FILE = "tfidf.gensim"
LSI_FILE = "lsi.gensim"


def iter_terms(tokens_dir, batch_size: int):
    """Lists of terms of every message, a chunk at a time."""
    for chunk in iter_parquet_chunks(tokens_dir / "tokens.parquet", batch_size=batch_size, columns=["terms"]):
        yield chunk.column("terms").to_pylist()


class BuildDictionary(SortboxTask):
    """Output: dictionary.gensim (term ids and document frequencies of the vocabulary's terms)."""

    def requires(self):
        return {"tokens": TokenizeMessages(run_date=self.run_date)}

    def significant_config(self) -> dict:
        return {"no_above": dictionary().no_above, "keep_n": dictionary().keep_n}

    def run(self):
        vocabulary = read_json(self.input_dir("tokens") / "vocabulary.json")
        result = build_dictionary(iter_terms(self.input_dir("tokens"), 100_000), vocabulary, no_above=dictionary().no_above, keep_n=dictionary().keep_n)
        with self.atomic_output() as out:
            result.save(str(out / DICTIONARY_FILE))
            write_json(out / "summary.json", {"terms": len(result), "messages": result.num_docs})


class FitTfidf(SortboxTask):
    """Output: tfidf.gensim (gensim TfidfModel from the dictionary's document frequencies)."""

    def requires(self):
        return {"dictionary": BuildDictionary(run_date=self.run_date)}

    def run(self):
        model = fit_tfidf(Dictionary.load(str(self.input_dir("dictionary") / DICTIONARY_FILE)))
        with self.atomic_output() as out:
            model.save(str(out / TFIDF_FILE))


def load_tfidf_inputs(dictionary_dir, tfidf_dir):
    """The dictionary, its term -> id map and the idf vector."""
    vocabulary = Dictionary.load(str(dictionary_dir / DICTIONARY_FILE))
    idf = idf_vector(TfidfModel.load(str(tfidf_dir / TFIDF_FILE)), len(vocabulary))
    return vocabulary, vocabulary.token2id, idf


class FitLsi(SortboxTask):
    """Output: lsi.gensim (+ side files): gensim LsiModel fitted on the TF-IDF corpus, streamed in sparse chunks."""

    def requires(self):
        return {"tokens": TokenizeMessages(run_date=self.run_date), "dictionary": BuildDictionary(run_date=self.run_date), "tfidf": FitTfidf(run_date=self.run_date)}

    def significant_config(self) -> dict:
        return {"num_topics": lsi().num_topics, "power_iters": lsi().power_iters, "seed": lsi().seed}

    def run(self):
        vocabulary, token2id, idf = load_tfidf_inputs(self.input_dir("dictionary"), self.input_dir("tfidf"))
        total = parquet_row_count(self.input_dir("tokens") / "tokens.parquet")
        done = 0

        def chunks():
            nonlocal done
            for terms in iter_terms(self.input_dir("tokens"), lsi().chunk_size):
                yield tfidf_matrix(terms, token2id, idf)
                done += len(terms)
                self.report_progress(done, total, f"LSI: merged {done:,} of {total:,} messages")

        model = fit_lsi(chunks(), vocabulary, num_topics=lsi().num_topics, power_iters=lsi().power_iters, random_seed=lsi().seed)
        with self.atomic_output() as out:
            model.save(str(out / LSI_FILE))
            write_json(out / "summary.json", {"num_topics": int(lsi_basis(model).shape[1]), "terms": len(vocabulary)})


class EmbedMessages(SortboxTask):
    """Output: features.npy (messages x topics, float32, memory-mappable) and has_terms.npy
    (False for messages with no known term: their features are all zero)."""

    def requires(self):
        return {"tokens": TokenizeMessages(run_date=self.run_date), "dictionary": BuildDictionary(run_date=self.run_date), "tfidf": FitTfidf(run_date=self.run_date), "lsi": FitLsi(run_date=self.run_date)}

    def run(self):
        _, token2id, idf = load_tfidf_inputs(self.input_dir("dictionary"), self.input_dir("tfidf"))
        basis = lsi_basis(LsiModel.load(str(self.input_dir("lsi") / LSI_FILE)))
        total = parquet_row_count(self.input_dir("tokens") / "tokens.parquet")
        with self.atomic_output() as out:
            features = np.lib.format.open_memmap(out / "features.npy", mode="w+", dtype=np.float32, shape=(total, basis.shape[1]))
            has_terms = np.zeros(total, dtype=bool)
            start = 0
            for terms in iter_terms(self.input_dir("tokens"), 100_000):
                matrix = tfidf_matrix(terms, token2id, idf)
                features[start : start + len(terms)] = project(matrix, basis)
                has_terms[start : start + len(terms)] = np.diff(matrix.indptr) > 0
                start += len(terms)
                self.report_progress(start, total, f"projected {start:,} of {total:,} messages")
            features.flush()
            del features
            np.save(out / "has_terms.npy", has_terms)
