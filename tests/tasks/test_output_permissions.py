"""Outputs are never group- or world-writable, even under a careless umask."""
import datetime as dt
import os
import stat

from tasks.clean import CleanMessages
from tests.conftest import run_luigi


def test_outputs_are_not_writable_by_others_under_umask_000(tiny_sqlite, pipeline_env):
    root = pipeline_env(tiny_sqlite)
    previous = os.umask(0)
    try:
        assert run_luigi([CleanMessages(run_date=dt.date(2026, 11, 24))]).scheduling_succeeded
    finally:
        os.umask(previous)
    written = [root, *root.rglob("*")]
    assert len(written) >= 8
    for path in written:
        assert not stat.S_IMODE(path.stat().st_mode) & 0o022, (path, oct(path.stat().st_mode))
