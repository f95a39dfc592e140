#!/usr/bin/env bash
# Run the whole training DAG on the shipped sample data (sqlite) with luigi's local scheduler.
# Creates/reuses .venv, builds data/sample.sqlite if missing; prints the run manifest's path last.
#   scripts/demo.sh [--run-date 2026-11-23] [any other luigi arguments]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
cd "$ROOT"
python scripts/build_sample_db.py
unset LUIGI_CONFIG_PATH  # the demo runs on the project's config/luigi.cfg
export SORTBOX_DB_URL="sqlite:///$ROOT/data/sample.sqlite"
luigi --module workflows.train TrainPipeline --local-scheduler --workers 2 "$@"
python scripts/print_manifest_path.py "$@"
