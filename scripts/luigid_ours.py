#!/usr/bin/env python3
"""Exit 0 when the luigid on 127.0.0.1:PORT is the one this checkout started, else 1 with the
reason on stdout (for scripts/_scheduler.sh, which then uses the local scheduler).

    python scripts/luigid_ours.py var/luigid/luigid.pid 8082

Ours means: PIDFILE (written by scripts/luigid.sh) names a live process of this user, that
process is luigi's luigid, it listens on 127.0.0.1:PORT, and it answers there. Another user's or
another checkout's luigid on the same port has its settings and sees our tasks: never joined.
Linux only (reads /proc); elsewhere nothing is ours.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path


def listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on 127.0.0.1:port (from /proc/net/tcp)."""
    wanted = f"0100007F:{port:04X}"
    found = set()
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            if fields[1] == wanted and fields[3] == "0A":  # 0A: LISTEN
                found.add(fields[9])
    return found


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def answers(port: int) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://127.0.0.1:{port}/api/has_task_history?data=%7B%7D", timeout=2) as reply:
            return "response" in json.load(reply)
    except Exception:  # refused, timed out, not luigid
        return False


def why_not_ours(pidfile: Path, port: int) -> str | None:
    """None when the luigid is ours, else why not."""
    if not Path("/proc/net/tcp").exists():
        return "cannot check who runs luigid here (no /proc)"
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return (
            f"no luigid started from this checkout (no pid file {pidfile}; "
            "start one with scripts/luigid.sh --background)"
        )
    proc = Path(f"/proc/{pid}")
    try:
        owner = proc.stat().st_uid
        command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return f"the luigid of this checkout (pid file {pidfile}, pid {pid}) is not running"
    if owner != os.getuid():
        return f"pid {pid} of {pidfile} belongs to another user"
    if "luigi.cmdline" not in command:
        return f"pid {pid} of {pidfile} is not a luigid"
    try:
        if not listening_inodes(port) & socket_inodes(pid):
            return (
                f"the luigid of this checkout (pid {pid}) does not listen on 127.0.0.1:{port}; "
                "another program may (LUIGID_PORT)"
            )
    except OSError as exc:
        return f"cannot check the sockets of pid {pid}: {exc.strerror}"
    if not answers(port):
        return f"the luigid of this checkout (pid {pid}) does not answer on 127.0.0.1:{port}"
    return None


if __name__ == "__main__":
    reason = why_not_ours(Path(sys.argv[1]), int(sys.argv[2]))
    if reason:
        print(reason)
        sys.exit(1)
