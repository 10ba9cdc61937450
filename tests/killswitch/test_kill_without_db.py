"""The kill switch without its database, on the paper profile with the demo engine, all real processes.

A truncated `state.db` (it opens, and fails on its first query), a deleted one, a locked one: `mci kill`
still stops the engine from its pidfile, flattens, audits to `audit.fallback.jsonl` (hash-chained) and says
what it could do; `mci shutdown` and `mci status` see the live engine whatever the lifecycle says.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time

from testing.killswitch import WEDNESDAY, alive, engine_pid

from mci.brokers.factory import broker_for
from mci.clock import Clock, parse_instant
from mci.config import load_profile
from mci.resources import default_profile
from mci.store.fallback import read_fallback, verify_fallback


def running(mci) -> int:
    assert mci("scan").returncode == 0
    ignite = mci("ignite")
    assert ignite.returncode == 0, ignite.stdout + ignite.stderr
    return ignite


def open_positions(home) -> list:
    broker = broker_for(load_profile(default_profile()), home, Clock(parse_instant("2026-11-25T10:30")))
    try:
        return [p for p in broker.positions() if p.quantity] + [o for o in broker.orders() if o.is_open]
    finally:
        broker.close()


def wait_for_trades(home, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not open_positions(home):
        time.sleep(0.2)
    assert open_positions(home), "the demo engine never traded"


def test_a_truncated_state_db_does_not_stop_the_kill(paper_day, mci_home):
    mci = paper_day
    running(mci)
    pid = engine_pid(mci_home, "paper")
    wait_for_trades(mci_home)
    db = mci_home / "state.db"
    size = db.stat().st_size
    with open(db, "r+b") as f:
        f.truncate(size // 2)

    status = json.loads(mci("status", "-o", "json").stdout)
    assert status["engine"]["pid"] == pid and status["lifecycle"]["state"] == "running"
    assert "cannot be read" in status["lifecycle"]["note"]
    shutdown = mci("shutdown")
    assert shutdown.returncode == 3 and f"engine pid {pid} is STILL RUNNING" in shutdown.stderr
    assert "mci kill" in shutdown.stderr

    kill = mci("kill")
    assert kill.returncode == 0, kill.stdout + kill.stderr
    assert not alive(pid)
    assert open_positions(mci_home) == []
    assert "flattened: yes" in kill.stdout and "latched:   yes (halted)" in kill.stdout
    assert "audit.fallback.jsonl" in kill.stdout and "moved aside to" in kill.stdout
    kept = list(mci_home.glob("state.db.unusable-*"))
    assert [p for p in kept if not p.name.endswith(("-wal", "-shm"))], kept  # the evidence is kept
    fallback = mci_home / "audit.fallback.jsonl"
    assert [r.kind for r in read_fallback(fallback)][:2] == ["state_db_unusable", "state_db_moved_aside"]
    assert verify_fallback(fallback) is None
    ignite = mci("ignite")
    assert ignite.returncode == 4 and "halted" in ignite.stderr
    assert json.loads(mci("status", "-o", "json").stdout)["lifecycle"]["state"] == "halted"


def test_a_locked_state_db_kill_runs_in_memory_and_says_it_is_not_latched(paper_day, mci_home):
    """A DB held by a hung writer is not corrupt: it is left alone, and the kill audits to the fallback file."""
    mci = paper_day
    running(mci)
    pid = engine_pid(mci_home, "paper")
    holder = sqlite3.connect(mci_home / "state.db", timeout=1, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        kill = mci("kill", timeout=180)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert kill.returncode == 0, kill.stdout + kill.stderr
    assert not alive(pid) and open_positions(mci_home) == []
    assert "latched:   NO" in kill.stdout and "audited:   " in kill.stdout
    assert not list(mci_home.glob("state.db.unusable-*"))  # a busy DB is not moved aside
    kinds = [r.kind for r in read_fallback(mci_home / "audit.fallback.jsonl")]
    assert kinds[0] == "state_db_unusable" and "emergency" in kinds and "order" in kinds
    assert verify_fallback(mci_home / "audit.fallback.jsonl") is None


def test_a_deleted_state_db_beside_a_live_engine(paper_day, mci_home):
    mci = paper_day
    running(mci)
    pid = engine_pid(mci_home, "paper")
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        (mci_home / name).unlink(missing_ok=True)

    status = json.loads(mci("status", "-o", "json").stdout)
    assert status["engine"]["pid"] == pid
    assert status["lifecycle"]["state"] == "running" and status["lifecycle"]["recorded"] == "idle"
    text = mci("status").stdout
    assert "RUNNING" in text and f"engine pid {pid}" in text

    shutdown = mci("shutdown", "-o", "json")
    assert shutdown.returncode == 0, shutdown.stdout + shutdown.stderr
    assert json.loads(shutdown.stdout)["lifecycle"] == "stopped"
    assert not alive(pid)
    assert json.loads(mci("status", "-o", "json").stdout)["engine"] is None


def test_scan_while_halted_is_refused_naming_the_latch(paper_day):
    mci = paper_day
    assert mci("kill").returncode == 0
    scan = mci("scan")
    assert scan.returncode == 4, scan.stdout + scan.stderr
    assert "SCAN PASSED" not in scan.stdout
    assert "kill switch is latched" in scan.stderr and "mci reset --confirm" in scan.stderr
    assert mci("reset", "--confirm").returncode == 0
    assert mci("scan").returncode == 0


def test_the_audit_shows_the_latch_first_and_the_verdict_last(paper_day, mci_home):
    mci = paper_day
    running(mci)
    kill = mci("kill")
    assert kill.returncode == 0
    with sqlite3.connect(mci_home / "state.db") as db:
        rows = db.execute("SELECT kind, data FROM audit ORDER BY seq").fetchall()
    start = max(i for i, (k, d) in enumerate(rows) if k == "emergency" and '"started"' in d)
    assert rows[start - 1][0] == "lifecycle" and '"to":"halted"' in rows[start - 1][1]  # one transaction
    acts = [i for i, (k, d) in enumerate(rows) if k in ("step", "order") and json.loads(d).get("run_id", "")[:1] == "e"]
    assert acts and min(acts) > start  # every step and order of the emergency came after the latch
    assert rows[-1][0] == "emergency" and '"verdict"' in rows[-1][1] and '"flat":true' in rows[-1][1]


def test_status_says_an_emergency_is_in_progress_then_that_it_was_cut_short(paper_day, mci_home):
    """The lock holder and the journal's unfinished emergency run tell `mci status` what the lifecycle cannot."""
    from mci.engine.killswitch import latch, open_for_kill
    from mci.store.journal import Journal
    from mci.store.lock import ProfileLock

    mci = paper_day
    profile = load_profile(default_profile())
    clock = Clock(parse_instant(WEDNESDAY))
    kill = open_for_kill(profile, clock, mci_home)
    latch(kill, profile, clock, command="kill")
    Journal(kill.store, "paper").start("etest0001", "emergency", "emergency", clock.now())
    kill.store.close()
    with ProfileLock(mci_home, "paper", "emergency"):  # as a running kill holds it
        during = json.loads(mci("status", "-o", "json").stdout)["lifecycle"]
    assert during["state"] == "halted" and during["emergency"] == "in progress"
    assert f"emergency in progress (pid {os.getpid()}" in during["note"]
    after = json.loads(mci("status", "-o", "json").stdout)["lifecycle"]
    assert after["emergency"] == "interrupted" and "run `mci kill` again" in after["note"]
    assert mci("kill").returncode == 0  # resumes the cut-short run and finishes it
    assert "emergency" not in json.loads(mci("status", "-o", "json").stdout)["lifecycle"]
