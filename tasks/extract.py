"""PlanShards -> ExtractShard (one per shard) -> ExtractMessages: the configured table into a
Parquet checkpoint, read by [shards] count tasks that any worker can run (sortbox.shards)."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace
from pathlib import Path
from typing import Callable

import luigi
import sqlalchemy as sa

from sortbox.checkpoint import read_json, write_json
from sortbox.extract import (
    MESSAGE_SCHEMA,
    SourceError,
    describe_url,
    explain_database_error,
    extract_to_parquet,
    fingerprint_url,
    make_engine,
    night_window,
    plan_shards,
    snapshot_connection,
    with_retries,
)
from sortbox.shards import check_shard_rows, concat_parquet
from tasks.base import Artifact, SortboxTask
from tasks.config import database, database_url, nightly, shards, source

logger = logging.getLogger("luigi-interface")


class SourceTask(SortboxTask):
    """A task about the rows of [source] (`since`/`until` override its window; without them a
    night reads the rows of `night_window(run_date)`)."""

    since = luigi.OptionalParameter(
        default=None, description="Rows with timestamp >= since (ISO); overrides [source] since."
    )
    until = luigi.OptionalParameter(
        default=None, description="Rows with timestamp < until (ISO); overrides [source] until."
    )

    def same_source(self) -> dict:
        """The parameters an upstream task about the same rows shares with this one."""
        return {**self.same_run(), "since": self.since, "until": self.until}

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


class ShardTask(SortboxTask):
    """A task about one shard of the run's rows (sortbox.shards)."""

    shard = luigi.IntParameter(description="The shard (0 to [shards] count - 1).")

    def path_label(self) -> str:
        return f"shard{self.shard}"


