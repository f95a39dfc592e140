# Sourced by demo.sh and nightly.sh: choose luigi's scheduler for this run.
# Sets the bash array SCHEDULER_ARGS, to pass on as "${SCHEDULER_ARGS[@]}":
#   --scheduler-host 127.0.0.1 --scheduler-port $LUIGID_PORT   when a luigid answers there (scripts/luigid.sh),
#   --local-scheduler                                          otherwise,
# and says which on stderr. Environment:
#   LUIGID_PORT          port of luigid on 127.0.0.1 (default 8082)
#   SORTBOX_SCHEDULER    auto (default) | local | central (central fails when no luigid answers)
_sortbox_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_sortbox_python="${VENV:-${SORTBOX_VENV:-$_sortbox_root/.venv}}/bin/python"
[ -x "$_sortbox_python" ] || _sortbox_python=python3
_sortbox_port="${LUIGID_PORT:-8082}"
_sortbox_url="http://127.0.0.1:$_sortbox_port"

# Stop the calling script (demo.sh, nightly.sh); an interactive shell only gets a failed `source`.
_sortbox_scheduler_fail() {
  echo "$1" >&2
  unset -f _sortbox_scheduler_fail _sortbox_luigid_answers
  [[ $- == *i* ]] && return 1
  exit 1
}

# Does a luigid answer on 127.0.0.1:$_sortbox_port within 2 s? (bypasses any http_proxy setting)
_sortbox_luigid_answers() {
  "$_sortbox_python" "$(dirname "${BASH_SOURCE[0]}")/luigid_answers.py" "$_sortbox_url" 2>/dev/null
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
    if _sortbox_luigid_answers; then
      SCHEDULER_ARGS=(--scheduler-host 127.0.0.1 --scheduler-port "$_sortbox_port")
      echo "using the central scheduler at $_sortbox_url" >&2
    else
      _sortbox_scheduler_fail "SORTBOX_SCHEDULER=central, but no luigid answers at $_sortbox_url: start it with scripts/luigid.sh --background (or set LUIGID_PORT)" || return 1
    fi ;;
  auto)
    if _sortbox_luigid_answers; then
      SCHEDULER_ARGS=(--scheduler-host 127.0.0.1 --scheduler-port "$_sortbox_port")
      echo "using the central scheduler at $_sortbox_url" >&2
    else
      SCHEDULER_ARGS=(--local-scheduler)
      echo "no luigid on 127.0.0.1:$_sortbox_port: using the local scheduler" >&2
    fi ;;
  *)
    _sortbox_scheduler_fail "SORTBOX_SCHEDULER must be auto, local or central, not '$SORTBOX_SCHEDULER'" || return 1 ;;
esac
unset -f _sortbox_scheduler_fail _sortbox_luigid_answers
unset _sortbox_root _sortbox_python _sortbox_port _sortbox_url
