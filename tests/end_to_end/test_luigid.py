"""A real luigid started by scripts/luigid.sh: the training DAG on it, its API, its binding, _scheduler.sh."""
import contextlib
import datetime as dt
import json
import os
import signal
import socket
import sqlite3
import stat
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import luigi
import pytest

from tests.conftest import REPO_ROOT, SMALL_TRAINING, TRAINING_FAMILIES
from workflows.train import TrainPipeline

RUN_DATE = dt.date(2026, 11, 23)
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rpc(port: int, method: str, **arguments):
    """Call one luigid API method the way the visualiser does: GET /api/<method>?data=<json>."""
    query = urllib.parse.urlencode({"data": json.dumps(arguments)})
    with NO_PROXY.open(f"http://127.0.0.1:{port}/api/{method}?{query}", timeout=5) as reply:
        return json.load(reply)["response"]


def script_env(**values) -> dict:
    environment = {k: v for k, v in os.environ.items() if k not in ("LUIGI_CONFIG_PATH", "SORTBOX_SCHEDULER")}
    environment.update({k: str(v) for k, v in values.items()})
    return environment


@contextlib.contextmanager
def started_luigid(base: Path, **env):
    """scripts/luigid.sh in the foreground on a free port, state in `base`/luigid (made by the script),
    output in `base`/luigid.out; stopped on leaving. `env`: more environment (SORTBOX_CONFIG, ...)."""
    directory = base / "luigid"
    port = free_port()
    output = open(base / "luigid.out", "w+")
    process = subprocess.Popen(
        ["bash", str(REPO_ROOT / "scripts" / "luigid.sh")],
        cwd=REPO_ROOT, env=script_env(LUIGID_PORT=port, SORTBOX_LUIGID_DIR=directory, **env),
        stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60  # _venv.sh may have to reinstall first
        while True:
            try:
                assert rpc(port, "has_task_history") is True
                break
            except (OSError, ValueError):
                output.seek(0)
                assert process.poll() is None, f"luigid.sh exited with {process.returncode}:\n{output.read()[-3000:]}"
                assert time.monotonic() < deadline, f"luigid did not answer on port {port}:\n{output.read()[-3000:]}"
                time.sleep(0.2)
        yield {"port": port, "dir": directory, "pid": process.pid}
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        output.close()


@pytest.fixture(scope="module")
def luigid(tmp_path_factory):
    """scripts/luigid.sh on a free port with the project's configuration, state in a fresh directory."""
    with started_luigid(tmp_path_factory.mktemp("luigid")) as started:
        yield started


def test_training_dag_runs_on_luigid(luigid, sample_sqlite, pipeline_env, luigi_config, caplog):
    # The URL carries a marker standing for a password: it must reach nothing but the driver.
    root = pipeline_env(sample_sqlite + "?secret_marker=hunter2")
    luigi_config(
        {
            "lsi": {"num_topics": "40"},
            "training": SMALL_TRAINING,
            "source": {"sample_fraction": "0.3"},
        }
    )
    result = luigi.build(
        [TrainPipeline(run_date=RUN_DATE)], scheduler_host="127.0.0.1", scheduler_port=luigid["port"],
        workers=2, detailed_summary=True, log_level="WARNING",
    )
    assert result.scheduling_succeeded, result.summary_text
    assert TrainPipeline(run_date=RUN_DATE).manifest_path().is_file()

    # Every task of the run is DONE in luigid, and nothing else is left.
    done = rpc(luigid["port"], "task_list", status="DONE", upstream_status="", search="")
    assert {task["name"] for task in done.values()} == TRAINING_FAMILIES
    for status in ("PENDING", "RUNNING", "FAILED", "DISABLED"):
        assert rpc(luigid["port"], "task_list", status=status, upstream_status="", search="") == {}, status

    # The long tasks reported progress; the visualiser reads it from the task list or per task.
    by_family = {}
    for task_id, task in done.items():
        by_family.setdefault(task["name"], []).append((task_id, task))
    # One shard ([shards] count = 1): the shard's tasks do the long work and say how far they are.
    (clean_id, clean), = by_family["CleanShard"]
    assert clean["progress_percentage"] == 100
    rows = json.loads((TrainPipeline(run_date=RUN_DATE).manifest_path()).read_text())["rows"]["extracted"]
    assert clean["status_message"] == f"shard 0: cleaned {rows:,} of {rows:,} rows"
    assert rpc(luigid["port"], "get_task_progress_percentage", task_id=clean_id)["progressPercentage"] == 100
    assert rpc(luigid["port"], "get_task_status_message", task_id=clean_id)["statusMessage"].startswith("shard 0: ")
    (_, extract), = by_family["ExtractShard"]
    assert extract["progress_percentage"] == 100 and extract["status_message"].startswith("shard 0: extracted ")
    (_, combined), = by_family["CleanMessages"]
    assert combined["progress_percentage"] == 100 and combined["status_message"].endswith(" quarantined")

    # Task history went to the sqlite database in the luigid directory.
    with sqlite3.connect(luigid["dir"] / "task_history.sqlite") as db:
        recorded = {name for (name,) in db.execute("SELECT DISTINCT name FROM tasks")}
        events = {event for (event,) in db.execute("SELECT DISTINCT event_name FROM task_events")}
    assert recorded == TRAINING_FAMILIES
    assert {"PENDING", "RUNNING", "DONE"} <= events

    # The database URL is in no task parameter, the visualiser's API, the task history, a log
    # line, the manifest, a report or any other output.
    assert "hunter2" not in json.dumps(done) + json.dumps(rpc(luigid["port"], "task_search", task_str="Extract"))
    assert "hunter2" not in (luigid["dir"] / "task_history.sqlite").read_bytes().decode("latin-1")
    assert "hunter2" not in caplog.text
    for path in root.rglob("*"):
        if path.is_file():
            assert b"hunter2" not in path.read_bytes(), path


def listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as the kernel shows them) of the sockets listening on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        with open(table) as fobj:
            next(fobj)
            for line in fobj:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.rsplit(":", 1)
                if int(hex_port, 16) == port and state == "0A":  # 0A: LISTEN
                    found.add(address)
    return found


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="needs Linux /proc/net/tcp")
def test_luigid_listens_on_loopback_only(luigid):
    assert listening_addresses(luigid["port"]) == {"0100007F"}  # 127.0.0.1, and no IPv6 socket


