#!/usr/bin/env bash
# Lint (ruff, configured in pyproject.toml), then run the test suite in .venv (created/reused, with the
# test extras installed).
#   scripts/test.sh [pytest arguments]
# Tests that need Postgres use TEST_DATABASE_URL (default postgresql+psycopg2://postgres@127.0.0.1:5432/test);
# they skip when it is unreachable, and fail instead when CI=true.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" test
cd "$ROOT"
ruff check --quiet .  # the linter first (pyproject.toml): a finding fails the test command
exec python -m pytest "$@"
