"""ProfileLock across real processes: flock on a real file, holders killed with real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest

from mci.errors import ExitCode, LockedError
from mci.store import lock as lock_mod
from mci.store.lock import ProfileLock, holder

HOLDER = """
import signal, sys, time
from pathlib import Path
from mci.store.lock import ProfileLock
home, command, ignore_term, hold = sys.argv[1], sys.argv[2], sys.argv[3] == "1", float(sys.argv[4])
if ignore_term:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
with ProfileLock(Path(home), "paper", command):
    print("locked", flush=True)
    time.sleep(hold)
"""


@pytest.fixture
def hold(mci_home):
    procs: list[subprocess.Popen] = []

    def start(command: str, *, ignore_term: bool = False, seconds: float = 30) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(mci_home), command, "1" if ignore_term else "0", str(seconds)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline().strip() == "locked"
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_second_command_is_refused_with_pid_command_and_since(hold, mci_home):
    proc = hold("shutdown")
    with pytest.raises(LockedError) as caught:
        with ProfileLock(mci_home, "paper", "ignite"):
            pass
    err = caught.value
    assert err.code == ExitCode.LOCKED == 5
    assert f"locked by pid {proc.pid} (`mci shutdown`) since " in err.what
    assert err.details["pid"] == proc.pid and err.details["command"] == "shutdown"
    since = datetime.fromisoformat(err.details["since"])
    assert abs(datetime.now(timezone.utc) - since) < timedelta(seconds=30)
    info = holder(mci_home, "paper")
    assert info is not None and info.pid == proc.pid and info.command == "shutdown" and info.alive
    with ProfileLock(mci_home, "other-profile", "ignite"):  # per profile
        pass


def test_a_lock_whose_holder_was_killed_is_taken_over(hold, mci_home):
    proc = hold("ignite")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stale = holder(mci_home, "paper")
    assert stale is not None and stale.pid == proc.pid and not stale.alive  # it died without cleaning up
    with ProfileLock(mci_home, "paper", "shutdown") as taken:
        assert taken.preempted is None
        now = holder(mci_home, "paper")
        assert now.pid == os.getpid() and now.command == "shutdown" and now.alive
    assert holder(mci_home, "paper") is None  # released and emptied


def test_emergency_preempts_a_stuck_graceful_shutdown(hold, mci_home):
    proc = hold("shutdown")
    t0 = time.monotonic()
    with ProfileLock(mci_home, "paper", "shutdown --emergency", preempt={"shutdown"}) as taken:
        assert taken.preempted is not None
        assert taken.preempted.holder.pid == proc.pid and taken.preempted.holder.command == "shutdown"
        assert taken.preempted.signals == ("TERM",)
        audit = taken.preempted.as_dict()
        assert audit["holder"]["pid"] == proc.pid and audit["signals"] == ["TERM"]
    assert time.monotonic() - t0 < 2
    assert proc.wait(timeout=2) == -signal.SIGTERM


def test_a_holder_ignoring_term_is_killed(hold, mci_home, monkeypatch):
    monkeypatch.setattr(lock_mod, "PREEMPT_TERM_WAIT", 0.3)
    proc = hold("shutdown", ignore_term=True)
    with ProfileLock(mci_home, "paper", "shutdown --emergency", preempt={"shutdown"}) as taken:
        assert taken.preempted.signals == ("TERM", "KILL")
        assert taken.preempted.waited >= timedelta(seconds=0.3)
    assert proc.wait(timeout=2) == -signal.SIGKILL


def test_a_holder_not_in_the_preempt_set_is_not_touched(hold, mci_home):
    proc = hold("ignite")
    with pytest.raises(LockedError):
        with ProfileLock(mci_home, "paper", "shutdown --emergency", preempt={"shutdown"}):
            pass
    time.sleep(0.1)
    assert proc.poll() is None


def test_wait_takes_the_lock_when_the_holder_finishes(hold, mci_home):
    proc = hold("scan", seconds=0.3)
    t0 = time.monotonic()
    with ProfileLock(mci_home, "paper", "ignite", wait=timedelta(seconds=5)) as taken:
        assert time.monotonic() - t0 >= 0.2 and taken.preempted is None
        assert holder(mci_home, "paper").command == "ignite"
    assert proc.wait(timeout=5) == 0  # it finished on its own


def test_the_same_process_never_preempts_itself(mci_home):
    with ProfileLock(mci_home, "paper", "shutdown"):
        with pytest.raises(LockedError) as caught:
            with ProfileLock(mci_home, "paper", "shutdown --emergency", preempt={"shutdown"}):
                pass
        assert caught.value.details["pid"] == os.getpid()
    with ProfileLock(mci_home, "paper", "shutdown"):  # released on exit, even after a refusal inside
        pass


def test_holder_of_a_never_used_profile_is_none(mci_home):
    assert holder(mci_home, "paper") is None


def test_the_lock_file_is_private(mci_home):
    with ProfileLock(mci_home, "paper", "ignite") as taken:
        assert taken.path.stat().st_mode & 0o077 == 0
