"""Three worker processes on one luigid, as three hosts would run them: the same command each, one
shared output root, one run.

Every task runs exactly once (luigid's task history), the outputs are those of a single-process
run on the local scheduler, and all three commands exit 0. A worker killed with SIGKILL in the
middle of a task loses that task to another worker, which finishes the run with the same outputs.
[resources] database caps how many database readers run at once across the workers. And, through
luigid's API alone, when luigid hands a dead worker's task on and when it counts it as failed.

The workers run `scripts/run_luigi.py` with the arguments of the `luigi` command: luigi's own exit
code is 25 or 10 for a worker whose tasks other workers ran (README "Running on several
machines"). The task held up in the kill test and the slow extraction come from a
`sitecustomize` put on PYTHONPATH for these workers only (tests/end_to_end/night_hooks/).
"""

from __future__ import annotations

import configparser
import datetime as dt
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import luigi.rpc
import pytest

from sortbox.checkpoint import comparable_output
from sortbox.sweep import TEMPORARY_MARK
from tests.conftest import REPO_ROOT, TRAINING_FAMILIES
from tests.end_to_end.test_luigid import rpc, started_luigid

HOOKS = Path(__file__).with_name("night_hooks")
RUN_DATE = "2026-11-23"
HOSTS = 3
#: A small training run: a tenth of the sample (about 560 messages), 20 LSI topics, two values of
#: C, the folds drawn once: what is tested is who runs the tasks, not the models.
SMALL = [
    "--source-sample-fraction", "0.1",
    "--lsi-num-topics", "20",
    "--training-folds", "3",
    "--training-param-grid", '{"C": [0.1, 1.0]}',
    "--training-small-data-param-grid", '{"C": [0.1, 1.0]}',
    "--training-small-data-cv-repeats", "1",
]  # fmt: skip
#: Configuration of this test only, over config/luigi.cfg (scripts/luigid.sh copies [scheduler] and
#: [resources] from the same file into luigid's): a killed worker is taken for dead after 10 s
#: instead of 60, and an idle worker asks for work every 1 to 1.5 s instead of 1 to 6 s.
TEST_SETTINGS = {"scheduler": {"worker_disconnect_delay": "10"}, "worker": {"wait_jitter": "0.5"}}
BOUND = 600  # seconds a run of the three workers may take before the test gives up on it


@pytest.fixture(scope="module")
def site(tmp_path_factory, sample_sqlite):
    """The test configuration file and the database the workers read."""
    base = tmp_path_factory.mktemp("several_workers")
    config = configparser.ConfigParser(interpolation=None)
    config.read(REPO_ROOT / "config" / "luigi.cfg", encoding="utf-8")
    for section, options in TEST_SETTINGS.items():
        config[section].update(options)
    path = base / "luigi.cfg"
    with open(path, "w", encoding="utf-8") as fobj:
        config.write(fobj)
    return {"base": base, "config": path, "db": sample_sqlite, "database_slots": config.getint("resources", "database")}


@pytest.fixture
def luigid(site, tmp_path):
    """A fresh luigid for each test (its own task history), on the test configuration."""
    with started_luigid(tmp_path, SORTBOX_CONFIG=site["config"]) as started:
        yield started


def worker_env(site, **extra) -> dict:
    environment = {k: v for k, v in os.environ.items() if k not in ("LUIGI_CONFIG_PATH", "PYTHONPATH")}
    return {**environment, "LUIGI_CONFIG_PATH": str(site["config"]), "SORTBOX_DB_URL": site["db"], **extra}


