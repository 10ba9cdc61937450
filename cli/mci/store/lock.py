"""One mutating command per profile at a time: an flock on `<state_dir>/locks/<profile>.lock`.

    with ProfileLock(state_dir, "paper", "shutdown"):
        ...                                   # LockedError (exit 5) if another command holds it

The OS releases an flock when its holder dies however it dies (even SIGKILL),
so a lock left by a dead process is taken over with no stale-lock logic. The
holder writes {pid, start_time, command, since} into the file after acquiring,
for the error message and `mci status` (`holder()`), and empties it on release.
The file is never unlinked: a second process could then lock a fresh inode
while a third still holds the old one, and both would "own" the profile.

Preemption: an emergency shutdown may take the lock from a stuck graceful one.
`preempt` names the holder commands this one may evict: SIGTERM, a few seconds
for the lock, then SIGKILL. Only a holder whose pid and start time match what
it recorded is signalled, never a pid that was since reused.

The lock fd is opened close-on-exec (Python's default), so an engine started
under the lock does not inherit it and keep the profile locked after mci exits.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from mci.errors import LockedError, UnavailableError
from mci.procs import proc_stat

PREEMPT_TERM_WAIT = 3.0  # seconds for a preempted holder to exit on SIGTERM before SIGKILL
PREEMPT_KILL_WAIT = 2.0  # after SIGKILL the kernel releases the lock at once; this is slack
POLL = 0.05


@dataclass(frozen=True)
class LockHolder:
    pid: int
    command: str
    since: datetime
    alive: bool  # False: the recorded holder is gone (crashed after writing, or pid reused)
    start_time: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"pid": self.pid, "command": self.command, "since": self.since.isoformat(), "alive": self.alive}


@dataclass(frozen=True)
class Preemption:
    """What the caller audits when it took the lock from another command."""

    holder: LockHolder
    signals: tuple[str, ...]  # ("TERM",) or ("TERM", "KILL")
    waited: timedelta

    def as_dict(self) -> dict[str, Any]:
        return {
            "holder": self.holder.as_dict(),
            "signals": list(self.signals),
            "waited_s": round(self.waited.total_seconds(), 3),
        }


def _start_time(pid: int) -> int | None:
    """The process's start time (clock ticks since boot); None for no such process or a zombie."""
    stat = proc_stat(pid)
    return None if stat is None or stat.state in ("Z", "X") else stat.start_time


def _same_process(pid: int, recorded: int | None) -> bool:
    """Whether pid still names the process that recorded `recorded` as its start time."""
    now = _start_time(pid)
    return now is not None and (not recorded or not now or now == recorded)


def _lock_path(state_dir: Path, profile: str) -> Path:
    return Path(state_dir) / "locks" / f"{profile}.lock"


def _read_holder(fd: int) -> LockHolder | None:
    try:
        raw = os.pread(fd, 4096, 0)
        data = json.loads(raw.decode("utf-8")) if raw.strip() else None
        if not isinstance(data, dict):
            return None
        pid, recorded = int(data["pid"]), data.get("start_time")
        return LockHolder(
            pid, str(data["command"]), datetime.fromisoformat(data["since"]), _same_process(pid, recorded), recorded
        )
    except (ValueError, KeyError, TypeError, OSError):
        return None  # written by a holder that died mid-write, or a stranger: it holds no information


def holder(state_dir: Path, profile: str) -> LockHolder | None:
    """Who holds (or last held, see .alive) the profile's lock; None when it is free. Never takes the lock."""
    try:
        fd = os.open(_lock_path(state_dir, profile), os.O_RDONLY)
    except OSError:
        return None
    try:
        return _read_holder(fd)
    finally:
        os.close(fd)


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class ProfileLock:
    def __init__(
        self,
        state_dir: Path,
        profile: str,
        command: str,
        *,
        preempt: Iterable[str] = (),
        wait: timedelta = timedelta(0),
        now: Callable[[], datetime] = _utc_now,
    ):
        self.path = _lock_path(state_dir, profile)
        self.profile = profile
        self.command = command
        self.preempt = frozenset(preempt)
        self.wait = wait
        self.now = now
        self.since: datetime | None = None
        self.preempted: Preemption | None = None
        self._fd: int | None = None

    def __enter__(self) -> "ProfileLock":
        fd = self._open()
        try:
            self._acquire(fd)
            self.since = self.now()
            record = {
                "pid": os.getpid(),
                "start_time": _start_time(os.getpid()),
                "command": self.command,
                "since": self.since.isoformat(),
            }
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(record).encode() + b"\n", 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def __exit__(self, *exc: Any) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # emptied before the unlock: nobody reads us as the holder afterwards
        finally:
            os.close(fd)  # closing the last descriptor releases the flock

    def _open(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise UnavailableError(
                f"cannot open the lock file {self.path}",
                exc.strerror or str(exc),
                "check that the state directory (MCI_HOME) is writable",
            ) from None

    def _try(self, fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _try_for(self, fd: int, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not self._try(fd):
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL)
        return True

    def _acquire(self, fd: int) -> None:
        if self._try_for(fd, self.wait.total_seconds()):
            return
        current = _read_holder(fd)
        if current and current.command in self.preempt and current.alive and current.pid != os.getpid():
            self._evict(fd, current)
            return
        raise self._locked(current if current and current.alive else None)

    def _evict(self, fd: int, current: LockHolder) -> None:
        t0 = time.monotonic()
        sent: list[str] = []
        for name, wait in (("TERM", PREEMPT_TERM_WAIT), ("KILL", PREEMPT_KILL_WAIT)):
            # Re-check identity before each signal: never signal a pid that now names another process.
            if not _same_process(current.pid, current.start_time):
                break
            try:
                os.kill(current.pid, getattr(signal, f"SIG{name}"))
                sent.append(name)
            except ProcessLookupError:
                break
            if self._try_for(fd, wait):
                self.preempted = Preemption(current, tuple(sent), timedelta(seconds=time.monotonic() - t0))
                return
        if self._try_for(fd, PREEMPT_KILL_WAIT):
            self.preempted = Preemption(current, tuple(sent), timedelta(seconds=time.monotonic() - t0))
            return
        holder = _read_holder(fd)
        raise self._locked(holder if holder and holder.alive else None)

    def _locked(self, current: LockHolder | None) -> LockedError:
        if current is None:
            # Acquired by someone who has not written its record yet (a few microseconds), or by a foreign tool.
            return LockedError(
                f"profile {self.profile!r} is locked by another command",
                f"one mutating command per profile runs at a time; {self.path} is held",
                f"wait for it to finish and run `mci {self.command}` again",
                lock=str(self.path),
            )
        since = current.since.isoformat(timespec="seconds")
        return LockedError(
            f"profile {self.profile!r} is locked by pid {current.pid} (`mci {current.command}`) since {since}",
            f"one mutating command per profile runs at a time; pid {current.pid} started `mci {current.command}` "
            f"at {since} and still holds {self.path}",
            f"wait for it to finish and run `mci {self.command}` again; if it is stuck, stop it (kill {current.pid}): "
            "the OS releases the lock of a process that ends",
            pid=current.pid,
            command=current.command,
            since=current.since.isoformat(),
            lock=str(self.path),
        )
