"""sortbox.sweep: stale temporary outputs go, everything else stays."""
import os
import subprocess
import sys
import time

import pytest

from sortbox.sweep import stale_temporaries, sweep
from tests.conftest import REPO_ROOT

DAY = 24 * 3600


@pytest.fixture
def site(tmp_path):
    """A run tree: a complete output, an old and a fresh temporary directory, an old temporary file."""
    day = tmp_path / "runs" / "2026-01-01"
    (day / "CleanMessages-abc").mkdir(parents=True)
    (day / "CleanMessages-abc" / "clean.parquet").write_text("done")
    old = day / "LabelMessages-def-luigi-tmp-0000000001"
    (old / "part").mkdir(parents=True)
    (old / "part" / "labels.parquet").write_text("partial")
    fresh = day / "FitLsi-123-luigi-tmp-0000000002"
    fresh.mkdir()
    old_file = day / "model.json-luigi-tmp-0000000003"
    old_file.write_text("partial")
    past = time.time() - 2 * DAY
    for path in (old, old_file):
        os.utime(path, (past, past))
    os.utime(day / "CleanMessages-abc", (past, past))
    return {"root": tmp_path / "runs", "complete": day / "CleanMessages-abc", "old": old, "fresh": fresh, "old_file": old_file}


def test_only_old_temporaries_are_stale(site):
    assert stale_temporaries(site["root"], older_than_seconds=DAY) == sorted([site["old"], site["old_file"]])


def test_sweep_removes_them_and_leaves_the_rest(site, tmp_path):
    removed = sweep([site["root"], tmp_path / "missing-root"], older_than_seconds=DAY)
    assert sorted(removed) == sorted([site["old"], site["old_file"]])
    assert not site["old"].exists() and not site["old_file"].exists()
    assert site["fresh"].is_dir() and (site["complete"] / "clean.parquet").read_text() == "done"


@pytest.mark.parametrize("args, code, message", [(["--older-than-hours", "24"], 0, "2 stale temporary output(s) removed"), (["--older-than-hours", "-1"], 2, "must not be negative")])
def test_command_line(site, args, code, message):
    done = subprocess.run([sys.executable, "-m", "sortbox.sweep", str(site["root"]), *args], cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == code and message in done.stdout + done.stderr
