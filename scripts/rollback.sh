#!/usr/bin/env bash
# Make the previous release current again (undoes one publish; see README.md, "Nightly retraining"):
#   scripts/rollback.sh [PUBLISH_ROOT]
# PUBLISH_ROOT defaults to the config's [publish] root (config/luigi.cfg, or $SORTBOX_CONFIG),
# relative to the repository root. Prints the release now current. Takes the same lock as
# scripts/nightly.sh ($SORTBOX_LOCK_DIR, default var/lock), so a rollback never races a publish.
#
# Exit codes:
#   0   rolled back; the release now current is printed
#   1   nothing to roll back to (fewer than two releases in history.json), or the publish root
#       or the previous release is missing, or a setup error
#   2   usage error
#   75  a nightly run holds the lock: try again when it has finished
set -euo pipefail
ME="rollback.sh"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/_common.sh"  # cron's PATH completed; die, absolute, find_config

case "${1:-}" in
  -h|--help) sed -n '2,13s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
  -*) die 2 "unknown option: $1 (usage: scripts/rollback.sh [PUBLISH_ROOT])" ;;
esac
[ "$#" -le 1 ] || die 2 "too many arguments (usage: scripts/rollback.sh [PUBLISH_ROOT])"
PUBLISH_ROOT=""
[ "$#" -eq 0 ] || PUBLISH_ROOT="$(absolute "$1")"
set --   # sourced helpers must not see our arguments as theirs

find_config

UMASK="$(umask)"
umask 077
source "$ROOT/scripts/_lock.sh"
open_nightly_lock
flock -n 9 || die 75 "a nightly run holds the lock $LOCK; try again when it has finished"

umask "$UMASK"
cd "$ROOT"
source "$ROOT/scripts/_venv.sh" "" >&2
export LUIGI_CONFIG_PATH="$CONFIG"

if [ -z "$PUBLISH_ROOT" ]; then
  # Relative values of [publish] root are relative to the repository root (where luigi runs).
  PUBLISH_ROOT="$(python -c 'import tasks; from tasks.config import publish; print(publish().root)')" \
    || die 1 "cannot read [publish] root from $CONFIG"
  PUBLISH_ROOT="$(absolute "$PUBLISH_ROOT")"
fi
[ -d "$PUBLISH_ROOT" ] || die 1 "publish root $PUBLISH_ROOT does not exist: nothing to roll back to"

python - "$PUBLISH_ROOT" <<'PY'
import sys
from pathlib import Path

from sortbox.publish import PublishError, current_release, rollback

root = Path(sys.argv[1])
before = current_release(root)
try:
    now = rollback(root)
except PublishError as exc:
    sys.exit(f"rollback.sh: {exc}")
print(f"rollback.sh: {root}: current was {before.name if before else 'nothing'}, is now {now.name}", file=sys.stderr)
print(now.resolve())
PY
