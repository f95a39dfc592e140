#!/usr/bin/env python3
"""Run luigi (same arguments as the `luigi` command) and record each task's seconds and peak RSS.

    python scripts/luigi_timed.py TIMINGS.jsonl --module workflows.train TrainPipeline --local-scheduler ...

Used by scripts/benchmark.py for its stage-by-stage figures: one JSON line per task that ran
(task family and class label, seconds from START to SUCCESS, its wall-clock start and end, peak
RSS of the process that ran it). With one worker tasks run in this process, whose RSS is sampled
every 20 ms from the task's start; with --workers N each task runs in a process forked for it,
whose own high-water mark the kernel keeps (that figure includes what it shares with the worker
it was forked from).
"""
from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from pathlib import Path

import luigi
import psutil
from luigi.cmdline import luigi_run


class PeakSampler(threading.Thread):
    """Samples this process's RSS; `peak` is the largest value since the last `reset()`."""

    def __init__(self, interval: float = 0.02):
        super().__init__(daemon=True)
        self.process, self.interval, self.peak = psutil.Process(), interval, 0

    def reset(self) -> None:
        self.peak = self.process.memory_info().rss

    def run(self) -> None:
        while True:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval)


def main(argv: list[str]) -> None:
    main_pid = os.getpid()
    timings = Path(argv[0])
    timings.write_text("")
    sampler = PeakSampler()
    sampler.start()
    started: dict[str, float] = {}
    wall_started: dict[str, float] = {}

    @luigi.Task.event_handler(luigi.Event.START)
    def on_start(task):
        sampler.reset()
        started[task.task_id] = time.perf_counter()
        wall_started[task.task_id] = time.time()

    @luigi.Task.event_handler(luigi.Event.SUCCESS)
    def on_success(task):
        seconds = time.perf_counter() - started.pop(task.task_id, time.perf_counter())
        label = getattr(task, "class_name", None)
        if os.getpid() == main_pid:
            peak_mb = sampler.peak / 2**20
        else:  # a process forked for this task (--workers N): the kernel's figure, in KiB
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        record = {
            "task": task.get_task_family(),
            "class": label,
            "seconds": round(seconds, 3),
            "peak_rss_mb": round(peak_mb, 1),
            # Wall-clock start and end (epoch seconds): which tasks ran at the same time.
            "started": round(wall_started.pop(task.task_id, time.time()), 3),
            "ended": round(time.time(), 3),
        }
        with open(timings, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    luigi_run(argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
