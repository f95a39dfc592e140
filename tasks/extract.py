"""ExtractMessages: stream the configured table into a Parquet checkpoint."""
from __future__ import annotations

import logging

import luigi
import sqlalchemy as sa

from sortbox.checkpoint import write_json, write_parquet_chunks
from sortbox.extract import (
    MESSAGE_SCHEMA,
    SourceError,
    count_source_rows,
    describe_url,
    explain_database_error,
    fingerprint_url,
    iter_message_chunks,
    make_engine,
    night_window,
    snapshot_connection,
)
from tasks.base import SortboxTask
from tasks.config import database, database_url, nightly, source

logger = logging.getLogger("luigi-interface")


class ExtractMessages(SortboxTask):
    """Rows (id, text, timestamp, label) of [source] table from $SORTBOX_DB_URL, ordered by id.

    Output: messages.parquet (one row group per chunk) and summary.json.
    `since`/`until` override the [source] window (nightly scoring of one day uses them). Without
    them, a night's extraction (`nightly`) reads the rows of `night_window(run_date)`.
    """

    since = luigi.OptionalParameter(default=None, description="Rows with timestamp >= since (ISO); overrides [source] since.")
    until = luigi.OptionalParameter(default=None, description="Rows with timestamp < until (ISO); overrides [source] until.")

    @property
    def retry_count(self) -> int:
        # Only extraction talks to the database, so only it is retried (a dropped connection);
        # every other failure fails the run at once.
        return database().retries + 1  # luigi counts attempts: failures before the task is disabled

    def source_config(self) -> source:
        overrides = {key: value for key, value in (("since", self.since), ("until", self.until)) if value}
        if self.nightly and not overrides:
            # A night means its date: rows before run_date + 1 day, whenever the night is run.
            configured = source().spec()
            since, until = night_window(self.run_date, window_days=nightly().window_days, since=configured.since, until=configured.until)
            overrides = {"since": since.isoformat() if since else None, "until": until.isoformat()}
        return source(**overrides)

    def significant_config(self) -> dict:
        # The URL itself is a secret; a digest of it without the password tells sources apart.
        return {"source": self.source_config().significant(), "database": fingerprint_url(database_url())}

    def run(self):
        config = self.source_config()
        spec = config.spec()
        url = database_url()
        logger.info("Extracting table %r from %s", spec.table, describe_url(url))
        engine = make_engine(url)
        timeout = database().statement_timeout_seconds
        try:
            with snapshot_connection(engine, statement_timeout_seconds=timeout) as conn, self.atomic_output() as out:
                total = count_source_rows(conn, spec)
                if total == 0:
                    raise SourceError(f"no rows to extract from table {spec.table!r} with {config.significant()}")
                done = 0

                def chunks():
                    nonlocal done
                    for chunk in iter_message_chunks(conn, spec):
                        done += chunk.num_rows
                        self.report_progress(done, total, f"extracted {done:,} of {total:,} rows")
                        yield chunk

                rows = write_parquet_chunks(out / "messages.parquet", MESSAGE_SCHEMA, chunks())
                write_json(out / "summary.json", {"rows": rows, "source": config.significant(), "database": describe_url(url)})
        except sa.exc.DBAPIError as exc:
            # A dropped connection, Postgres down, a statement timeout: one clear line (no URL, no
            # bound values), and the task fails; luigi retries it [database] retries times.
            raise DatabaseError(explain_database_error(exc, url=url, table=spec.table, statement_timeout_seconds=timeout)) from None
        finally:
            engine.dispose()


class DatabaseError(RuntimeError):
    """Extraction failed in the database; the message says where and why, without secrets."""
