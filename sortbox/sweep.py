"""Remove stale temporary outputs: `python -m sortbox.sweep ROOT [ROOT ...] [--older-than-hours 24]`.

Every task writes into `<output>-luigi-tmp-<n>` and renames it into place once complete (luigi's
`temporary_path`). A worker killed mid-task leaves that directory behind. A task removes its own
leftovers when it runs again (tasks/base.py); this sweep removes the ones no run will come back
for (a task whose parameters changed, a run date never rerun). It only touches names containing
`-luigi-tmp-` that have not been modified for the given hours, so a run in progress (which
scripts/nightly.sh excludes anyway by holding its lock) keeps its temporary files.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

TEMPORARY_MARK = "-luigi-tmp-"


def stale_temporaries(root: Path, *, older_than_seconds: float, now: float | None = None) -> list[Path]:
    """Temporary outputs under `root` (any depth) not modified for `older_than_seconds`."""
    now = time.time() if now is None else now
    found = []
    for path in sorted(Path(root).rglob(f"*{TEMPORARY_MARK}*")):
        if any(TEMPORARY_MARK in parent.name for parent in path.relative_to(root).parents if parent.name):
            continue  # inside a temporary directory that is itself listed
        if now - path.lstat().st_mtime >= older_than_seconds:
            found.append(path)
    return found


def sweep(roots: list[Path], *, older_than_seconds: float) -> list[Path]:
    """Remove the stale temporaries under each existing root; returns what was removed."""
    removed = []
    for root in roots:
        if not Path(root).is_dir():
            continue
        for path in stale_temporaries(Path(root), older_than_seconds=older_than_seconds):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
    return removed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("roots", nargs="+", type=Path, help="output roots to sweep (missing ones are skipped)")
    parser.add_argument("--older-than-hours", type=float, default=24.0, help="leave anything modified more recently (default 24)")
    args = parser.parse_args(argv)
    if args.older_than_hours < 0:
        parser.error("--older-than-hours must not be negative")
    removed = sweep(args.roots, older_than_seconds=args.older_than_hours * 3600)
    for path in removed:
        print(f"removed stale temporary output {path}")
    print(f"sweep: {len(removed)} stale temporary output(s) removed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
