"""Faults for tests/end_to_end/test_nightly_on_luigid.py, loaded by Python at start-up when this
directory is on PYTHONPATH (the test sets it for one night only; production never does).

    SORTBOX_TEST_FAULT=fail-grid-search   GridSearch raises
    SORTBOX_TEST_FAULT=hang-grid-search   GridSearch writes its pid to $SORTBOX_TEST_MARK and sleeps
"""
import os
import time

_FAULT = os.environ.get("SORTBOX_TEST_FAULT")

if _FAULT in ("fail-grid-search", "hang-grid-search"):
    import sortbox.model_selection  # before tasks.train imports grid_search from it

    def _faulty_grid_search(*args, **kwargs):
        if _FAULT == "fail-grid-search":
            raise RuntimeError("GridSearch failed on purpose (test fault)")
        with open(os.environ["SORTBOX_TEST_MARK"], "w") as mark:
            mark.write(str(os.getpid()))
        time.sleep(3600)

    sortbox.model_selection.grid_search = _faulty_grid_search
