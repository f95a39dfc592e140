"""ScoreShard (one per shard) -> ScoreMessages: every extracted row into scores.csv or
unscorable.csv (sortbox.score_files)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import luigi

from sortbox.checkpoint import iter_parquet_chunks, parquet_row_count, read_json, write_json
from sortbox.clean import iter_clean_chunks, iter_cleaned_checkpoint, same_cleaning
from sortbox.model_file import read_model_file
from sortbox.publish import release_models
from sortbox.score_files import NothingScorable, combine_summaries, concat_csv_files, write_score_files
from sortbox.scoring import ModelSet
from sortbox.textnorm import removed_ranges
from tasks.base import Artifact, SortboxTask
from tasks.clean import CleanShard
from tasks.config import cleaning, source
from tasks.export import ExportModelJson
from tasks.extract import ExtractMessages, ExtractShard, ShardedTask, ShardTask

__all__ = ["NothingScorable", "ScoreMessages", "ScoreShard", "file_digest", "load_models"]


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


class ScoringTask(SortboxTask):
    """The parameters of a scoring and the model it scores with.

    `model_json`: a published model file or release directory; empty means this run's export.
    `since`/`until`: a window overriding [source] since/until (e.g. the day to score).
    """

    model_json = luigi.Parameter(
        default="", description="Published model JSON or release directory (empty: this run's export)."
    )
    since = luigi.OptionalParameter(
        default=None, description="Score rows with timestamp >= since (overrides [source])."
    )
    until = luigi.OptionalParameter(default=None, description="Score rows with timestamp < until (overrides [source]).")

    def same_scoring(self) -> dict:
        return {**self.same_run(), "model_json": self.model_json, "since": self.since, "until": self.until}

    def own_model(self) -> dict:
        """The input "model" (this run's export) when no model file is given."""
        return {} if self.model_json else {"model": ExportModelJson(**self.same_run())}

    def content_fingerprint(self) -> str:
        return file_digest(self.model_json) if self.model_json else ""

    def model_path(self) -> Path:
        return Path(self.model_json) if self.model_json else self.input_path("model", "model")


class ScoreShard(ShardTask, ScoringTask):
    """One shard's extracted rows scored: each lands in scores.csv or unscorable.csv. Cleaning and
    quarantine follow the model's own settings, so a published model scores new rows as it was
    trained. Output: scores.csv, unscorable.csv, summary.json (a shard may score no row)."""

    artifacts = {
        "scores": Artifact("scores.csv"),
        "unscorable": Artifact("unscorable.csv"),
        "summary": Artifact("summary.json", read_json),
    }

    def warm_up(self) -> None:
        removed_ranges()  # the cleaning's Unicode ranges (0.15 s), once for every shard's process

    def requires(self):
        inputs = {
            "messages": ExtractShard(**self.same_run(), since=self.since, until=self.until, shard=self.shard),
            **self.own_model(),
        }
        if not self.model_json and self.since is None and self.until is None:
            # The run's own model on the run's own rows: CleanShard has already cleaned them
            # exactly as the model does (checked in run()), so they are not cleaned again.
            inputs["clean"] = CleanShard(**self.same_run(), shard=self.shard)
        return inputs

    def cleaned(self, model: ModelSet, messages: Path):
        """The extracted rows cleaned by the model's settings: read back from CleanShard when it
        cleaned them alike, cleaned here otherwise (a published model, another window)."""
        size = source().chunk_size
        if "clean" in self.requires() and same_cleaning(model.cleaning_options(), cleaning().options()):
            return iter_cleaned_checkpoint(
                iter_parquet_chunks(self.input_path("clean", "clean"), batch_size=size),
                iter_parquet_chunks(self.input_path("clean", "quarantine"), batch_size=size),
            )
        return iter_clean_chunks(iter_parquet_chunks(messages, batch_size=size), model.cleaning_options())

    def run(self):
        model = ModelSet(load_models(self.model_path()))
        messages = self.input_path("messages", "messages")
        total = parquet_row_count(messages)

        def on_chunk(scored: int, unscorable: int) -> None:
            self.report_progress(
                scored + unscorable,
                total,
                f"shard {self.shard}: scored {scored:,}, unscorable {unscorable:,} of {total:,}",
            )

        with (
            self.atomic_output() as out,
            open(out / self.artifact("scores"), "w", newline="", encoding="utf-8") as scores,
            open(out / self.artifact("unscorable"), "w", newline="", encoding="utf-8") as unscorable,
        ):
            summary = write_score_files(
                model, self.cleaned(model, messages), scores, unscorable, extracted=total, on_chunk=on_chunk, part=True
            )
            write_json(out / self.artifact("summary"), summary)


class ScoreMessages(ShardedTask, ScoringTask):
    """Output: scores.csv (id, <class>_score, <class>_decision), unscorable.csv (id, reason), summary.json.

    Every extracted row lands in exactly one of the two files: the shards' files (ScoreShard),
    shard after shard, byte for byte as one pass over every row would write them.
    """

    artifacts = ScoreShard.artifacts

    def requires(self):
        return {
            "messages": ExtractMessages(**self.same_run(), since=self.since, until=self.until),
            **self.own_model(),
            "shards": self.shard_tasks(ScoreShard, **self.same_scoring()),
        }

    def run(self):
        summary = combine_summaries(self.shard_json("summary"))
        extracted = parquet_row_count(self.input_path("messages", "messages"))
        if summary["extracted"] != extracted:
            raise RuntimeError(f"scoring lost rows: {extracted} extracted, the shards scored {summary['extracted']}")
        with self.atomic_output() as out:
            for key in ("scores", "unscorable"):
                concat_csv_files(self.shard_paths(key), out / self.artifact(key))
            write_json(out / self.artifact("summary"), summary)
        self.report_progress(
            1, 1, f"scored {summary['scored']:,}, unscorable {summary['unscorable']:,} of {summary['extracted']:,}"
        )
