"""The watchers table: created by the schema-3 migration on an existing database, and liveness from a row."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

from mci.store.state import SCHEMA_VERSION, StateStore
from mci.store.watchers import Watchers, liveness

T0 = datetime(2026, 11, 25, 5, 0, tzinfo=timezone.utc)


def test_a_schema_2_database_gains_the_watchers_table_and_keeps_its_data(tmp_path):
    store = StateStore.open(tmp_path)
    store.set_lifecycle("paper", "armed", "scan passed", T0)
    store.close()
    raw = sqlite3.connect(tmp_path / "state.db")
    raw.execute("DROP TABLE watchers")
    raw.execute("PRAGMA user_version=2")
    raw.commit()
    raw.close()

    store = StateStore.open(tmp_path)
    assert store.lifecycle("paper").state == "armed"
    assert store.execute("PRAGMA user_version")[0][0] == SCHEMA_VERSION >= 3
    beats = Watchers(store, "paper")
    assert beats.get() is None
    beats.start(os.getpid(), None, T0, timedelta(seconds=1), T0)
    beats.set_peak(T0.date(), D("1010000.50"))
    assert beats.get().peak_equity == D("1010000.50") and beats.peak(T0.date()) == D("1010000.50")
    store.close()


def _row(store, pid, status="running", beat=T0, interval=1.0):
    beats = Watchers(store, "paper")
    beats.start(pid, None, T0, timedelta(seconds=interval), T0)
    beats.beat(beat, {"level": "ok"}, status=status)
    return beats.get()


def test_liveness_alive_stale_and_absent(tmp_path):
    store = StateStore.open(tmp_path)
    me = os.getpid()
    assert liveness(None, T0).state == "absent"
    assert liveness(_row(store, me), T0 + timedelta(seconds=2)).state == "alive"
    assert liveness(_row(store, me, "tripped"), T0 + timedelta(seconds=2)).state == "alive"  # busy flattening
    silent = liveness(_row(store, me), T0 + timedelta(seconds=30))
    assert silent.state == "stale" and silent.process_alive
    assert liveness(_row(store, me, "stopped"), T0 + timedelta(seconds=1)).state == "absent"

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(gone.stdout)
    crashed = liveness(_row(store, dead), T0 + timedelta(seconds=1))
    assert crashed.state == "stale" and not crashed.process_alive  # it said running and died without a word
    assert liveness(_row(store, dead, "tripped"), T0 + timedelta(seconds=1)).state == "absent"  # acted, then ended
    # A 10 s interval is judged against 30 s, not the 3 s floor.
    assert liveness(_row(store, me, interval=10.0), T0 + timedelta(seconds=25)).state == "alive"
    store.close()
