"""The `watchers` table: one row per profile, the heartbeat of `mci watch` and what it must remember.

The row outlives the process on purpose: a restarted watcher keeps the day's
intraday equity peak (drawdown is measured from it) and knows whether today's
square-off already ran. `mci status` reads it, with the process identity
(pid + start time, see mci.procs), to say whether a watcher is alive.

Beats are real time (never an --at rehearsal clock): liveness is elapsed time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Mapping

from mci.store.audit import canonical_json
from mci.store.state import StateStore, _instant, _iso, stored_json

RUNNING, STOPPED, TRIPPED, SQUARED_OFF, FAILED, HALTED = (
    "running",
    "stopped",
    "tripped",
    "squared_off",
    "failed",
    "halted",
)
# A watcher that said it ended: nothing to guard with, whatever its process does now.
ENDED = frozenset({STOPPED, FAILED, HALTED})

# A beat older than this many intervals means the watcher is not polling (hung, or stopped without a word).
STALE_AFTER_INTERVALS = 3
STALE_FLOOR = timedelta(seconds=3)  # a slow broker read legitimately delays a 1 s beat by a second or two


@dataclass(frozen=True)
class WatcherRecord:
    profile: str
    pid: int
    proc_start: int | None
    started_at: datetime
    last_beat: datetime
    interval: timedelta
    status: str
    summary: Mapping[str, Any]
    peak_day: str | None
    peak_equity: Decimal | None
    squared_off_day: str | None


@dataclass(frozen=True)
class Liveness:
    state: str  # alive | stale | absent
    record: WatcherRecord | None
    beat_age: timedelta | None
    process_alive: bool

    def as_dict(self) -> dict[str, Any]:
        r = self.record
        out: dict[str, Any] = {
            "state": self.state,
            "process_alive": self.process_alive,
            "beat_age_s": round(self.beat_age.total_seconds(), 3) if self.beat_age is not None else None,
        }
        if r is not None:
            out.update(
                pid=r.pid,
                status=r.status,
                started_at=r.started_at.isoformat(),
                last_beat=r.last_beat.isoformat(),
                interval_s=r.interval.total_seconds(),
                summary=dict(r.summary),
            )
        return out


class Watchers:
    def __init__(self, store: StateStore, profile: str):
        self.store = store
        self.profile = profile

    def get(self) -> WatcherRecord | None:
        rows = self.store.execute(
            "SELECT profile, pid, proc_start, started_at, last_beat, interval_s, status, summary, peak_day, "
            "peak_equity, squared_off_day FROM watchers WHERE profile = ?",
            (self.profile,),
        )
        if not rows:
            return None
        p, pid, start, started, beat, interval, status, summary, peak_day, peak, sq_day = rows[0]
        return WatcherRecord(
            p,
            pid,
            start,
            _instant(started),
            _instant(beat),
            timedelta(seconds=interval),
            status,
            stored_json(summary or "{}"),
            peak_day,
            Decimal(peak) if peak else None,
            sq_day,
        )

    def start(self, pid: int, proc_start: int | None, now: datetime, interval: timedelta, at: datetime) -> None:
        """Claim the row (the caller holds the watch lock); keeps the day's peak and square-off mark."""
        with self.store.transaction():
            self.store.execute(
                "INSERT INTO watchers(profile, pid, proc_start, started_at, last_beat, interval_s, status, summary) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, '{}') ON CONFLICT(profile) DO UPDATE SET pid = excluded.pid, "
                "proc_start = excluded.proc_start, started_at = excluded.started_at, last_beat = excluded.last_beat, "
                "interval_s = excluded.interval_s, status = excluded.status, summary = excluded.summary",
                (self.profile, pid, proc_start, _iso(now), _iso(now), interval.total_seconds(), RUNNING),
            )
            self.store.append_audit(
                "watch",
                {"event": "started", "pid": pid, "interval_s": interval.total_seconds()},
                at,
                profile=self.profile,
            )

    def beat(self, now: datetime, summary: Mapping[str, Any] | None = None, status: str | None = None) -> None:
        sets, args = ["last_beat = ?"], [_iso(now)]
        if summary is not None:
            sets.append("summary = ?")
            args.append(canonical_json(summary))
        if status is not None:
            sets.append("status = ?")
            args.append(status)
        self.store.execute(f"UPDATE watchers SET {', '.join(sets)} WHERE profile = ?", (*args, self.profile))

    def finish(self, status: str, now: datetime, at: datetime, note: str) -> None:
        with self.store.transaction():
            self.beat(now, status=status)
            self.store.append_audit(
                "watch", {"event": "stopped", "status": status, "note": note}, at, profile=self.profile
            )

    def peak(self, day: date) -> Decimal | None:
        record = self.get()
        if record is None or record.peak_day != day.isoformat():
            return None
        return record.peak_equity

    def set_peak(self, day: date, equity: Decimal) -> None:
        self.store.execute(
            "UPDATE watchers SET peak_day = ?, peak_equity = ? WHERE profile = ?",
            (day.isoformat(), str(equity), self.profile),
        )

    def squared_off(self, day: date) -> bool:
        record = self.get()
        return record is not None and record.squared_off_day == day.isoformat()

    def mark_squared_off(self, day: date) -> None:
        self.store.execute("UPDATE watchers SET squared_off_day = ? WHERE profile = ?", (day.isoformat(), self.profile))


def liveness(record: WatcherRecord | None, now: datetime) -> Liveness:
    """alive: its process runs and beat recently; stale: it should be running but is silent or dead; absent: none."""
    from mci.procs import proc_stat

    if record is None:
        return Liveness("absent", None, None, False)
    stat = proc_stat(record.pid)
    # pid + start time name the process; a pid reused by something else is not our watcher.
    process = (
        stat is not None
        and stat.state not in ("Z", "X")
        and (not record.proc_start or not stat.start_time or stat.start_time == record.proc_start)
    )
    age = now - record.last_beat
    limit = max(record.interval * STALE_AFTER_INTERVALS, STALE_FLOOR)
    if record.status in ENDED or (not process and record.status != RUNNING):
        return Liveness("absent", record, age, process)  # ended; tripped / squared_off ones after acting
    if process and age <= limit:
        return Liveness("alive", record, age, True)  # polling, or running its emergency / end-of-day
    return Liveness("stale", record, age, process)  # silent, or dead without a word
