"""Faults for tests/end_to_end/test_nightly_on_luigid.py and test_several_workers.py, loaded by
Python at start-up when this directory is on PYTHONPATH (the tests set it for the processes they
start; production never does).

    SORTBOX_TEST_FAULT=fail-grid-search   a grid-search fold (GridSearchFold) raises
    SORTBOX_TEST_FAULT=hang-grid-search   a grid-search fold writes its pid to $SORTBOX_TEST_MARK and sleeps
    SORTBOX_TEST_FAULT=hang-task-once     the first run of task family $SORTBOX_TEST_TASK, in any
                                          process, writes its pid to $SORTBOX_TEST_MARK and sleeps
                                          inside its atomic output (the temporary directory made);
                                          every later run of it (the mark exists) runs as usual
    SORTBOX_TEST_FAULT=slow-extract       ExtractShard sleeps $SORTBOX_TEST_SECONDS, then extracts
"""
import contextlib
import os
import time

_FAULT = os.environ.get("SORTBOX_TEST_FAULT")

if _FAULT in ("fail-grid-search", "hang-grid-search"):
    import sortbox.model_selection  # before tasks.train imports fit_split from it

    def _faulty_fit_split(*args, **kwargs):
        if _FAULT == "fail-grid-search":
            raise RuntimeError("GridSearch failed on purpose (test fault)")
        with open(os.environ["SORTBOX_TEST_MARK"], "w") as mark:
            mark.write(str(os.getpid()))
        time.sleep(3600)

    sortbox.model_selection.fit_split = _faulty_fit_split

if _FAULT == "hang-task-once":
    import tasks.base

    _atomic_output = tasks.base.SortboxTask.atomic_output

    @contextlib.contextmanager
    def _hanging_atomic_output(self):
        with _atomic_output(self) as path:
            if self.get_task_family() == os.environ["SORTBOX_TEST_TASK"]:
                try:
                    mark = os.open(os.environ["SORTBOX_TEST_MARK"], os.O_WRONLY | os.O_CREAT | os.O_EXCL)
                except FileExistsError:
                    pass  # not the first run: run as usual
                else:
                    os.write(mark, str(os.getpid()).encode())
                    os.close(mark)
                    time.sleep(3600)
            yield path

    tasks.base.SortboxTask.atomic_output = _hanging_atomic_output

if _FAULT == "slow-extract":
    import tasks.extract

    _extract_run = tasks.extract.ExtractShard.run

    def _slow_extract_run(self):
        time.sleep(float(os.environ["SORTBOX_TEST_SECONDS"]))
        return _extract_run(self)

    tasks.extract.ExtractShard.run = _slow_extract_run
