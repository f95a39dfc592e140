#!/usr/bin/env bash
# The nightly retraining run, as cron calls it (see scripts/crontab.example and README.md):
#   scripts/nightly.sh [DATE] [luigi arguments...]
# DATE (YYYY-MM-DD, default: yesterday, the last complete day when cron runs after midnight) is the
# night: run date of the training and the day whose rows are scored. Further arguments go to luigi as they are (e.g. --source-table x).
# Runs `luigi --module workflows.nightly NightlyRetrain --date DATE --workers 2` from the repository
# root, with the venv, under an exclusive lock, appending all output to a dated log file. luigi runs
# through scripts/run_luigi.py: the same, except that a night whose work was shared with workers on
# other hosts (README "Running on several machines") exits 0 on every host once it is complete.
#
# Exit codes:
#   0   the night ran (trained, gated, published, scored the day)
#   1   setup error: config file missing, lock or log directory unusable, venv could not be made
#   2   usage error: DATE is not a valid YYYY-MM-DD date (or luigi refused its arguments)
#   75  another nightly run (or scripts/rollback.sh) holds the lock; nothing was done (EX_TEMPFAIL)
#   143 (129, 130) stopped by SIGTERM (SIGHUP, SIGINT): luigi and its task processes were stopped too
#   other: luigi's own exit code, per the [retcode] section of the config (config/luigi.cfg:
#       30 a task failed, 35 scheduling error, 20 missing data, 25 not run, 10 already running,
#       40 unhandled exception). A failure before publishing leaves the published model unchanged;
#       only the day's scoring runs after the (atomic) publish.
#
# Environment:
#   SORTBOX_DB_URL     database to read (never logged; see README.md)
#   SORTBOX_CONFIG     luigi config file (default: config/luigi.cfg); exported as LUIGI_CONFIG_PATH
#   SORTBOX_LOCK_DIR   lock directory (default var/lock; created mode 0700), lock file nightly.lock
#   SORTBOX_LOG_DIR    log directory (default var/log; created mode 0700), log nightly-DATE.log
#   SORTBOX_SCHEDULER, LUIGID_PORT, SORTBOX_LUIGID_DIR, LUIGID_HOST
#                      read by scripts/_scheduler.sh: this checkout's own luigid when it runs, else
#                      the local scheduler (the log says why); never another user's or checkout's luigid
set -euo pipefail
ME="nightly.sh"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/_common.sh"  # cron's PATH completed; die, absolute, find_config

# --- arguments ---------------------------------------------------------------------------------
DATE="$(date -d yesterday +%F)"
if [ "$#" -gt 0 ] && [[ "$1" != -* ]]; then
  DATE="$1"
  shift
fi
LUIGI_ARGS=("$@")
set --   # sourced helpers below must not see our arguments as theirs
if ! [[ "$DATE" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]] || [ "$(date -d "$DATE" +%F 2>/dev/null || true)" != "$DATE" ]; then
  die 2 "DATE must be a calendar date written YYYY-MM-DD (e.g. $(date +%F)), not '$DATE'"
fi

# --- paths (relative ones are relative to the caller's directory) ------------------------------
find_config
LOG_DIR="$(absolute "${SORTBOX_LOG_DIR:-$ROOT/var/log}")"

UMASK="$(umask)"
umask 077   # the lock and log files are private; the published files keep the caller's umask (below)
source "$ROOT/scripts/_lock.sh"
open_nightly_lock
mkdir -p -m 700 "$LOG_DIR" 2>/dev/null || die 1 "cannot create the log directory $LOG_DIR (SORTBOX_LOG_DIR)"
LOG="$LOG_DIR/nightly-$DATE.log"
touch "$LOG" 2>/dev/null && [ -w "$LOG" ] || die 1 "cannot write the log file $LOG"

stamp() { date '+%Y-%m-%dT%H:%M:%S%z'; }
log() { printf '%s %s[%s] %s\n' "$(stamp)" "$ME" "$$" "$*" >>"$LOG"; }

# --- the lock: one nightly run (or rollback) at a time; a second launch gives up at once ------
if ! flock -n 9; then
  message="another nightly run holds the lock $LOCK; not starting the run for $DATE (exit 75)"
  echo "$ME: $message" >&2
  log "$message"
  exit 75
fi

# From here on everything goes to the log; the caller's stderr (fd 3) gets where, and the outcome.
exec 3>&2
exec >>"$LOG" 2>&1
# The night's drift status for the end line: ok/warn/alert, n/a (nothing to compare), none (no report).
night_drift() { timeout 60 python "$ROOT/scripts/drift_status.py" --date "$DATE" ${LUIGI_ARGS[@]+"${LUIGI_ARGS[@]}"} 2>/dev/null || echo none; }
finish() {
  local code=$?
  log "end: date $DATE, exit code $code, drift $(night_drift)"
  echo "$ME: night $DATE finished with exit code $code (log: $LOG)" >&3
}
trap finish EXIT

# Stopped from outside (SIGTERM from timeout, cron or systemd; Ctrl-C; a hang-up): stop luigi and
# every process it started (its task processes), so that none goes on writing outputs or holding
# the lock, and end with 128 + the signal number (143 for SIGTERM) in the log's end line.
LUIGI_PID=""
stopped() {
  local name="$1" code="$2"
  trap - TERM INT HUP
  if [ -n "$LUIGI_PID" ] && kill -0 -- "-$LUIGI_PID" 2>/dev/null; then
    log "$name received: stopping luigi (process group $LUIGI_PID)"
    kill -TERM -- "-$LUIGI_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do   # 10 s to end, then SIGKILL
      kill -0 -- "-$LUIGI_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 -- "-$LUIGI_PID" 2>/dev/null; then
      log "luigi did not stop within 10 s of $name: killing process group $LUIGI_PID"
      kill -KILL -- "-$LUIGI_PID" 2>/dev/null || true
    fi
  else
    log "$name received"
  fi
  exit "$code"
}
trap 'stopped SIGTERM 143' TERM
trap 'stopped SIGINT 130' INT
trap 'stopped SIGHUP 129' HUP
log "start: date $DATE, config $CONFIG, luigi arguments: ${LUIGI_ARGS[*]:-(none)}"
echo "$ME: night $DATE running, log: $LOG" >&3

umask "$UMASK"
cd "$ROOT"
# The venv (created or updated by _venv.sh under the lock, so two installs never race).
source "$ROOT/scripts/_venv.sh" "" || exit 1
set -euo pipefail
export LUIGI_CONFIG_PATH="$CONFIG"

if [ -f "$ROOT/scripts/_scheduler.sh" ]; then
  source "$ROOT/scripts/_scheduler.sh"
else
  SCHEDULER_ARGS=(--local-scheduler)
fi

# Temporary outputs left by tasks killed on earlier nights and never rerun (a task removes its own
# when it runs again); a day old at least, and we hold the lock, so none belongs to a live run.
python "$ROOT/scripts/sweep_outputs.py" --older-than-hours 24 || log "sweeping stale temporary outputs failed (not fatal)"

# In the background, in a process group of its own (setsid: its pid is the group's id), so that
# a signal reaches this script at once (bash runs a trap only between commands, and `wait`
# returns on a signal) and `stopped` can end the whole group.
code=0
setsid python "$ROOT/scripts/run_luigi.py" --module workflows.nightly NightlyRetrain --date "$DATE" "${SCHEDULER_ARGS[@]}" --workers 2 \
  ${LUIGI_ARGS[@]+"${LUIGI_ARGS[@]}"} &
LUIGI_PID=$!
wait "$LUIGI_PID" || code=$?
exit "$code"
