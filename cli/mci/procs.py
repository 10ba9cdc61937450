"""Process identity, liveness and private files (the engine mci starts, the profile lock's holder).

A pid alone does not name a process: after the engine dies the kernel may give
its pid to anything. A pid plus its start time (field 22 of /proc/<pid>/stat)
does, so the pidfile records both and nothing is signalled on a pid alone.

Linux only for identity; where there is no /proc the start time is 0 and only
the pid is checked (pid reuse goes undetected there).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HAVE_PROC = Path("/proc/self/stat").exists()

# Engines this process started: polled to reap them, so a dead child is not
# kept alive as a zombie (and its exit status can be reported).
children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class ProcStat:
    state: str  # R, S, D, Z, ...
    pgrp: int
    start_time: int  # clock ticks since boot


def proc_stat(pid: int) -> ProcStat | None:
    if not HAVE_PROC:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return ProcStat("S", pid, 0)
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and ')': the fields resume after the last ')'.
    rest = raw[raw.rindex(b")") + 2 :].split()
    return ProcStat(rest[0].decode(), int(rest[2]), int(rest[19]))


def start_time(pid: int) -> int | None:
    stat = proc_stat(pid)
    return stat.start_time if stat else None


def reap(pid: int) -> int | None:
    """The exit status of a child of ours that has ended (reaping it), else None."""
    proc = children.get(pid)
    if proc is not None:
        return proc.poll()
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return os.waitstatus_to_exitcode(status) if done else None


def group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is in the process group."""
    if not HAVE_PROC:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        stat = proc_stat(int(entry.name))
        if stat and stat.pgrp == pgid and stat.state not in ("Z", "X"):
            return True
    return False


def engine_alive(pid: int, recorded_start: int) -> bool:
    """Whether the engine started as (pid, recorded_start) — leader or any process of its group — still runs.

    The engine runs in its own session, so its process group id is its pid. A
    pid that now names a younger process means our group is gone: the kernel
    never hands out a pid still in use as a process group id.
    """
    reap(pid)
    stat = proc_stat(pid)
    if stat is not None and stat.start_time != recorded_start:
        return False
    if stat is not None and stat.state not in ("Z", "X"):
        return True
    return group_alive(pid)


def signal_group(pgid: int, signum: int) -> bool:
    """Send to the whole group; False when nobody is left to receive it."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    return True


def signal_number(name: str) -> int:
    return int(getattr(signal, f"SIG{name.upper().removeprefix('SIG')}"))


def exit_text(status: int) -> str:
    if status < 0:
        try:
            return f"killed by SIG{signal.Signals(-status).name.removeprefix('SIG')}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exit status {status}"


# ---------------------------------------------------------------- private files


def write_private(path: Path, data: bytes) -> None:
    """Atomically replace `path` with `data`, 0600 whatever the umask: a reader sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    """None when the file is absent; ValueError when it is not a JSON object."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
