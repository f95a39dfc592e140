"""ExtractMessages: stream the configured table into a Parquet checkpoint."""

from __future__ import annotations

import logging

import luigi
import sqlalchemy as sa

from sortbox.checkpoint import read_json, write_json
from sortbox.extract import (
    describe_url,
    explain_database_error,
    extract_to_parquet,
    fingerprint_url,
    make_engine,
    night_window,
    snapshot_connection,
    with_retries,
)
from tasks.base import Artifact, SortboxTask
from tasks.config import database, database_url, nightly, source

logger = logging.getLogger("luigi-interface")


class ExtractMessages(SortboxTask):
    """Rows (id, text, timestamp, label) of [source] table from $SORTBOX_DB_URL, ordered by id.

    Output: messages.parquet (one row group per chunk) and summary.json.
    `since`/`until` override the [source] window (nightly scoring of one day uses them). Without
    them, a night's extraction (`nightly`) reads the rows of `night_window(run_date)`.
    """

    since = luigi.OptionalParameter(
        default=None, description="Rows with timestamp >= since (ISO); overrides [source] since."
    )
    until = luigi.OptionalParameter(
        default=None, description="Rows with timestamp < until (ISO); overrides [source] until."
    )
    artifacts = {"messages": Artifact("messages.parquet"), "summary": Artifact("summary.json", read_json)}
    resources = {"database": 1}

    def source_config(self) -> source:
        overrides = {key: value for key, value in (("since", self.since), ("until", self.until)) if value}
        if self.nightly and not overrides:
            # A night means its date: rows before run_date + 1 day, whenever the night is run.
            configured = source().spec()
            since, until = night_window(
                self.run_date, window_days=nightly().window_days, since=configured.since, until=configured.until
            )
            overrides = {"since": since.isoformat() if since else None, "until": until.isoformat()}
        return source(**overrides)

    def config_extras(self) -> dict:
        # [source] as this run reads it (a night's window folded in), not as a section: see source_config.
        # The URL itself is a secret; a digest of it without the password tells sources apart.
        return {"source": self.source_config().significant(), "database": fingerprint_url(database_url())}

    def run(self):
        config = self.source_config()
        spec = config.spec()
        url = database_url()
        settings = database()

        def retrying(error, attempt, attempts):
            logger.warning(
                "%s; a transient error: retrying in %g s (attempt %d of %d, [database] retries)",
                self.explain(error, spec),
                settings.retry_delay_seconds,
                attempt + 1,
                attempts,
            )

        try:
            # Only transient errors (a dropped connection, a timeout) are tried again, here in the
            # task, the same way on any scheduler; luigi itself retries no task.
            with_retries(
                lambda: self.extract(config, spec, url),
                retries=settings.retries,
                delay_seconds=settings.retry_delay_seconds,
                on_retry=retrying,
            )
        except sa.exc.DBAPIError as exc:
            raise DatabaseError(self.explain(exc, spec)) from None

    def explain(self, exc: Exception, spec) -> str:
        """One clear line for a database error: no URL, no bound values."""
        return explain_database_error(
            exc, url=database_url(), table=spec.table, statement_timeout_seconds=database().statement_timeout_seconds
        )

    def extract(self, config: source, spec, url: str) -> None:
        """One attempt: the whole table into a fresh temporary output, renamed once complete."""
        logger.info("Extracting table %r from %s", spec.table, describe_url(url))
        engine = make_engine(url)
        try:
            with (
                snapshot_connection(engine, statement_timeout_seconds=database().statement_timeout_seconds) as conn,
                self.atomic_output() as out,
            ):
                rows, no_time = extract_to_parquet(
                    conn,
                    spec,
                    out / self.artifact("messages"),
                    described=config.significant(),
                    progress=lambda done, total: self.report_progress(
                        done, total, f"extracted {done:,} of {total:,} rows"
                    ),
                )
                if no_time:
                    logger.warning(
                        "%d rows of table %r have no %s and belong to no since/until window: not extracted",
                        no_time,
                        spec.table,
                        spec.timestamp_column,
                    )
                write_json(
                    out / self.artifact("summary"),
                    {
                        "rows": rows,
                        "source": config.significant(),
                        "database": describe_url(url),
                        "null_timestamps_outside_window": no_time,
                    },
                )
        finally:
            engine.dispose()


class DatabaseError(RuntimeError):
    """Extraction failed in the database; the message says where and why, without secrets."""
