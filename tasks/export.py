"""ExportModelJson: the published model (scoring with it: tasks/score.py)."""

from __future__ import annotations

from pathlib import Path

from sortbox.checkpoint import read_json
from sortbox.export import build_model, model_json_bytes
from sortbox.model_file import read_model_file
from sortbox.textnorm import removed_ranges
from sortbox.unicode_tables import build_unicode_tables
from sortbox.wordlists import DEFAULT_TOKEN_PATTERN, load_stopwords
from tasks.base import Artifact
from tasks.config import cleaning, tokenize
from tasks.embed import BuildDictionary, FitLsi, FitTfidf, GensimTask, load_tfidf_inputs
from tasks.tokenize import TokenizeMessages
from tasks.train import FitClassifier, TrainClassifiers


class ExportModelJson(GensimTask):
    """Output: model.json, byte-identical for the same data and parameters. It holds no row of the
    table: its golden vectors are made up from the vocabulary (sortbox.export)."""

    reads = (cleaning, (tokenize, ("language", "stem")))
    artifacts = {"model": Artifact("model.json", read_model_file)}

    def requires(self):
        return {
            "tokens": TokenizeMessages(**self.same_run()),
            "dictionary": BuildDictionary(**self.same_run()),
            "tfidf": FitTfidf(**self.same_run()),
            "lsi": FitLsi(**self.same_run()),
            "classes": TrainClassifiers(**self.same_run()),
        }

    def warm_up(self) -> None:
        super().warm_up()
        removed_ranges()
        build_unicode_tables(cleaning().unicode_normalization)

    def run(self):
        from gensim.models import LsiModel  # here, not at the top: see tasks/embed.py

        from sortbox.embed import lsi_basis

        self.report_progress(0, 4, "model JSON: loading the dictionary, TF-IDF and classifiers")
        vocabulary, _, idf = load_tfidf_inputs(self.input_dir("dictionary"), self.input_dir("tfidf"))
        classes = self.read_input("classes", "classes")
        classifiers = {
            name: read_json(Path(entry["classifier_dir"]) / FitClassifier.artifact("classifier"))
            for name, entry in classes.items()
        }
        options = cleaning().options()
        self.report_progress(
            1, 4, f"model JSON: folding {len(classifiers)} classifiers into {len(vocabulary):,} term weights"
        )
        model = build_model(
            run_date=self.run_date.isoformat(),
            cleaning_spec=options.spec,
            max_chars=options.max_chars,
            quarantine_controls=options.quarantine_control_characters,
            token_pattern=DEFAULT_TOKEN_PATTERN,
            stopwords=load_stopwords(tokenize().stopwords_path(), tokenize().language),
            stemmer=f"snowball-{tokenize().language}" if tokenize().stem else None,
            vocabulary=[vocabulary[i] for i in range(len(vocabulary))],
            surface_forms=self.read_input("tokens", "surface_forms"),
            idf=idf,
            basis=lsi_basis(LsiModel.load(str(self.input_path("lsi", "lsi")))),
            classifiers=classifiers,
        )
        self.report_progress(2, 4, "model JSON: writing")
        with self.atomic_output() as out:
            (out / self.artifact("model")).write_bytes(model_json_bytes(model))
            self.report_progress(3, 4, "model JSON: written")
        self.report_progress(4, 4, "model JSON: done")
