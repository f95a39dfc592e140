"""TokenizeShard (one per shard) -> TokenizeMessages: cleaned texts -> terms (stopwords dropped,
Snowball stems), streamed by chunk; the vocabulary of all shards."""

from __future__ import annotations

from sortbox.checkpoint import ParquetSink, iter_parquet_chunks, parquet_row_count, read_json, write_json
from sortbox.shards import concat_parquet
from sortbox.wordlists import load_stopwords
from tasks.base import Artifact
from tasks.clean import CleanShard
from tasks.config import source, tokenize
from tasks.extract import ShardedTask, ShardTask


class TokenizeShard(ShardTask):
    """One shard's cleaned texts tokenised. Output: tokens.parquet (id, terms), tally.json (every
    term's count and every surface form's term, for the vocabulary of all shards), summary.json."""

    reads = (tokenize,)
    artifacts = {
        "tokens": Artifact("tokens.parquet"),
        "tally": Artifact("tally.json", read_json),
        "summary": Artifact("summary.json", read_json),
    }

    def requires(self):
        return {"clean": CleanShard(**self.same_run(), shard=self.shard)}

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
                    self.report_progress(
                        sink.rows, total, f"shard {self.shard}: tokenised {sink.rows:,} of {total:,} messages"
                    )
            write_json(out / self.artifact("tally"), tally.to_json())
            write_json(out / self.artifact("summary"), {"messages": sink.rows, "pattern": tokenizer.pattern})


class TokenizeMessages(ShardedTask):
    """The shards' terms, shard after shard, and the vocabulary of them all. Output: tokens.parquet
    (id, terms), vocabulary.json (terms seen >= min_word_frequency times, with counts),
    surface_forms.json (word -> term, for the vocabulary), summary.json."""

    reads = (tokenize,)
    artifacts = {
        "tokens": Artifact("tokens.parquet"),
        "vocabulary": Artifact("vocabulary.json", read_json),
        "surface_forms": Artifact("surface_forms.json", read_json),
        "summary": Artifact("summary.json", read_json),
    }

    def requires(self):
        return {"shards": self.shard_tasks(TokenizeShard, **self.same_run())}

    def run(self):
        from sortbox.tokenizer import TOKENS_SCHEMA, TermTally

        tally = TermTally.merged(TermTally.from_json(part) for part in self.shard_json("tally"))
        vocabulary = tally.vocabulary(tokenize().min_word_frequency)
        parts = self.shard_json("summary")
        with self.atomic_output() as out:
            messages = concat_parquet(self.shard_paths("tokens"), out / self.artifact("tokens"), TOKENS_SCHEMA)
            write_json(out / self.artifact("vocabulary"), vocabulary)
            write_json(out / self.artifact("surface_forms"), tally.surface_forms(vocabulary))
            write_json(
                out / self.artifact("summary"),
                {
                    "messages": messages,
                    "distinct_terms": len(tally.term_counts),
                    "vocabulary": len(vocabulary),
                    "pattern": parts[0]["pattern"],
                },
            )
        self.report_progress(1, 1, f"{messages:,} messages, {len(vocabulary):,} terms in the vocabulary")
