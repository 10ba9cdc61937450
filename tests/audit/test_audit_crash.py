"""A crash at any point of an audited commit never reads as tampering, and concurrent writers never
move the anchor backwards: real child processes on a real state DB, killed with SIGKILL."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

from mci.commands import audit as command
from mci.store.anchor import anchor_path, read_anchor
from mci.store.state import StateStore

from testing.audit import START, rows

# A writer as the engine is one: appends in a loop through StateStore, single records and
# two-record transactions mixed. HOOK may instrument the anchor writer to die at one point.
CHILD = textwrap.dedent("""
    import os, signal, sys
    from datetime import datetime, timedelta, timezone
    from pathlib import Path
    from mci.store import anchor
    from mci.store.state import StateStore

    home, hook, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])

    def die_after(fn):
        def wrapped(*args, **kwargs):
            result = fn(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGKILL)
            return result
        return wrapped

    def die_before(fn):
        def wrapped(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)
        return wrapped

    store = StateStore.open(home)
    now = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)
    for i in range(2):
        store.append_audit("order", {"event": "warm", "i": i, "pid": os.getpid()}, now, profile="paper")
    if hook == "after-intent":
        anchor.AnchorWriter.intend = die_after(anchor.AnchorWriter.intend)
    elif hook == "before-confirm":
        anchor.AnchorWriter.confirm = die_before(anchor.AnchorWriter.confirm)
    print("ready", flush=True)
    i = 0
    while count < 0 or i < count:
        if i % 3 == 2:
            with store.transaction():
                store.append_audit("order", {"event": "order.place.before", "i": i}, now + timedelta(seconds=i), "paper")
                store.append_audit("order", {"event": "order.place.after", "i": i}, now + timedelta(seconds=i), "paper")
        else:
            store.append_audit("order", {"event": "tick", "i": i, "pid": os.getpid()}, now + timedelta(seconds=i), "paper")
        i += 1
    store.close()
""")


def _child(home, hook: str = "none", count: int = -1) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(home), hook, str(count)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _assert_intact(home, context: str) -> None:
    verdict = command.verify(home)
    assert verdict.status == "intact" and not verdict.breaks, (context, verdict.as_dict())


def test_sixty_sigkills_at_random_moments_never_read_as_tampering(mci_home):
    seed = int(os.environ.get("MCI_CRASH_SEED", time.time_ns() % 100_000))
    rng = random.Random(seed)
    for trial in range(60):
        child = _child(mci_home)
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
        time.sleep(rng.uniform(0, 0.03))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        # The next writer (the next trial's warm-up) must not find a break either: checked by verify next round.
        _assert_intact(mci_home, f"seed {seed}, trial {trial}")
    assert len(rows(mci_home)) > 120  # each trial appended at least its warm-up records


def test_a_kill_between_the_intent_and_the_commit_leaves_the_committed_head(mci_home):
    child = _child(mci_home, "after-intent")
    assert child.stdout.readline().strip() == "ready"
    assert child.wait(timeout=10) == -signal.SIGKILL
    anchor = read_anchor(anchor_path(mci_home / "state.db"))
    assert anchor.seq == 2 and anchor.pending.seq == 3  # the intent is on file, ahead of the DB
    assert len(rows(mci_home)) == 2  # the COMMIT never happened
    _assert_intact(mci_home, "after-intent")
    store = StateStore.open(mci_home)  # the next writer picks up from the committed head, without a break
    store.append_audit("order", {"event": "next"}, START, profile="paper")
    store.close()
    assert [r[3] for r in rows(mci_home)] == ["order"] * 3
    _assert_intact(mci_home, "after-intent, next append")


def test_a_kill_between_the_commit_and_the_confirmation_leaves_the_pending_head(mci_home):
    child = _child(mci_home, "before-confirm")
    assert child.stdout.readline().strip() == "ready"
    assert child.wait(timeout=10) == -signal.SIGKILL
    anchor = read_anchor(anchor_path(mci_home / "state.db"))
    assert (anchor.seq, anchor.pending.seq, len(rows(mci_home))) == (2, 3, 3)  # committed, not confirmed
    _assert_intact(mci_home, "before-confirm")
    store = StateStore.open(mci_home)
    store.append_audit("order", {"event": "next"}, START, profile="paper")
    store.close()
    assert "chain_break" not in [r[3] for r in rows(mci_home)]
    assert (
        read_anchor(anchor_path(mci_home / "state.db")).seq == 4
        and read_anchor(anchor_path(mci_home / "state.db")).pending is None
    )
    _assert_intact(mci_home, "before-confirm, next append")


def test_concurrent_writers_keep_the_anchor_in_step_with_the_db(mci_home):
    StateStore.open(mci_home).close()
    writers = [_child(mci_home, count=150) for _ in range(3)]
    for w in writers:
        _, err = w.communicate(timeout=120)
        assert w.returncode == 0, err
    _assert_intact(mci_home, "concurrent")
    anchor, last = read_anchor(anchor_path(mci_home / "state.db")), rows(mci_home)[-1]
    assert (anchor.seq, anchor.hash, anchor.pending) == (last[0], last[6], None)  # the last writer confirmed
    assert len(rows(mci_home)) == 3 * (2 + 150 + 50)


def test_verify_during_concurrent_appends_never_reads_a_moving_anchor_as_tampering(mci_home):
    StateStore.open(mci_home).close()
    writers = [_child(mci_home, count=200) for _ in range(2)]
    verdicts = 0
    while any(w.poll() is None for w in writers) or verdicts == 0:
        verdict = command.verify(mci_home)
        assert verdict.problem is None and not verdict.breaks, (verdicts, verdict.as_dict())
        verdicts += 1
    for w in writers:
        assert w.wait(timeout=60) == 0, w.stderr.read()
    assert verdicts > 3
    _assert_intact(mci_home, "after the writers")
