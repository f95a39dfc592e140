"""ExportScores: a run's scores.csv into the [sink] table, once (sortbox.sink)."""

from __future__ import annotations

import luigi

from sortbox.sink import export_done, export_scores, iter_score_rows, make_sink_engine
from tasks.base import SortboxTask
from tasks.config import sink, sink_url
from tasks.score import ScoreMessages, load_models


class SinkMarker(luigi.Target):
    """The marker row of one export in the [sink] marker table: exists once the export committed."""

    def __init__(self, update_id: str):
        self.update_id = update_id

    def exists(self) -> bool:
        engine = make_sink_engine(sink_url())
        try:
            return export_done(engine, sink().spec(), self.update_id)
        finally:
            engine.dispose()


class ExportScores(SortboxTask):
    """Output: a marker row (update_id ExportScores-<run date>-<hash>) committed with the rows of
    scores.csv, one per id and class. Same parameters as the ScoreMessages it exports."""

    model_json = luigi.Parameter(
        default="", description="As ScoreMessages: published model or release (empty: this run's)."
    )
    since = luigi.OptionalParameter(default=None, description="As ScoreMessages: window start.")
    until = luigi.OptionalParameter(default=None, description="As ScoreMessages: window end.")

    def requires(self):
        return {
            "scores": ScoreMessages(
                **self.same_run(), model_json=self.model_json, since=self.since, until=self.until
            )
        }

    reads = ((sink, ("table",)),)

    def output(self) -> SinkMarker:
        return SinkMarker(f"{self.get_task_family()}-{self.run_date.isoformat()}-{self.output_hash()}")

    def run(self):
        spec = sink().spec()
        scores = self.requires()["scores"]
        model_ids = {name: model["model_id"] for model in load_models(scores.model_path()) for name in model["classes"]}
        chunks = iter_score_rows(
            self.input_path("scores", "scores"), model_ids, self.run_date, chunk_rows=spec.chunk_rows
        )
        engine = make_sink_engine(sink_url())
        try:
            written = export_scores(
                engine,
                spec,
                chunks,
                update_id=self.output().update_id,
                run_date=self.run_date,
                on_chunk=lambda rows: self.set_status_message(f"{rows:,} rows written (not committed yet)"),
            )
        finally:
            engine.dispose()
        self.set_status_message(f"{written:,} rows committed to {spec.table}")
