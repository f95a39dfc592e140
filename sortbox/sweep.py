"""Remove stale temporary outputs.

    python -m sortbox.sweep OUTPUT_ROOT [OUTPUT_ROOT ...] [--publish-root DIR] [--older-than-hours 24]

Every task writes into `<output>-luigi-tmp-<n>` and renames it into place once complete (luigi's
`temporary_path`). A worker killed mid-task leaves that directory behind. A task removes its own
leftovers when it runs again (tasks/base.py); this sweep removes the ones no run will come back
for (a task whose parameters changed, a run date never rerun). Under a publish root it also
removes what sortbox/publish.py leaves when killed between writing and renaming: `.<name>.<uuid>`
(a release directory, the new `current` link, history.json), which no later publish reuses.

It only touches those names, only when not modified for the given hours, and never looks inside a
temporary directory, so a run in progress (which scripts/nightly.sh excludes anyway by holding its
lock) keeps its temporary files, and complete outputs are never touched. Standard library only.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import time
from pathlib import Path

TEMPORARY_MARK = "-luigi-tmp-"
#: sortbox/publish.py's temporaries: a dot, the final name, a dot, uuid4().hex.
PUBLISH_TEMPORARY = re.compile(r"\..+\.[0-9a-f]{32}")


def is_temporary(name: str, *, publish: bool = False) -> bool:
    """True for the name of a temporary output (under a publish root when `publish`)."""
    return TEMPORARY_MARK in name or (publish and PUBLISH_TEMPORARY.fullmatch(name) is not None)


def stale_temporaries(
    root: Path, *, older_than_seconds: float, now: float | None = None, publish: bool = False
) -> list[Path]:
    """Temporary outputs under `root` (any depth) not modified for `older_than_seconds`.

    Symbolic links are not followed, and nothing inside a temporary directory is listed.
    """
    now = time.time() if now is None else now
    found = []
    for directory, subdirectories, files in os.walk(root):  # does not descend into symlinks
        temporary = [name for name in subdirectories + files if is_temporary(name, publish=publish)]
        subdirectories[:] = sorted(name for name in subdirectories if name not in temporary)
        for name in temporary:
            path = Path(directory) / name
            try:
                modified = path.lstat().st_mtime
            except FileNotFoundError:
                continue  # gone meanwhile
            if now - modified >= older_than_seconds:
                found.append(path)
    return sorted(found)


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def sweep(
    roots: list[Path], *, older_than_seconds: float, publish_roots: tuple[Path, ...] | list[Path] = ()
) -> list[Path]:
    """Remove the stale temporaries under each existing root; returns what was removed."""
    removed = []
    for root, publish in [(root, False) for root in roots] + [(root, True) for root in publish_roots]:
        if not Path(root).is_dir():
            continue
        for path in stale_temporaries(Path(root), older_than_seconds=older_than_seconds, publish=publish):
            remove(path)
            removed.append(path)
    return removed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("roots", nargs="+", type=Path, help="output roots to sweep (missing ones are skipped)")
    parser.add_argument(
        "--publish-root", action="append", type=Path, default=[], help="a publish root to sweep too (repeatable)"
    )
    parser.add_argument(
        "--older-than-hours", type=float, default=24.0, help="leave anything modified more recently (default 24)"
    )
    args = parser.parse_args(argv)
    if args.older_than_hours < 0:
        parser.error("--older-than-hours must not be negative")
    removed = sweep(args.roots, older_than_seconds=args.older_than_hours * 3600, publish_roots=args.publish_root)
    for path in removed:
        print(f"removed stale temporary output {path}")
    print(f"sweep: {len(removed)} stale temporary output(s) removed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
