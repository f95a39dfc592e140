#!/usr/bin/env python3
"""Print what a user opens after demo.sh: the absolute paths of the training report, the rule
report and the scores, then, last, the run manifest of TrainPipeline (same luigi arguments).

    python scripts/print_manifest_path.py [--run-date 2026-01-28] [--source-table reviews] ...
"""
import json
import sys

from luigi.cmdline_parser import CmdlineParser


def main(argv: list[str]) -> int:
    with CmdlineParser.global_instance(["--module", "workflows.train", "TrainPipeline", *argv]) as parser:
        path = parser.get_task_obj().manifest_path()
    if not path.is_file():
        print(f"the run manifest {path} does not exist: the run did not complete", file=sys.stderr)
        return 1
    artifacts = json.loads(path.read_text(encoding="utf-8"))["artifacts"]
    for label, key in (("report", "report_html"), ("rule report", "rule_report_html"), ("scores", "scores_csv")):
        if key in artifacts:
            print(f"{label}: {(path.parent / artifacts[key]).resolve()}")
    print(path.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
