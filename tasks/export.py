"""ExportModelJson (the published model) and ScoreMessages (scores.csv + unscorable.csv)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import luigi

from sortbox.checkpoint import iter_parquet_chunks, parquet_row_count, read_json, write_json
from sortbox.clean import iter_clean_chunks, iter_cleaned_checkpoint, same_cleaning
from sortbox.export import build_model, model_json_bytes
from sortbox.model_file import read_model_file
from sortbox.portable_scorer import CsvWriter, csv_safe
from sortbox.publish import release_models
from sortbox.scoring import ModelSet, scores_table, unscorable_rows
from sortbox.wordlists import DEFAULT_TOKEN_PATTERN, load_stopwords
from tasks.base import Artifact, SortboxTask
from tasks.clean import CleanMessages
from tasks.config import cleaning, source, tokenize
from tasks.embed import BuildDictionary, FitLsi, FitTfidf, load_tfidf_inputs
from tasks.extract import ExtractMessages
from tasks.tokenize import TokenizeMessages
from tasks.train import FitClassifier, TrainClassifiers


class ExportModelJson(SortboxTask):
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

    def run(self):
        from gensim.models import LsiModel  # here, not at the top: see tasks/embed.py

        from sortbox.embed import lsi_basis

        self.report_progress(0, 4, "model JSON: loading the dictionary, TF-IDF and classifiers")
        vocabulary, _, idf = load_tfidf_inputs(self.input_dir("dictionary"), self.input_dir("tfidf"))
        classes = self.read_input("classes", "classes")
        classifiers = {name: read_json(Path(entry["classifier_dir"]) / FitClassifier.artifact("classifier")) for name, entry in classes.items()}
        options = cleaning().options()
        self.report_progress(1, 4, f"model JSON: folding {len(classifiers)} classifiers into {len(vocabulary):,} term weights")
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


def file_digest(path: str) -> str:
    """sha256 of a file's bytes, or of every file of a directory (a release)."""
    path = Path(path)
    if not path.is_dir():
        with open(path, "rb") as handle:  # streamed: the file may be any size (it is checked later)
            return hashlib.file_digest(handle, "sha256").hexdigest()
    digest = hashlib.sha256()
    for child in sorted(path.iterdir()):
        digest.update(child.name.encode() + b"\0" + child.read_bytes())
    return digest.hexdigest()


def load_models(path: Path) -> list[dict]:
    """The model JSON at `path`, or every class model of a release directory, each checked
    (sortbox.model_file): a bad file is one ModelFileError line naming it."""
    if path.is_dir():
        return list(release_models(path).values())
    return [read_model_file(path)]


class NothingScorable(ValueError):
    """Every row was unscorable: almost certainly the wrong table, window or model."""


class ScoreMessages(SortboxTask):
    """Output: scores.csv (id, <class>_score, <class>_decision), unscorable.csv (id, reason), summary.json.

    Every extracted row lands in exactly one of the two files. Cleaning and quarantine follow the
    model's own settings, so a published model scores new rows as it was trained.
    `model_json`: a published model file or release directory; empty means this run's export.
    `since`/`until`: a window overriding [source] since/until (e.g. the day to score).
    """

    artifacts = {
        "scores": Artifact("scores.csv"),
        "unscorable": Artifact("unscorable.csv"),
        "summary": Artifact("summary.json", read_json),
    }

    model_json = luigi.Parameter(default="", description="Published model JSON or release directory (empty: this run's export).")
    since = luigi.OptionalParameter(default=None, description="Score rows with timestamp >= since (overrides [source]).")
    until = luigi.OptionalParameter(default=None, description="Score rows with timestamp < until (overrides [source]).")

    def requires(self):
        inputs = {"messages": ExtractMessages(**self.same_run(), since=self.since, until=self.until)}
        if not self.model_json:
            inputs["model"] = ExportModelJson(**self.same_run())
            if self.since is None and self.until is None:
                # The run's own model on the run's own rows: CleanMessages has already cleaned them
                # exactly as the model does (checked in run()), so they are not cleaned again.
                inputs["clean"] = CleanMessages(**self.same_run())
        return inputs

    def content_fingerprint(self) -> str:
        return file_digest(self.model_json) if self.model_json else ""

    def model_path(self) -> Path:
        return Path(self.model_json) if self.model_json else self.input_path("model", "model")

    def cleaned(self, model: ModelSet, messages: Path):
        """The extracted rows cleaned by the model's settings: read back from CleanMessages when
        it cleaned them alike, cleaned here otherwise (a published model, another window)."""
        size = source().chunk_size
        if "clean" in self.input() and same_cleaning(model.cleaning_options(), cleaning().options()):
            return iter_cleaned_checkpoint(iter_parquet_chunks(self.input_path("clean", "clean"), batch_size=size), iter_parquet_chunks(self.input_path("clean", "quarantine"), batch_size=size))
        return iter_clean_chunks(iter_parquet_chunks(messages, batch_size=size), model.cleaning_options())

    def run(self):
        model = ModelSet(load_models(self.model_path()))
        messages = self.input_path("messages", "messages")
        total = parquet_row_count(messages)
        scored = unscorable = 0
        reasons: dict[str, int] = {}
        with self.atomic_output() as out, open(out / self.artifact("scores"), "w", newline="", encoding="utf-8") as scores_file, open(out / self.artifact("unscorable"), "w", newline="", encoding="utf-8") as unscorable_file:
            scores_csv, unscorable_csv = CsvWriter(scores_file), CsvWriter(unscorable_file)
            scores_csv.writerow(model.header())
            unscorable_csv.writerow(["id", "reason"])
            for result in self.cleaned(model, messages):
                ids = result.clean.column("id").to_pylist()
                probabilities, known = model.score(result.clean.column("text").to_pylist())
                scores_csv.writerows(scores_table(model, [i for i, k in zip(ids, known) if k], probabilities[known]))
                rows = unscorable_rows(result.quarantine) + [[csv_safe(i), "no_known_term"] for i, k in zip(ids, known) if not k]
                unscorable_csv.writerows(rows)
                for _, reason in rows:
                    reasons[reason] = reasons.get(reason, 0) + 1
                scored += int(known.sum())
                unscorable += len(rows)
                self.report_progress(scored + unscorable, total, f"scored {scored:,}, unscorable {unscorable:,} of {total:,}")
            if scored + unscorable != total:
                raise RuntimeError(f"scoring lost rows: {total} extracted, {scored} scored + {unscorable} unscorable")
            if scored == 0:
                raise NothingScorable(f"none of the {total:,} rows could be scored: {dict(sorted(reasons.items()))}")
            summary = {"model_id": model.model_ids[0] if len(model.model_ids) == 1 else model.model_ids, "extracted": total, "scored": scored, "unscorable": unscorable, "unscorable_reasons": dict(sorted(reasons.items()))}
            write_json(out / self.artifact("summary"), summary)