def test_luigid_directory_is_private(luigid):
    directory = luigid["dir"]
    assert directory.is_dir()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    config = (directory / "luigid.cfg").read_text()
    assert "record_task_history = true" in config
    assert f"db_connection = sqlite:///{directory}/task_history.sqlite" in config
    # luigid reads only this file: the project's [scheduler] settings were copied into it.
    for setting in (
        "retry_count = 1",
        "retry_delay = 10",
        "disable_persist = 60",
        "remove_delay = 600",
        "worker_disconnect_delay = 60",
        "prune_on_get_work = true",
    ):
        assert setting in config.splitlines(), setting
    # ... and its [resources] (tests/end_to_end/test_several_workers.py: luigid applies them).
    assert "[resources]\ndatabase = 2\n" in config
    assert int((directory / "luigid.pid").read_text()) == luigid["pid"]  # the foreground luigid too


def test_luigid_refuses_a_port_in_use(luigid, tmp_path):
    done = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "luigid.sh")], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
        env=script_env(LUIGID_PORT=luigid["port"], SORTBOX_LUIGID_DIR=tmp_path / "other"),
    )
    assert done.returncode != 0
    assert "already running" in done.stderr


def choose_scheduler(port: int, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", 'set -euo pipefail; source scripts/_scheduler.sh; echo "${SCHEDULER_ARGS[@]}"'],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=30, env=script_env(LUIGID_PORT=port, **env),
    )


def test_scheduler_choice(luigid):
    port, ours = luigid["port"], {"SORTBOX_LUIGID_DIR": luigid["dir"]}
    central = choose_scheduler(port, **ours)
    assert central.returncode == 0, central.stderr
    assert central.stdout.split() == ["--scheduler-host", "127.0.0.1", "--scheduler-port", str(port)]
    assert f"using the central scheduler at http://127.0.0.1:{port} (this checkout's luigid" in central.stderr

    closed = free_port()
    local = choose_scheduler(closed, **ours)
    assert local.returncode == 0, local.stderr
    assert local.stdout.split() == ["--local-scheduler"]
    assert (
        f"using the local scheduler: the luigid of this checkout (pid {luigid['pid']}) "
        f"does not listen on 127.0.0.1:{closed}" in local.stderr
    )

    assert choose_scheduler(port, SORTBOX_SCHEDULER="local", **ours).stdout.split() == ["--local-scheduler"]
    forced = choose_scheduler(closed, SORTBOX_SCHEDULER="central", LUIGID_HOST="127.0.0.1")
    assert forced.returncode != 0 and forced.stdout == ""
    assert "no luigid answers" in forced.stderr
