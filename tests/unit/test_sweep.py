"""sortbox.sweep: stale temporary outputs go, everything else stays."""
import os
import subprocess
import sys
import time
import uuid

import pytest

from sortbox.sweep import stale_temporaries, sweep
from tests.conftest import REPO_ROOT

DAY = 24 * 3600


def age(path, seconds):
    """Set `path`'s modification time `seconds` in the past (the link itself for a symlink)."""
    past = time.time() - seconds
    os.utime(path, (past, past), follow_symlinks=False)


@pytest.fixture
def site(tmp_path):
    """A run tree: a complete output, an old and a fresh temporary directory, an old temporary file."""
    day = tmp_path / "runs" / "2026-01-01"
    (day / "CleanMessages-abc").mkdir(parents=True)
    (day / "CleanMessages-abc" / "clean.parquet").write_text("done")
    old = day / "LabelMessages-def-luigi-tmp-0000000001"
    (old / "part").mkdir(parents=True)
    (old / "part" / "labels.parquet").write_text("partial")
    (old / "part" / "inner-luigi-tmp-0000000009").write_text("inside an old one: goes with it")
    fresh = day / "FitLsi-123-luigi-tmp-0000000002"
    fresh.mkdir()
    (fresh / "old-luigi-tmp-0000000004").write_text("inside a fresh one: left alone")
    age(fresh / "old-luigi-tmp-0000000004", 2 * DAY)
    old_file = day / "model.json-luigi-tmp-0000000003"
    old_file.write_text("partial")
    for path in (old, old_file, day / "CleanMessages-abc", day / "CleanMessages-abc" / "clean.parquet", day):
        age(path, 2 * DAY)
    return {
        "root": tmp_path / "runs",
        "complete": day / "CleanMessages-abc",
        "old": old,
        "fresh": fresh,
        "old_file": old_file,
    }


@pytest.fixture
def publish_site(tmp_path):
    """A publish root with a release, `current`, history.json and what a killed publish leaves."""
    root = tmp_path / "published"
    release = root / "releases" / "2026-01-01-abc"
    release.mkdir(parents=True)
    (release / "model-spam.json").write_text("{}")
    (root / "current").symlink_to("releases/2026-01-01-abc")
    (root / "history.json").write_text('["2026-01-01-abc"]')
    partial_release = root / "releases" / f".2026-01-02-def.{uuid.uuid4().hex}"
    partial_release.mkdir()
    (partial_release / "model-spam.json").write_text("{")
    partial_link = root / f".current.{uuid.uuid4().hex}"
    partial_link.symlink_to("releases/2026-01-02-def")
    partial_history = root / f".history.json.{uuid.uuid4().hex}"
    partial_history.write_text("[")
    fresh_partial = root / f".history.json.{uuid.uuid4().hex}"
    fresh_partial.write_text("[")
    for path in (release, root / "current", root / "history.json", partial_release, partial_link, partial_history):
        age(path, 2 * DAY)
    return {
        "root": root,
        "release": release,
        "stale": sorted([partial_release, partial_link, partial_history]),
        "fresh": fresh_partial,
    }


def test_only_old_temporaries_are_stale(site):
    assert stale_temporaries(site["root"], older_than_seconds=DAY) == sorted([site["old"], site["old_file"]])


def test_sweep_removes_them_and_leaves_the_rest(site, tmp_path):
    removed = sweep([site["root"], tmp_path / "missing-root"], older_than_seconds=DAY)
    assert sorted(removed) == sorted([site["old"], site["old_file"]])
    assert not site["old"].exists() and not site["old_file"].exists()
    # The fresh temporary directory (a run in progress) and the complete output stay, whole.
    assert site["fresh"].is_dir() and (site["fresh"] / "old-luigi-tmp-0000000004").exists()
    assert (site["complete"] / "clean.parquet").read_text() == "done"


def test_a_threshold_of_zero_takes_every_temporary_and_still_no_output(site):
    removed = sweep([site["root"]], older_than_seconds=0)
    assert sorted(removed) == sorted([site["old"], site["old_file"], site["fresh"]])
    assert (site["complete"] / "clean.parquet").read_text() == "done"


def test_a_publish_root_loses_what_a_killed_publish_left_and_keeps_the_releases(publish_site):
    root = publish_site["root"]
    assert sweep([], older_than_seconds=DAY, publish_roots=[root]) == publish_site["stale"]
    assert not any(path.exists() or path.is_symlink() for path in publish_site["stale"])
    assert (root / "current").resolve() == publish_site["release"].resolve()
    assert (publish_site["release"] / "model-spam.json").exists() and (root / "history.json").exists()
    assert publish_site["fresh"].exists()


def test_publish_partial_names_are_left_alone_under_an_output_root(publish_site):
    # Only `-luigi-tmp-` names are temporary under an output root.
    assert sweep([publish_site["root"]], older_than_seconds=DAY) == []


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["--older-than-hours", "24"], 0, "2 stale temporary output(s) removed"),
        (["--older-than-hours", "-1"], 2, "must not be negative"),
    ],
)
def test_command_line(site, args, code, message):
    done = subprocess.run(
        [sys.executable, "-m", "sortbox.sweep", str(site["root"]), *args], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert done.returncode == code and message in done.stdout + done.stderr


def test_command_line_with_a_publish_root_prints_what_it_removed(site, publish_site):
    done = subprocess.run(
        [sys.executable, "-m", "sortbox.sweep", str(site["root"]), "--publish-root", str(publish_site["root"])],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "sweep: 5 stale temporary output(s) removed"
    assert sorted(lines[:-1]) == sorted(
        f"removed stale temporary output {path}" for path in [site["old"], site["old_file"], *publish_site["stale"]]
    )
