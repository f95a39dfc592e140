"""scripts/nightly.sh and scripts/rollback.sh run as cron and an operator run them: real subprocesses.

Every directory (outputs, publish root, lock, log) lives in a tmp directory, the config is a copy
of config/luigi.cfg with small settings, and PATH is cron's minimal one. The tests share one
"site" and build on each other in file order (a night for 2026-01-05, a second night for
2026-01-06, a failing night, rollbacks); each one (re)runs the nights it needs if they are missing.
"""
from __future__ import annotations

import configparser
import fcntl
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, SMALL_TRAINING

NIGHTLY = REPO_ROOT / "scripts" / "nightly.sh"
ROLLBACK = REPO_ROOT / "scripts" / "rollback.sh"
FIRST, SECOND, FAILING = "2026-01-05", "2026-01-06", "2026-01-07"
LOCK_HELD = 75
RUN_TIMEOUT = 300


def lock_is_held(lock: Path) -> bool:
    """True when someone holds the flock on `lock` (probing takes it for an instant when free)."""
    if not lock.exists():
        return False
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


class Site:
    """One installation: config, database, publish root, lock and log directories under `base`."""

    def __init__(self, base: Path, db_url: str):
        self.base = base
        self.publish_root = base / "published"
        self.lock_dir = base / "lock"
        self.log_dir = base / "log"
        self.config_path = base / "luigi.cfg"
        config = configparser.ConfigParser(interpolation=None)
        config.read_string((REPO_ROOT / "config" / "luigi.cfg").read_text(encoding="utf-8"))
        overrides = {
            "paths": {"output_root": str(base / "runs")},
            "publish": {"root": str(self.publish_root)},
            "lsi": {"num_topics": "40"},
            "training": SMALL_TRAINING,
            "labelling": {"source": "column"},
            # Extraction retries a transient error (a dropped connection): keep the waits short under test.
            "database": {"retry_delay_seconds": "1"},
        }
        for section, options in overrides.items():
            if not config.has_section(section):
                config.add_section(section)
            for option, value in options.items():
                config.set(section, option, value)
        with open(self.config_path, "w", encoding="utf-8") as handle:
            config.write(handle)
        self.retcode = {option: int(value) for option, value in config.items("retcode")}
        self.env = {key: value for key, value in os.environ.items()
                    if key != "LUIGI_CONFIG_PATH" and (not key.startswith("SORTBOX_") or key == "SORTBOX_VENV")}
        self.env.update({
            "PATH": "/usr/bin:/bin",  # what cron gives a job
            "SORTBOX_CONFIG": str(self.config_path),
            "SORTBOX_LOCK_DIR": str(self.lock_dir),
            "SORTBOX_LOG_DIR": str(self.log_dir),
            "SORTBOX_DB_URL": db_url,
            "SORTBOX_SCHEDULER": "local",
        })
        self.succeeded: set[str] = set()

    @property
    def lock(self) -> Path:
        return self.lock_dir / "nightly.lock"

    def log(self, date: str) -> Path:
        return self.log_dir / f"nightly-{date}.log"

    def run(self, script: Path, *args: str, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess:
        # Started from the tmp directory: the scripts must find the repository by themselves.
        return subprocess.run(
            [str(script), *args], cwd=self.base, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def start(self, script: Path, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [str(script), *args], cwd=self.base, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def nightly(self, date: str) -> None:
        """Make sure the night `date` has run successfully once."""
        if date in self.succeeded:
            return
        done = self.run(NIGHTLY, date)
        assert done.returncode == 0, (
            f"nightly {date}: exit {done.returncode}\n{done.stderr}\n{self.log(date).read_text()[-4000:]}"
        )
        self.succeeded.add(date)

    def current(self) -> Path:
        link = self.publish_root / "current"
        assert link.is_symlink(), f"{link} is not a symlink"
        return link.resolve()

    def history(self) -> list[str]:
        return json.loads((self.publish_root / "history.json").read_text(encoding="utf-8"))

    def snapshot(self) -> dict:
        """The published state: where current points and every byte under the publish root."""
        files = {
            str(p.relative_to(self.publish_root)): p.read_bytes()
            for p in sorted(self.publish_root.rglob("*"))
            if p.is_file()
        }
        return {
            "current": self.current(),
            "current_files": sorted(p.name for p in self.current().iterdir()),
            "files": files,
        }


@pytest.fixture(scope="module")
def site(tmp_path_factory, sample_sqlite) -> Site:
    return Site(tmp_path_factory.mktemp("nightly_site"), sample_sqlite)


def test_a_nightly_run_trains_publishes_and_logs(site):
    done = site.run(NIGHTLY, FIRST)
    log = site.log(FIRST).read_text(encoding="utf-8")
    assert done.returncode == 0, f"{done.stderr}\n{log[-4000:]}"
    site.succeeded.add(FIRST)

    lines = log.splitlines()
    assert f"start: date {FIRST}" in lines[0]
    assert lines[-1].endswith(f"end: date {FIRST}, exit code 0, drift n/a")  # nothing live to compare with yet
    assert "NightlyRetrain" in log
    assert str(site.log(FIRST)) in done.stderr  # the caller is told where the log is

    current = site.current()
    assert current.parent == site.publish_root / "releases"
    assert current.name.startswith(f"{FIRST}-")
    for name in ("model-ham.json", "model-spam.json"):
        model = json.loads((current / name).read_text(encoding="utf-8"))
        assert model["schema_version"] == 2 and list(model["classes"]) == [name[len("model-"):-len(".json")]]
    assert site.history() == [current.name]

    # The lock and log directories are the project's own and private.
    for directory in (site.lock_dir, site.log_dir):
        assert directory.stat().st_mode & 0o777 == 0o700
    assert site.lock.exists() and not lock_is_held(site.lock)


def test_bad_date_exits_2_before_doing_anything(site):
    for bad in ("2026-02-30", "20260105", "yesterday", "2026-1-5"):
        done = site.run(NIGHTLY, bad, timeout=30)
        assert done.returncode == 2, (bad, done.stderr)
        assert "YYYY-MM-DD" in done.stderr and bad in done.stderr
        assert not site.log(bad).exists()


def test_b_a_second_launch_exits_75_at_once_while_the_first_runs(site):
    site.nightly(FIRST)
    first = site.start(NIGHTLY, SECOND)
    try:
        # The first run writes its start line once it holds the lock.
        deadline = time.monotonic() + 60
        while not (site.log(SECOND).exists() and "start: date" in site.log(SECOND).read_text(encoding="utf-8")):
            assert first.poll() is None, f"the first run ended early: exit {first.returncode}\n{first.stderr.read()}"
            assert time.monotonic() < deadline, "the first run never took the lock"
            time.sleep(0.1)
        assert lock_is_held(site.lock)

        started = time.monotonic()
        second = site.run(NIGHTLY, SECOND, timeout=30)
        elapsed = time.monotonic() - started
        assert first.poll() is None, "the first run must still be running for this test to mean anything"
        assert second.returncode == LOCK_HELD, second.stderr
        assert elapsed < 5, f"the second launch took {elapsed:.1f} s: it must give up at once"
        assert "another nightly run holds the lock" in second.stderr
        log = site.log(SECOND).read_text(encoding="utf-8")
        assert "another nightly run holds the lock" in log

        out, err = first.communicate(timeout=RUN_TIMEOUT)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, f"{err}\n{site.log(SECOND).read_text()[-4000:]}"
    site.succeeded.add(SECOND)
    lines = site.log(SECOND).read_text(encoding="utf-8").splitlines()
    drift = re.search(rf"end: date {SECOND}, exit code 0, drift (ok|warn|alert)$", lines[-1])
    assert drift, lines[-1]
    drift_json = next((site.base / "runs" / SECOND).glob("DriftReport-*/drift.json"))
    assert json.loads(drift_json.read_text())["status"] == drift.group(1)
    assert sum("start: date" in line for line in lines) == 1  # the refused launch never started a run
    assert site.current().name.startswith(f"{SECOND}-")


def test_c_a_failed_run_exits_with_the_retcode_and_leaves_the_published_model_alone(site):
    site.nightly(FIRST)
    before = site.snapshot()

    done = site.run(NIGHTLY, FAILING, "--source-table", "nope")
    log = site.log(FAILING).read_text(encoding="utf-8")
    assert done.returncode == site.retcode["task_failed"], f"exit {done.returncode}\n{log[-4000:]}"
    assert "table 'nope' does not exist in the database" in log
    assert log.splitlines()[-1].endswith(f"end: date {FAILING}, exit code {site.retcode['task_failed']}, drift none")

    after = site.snapshot()
    assert after["current"] == before["current"]
    assert after["current_files"] == before["current_files"]
    assert after["files"] == before["files"]
    assert not lock_is_held(site.lock)


def test_d_rollback_restores_the_previous_release_and_refuses_when_there_is_none(site):
    site.nightly(FIRST)
    site.nightly(SECOND)
    history = site.history()
    assert len(history) == 2 and history[0].startswith(f"{FIRST}-") and history[1].startswith(f"{SECOND}-")
    assert site.current().name == history[1]

    # The rollback takes the nightly lock: while it is held, it refuses at once.
    with open(site.lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        refused = site.run(ROLLBACK, str(site.publish_root), timeout=30)
    assert refused.returncode == LOCK_HELD, refused.stderr
    assert site.current().name == history[1]

    done = site.run(ROLLBACK, str(site.publish_root), timeout=60)
    assert done.returncode == 0, done.stderr
    previous = site.publish_root / "releases" / history[0]
    assert site.current() == previous.resolve()
    assert done.stdout.strip() == str(previous.resolve())  # it prints the release now current
    assert site.history() == [history[0]]
    assert json.loads((site.current() / "model-spam.json").read_text())["classes"]

    # One release left: nothing to roll back to. Without an argument the root comes from the config.
    again = site.run(ROLLBACK, timeout=60)
    assert again.returncode != 0
    assert "nothing to roll back to" in again.stderr and str(site.publish_root) in again.stderr
    assert site.current() == previous.resolve()

    missing = site.run(ROLLBACK, str(site.base / "no-such-root"), timeout=30)
    assert missing.returncode != 0 and "nothing to roll back to" in missing.stderr


def test_e_each_night_first_sweeps_stale_temporary_outputs_under_the_lock(site):
    """Leftovers of tasks killed on earlier nights that no rerun comes back for go; fresh ones stay."""
    day_old = time.time() - 25 * 3600
    stale_output = site.base / "runs" / "2025-12-31" / "FitLsi-0123456789ab-luigi-tmp-0000000042"
    stale_output.mkdir(parents=True)
    (stale_output / "lsi.gensim").write_bytes(b"partial")
    fresh_output = site.base / "runs" / "2025-12-31" / "EmbedMessages-0123456789ab-luigi-tmp-0000000043"
    fresh_output.mkdir()
    stale_release = site.publish_root / "releases" / ".2025-12-31-0123456789ab.0123456789abcdef0123456789abcdef"
    stale_release.mkdir(parents=True)
    for path in (stale_output, stale_release):
        os.utime(path, (day_old, day_old))
    try:
        # A failing night (cheap: extraction fails at once) still sweeps before it runs.
        done = site.run(NIGHTLY, FAILING, "--source-table", "nope")
        log = site.log(FAILING).read_text(encoding="utf-8")
        assert done.returncode == site.retcode["task_failed"], f"exit {done.returncode}\n{log[-4000:]}"
        assert not stale_output.exists() and not stale_release.exists()
        assert fresh_output.is_dir()
        this_run = log[log.rindex("start: date"):]  # logged once the lock is held
        assert f"removed stale temporary output {stale_output}" in this_run
        assert f"removed stale temporary output {stale_release}" in this_run
        assert "sweep: 2 stale temporary output(s) removed" in this_run
        assert this_run.index("sweep: 2") < this_run.index("NightlyRetrain")  # before the run
    finally:
        shutil.rmtree(site.base / "runs" / "2025-12-31", ignore_errors=True)
