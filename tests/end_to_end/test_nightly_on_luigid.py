"""scripts/nightly.sh on a real luigid started by scripts/luigid.sh (a free port, never 8082).

A night whose GridSearch fails ends (non-zero, lock free) as it would on the local scheduler; a
night stopped by SIGTERM logs 143 and leaves no process behind; a luigid this checkout did not
start is never joined. The faults come from a `sitecustomize` put on PYTHONPATH for the night
only (tests/end_to_end/night_hooks/), so production code carries none.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.end_to_end.test_luigid import free_port, luigid, rpc, script_env  # noqa: F401 (luigid: fixture)
from tests.end_to_end.test_nightly_script import NIGHTLY, Site, lock_is_held

HOOKS = Path(__file__).with_name("night_hooks")
FAILING, NEXT, STOPPED, REFUSED = (
    "2026-01-12",
    "2026-01-13",
    "2026-01-14",
    "2026-01-15",
)  # the sample covers 2026-01-01 to 2026-01-28
BOUND = 120  # seconds: a failed night must have ended by then (Must show: within 2 minutes)


@pytest.fixture(scope="module")
def site(tmp_path_factory, sample_sqlite, luigid):  # noqa: F811 (the fixture imported above)
    site = Site(tmp_path_factory.mktemp("luigid_site"), sample_sqlite)
    del site.env["SORTBOX_SCHEDULER"]  # auto: this checkout's luigid, found by its pid file
    site.env.update({"LUIGID_PORT": str(luigid["port"]), "SORTBOX_LUIGID_DIR": str(luigid["dir"])})
    return site


def with_hook(site: Site, fault: str, **extra: str) -> dict:
    return {**site.env, "PYTHONPATH": str(HOOKS), "SORTBOX_TEST_FAULT": fault, **extra}


def test_a_night_whose_grid_search_fails_ends_and_frees_the_lock(site, luigid):  # noqa: F811
    started = time.monotonic()
    done = subprocess.run(
        [str(NIGHTLY), FAILING, "--source-sample-fraction", "0.3"],
        cwd=site.base,
        env=with_hook(site, "fail-grid-search"),
        capture_output=True,
        text=True,
        timeout=BOUND,
    )
    elapsed = time.monotonic() - started
    log = site.log(FAILING).read_text(encoding="utf-8")
    assert f"using the central scheduler at http://127.0.0.1:{luigid['port']}" in log
    assert done.returncode == site.retcode["task_failed"], f"exit {done.returncode}\n{log[-4000:]}"
    assert "GridSearch failed on purpose" in log
    # The end line also carries the night's drift status (none: the night failed before its report).
    assert re.search(rf"end: date {FAILING}, exit code {site.retcode['task_failed']}, drift \w+$", log.splitlines()[-1])
    assert not lock_is_held(site.lock)
    # luigid took the project's retry_count: the failed task is disabled, not waiting for a retry.
    disabled = rpc(luigid["port"], "task_list", status="DISABLED", upstream_status="", search="GridSearch")
    assert disabled and all(task["name"] == "GridSearchFold" for task in disabled.values())  # a split failed
    assert rpc(luigid["port"], "task_list", status="FAILED", upstream_status="", search="GridSearch") == {}
    print(f"failed night ended after {elapsed:.1f} s")

    following = site.run(NIGHTLY, NEXT, "--source-sample-fraction", "0.3")
    assert following.returncode == 0, f"exit {following.returncode}\n{site.log(NEXT).read_text()[-4000:]}"
    assert not lock_is_held(site.lock)


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (by parent pid, from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, stack = set(), [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_night_sent_sigterm_logs_143_and_leaves_no_process(site, tmp_path):
    mark = tmp_path / "grid-search-started"
    night = subprocess.Popen(
        [str(NIGHTLY), STOPPED, "--source-sample-fraction", "0.3"],
        cwd=site.base,
        env=with_hook(site, "hang-grid-search", SORTBOX_TEST_MARK=str(mark)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not mark.exists():
            assert night.poll() is None, (
                f"the night ended early: {night.returncode}\n{site.log(STOPPED).read_text()[-3000:]}"
            )
            assert time.monotonic() < deadline, "GridSearch never started"
            time.sleep(0.2)
        processes = descendants(night.pid)
        assert int(mark.read_text()) in processes  # the hanging task process belongs to the night
        night.send_signal(signal.SIGTERM)
        night.communicate(timeout=60)
    finally:
        if night.poll() is None:
            night.kill()
            night.wait()
    assert night.returncode == 143
    log = site.log(STOPPED).read_text(encoding="utf-8")
    assert "SIGTERM received: stopping luigi" in log
    assert re.search(rf"end: date {STOPPED}, exit code 143, drift \w+$", log.splitlines()[-1])
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in processes) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in processes if alive(pid)]
    assert not lock_is_held(site.lock)


@pytest.fixture
def foreign_luigid(tmp_path):
    """A luigid started from another directory (another checkout's): its pid file is not ours."""
    port = free_port()
    directory = tmp_path / "other-checkout-luigid"
    started = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "luigid.sh"), "--background"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=script_env(LUIGID_PORT=port, SORTBOX_LUIGID_DIR=directory),
    )
    assert started.returncode == 0, started.stderr
    try:
        yield port
    finally:
        pid = int((directory / "luigid.pid").read_text())
        os.kill(pid, signal.SIGTERM)


