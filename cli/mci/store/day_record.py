"""What the state DB records of a profile's day, read in one go for `mci status`: lifecycle, last scan, breakers,
runs, the watcher's heartbeat, an emergency left unfinished and scoped-kill latches.

A state DB that cannot be opened or read is an answer too (`error`): status still shows the engine and the account,
which are read without it, because a broken DB must not hide a live engine.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

from mci.errors import MciError
from mci.store.journal import Journal, RunRecord
from mci.store.latches import latched
from mci.store.state import BreakerRecord, LifecycleRecord, ScanRecord, StateStore
from mci.store.watchers import Liveness, Watchers, liveness


@dataclass(frozen=True)
class DayRecord:
    life: LifecycleRecord
    scan: ScanRecord | None
    breakers: dict[str, BreakerRecord]
    runs: list[RunRecord]  # the latest first
    watcher: Liveness
    emergency_run: RunRecord | None  # an emergency sequence that started and did not finish
    latches: list[dict[str, Any]]  # scoped kills (mci.store.latches)
    error: str | None = None  # why the state DB could not be read: every field above is then a placeholder


def read_day(state_dir: Path, profile: str, breakers: Iterable[str], real_now: datetime, runs: int = 5) -> DayRecord:
    """`real_now`: real time, never a rehearsal clock, because a watcher's heartbeats are real time."""
    try:
        store = StateStore.open(state_dir)
        try:
            journal = Journal(store, profile)
            return DayRecord(
                life=store.lifecycle(profile),
                scan=store.last_scan(profile),
                breakers={name: store.breaker(name) for name in breakers},
                runs=journal.latest(runs),
                watcher=liveness(Watchers(store, profile).get(), real_now),
                emergency_run=journal.unfinished("emergency"),
                latches=latched(store, profile),
            )
        finally:
            store.close()
    except (MciError, sqlite3.DatabaseError) as exc:
        error = exc.what + ": " + exc.why if isinstance(exc, MciError) else f"{type(exc).__name__}: {exc}"
        return DayRecord(
            LifecycleRecord(profile, "unknown", None, ""), None, {}, [], liveness(None, real_now), None, [], error
        )
