# Sourced by demo.sh and nightly.sh: choose luigi's scheduler for this run.
# Sets the bash array SCHEDULER_ARGS, to pass on as "${SCHEDULER_ARGS[@]}":
#   --scheduler-host 127.0.0.1 --scheduler-port $LUIGID_PORT   when the luigid there is this checkout's own,
#   --scheduler-host $LUIGID_HOST --scheduler-port $LUIGID_PORT when SORTBOX_SCHEDULER=central,
#   --local-scheduler                                           otherwise,
# and says which, and why, on stderr. A luigid is this checkout's own when the pid file that
# scripts/luigid.sh writes ($SORTBOX_LUIGID_DIR/luigid.pid, default var/luigid) names a live luigid
# of this user listening on 127.0.0.1:$LUIGID_PORT (scripts/luigid_ours.py): another user's or
# another checkout's luigid on that port, with its own settings, is never joined by itself.
# Environment:
#   LUIGID_PORT          port of our luigid on 127.0.0.1 (default 8082)
#   SORTBOX_LUIGID_DIR   where scripts/luigid.sh keeps its pid file (default var/luigid)
#   SORTBOX_SCHEDULER    auto (default) | local | central; central needs LUIGID_HOST and LUIGID_PORT
#                        set explicitly and joins the luigid there whoever started it
_sortbox_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_sortbox_python="${VENV:-${SORTBOX_VENV:-$_sortbox_root/.venv}}/bin/python"
[ -x "$_sortbox_python" ] || _sortbox_python=python3
_sortbox_port="${LUIGID_PORT:-8082}"

# Stop the calling script (demo.sh, nightly.sh); an interactive shell only gets a failed `source`.
_sortbox_scheduler_fail() {
  echo "$1" >&2
  unset -f _sortbox_scheduler_fail
  [[ $- == *i* ]] && return 1
  exit 1
}

SCHEDULER_ARGS=()
if ! [[ "$_sortbox_port" =~ ^[0-9]+$ ]]; then
  _sortbox_scheduler_fail "LUIGID_PORT must be a port number, not '$_sortbox_port'" || return 1
fi
case "${SORTBOX_SCHEDULER:-auto}" in
  local)
    SCHEDULER_ARGS=(--local-scheduler)
    echo "SORTBOX_SCHEDULER=local: using the local scheduler" >&2 ;;
  central)
    if [ -z "${LUIGID_HOST:-}" ] || [ -z "${LUIGID_PORT:-}" ]; then
      _sortbox_scheduler_fail "SORTBOX_SCHEDULER=central needs LUIGID_HOST and LUIGID_PORT set to the luigid to join (e.g. LUIGID_HOST=127.0.0.1 LUIGID_PORT=8082)" || return 1
    elif "$_sortbox_python" "$_sortbox_root/scripts/luigid_answers.py" "http://$LUIGID_HOST:$_sortbox_port" 2>/dev/null; then
      SCHEDULER_ARGS=(--scheduler-host "$LUIGID_HOST" --scheduler-port "$_sortbox_port")
      echo "SORTBOX_SCHEDULER=central: using the central scheduler at http://$LUIGID_HOST:$_sortbox_port (its own luigid configuration applies)" >&2
    else
      _sortbox_scheduler_fail "SORTBOX_SCHEDULER=central, but no luigid answers at http://$LUIGID_HOST:$_sortbox_port" || return 1
    fi ;;
  auto)
    _sortbox_pidfile="${SORTBOX_LUIGID_DIR:-$_sortbox_root/var/luigid}/luigid.pid"
    if _sortbox_why="$("$_sortbox_python" "$_sortbox_root/scripts/luigid_ours.py" "$_sortbox_pidfile" "$_sortbox_port" 2>&1)"; then
      SCHEDULER_ARGS=(--scheduler-host 127.0.0.1 --scheduler-port "$_sortbox_port")
      echo "using the central scheduler at http://127.0.0.1:$_sortbox_port (this checkout's luigid, pid file $_sortbox_pidfile)" >&2
    else
      SCHEDULER_ARGS=(--local-scheduler)
      echo "using the local scheduler: ${_sortbox_why:-cannot check for a luigid}" >&2
    fi
    unset _sortbox_pidfile _sortbox_why ;;
  *)
    _sortbox_scheduler_fail "SORTBOX_SCHEDULER must be auto, local or central, not '$SORTBOX_SCHEDULER'" || return 1 ;;
esac
unset -f _sortbox_scheduler_fail
unset _sortbox_root _sortbox_python _sortbox_port
