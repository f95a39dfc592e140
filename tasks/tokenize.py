"""TokenizeMessages: cleaned texts -> terms (stopwords dropped, Snowball stems), streamed by chunk."""

from __future__ import annotations

from sortbox.checkpoint import ParquetSink, iter_parquet_chunks, parquet_row_count, read_json, write_json
from sortbox.wordlists import load_stopwords
from tasks.base import Artifact, SortboxTask
from tasks.clean import CleanMessages
from tasks.config import source, tokenize


class TokenizeMessages(SortboxTask):
    """Output: tokens.parquet (id, terms), vocabulary.json (terms seen >= min_word_frequency times,
    with counts), surface_forms.json (word -> term, for the vocabulary), summary.json."""

    reads = (tokenize,)
    artifacts = {
        "tokens": Artifact("tokens.parquet"),
        "vocabulary": Artifact("vocabulary.json", read_json),
        "surface_forms": Artifact("surface_forms.json", read_json),
        "summary": Artifact("summary.json", read_json),
    }

    def requires(self):
        return {"clean": CleanMessages(**self.same_run())}

    def check_before_run(self) -> None:
        tokenize().check_stemmer()

    def config_extras(self) -> dict:
        config = tokenize()
        return {"stopwords": sorted(load_stopwords(config.stopwords_path(), config.language))}

    def run(self):
        from sortbox.tokenizer import TOKENS_SCHEMA, TermTally, Tokenizer, tokenize_chunk  # nltk: only when tokenising

        config = tokenize()
        tokenizer, tally = (
            Tokenizer(
                load_stopwords(config.stopwords_path(), config.language), language=config.language, stem=config.stem
            ),
            TermTally(),
        )
        clean = self.input_path("clean", "clean")
        total = parquet_row_count(clean)
        with self.atomic_output() as out:
            with ParquetSink(out / self.artifact("tokens"), TOKENS_SCHEMA) as sink:
                for chunk in iter_parquet_chunks(clean, batch_size=source().chunk_size, columns=["id", "text"]):
                    sink.write(tokenize_chunk(chunk, tokenizer, tally))
                    self.report_progress(sink.rows, total, f"tokenised {sink.rows:,} of {total:,} messages")
            vocabulary = tally.vocabulary(config.min_word_frequency)
            write_json(out / self.artifact("vocabulary"), vocabulary)
            write_json(out / self.artifact("surface_forms"), tally.surface_forms(vocabulary))
            write_json(
                out / self.artifact("summary"),
                {
                    "messages": sink.rows,
                    "distinct_terms": len(tally.term_counts),
                    "vocabulary": len(vocabulary),
                    "pattern": tokenizer.pattern,
                },
            )
