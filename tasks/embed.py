"""BuildDictionary -> FitTfidf -> FitLsi -> EmbedMessages: gensim models and LSI features, each checkpointed.

gensim and sortbox.embed are imported inside run(): loading gensim takes half a second, which a
no-op rerun of the whole DAG (every task already complete) should not pay.

gensim's save() writes side files next to the main one (large arrays as .npy), so every model is
saved into the task's temporary directory, which is renamed into place once.
"""

from __future__ import annotations

import logging

import numpy as np

from sortbox.checkpoint import iter_parquet_chunks, parquet_row_count, read_json, write_json
from tasks.base import Artifact, SortboxTask
from tasks.config import dictionary, lsi, training
from tasks.label import LabelMessages
from tasks.tokenize import TokenizeMessages

CHUNK_ROWS = 100_000
logger = logging.getLogger("luigi-interface")


def save_gensim(model, path) -> None:
    """gensim's save() without its lifecycle log, which records the time and the (temporary) file
    name: with it, the same model saved twice is two different files, and a rerun after a crash
    could not be checked byte for byte against a clean run."""
    for part in (model, getattr(model, "projection", None)):
        if part is not None:
            part.lifecycle_events = None
    model.save(str(path))


class GensimTask(SortboxTask):
    """A task that runs gensim: it is imported while the DAG is scheduled when the task will run
    (see SortboxTask.warm_up), once for every process forked to run such a task."""

    def warm_up(self) -> None:
        import gensim.models  # noqa: F401

        import sortbox.embed  # noqa: F401


class BuildDictionary(GensimTask):
    """Output: dictionary.gensim (term ids and document frequencies of the vocabulary's terms)."""

    reads = (dictionary,)
    artifacts = {"dictionary": Artifact("dictionary.gensim"), "summary": Artifact("summary.json", read_json)}

    def requires(self):
        return {"tokens": TokenizeMessages(**self.same_run())}

    def run(self):
        from sortbox.embed import build_dictionary

        vocabulary = self.read_input("tokens", "vocabulary")
        tokens = self.input_path("tokens", "tokens")
        counted = self.progress_between(0, 90, "dictionary: counted messages")
        total, done = parquet_row_count(tokens), 0

        def chunks():
            nonlocal done
            for chunk in iter_parquet_chunks(tokens, batch_size=CHUNK_ROWS, columns=["terms"]):
                yield chunk.column("terms")
                done += chunk.num_rows
                counted(done, total)

        result = build_dictionary(chunks(), vocabulary, no_above=dictionary().no_above, keep_n=dictionary().keep_n)
        with self.atomic_output() as out:
            save_gensim(result, out / self.artifact("dictionary"))
            write_json(out / self.artifact("summary"), {"terms": len(result), "messages": result.num_docs})
        self.report_progress(1, 1, f"dictionary: {len(result):,} terms saved")


class FitTfidf(GensimTask):
    """Output: tfidf.gensim (gensim TfidfModel from the dictionary's document frequencies)."""

    artifacts = {"tfidf": Artifact("tfidf.gensim")}

    def requires(self):
        return {"dictionary": BuildDictionary(**self.same_run())}

    def run(self):
        from gensim.corpora import Dictionary

        from sortbox.embed import fit_tfidf

        self.report_progress(0, 3, "TF-IDF: loading the dictionary")
        terms = Dictionary.load(str(self.input_path("dictionary", "dictionary")))
        self.report_progress(1, 3, f"TF-IDF: weighting {len(terms):,} terms")
        model = fit_tfidf(terms)
        self.report_progress(2, 3, "TF-IDF: saving")
        with self.atomic_output() as out:
            save_gensim(model, out / self.artifact("tfidf"))
        self.report_progress(3, 3, "TF-IDF: saved")


def load_tfidf_inputs(dictionary_dir, tfidf_dir):
    """The dictionary, its term -> id map and the idf vector."""
    from gensim.corpora import Dictionary
    from gensim.models import TfidfModel

    from sortbox.embed import idf_vector

    vocabulary = Dictionary.load(str(dictionary_dir / BuildDictionary.artifact("dictionary")))
    idf = idf_vector(TfidfModel.load(str(tfidf_dir / FitTfidf.artifact("tfidf"))), len(vocabulary))
    return vocabulary, vocabulary.token2id, idf


