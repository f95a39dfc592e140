#!/usr/bin/env python3
"""Sweep stale temporary outputs under the configured output and publish roots.

    python scripts/sweep_outputs.py [--older-than-hours 24]

Reads [paths] output_root and [publish] root from the luigi configuration (LUIGI_CONFIG_PATH, or
config/luigi.cfg), relative ones resolved against the current directory as the tasks resolve them
(scripts/nightly.sh runs from the repository root), and calls sortbox.sweep on them: `-luigi-tmp-`
leftovers under both, and sortbox/publish.py's own `.<name>.<uuid>` leftovers under the publish
root. scripts/nightly.sh runs it under its lock before each night.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sortbox import sweep  # noqa: E402
from tasks.config import paths, publish  # noqa: E402  (loads the project's luigi configuration)

if __name__ == "__main__":
    output_root, publish_root = Path(paths().output_root), Path(publish().root)
    sys.exit(sweep.main([str(output_root), "--publish-root", str(publish_root), *sys.argv[1:]]))
