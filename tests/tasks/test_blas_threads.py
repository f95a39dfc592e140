"""tasks.base.one_blas_thread: every task's process runs one BLAS thread, with one worker or
several (the LSI's bytes must not depend on how many cores a task's process has); threads the
user chose are left alone."""
import json
import os
import textwrap
from pathlib import Path

import pytest

from tasks.base import THREAD_VARIABLES
from tests.conftest import REPO_ROOT, run_luigi_command

#: A task that records the threads its own process would use, run by the real `luigi` command.
PROBE = textwrap.dedent(
    """
    import json

    import luigi
    from threadpoolctl import threadpool_info

    from tasks.base import SortboxTask


    class ThreadProbe(SortboxTask):
        number = luigi.IntParameter()

        def run(self):
            import scipy.linalg  # noqa: F401  (a BLAS loaded after the task started counts too)

            blas = sorted({info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"})
            with self.atomic_output() as out:
                (out / "threads.json").write_text(json.dumps({"blas": blas}))


    class AllProbes(luigi.WrapperTask):
        def requires(self):
            return [ThreadProbe(number=number) for number in range(2)]
    """
)


def probe_threads(tmp_path: Path, workers: int, **env: str) -> list[dict]:
    (tmp_path / "thread_probe.py").write_text(PROBE)
    root = tmp_path / f"runs-{workers}-{len(env)}"
    clean_env = {key: value for key, value in os.environ.items() if key not in THREAD_VARIABLES}
    done = run_luigi_command(
        [
            "--module",
            "thread_probe",
            "AllProbes",
            "--local-scheduler",
            "--workers",
            str(workers),
            "--paths-output-root",
            str(root),
        ],
        env={**clean_env, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT)]), **env},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = sorted(root.glob("*/ThreadProbe-*/threads.json"))
    assert len(found) == 2, found
    return [json.loads(path.read_text()) for path in found]


@pytest.mark.parametrize("workers", [1, 2])
def test_every_task_runs_one_blas_thread_whatever_the_workers(tmp_path, workers):
    for recorded in probe_threads(tmp_path, workers=workers):
        assert recorded == {"blas": [1]}


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one core: OpenBLAS runs one thread anyway")
def test_threads_the_user_chose_are_left_alone(tmp_path):
    cores = len(os.sched_getaffinity(0))  # more than one, and no more than OpenBLAS allows
    for recorded in probe_threads(tmp_path, workers=2, OPENBLAS_NUM_THREADS=str(cores)):
        assert recorded == {"blas": [cores]}
