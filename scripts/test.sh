#!/usr/bin/env bash
# Lint (ruff, configured in pyproject.toml), then run the test suite in .venv (created/reused, with the
# test extras installed), in one pytest process per core (pytest-xdist; at most 4).
#   scripts/test.sh [pytest arguments]
#   SORTBOX_TEST_WORKERS=0 scripts/test.sh ...   # everything in one process (e.g. for pdb)
# Under CI=true a missing javac is installed (apt-get, as root) for the Java client's tests.
# Tests that need Postgres use TEST_DATABASE_URL (default postgresql+psycopg2://postgres@127.0.0.1:5432/test);
# they skip when it is unreachable, and fail instead when CI=true.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" test
cd "$ROOT"
# The Java client's tests need a JDK: under CI=true, install one from the system's packages when
# javac is missing (root only; otherwise those tests fail under CI=true, and skip elsewhere).
if [ "${CI:-}" = "true" ] && ! command -v javac >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing a JDK for the Java client's tests (apt-get install default-jdk-headless)" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jdk-headless; } >&2 ||
      echo "could not install a JDK: the Java client's tests will fail" >&2
  else
    echo "javac is missing and this is not root: the Java client's tests will fail (install a JDK 17+)" >&2
  fi
fi
ruff check --quiet .  # the linter first (pyproject.toml): a finding fails the test command
# A module's tests stay in one process (--dist loadscope): its module-scoped fixtures (a trained run, a
# nightly site, a luigid) are built once, and tests that build on each other in file order still do.
# Modules go out in collection order (--no-loadscope-reorder): tests/end_to_end, the longest, first.
# More than 4 processes would only multiply the memory: the suite's long modules set its length.
workers="${SORTBOX_TEST_WORKERS:-$(nproc)}"
if [ "$workers" -gt 4 ]; then workers=4; fi
if [ "$workers" -gt 1 ]; then
  exec python -m pytest -n "$workers" --dist loadscope --no-loadscope-reorder "$@"
fi
exec python -m pytest "$@"
