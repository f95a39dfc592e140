"""ReadFeedback: the reviewed verdicts a run reads (EvaluateFeedback, in tasks.review, judges the model by them)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sortbox.checkpoint import read_json, write_json
from sortbox.extract import fingerprint_url, make_engine, snapshot_connection
from sortbox.feedback import (
    Verdict,
    feedback_columns_sql,
    latest_verdicts,
    read_feedback_files,
    verdicts_from_rows,
)
from tasks.base import Artifact, SortboxTask
from tasks.config import database_url, feedback


def load_verdicts(path: Path) -> tuple[dict, dict]:
    """(id, class) -> Verdict of ReadFeedback's verdicts file, and its summary."""
    data = read_json(path)
    verdicts = {(i, c): Verdict(i, c, v, origin) for i, c, v, origin in data.pop("verdicts")}
    return verdicts, data


class ReadFeedback(SortboxTask):
    """Output: verdicts.json: the latest verdict per (id, class) with its file:line, and what was read.

    The CSVs' content is part of the output hash (editing a verdict reruns what depends on it); the
    feedback table is read once per run date, like the messages. A broken CSV or a verdict that is
    not yes/no fails the task naming file:line."""

    artifacts = {"verdicts": Artifact("verdicts.json", load_verdicts)}

    reads = ((feedback, ("path", "table")),)

    def config_extras(self) -> dict:
        return {"database": fingerprint_url(database_url()) if feedback().table else None}

    def content_fingerprint(self) -> str:
        path = feedback().csv_path()
        if path is None:
            return ""
        digest = hashlib.sha256()
        for file in sorted(path.iterdir()) if path.is_dir() else [path]:
            if file.is_file():
                digest.update(file.name.encode() + b"\0" + file.read_bytes())
        return digest.hexdigest()

    def run(self):
        config = feedback()
        verdicts: list[Verdict] = []
        read: dict = {"files": [], "rows_without_verdict": 0, "table": config.table}
        if config.csv_path():
            verdicts, found = read_feedback_files(config.csv_path())
            read.update(found)
        if config.table:
            with snapshot_connection(make_engine(database_url())) as conn:
                rows = conn.execute(feedback_columns_sql(conn, config.table)).fetchall()
            verdicts += verdicts_from_rows(rows, config.table)
        latest = latest_verdicts(verdicts)
        with self.atomic_output() as out:
            write_json(
                out / self.artifact("verdicts"),
                {
                    **read,
                    "verdicts_read": len(verdicts),
                    "superseded": len(verdicts) - len(latest),
                    "verdicts": [[v.id, v.class_name, v.verdict, v.origin] for v in latest.values()],
                },
            )

