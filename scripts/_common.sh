# Sourced first by nightly.sh and rollback.sh, which set ME (their name, for messages) and ROOT (the
# repository root) before: the PATH cron lacks, `die`, `absolute` and `find_config`.
# cron starts jobs with a minimal PATH: make sure the usual system directories are searched too.
export PATH="${PATH:-/usr/bin:/bin}:/usr/local/bin:/usr/bin:/bin"

# die CODE MESSAGE...: "$ME: MESSAGE" on stderr, then exit CODE.
die() { local code="$1"; shift; echo "$ME: $*" >&2; exit "$code"; }
# absolute PATH: PATH made absolute against the caller's directory.
absolute() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$PWD" "$1" ;; esac; }

# find_config: sets CONFIG to the luigi config file ($SORTBOX_CONFIG, default config/luigi.cfg; a
# relative path is relative to the caller's directory); exits 1 when it cannot be read.
find_config() {
  CONFIG="$(absolute "${SORTBOX_CONFIG:-$ROOT/config/luigi.cfg}")"
  [ -f "$CONFIG" ] && [ -r "$CONFIG" ] || die 1 "config file $CONFIG does not exist or is not readable (SORTBOX_CONFIG)"
}