class FitLsi(GensimTask):
    """Output: lsi.gensim (+ side files): gensim LsiModel fitted on the TF-IDF corpus, streamed in sparse chunks."""

    reads = (lsi,)
    artifacts = {"lsi": Artifact("lsi.gensim"), "summary": Artifact("summary.json", read_json)}

    def requires(self):
        return {
            "tokens": TokenizeMessages(**self.same_run()),
            "dictionary": BuildDictionary(**self.same_run()),
            "tfidf": FitTfidf(**self.same_run()),
        }

    def run(self):
        from sortbox.embed import fit_lsi, lsi_basis, term_array, tfidf_arrow

        vocabulary, token2id, idf = load_tfidf_inputs(self.input_dir("dictionary"), self.input_dir("tfidf"))
        if lsi().num_topics > len(vocabulary):
            logger.warning(
                "[lsi] num_topics = %d is more than the %d terms of the vocabulary: the LSI has at most %d topics",
                lsi().num_topics,
                len(vocabulary),
                len(vocabulary),
            )
        total = parquet_row_count(self.input_path("tokens", "tokens"))
        done = 0
        # Half for the pass over the messages, half for the decomposition, which used to run at 100%.
        merged = self.progress_between(0, 50, "LSI: merged messages")

        def chunks():
            nonlocal done
            known = term_array(token2id)
            for chunk in iter_parquet_chunks(
                self.input_path("tokens", "tokens"), batch_size=lsi().chunk_size, columns=["terms"]
            ):
                yield tfidf_arrow(chunk.column("terms"), known, idf)
                done += chunk.num_rows
                merged(done, total)

        decomposed = self.progress_between(50, 99, "LSI: decomposition steps done")
        model = fit_lsi(
            chunks(),
            vocabulary,
            num_topics=lsi().num_topics,
            power_iters=lsi().power_iters,
            random_seed=lsi().seed,
            progress=decomposed,
        )
        with self.atomic_output() as out:
            save_gensim(model, out / self.artifact("lsi"))
            write_json(
                out / self.artifact("summary"), {"num_topics": int(lsi_basis(model).shape[1]), "terms": len(vocabulary)}
            )
        self.report_progress(1, 1, f"LSI: {lsi_basis(model).shape[1]} topics saved")


class EmbedMessages(GensimTask):
    """LSI features of the training sample (see `select.training_rows`: not held out, at least one
    known term, at most [training] max_rows by id hash).

    Output: features.npy (sample x topics, float32), rows.npy (each sample row's position in the
    tokens and labels tables), labels.parquet (the sample rows' label lists and truth cells, in
    the sample's order) and summary.json (how many messages were held out, had no known term, were
    eligible and were sampled). Two streaming passes over the tokens: one to choose the rows, one
    to project them, and one over the labels; memory stays flat however large the table is.

    The sample's labels are picked here, once: every class's grid-search folds, cross-validation
    and final fit read them, each (with `--workers N`) in a process of its own, and picking them
    from the whole labels table took each of those 24 tasks most of a second at 1M messages.
    """

    reads = ((training, ("holdout_fraction", "holdout_seed", "max_rows")),)
    artifacts = {
        "features": Artifact("features.npy"),
        "rows": Artifact("rows.npy"),
        "labels": Artifact("labels.parquet"),
        "summary": Artifact("summary.json", read_json),
    }

    def requires(self):
        return {
            "tokens": TokenizeMessages(**self.same_run()),
            "labels": LabelMessages(**self.same_run()),
            "dictionary": BuildDictionary(**self.same_run()),
            "tfidf": FitTfidf(**self.same_run()),
            "lsi": FitLsi(**self.same_run()),
        }

    def run(self):
        from gensim.models import LsiModel

        from sortbox.embed import lsi_basis, term_array
        from sortbox.training_sample import embed_training_sample, write_sample_labels

        config = training()
        _, token2id, idf = load_tfidf_inputs(self.input_dir("dictionary"), self.input_dir("tfidf"))
        basis = lsi_basis(LsiModel.load(str(self.input_path("lsi", "lsi"))))

        def progress(done: int, total: int) -> None:
            self.report_progress(done, total, f"projected the sampled messages among the first {done:,} of {total:,}")

        with self.atomic_output() as out:
            rows, summary = embed_training_sample(
                self.input_path("tokens", "tokens"),
                out / self.artifact("features"),
                known=term_array(token2id),
                idf=idf,
                basis=basis,
                holdout_fraction=config.holdout_fraction,
                holdout_seed=config.holdout_seed,
                max_rows=config.max_rows,
                chunk_rows=CHUNK_ROWS,
                progress=progress,
            )
            np.save(out / self.artifact("rows"), rows)
            labelled = write_sample_labels(
                self.input_path("labels", "labels"), rows, out / self.artifact("labels"), chunk_rows=CHUNK_ROWS
            )
            if labelled != len(rows):
                raise RuntimeError(f"{labelled:,} labels for the {len(rows):,} rows of the training sample")
            write_json(out / self.artifact("summary"), summary)
