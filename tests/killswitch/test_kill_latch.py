"""`mci kill` SIGKILLed at random points, against the Kite simulator with faults: the latch always holds.

The emergency latches `halted` in its first transaction, before it touches the engine or the broker. A kill
that dies anywhere after that leaves a halted profile: `mci ignite` is refused (exit 4) and `mci status`
reads halted, whatever the kill had or had not done. Before its first transaction a kill has touched
nothing (the calibration run shows the order: the latch record precedes every step and order record).
"""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
import time

from testing.killswitch import KITE_PROFILE, ROOT, book, seed_book, sim_admin

FAULTS = "5xx=0.1,429=0.1,burst=2,latency=20ms,seed=11"
TRIALS = 20


def audit_since(home, seq: int) -> list[tuple[int, str, str]]:
    try:
        with sqlite3.connect(home / "state.db", timeout=5) as db:
            return db.execute("SELECT seq, kind, data FROM audit WHERE seq > ? ORDER BY seq", (seq,)).fetchall()
    except sqlite3.OperationalError:
        return []


def head(home) -> int:
    rows = audit_since(home, 0)
    return rows[-1][0] if rows else 0


def spawn_kill(env: dict, home) -> subprocess.Popen:
    full = {k: v for k, v in __import__("os").environ.items() if not k.startswith("MCI_")}
    full.update({"MCI_HOME": str(home), "NO_COLOR": "1", **env})
    return subprocess.Popen(
        [sys.executable, "-m", "mci", "kill", "-p", KITE_PROFILE],
        env=full,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_a_kill_sigkilled_anywhere_leaves_the_profile_halted(kite_day, sim, mci_home):
    mci = kite_day
    rng = random.Random(14)

    # Calibration: one whole kill under the faults, timed; when it latched, and what came first.
    seed_book(sim.url)
    assert mci("scan").returncode == 0
    before = head(mci_home)
    sim_admin(sim.url, "PUT", "faults", spec=FAULTS)
    started = time.monotonic()
    proc = spawn_kill(mci.env, mci_home)
    latched_after = None
    while proc.poll() is None:
        if latched_after is None and any(k == "emergency" for _, k, _ in audit_since(mci_home, before)):
            latched_after = time.monotonic() - started
        time.sleep(0.01)
    span = time.monotonic() - started
    assert proc.returncode in (0, 7), proc.returncode
    kinds = [k for _, k, _ in audit_since(mci_home, before)]
    first_action = min(kinds.index(k) for k in ("step", "order", "run") if k in kinds)
    assert kinds.index("emergency") < first_action, kinds[:8]  # the latch is the first thing it writes
    assert latched_after is not None and latched_after < span
    print(f"calibration: latched after {latched_after:.2f}s, whole kill {span:.2f}s")

    halted = 0
    for trial in range(TRIALS):
        sim_admin(sim.url, "DELETE", "faults")
        assert mci("reset", "--confirm", "--reason", f"trial {trial}").returncode == 0
        seed_book(sim.url)
        if trial % 4 == 0:  # armed: the state in which an unlatched profile would ignite
            scan = mci("scan")
            assert scan.returncode == 0, scan.stdout + scan.stderr
        before = head(mci_home)
        sim_admin(sim.url, "PUT", "faults", spec=FAULTS)
        proc = spawn_kill(mci.env, mci_home)
        time.sleep(rng.uniform(latched_after, span))
        proc.kill()
        proc.wait()
        sim_admin(sim.url, "DELETE", "faults")
        records = audit_since(mci_home, before)
        if not any(k == "emergency" for _, k, _ in records):
            # Landed before its first transaction (a slow start under load): then it had done nothing at all.
            assert not [k for _, k, _ in records if k in ("step", "order", "run")], records
            assert mci("kill").returncode in (0, 7)
            continue
        halted += 1
        ignite = mci("ignite")
        assert ignite.returncode == 4 and "halted" in ignite.stderr, (trial, ignite.stdout, ignite.stderr)
        status = mci("status", "-o", "json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["lifecycle"]["state"] == "halted", (trial, status.stdout[:400])
    assert halted >= TRIALS - 3, halted  # the random points fell in the kill's life, not before it

    # The last interrupted kill is finished by the next one: flat, from the exchange's own account.
    done = mci("kill")
    assert done.returncode == 0, done.stdout + done.stderr
    positions, orders = book(sim.url)
    assert positions == [] and orders == []
