#!/usr/bin/env bash
# Run the whole training DAG on the shipped sample data (sqlite): on the central scheduler when a
# luigid answers on 127.0.0.1:$LUIGID_PORT (scripts/luigid.sh), else luigi's local scheduler
# (SORTBOX_SCHEDULER=local|central forces one; see scripts/_scheduler.sh).
# Creates/reuses .venv, builds data/sample.sqlite if missing; prints the run manifest's path last.
#   scripts/demo.sh [--run-date 2026-11-23] [any other luigi arguments]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" ""
cd "$ROOT"
python scripts/build_sample_db.py
unset LUIGI_CONFIG_PATH  # the demo runs on the project's config/luigi.cfg
export SORTBOX_DB_URL="sqlite:///$ROOT/data/sample.sqlite"
source "$ROOT/scripts/_scheduler.sh"
luigi --module workflows.train TrainPipeline "${SCHEDULER_ARGS[@]}" --workers 2 "$@"
python scripts/print_manifest_path.py "$@"