class DatabaseTask(SourceTask):
    """A task that reads the database: it holds one unit of luigi's `database` resource while it
    runs ([resources] database caps how many do at once), and retries transient errors itself."""

    resources = {"database": 1}

    def config_extras(self) -> dict:
        # [source] as this run reads it (a night's window folded in), not as a section: see source_config.
        # The URL itself is a secret; a digest of it without the password tells sources apart.
        return {"source": self.source_config().significant(), "database": fingerprint_url(database_url())}

    def read_database(self, attempt: Callable[[source, object, str], None]) -> None:
        """`attempt(config, spec, url)`, tried again on a transient database error ([database]
        retries); any database error that remains is one DatabaseError line, without secrets."""
        config = self.source_config()
        spec = config.spec()
        url = database_url()
        settings = database()

        def retrying(error, attempt_number, attempts):
            logger.warning(
                "%s; a transient error: retrying in %g s (attempt %d of %d, [database] retries)",
                self.explain(error, spec),
                settings.retry_delay_seconds,
                attempt_number + 1,
                attempts,
            )

        try:
            # Only transient errors (a dropped connection, a timeout) are tried again, here in the
            # task, the same way on any scheduler; luigi itself retries no task.
            with_retries(
                lambda: attempt(config, spec, url),
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

    @contextlib.contextmanager
    def snapshot(self, url: str):
        engine = make_engine(url)
        try:
            with snapshot_connection(engine, statement_timeout_seconds=database().statement_timeout_seconds) as conn:
                yield conn
        finally:
            engine.dispose()


class PlanShards(DatabaseTask):
    """What the run reads, pinned before any shard reads it (sortbox.extract.plan_shards): the rows
    of each of [shards] count shards, the id bound, the rows in no window. Output: plan.json."""

    reads = (shards,)
    artifacts = {"plan": Artifact("plan.json", read_json)}

    def run(self):
        self.read_database(self.plan)

    def plan(self, config: source, spec, url: str) -> None:
        count = shards().count
        logger.info("Planning %d shard(s) of table %r from %s", count, spec.table, describe_url(url))
        self.report_progress(0, 1, f"counting the rows of {count} shard(s)")
        with self.snapshot(url) as conn, self.atomic_output() as out:
            plan = plan_shards(conn, spec, count)
            if plan["total"] == 0:
                raise SourceError(f"no rows to extract from table {spec.table!r} with {config.significant()}")
            if plan["null_timestamps_outside_window"]:
                logger.warning(
                    "%d rows of table %r have no %s and belong to no since/until window: not extracted",
                    plan["null_timestamps_outside_window"],
                    spec.table,
                    spec.timestamp_column,
                )
            write_json(out / self.artifact("plan"), plan)
        self.report_progress(1, 1, f"{plan['total']:,} rows in {count} shard(s): {plan['rows']}")


class ExtractShard(ShardTask, DatabaseTask):
    """The rows of one shard of the plan, ordered by the shard key, then the id (as many as the
    plan counted, or the task fails). Output: messages.parquet (one row group per chunk) and
    summary.json."""

    artifacts = {"messages": Artifact("messages.parquet"), "summary": Artifact("summary.json", read_json)}

    def requires(self):
        return {"plan": PlanShards(**self.same_source())}

    def run(self):
        self.read_database(self.extract)

    def extract(self, config: source, spec, url: str) -> None:
        """One attempt: the shard into a fresh temporary output, renamed once complete."""
        plan = self.read_input("plan", "plan")
        planned = plan["rows"][self.shard]
        spec = replace(spec, shard_count=plan["shards"], shard=self.shard, id_bound=plan["id_bound"])
        logger.info("Extracting shard %d of table %r from %s", self.shard, spec.table, describe_url(url))
        with self.snapshot(url) as conn, self.atomic_output() as out:
            rows, _ = extract_to_parquet(
                conn,
                spec,
                out / self.artifact("messages"),
                described=config.significant(),
                planned_rows=planned,
                progress=lambda done, total: self.report_progress(
                    done, total, f"shard {self.shard}: extracted {done:,} of {total:,} rows"
                ),
            )
            write_json(out / self.artifact("summary"), {"shard": self.shard, "rows": rows})


class ShardedTask(SortboxTask):
    """A task that combines one stage's shards, in shard order."""

    def shard_tasks(self, stage: type[SortboxTask], **params) -> list[SortboxTask]:
        return [stage(**params, shard=s) for s in range(shards().count)]

    def shard_paths(self, key: str, name: str = "shards") -> list[Path]:
        """The artifact `key` of every shard task in `requires()[name]`, in shard order."""
        targets, tasks = self.inputs()[name], self.requires()[name]
        return [Path(target.path) / task.artifact(key) for target, task in zip(targets, tasks, strict=True)]

    def shard_json(self, key: str) -> list:
        return [read_json(path) for path in self.shard_paths(key)]


class ExtractMessages(ShardedTask, SourceTask):
    """Rows (id, text, timestamp, label) of [source] table from $SORTBOX_DB_URL: the shards'
    rows, shard after shard, each ordered by the shard key (the same rows in the same order for
    any number of shards); as many as the plan counted.

    Output: messages.parquet and summary.json.
    """

    artifacts = {"messages": Artifact("messages.parquet"), "summary": Artifact("summary.json", read_json)}

    def requires(self):
        window = self.same_source()
        return {"plan": PlanShards(**window), "shards": self.shard_tasks(ExtractShard, **window)}

    def run(self):
        plan, config = self.read_input("plan", "plan"), self.source_config()
        with self.atomic_output() as out:
            rows = concat_parquet(self.shard_paths("messages"), out / self.artifact("messages"), MESSAGE_SCHEMA)
            extracted = [part["rows"] for part in self.shard_json("summary")]
            check_shard_rows(f"table {config.spec().table!r}", extracted, plan["rows"])
            write_json(
                out / self.artifact("summary"),
                {
                    "rows": rows,
                    "source": config.significant(),
                    "database": describe_url(database_url()),
                    "null_timestamps_outside_window": plan["null_timestamps_outside_window"],
                },
            )
        self.report_progress(1, 1, f"{rows:,} rows from {len(extracted)} shard(s)")


class DatabaseError(RuntimeError):
    """Extraction failed in the database; the message says where and why, without secrets."""
