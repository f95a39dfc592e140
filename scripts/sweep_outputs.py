#!/usr/bin/env python3
"""Sweep stale temporary outputs under the configured output and publish roots.

    python scripts/sweep_outputs.py [--older-than-hours 24]

Reads [paths] output_root and [publish] root from the luigi configuration (LUIGI_CONFIG_PATH, or
config/luigi.cfg), relative to the repository root like the tasks do, and calls sortbox.sweep.
scripts/nightly.sh runs it under its lock before each night.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sortbox import sweep  # noqa: E402
from tasks.config import paths, publish  # noqa: E402  (loads the project's luigi configuration)

if __name__ == "__main__":
    sys.exit(sweep.main([str(Path(paths().output_root)), str(Path(publish().root)), *sys.argv[1:]]))
