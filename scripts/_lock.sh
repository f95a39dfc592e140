# Sourced by nightly.sh and rollback.sh (after _common.sh: `die`, `absolute`): the one lock that
# keeps a nightly run and a rollback from overlapping.
# open_nightly_lock: makes the private lock directory ($SORTBOX_LOCK_DIR, default var/lock, mode
# 0700, ours), sets LOCK to its nightly.lock and opens it as file descriptor 9; the caller then
# takes it with `flock -n 9`. Call it with umask 077 in force.
open_nightly_lock() {
  LOCK_DIR="$(absolute "${SORTBOX_LOCK_DIR:-$ROOT/var/lock}")"
  # Project-owned, private lock directory: nobody else can create, replace or hold our lock file.
  mkdir -p -m 700 "$LOCK_DIR" 2>/dev/null || die 1 "cannot create the lock directory $LOCK_DIR (SORTBOX_LOCK_DIR)"
  [ -O "$LOCK_DIR" ] || die 1 "the lock directory $LOCK_DIR is not owned by $(id -un)"
  chmod 700 "$LOCK_DIR" || die 1 "cannot make the lock directory $LOCK_DIR private (chmod 700)"
  LOCK="$LOCK_DIR/nightly.lock"
  [ ! -L "$LOCK" ] || die 1 "the lock file $LOCK is a symbolic link; remove it"
  exec 9>>"$LOCK"
}