def choose(port: int, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", 'set -euo pipefail; source scripts/_scheduler.sh; echo "${SCHEDULER_ARGS[@]}"'],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        env=script_env(LUIGID_PORT=port, **env),
    )


def test_a_luigid_this_checkout_did_not_start_is_not_joined(site, foreign_luigid, tmp_path, luigid):  # noqa: F811
    ours = {"SORTBOX_LUIGID_DIR": str(luigid["dir"])}
    # Our pid file names a live luigid, but not the one on this port.
    chosen = choose(foreign_luigid, **ours)
    assert chosen.stdout.split() == ["--local-scheduler"], chosen.stderr
    assert f"does not listen on 127.0.0.1:{foreign_luigid}" in chosen.stderr
    # No pid file at all (a fresh checkout).
    chosen = choose(foreign_luigid, SORTBOX_LUIGID_DIR=str(tmp_path / "none"))
    assert chosen.stdout.split() == ["--local-scheduler"] and "no luigid started from this checkout" in chosen.stderr
    # Joining it takes SORTBOX_SCHEDULER=central with an explicit host and port.
    refused = choose(foreign_luigid, SORTBOX_SCHEDULER="central")
    assert refused.returncode != 0 and "needs LUIGID_HOST and LUIGID_PORT" in refused.stderr
    explicit = choose(foreign_luigid, SORTBOX_SCHEDULER="central", LUIGID_HOST="127.0.0.1")
    assert explicit.stdout.split() == ["--scheduler-host", "127.0.0.1", "--scheduler-port", str(foreign_luigid)], (
        explicit.stderr
    )

    # nightly.sh and demo.sh (stopped at scheduling by a bad setting, exit 35) never reach it.
    night = subprocess.run(
        [str(NIGHTLY), REFUSED, "--lsi-num-topics", "0"],
        cwd=site.base,
        capture_output=True,
        text=True,
        timeout=300,
        env={**site.env, "LUIGID_PORT": str(foreign_luigid), **ours},
    )
    assert night.returncode == site.retcode["scheduling_error"], night.stderr
    night_log = site.log(REFUSED).read_text(encoding="utf-8")
    assert "using the local scheduler: the luigid of this checkout" in night_log and "[lsi] num_topics = 0" in night_log
    demo = subprocess.run(
        [
            "bash",
            str(REPO_ROOT / "scripts" / "demo.sh"),
            "--lsi-num-topics",
            "0",
            "--paths-output-root",
            str(tmp_path / "runs"),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=script_env(LUIGID_PORT=foreign_luigid, **ours),
    )
    assert demo.returncode != 0 and "using the local scheduler: the luigid of this checkout" in demo.stderr, (
        demo.stderr[-3000:]
    )
    for status in ("PENDING", "RUNNING", "DONE", "FAILED", "DISABLED"):
        assert rpc(foreign_luigid, "task_list", status=status, upstream_status="", search="") == {}, status