def start_worker(host: Path, scheduler: list[str], arguments: list[str], env: dict) -> subprocess.Popen:
    """One host's worker: the same command on every host, its own working and luigi lock directory,
    in a process group of its own (a host lost loses all its processes)."""
    host.mkdir(exist_ok=True)
    command = [sys.executable, str(REPO_ROOT / "scripts" / "run_luigi.py"), *arguments, *scheduler]
    command += ["--workers", "1", "--lock-pid-dir", str(host / "lock"), "--log-level", "INFO"]
    with open(host / "worker.log", "w") as log:
        return subprocess.Popen(
            command, cwd=host, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def training(root: Path) -> list[str]:
    run = ["--module", "workflows.train", "TrainPipeline", "--run-date", RUN_DATE, "--paths-output-root", str(root)]
    return run + SMALL


def central(luigid) -> list[str]:
    return ["--scheduler-host", "127.0.0.1", "--scheduler-port", str(luigid["port"])]


def wait_all(workers: dict[str, subprocess.Popen], bound: float = BOUND) -> dict[str, int]:
    """The exit codes of the workers, once all have ended; any still running after `bound` seconds is killed."""
    deadline = time.monotonic() + bound
    try:
        for process in workers.values():
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
    finally:
        for process in workers.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    return {name: process.returncode for name, process in workers.items()}


def logs(base: Path, names) -> str:
    return "\n".join(f"--- {name}\n{(base / name / 'worker.log').read_text()[-3000:]}" for name in names)


@pytest.fixture(scope="module")
def reference(site):
    """The same run in one process on the local scheduler: its output root."""
    root = site["base"] / "reference"
    worker = start_worker(site["base"] / "local", ["--local-scheduler"], training(root), worker_env(site))
    assert wait_all({"local": worker}) == {"local": 0}, logs(site["base"], ["local"])
    return root


def history(luigid) -> dict[str, dict]:
    """luigid's task history: task id -> its family and events (name, time) from its first RUNNING
    on (before it, each worker that scheduled the task recorded a PENDING)."""
    tasks: dict[str, dict] = defaultdict(lambda: {"events": []})
    with sqlite3.connect(luigid["dir"] / "task_history.sqlite") as db:
        rows = db.execute(
            "SELECT tasks.task_id, tasks.name, task_events.event_name, task_events.ts FROM task_events "
            "JOIN tasks ON task_events.task_id = tasks.id ORDER BY task_events.id"
        )
        for task_id, family, event, stamp in rows:
            tasks[task_id]["family"] = family
            if event != "PENDING" or tasks[task_id]["events"]:
                tasks[task_id]["events"].append((event, dt.datetime.fromisoformat(stamp)))
    return dict(tasks)


def event_names(task: dict) -> str:
    return " ".join(name for name, _ in task["events"])


#: A task that ran once: RUNNING, then DONE. One that yields dependencies (TrainClassifiers, its
#: per-class chains) is PENDING while they run, then RUNNING again from where it yielded.
RAN_ONCE = re.compile(r"RUNNING( PENDING RUNNING)* DONE")


def not_run_once(tasks: dict[str, dict]) -> dict[str, str]:
    return {task_id: event_names(task) for task_id, task in tasks.items() if not RAN_ONCE.fullmatch(event_names(task))}


def comparable(root: Path) -> dict[str, bytes]:
    """Every file under the output root, by relative path, less the fit timings and the output root
    (sortbox.checkpoint.comparable_output)."""
    return {str(p.relative_to(root)): comparable_output(p, root) for p in sorted(root.rglob("*")) if p.is_file()}


def assert_same_outputs(root: Path, reference: Path) -> None:
    assert not [path for path in root.rglob(f"*{TEMPORARY_MARK}*")], "temporary outputs left behind"
    ours, theirs = comparable(root), comparable(reference)
    assert sorted(ours) == sorted(theirs)
    assert [name for name in ours if ours[name] != theirs[name]] == []
    manifest = json.loads(next(root.glob(f"{RUN_DATE}/TrainPipeline-*/manifest.json")).read_text())
    for key in ("model_json", "scores_csv"):  # and the two files a client takes: not even masked
        name = manifest["artifacts"][key]
        relative = next(root.glob(f"{RUN_DATE}/TrainPipeline-*")).relative_to(root) / name
        assert (root / relative).read_bytes() == (reference / relative).read_bytes(), key


def tasks_run_by(base: Path, names) -> dict[str, int]:
    """How many tasks each worker ran, from its log."""
    return {
        name: len(re.findall(r"\] Worker Worker\(.*\) running ", (base / name / "worker.log").read_text()))
        for name in names
    }


def test_three_workers_run_every_task_once_with_the_outputs_of_one_process(site, luigid, reference, tmp_path):
    root = tmp_path / "runs"  # the shared output root
    names = [f"host{number}" for number in range(1, HOSTS + 1)]
    workers = {name: start_worker(tmp_path / name, central(luigid), training(root), worker_env(site)) for name in names}
    codes = wait_all(workers)
    assert codes == dict.fromkeys(names, 0), logs(tmp_path, names)

    tasks = history(luigid)
    assert {task["family"] for task in tasks.values()} == TRAINING_FAMILIES
    assert not_run_once(tasks) == {}
    assert any("PENDING" in event_names(task) for task in tasks.values())  # TrainClassifiers yielded
    assert len(tasks) == len(list(root.glob(f"{RUN_DATE}/*")))  # one output directory per task run
    ran = tasks_run_by(tmp_path, names)
    assert sum(1 for count in ran.values() if count) >= 2, f"the work was not shared: {ran}"
    print(f"tasks run by each worker: {ran}")
    assert_same_outputs(root, reference)


def test_a_worker_killed_in_a_task_loses_it_to_another_that_finishes_the_run(site, luigid, reference, tmp_path):
    root = tmp_path / "runs"
    mark = tmp_path / "fit-tfidf-started"
    names = [f"host{number}" for number in range(1, HOSTS + 1)]
    hold = worker_env(
        site, PYTHONPATH=str(HOOKS), SORTBOX_TEST_FAULT="hang-task-once", SORTBOX_TEST_TASK="FitTfidf",
        SORTBOX_TEST_MARK=str(mark),
    )  # fmt: skip
    workers = {name: start_worker(tmp_path / name, central(luigid), training(root), hold) for name in names}
    try:
        # The visualiser's API says which worker runs FitTfidf (its first run hangs until killed).
        deadline = time.monotonic() + BOUND
        running = {}
        while not running or not mark.exists():
            assert time.monotonic() < deadline, "FitTfidf never started"
            assert all(process.poll() is None for process in workers.values()), logs(tmp_path, names)
            listed = rpc(luigid["port"], "task_list", status="RUNNING", upstream_status="", search="FitTfidf")
            running = {task_id: task["worker_running"] for task_id, task in listed.items()}
            time.sleep(0.2)
        (worker_id,) = running.values()
        pid = int(re.search(r"\bpid=(\d+)", worker_id).group(1))
        assert int(mark.read_text()) == pid  # the worker process runs its task itself (--workers 1)
        (killed,) = [name for name, process in workers.items() if process.pid == pid]
        os.killpg(pid, signal.SIGKILL)  # the host is lost: the worker and anything it started
    except BaseException:
        wait_all(workers, bound=0)
        raise
    codes = wait_all(workers)
    assert codes == {name: (-signal.SIGKILL if name == killed else 0) for name in names}, logs(tmp_path, names)

    tasks = history(luigid)
    assert {task["family"] for task in tasks.values()} == TRAINING_FAMILIES
    (fit_tfidf,) = running
    assert event_names(tasks.pop(fit_tfidf)) == "RUNNING RUNNING DONE"  # killed, then run by another worker
    assert not_run_once(tasks) == {}
    assert "goes back to PENDING for another worker" in (luigid["dir"] / "luigi-server.log").read_text()
    survivors = "".join((tmp_path / name / "worker.log").read_text() for name in names if name != killed)
    assert "left by an interrupted earlier attempt" in survivors  # the killed run's temporary directory
    assert_same_outputs(root, reference)


def test_resources_cap_the_database_readers_running_at_once(site, luigid, tmp_path):
    """One extraction in one more shard than [resources] database allows, on three workers: once
    the plan is done, every shard is ready at the same moment and each takes 3 s, so the cap
    alone keeps the readers (PlanShards, ExtractShard) at [resources] database at once."""
    slots = site["database_slots"]
    assert slots >= 1
    names = ["host1", "host2", "host3"]
    slow = worker_env(site, PYTHONPATH=str(HOOKS), SORTBOX_TEST_FAULT="slow-extract", SORTBOX_TEST_SECONDS="3")
    arguments = ["--module", "tasks.extract", "ExtractMessages", "--run-date", RUN_DATE]
    arguments += ["--paths-output-root", str(tmp_path / "runs"), "--shards-count", str(slots + 1)]
    rpc(luigid["port"], "pause")  # until every worker has the DAG: all three then compete for the shards
    workers = {name: start_worker(tmp_path / name, central(luigid), arguments, slow) for name in names}
    try:
        deadline = time.monotonic() + 120
        while len(rpc(luigid["port"], "worker_list")) < len(names):
            assert time.monotonic() < deadline, logs(tmp_path, names)
            time.sleep(0.2)
    except BaseException:
        wait_all(workers, bound=0)
        raise
    finally:
        rpc(luigid["port"], "unpause")
    assert wait_all(workers) == dict.fromkeys(names, 0), logs(tmp_path, names)

    tasks = history(luigid)
    families = Counter(task["family"] for task in tasks.values())
    assert families == {"PlanShards": 1, "ExtractShard": slots + 1, "ExtractMessages": 1}
    assert not_run_once(tasks) == {}
    # How many database readers ran at once, at most: a task's slot is free again when it is DONE.
    readers = [task for task in tasks.values() if task["family"] in ("PlanShards", "ExtractShard")]
    changes = sorted(
        (stamp, +1 if event == "RUNNING" else -1) for task in readers for event, stamp in task["events"]
    )
    at_once = peak = 0
    for _, change in changes:  # at equal times -1 sorts first: the slot freed, then taken
        at_once += change
        peak = max(peak, at_once)
    assert peak == slots, f"{peak} database readers ran at once; [resources] database = {slots}"


def test_luigid_hands_a_dead_workers_task_on_once_and_only_to_a_worker_that_has_it(site, luigid):
    """The scheduler's side alone, through luigid's API as workers call it: a task whose worker
    stopped answering goes back to PENDING for another worker that has it in its DAG; not when
    no other worker has it (a task its worker yielded), nor a second time: those are failures,
    disabled at once (retry_count = 1)."""
    scheduler = luigi.rpc.RemoteScheduler(url=f"http://127.0.0.1:{luigid['port']}/")
    delay = float(TEST_SETTINGS["scheduler"]["worker_disconnect_delay"])

    def add(worker: str, task_id: str) -> None:
        scheduler.add_task(worker=worker, task_id=task_id, family=task_id, status="PENDING", runnable=True)

    def status(task_id: str) -> str:
        (found,) = [name for name, tasks in scheduler.task_search(task_str=task_id).items() if task_id in tasks]
        return found

    for worker in ("a", "b", "c"):
        add(worker, "Shared")  # in the DAG of three workers
    add("lonely", "Own")  # in the DAG of one
    assert scheduler.get_work(worker="a", host="a")["task_id"] == "Shared"
    assert scheduler.get_work(worker="lonely", host="lonely")["task_id"] == "Own"

    # a and lonely are lost; b asks for work and c pings, as live workers do.
    deadline = time.monotonic() + delay + 30
    while scheduler.get_work(worker="b", host="b")["task_id"] != "Shared":
        scheduler.ping(worker="c")
        assert time.monotonic() < deadline, status("Shared")
        time.sleep(0.5)
    assert status("Shared") == "RUNNING"  # on b now
    assert status("Own") == "DISABLED"  # nobody else could run it: a failure

    # b is lost in the same task: the second time counts as a failure.
    deadline = time.monotonic() + delay + 30
    while status("Shared") == "RUNNING":
        assert scheduler.get_work(worker="c", host="c")["task_id"] is None
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert status("Shared") == "DISABLED"
