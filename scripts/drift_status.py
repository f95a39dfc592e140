#!/usr/bin/env python3
"""Print the drift status of a night, for scripts/nightly.sh's `end:` log line.

    python scripts/drift_status.py --date 2026-11-23 [the night's other luigi arguments...]

Prints ok, warn or alert (the worst measure of the night's DriftReport), n/a (nothing to compare
with: no live release, or one without a drift profile) or none (the night has no drift report:
it failed before). Always exits 0: the status is information, the night's exit code is the verdict.
"""
import json
import sys

from luigi.cmdline_parser import CmdlineParser


def main(argv: list[str]) -> int:
    try:
        with CmdlineParser.global_instance(["--module", "workflows.nightly", "NightlyRetrain", *argv]) as parser:
            night = parser.get_task_obj()
            from tasks.drift import DriftReport

            path = DriftReport(run_date=night.date, nightly=True).output_path("drift")
        status = json.loads(path.read_text(encoding="utf-8"))["status"] if path.is_file() else "none"
    except Exception as exc:  # a broken config must not hide the night's own exit code
        print(f"drift_status: {exc}", file=sys.stderr)
        status = "none"
    print(status)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
