#!/usr/bin/env python3
"""Print the run manifest path of TrainPipeline for the same luigi arguments demo.sh was given.

    python scripts/print_manifest_path.py [--run-date 2026-11-23] [--source-table reviews] ...
"""
import sys

from luigi.cmdline_parser import CmdlineParser


def main(argv: list[str]) -> int:
    with CmdlineParser.global_instance(["--module", "workflows.train", "TrainPipeline", *argv]) as parser:
        path = parser.get_task_obj().manifest_path()
    if not path.is_file():
        print(f"the run manifest {path} does not exist: the run did not complete", file=sys.stderr)
        return 1
    print(path.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
