"""Time, injected. Nothing in mci reads the wall clock except through a Clock.

`--at` / `MCI_AT` start the clock at a chosen instant and let it tick in real
time from there, so "would this pass at 09:05 next Monday?" has an answer and
tests can stand on 09:14:59 / 09:15:00. Each process starts its own such clock;
`mci clock set T` instead stores an offset from real time in the state directory,
which every later process of that directory reads: one clock for a rehearsed day.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import TYPE_CHECKING

from mci.errors import UsageError

if TYPE_CHECKING:
    from pathlib import Path

UTC = timezone.utc


@lru_cache(maxsize=8)
def zone(name: str) -> tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UsageError(
            f"unknown time zone {name!r}",
            f"the IANA time-zone database has no zone of that name ({exc})",
            "use a name such as Asia/Kolkata; install the 'tzdata' package if the system has no zone files",
        ) from None


IST = "Asia/Kolkata"


class Clock:
    """Real time, starting at an optional anchor instant."""

    def __init__(self, start: datetime | None = None, *, frozen: bool = False):
        if start is not None and start.tzinfo is None:
            raise ValueError("clock start must be timezone-aware")
        self._start = start
        self._frozen = frozen
        self._mono0 = time.monotonic()

    @property
    def overridden(self) -> bool:
        return self._start is not None

    def now(self) -> datetime:
        if self._start is None:
            return datetime.now(UTC)
        if self._frozen:
            return self._start
        return self._start + timedelta(seconds=time.monotonic() - self._mono0)

    def now_in(self, tz: str) -> datetime:
        return self.now().astimezone(zone(tz))

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def monotonic(self) -> float:
        """Seconds for measuring elapsed time and deadlines (never jumps with --at or NTP)."""
        return time.monotonic()


EARLIEST, LATEST = 2000, 2099  # the years --at accepts


def parse_instant(text: str, default_tz: str = IST) -> datetime:
    """ISO-8601; a value without an offset is read in the market's zone (IST), as an operator means it."""
    raw = text.strip()
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
    except ValueError:
        raise UsageError(
            f"cannot read the instant {text!r}",
            "--at and MCI_AT take an ISO-8601 date-time",
            "write it like 2026-11-23T09:15:00+05:30 (or without an offset to mean IST)",
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone(default_tz))
    if not EARLIEST <= value.year <= LATEST:
        # Day arithmetic near year 1 or 9999 overflows datetime; no trading day is rehearsed there.
        raise UsageError(
            f"the instant {text!r} is outside the years {EARLIEST}-{LATEST}",
            "--at and MCI_AT move the clock to a trading day to rehearse; dates this far off have no market",
            "give a date-time of a real session, e.g. 2026-11-25T10:30",
        )
    return value


def clock_from(at: str | None = None, env: dict[str, str] | None = None, state_dir: "Path | None" = None) -> Clock:
    """`--at` wins over MCI_AT (each starts this process's clock there); then the state directory's clock
    (`mci clock set`: one shifted clock that every process of the directory shares); else real time."""
    source = at if at else (env if env is not None else os.environ).get("MCI_AT")
    if source:
        return Clock(parse_instant(source))
    if state_dir is None:
        from mci.paths import state_dir as default_state_dir

        state_dir = default_state_dir()
    stored = read_stored_clock(state_dir)
    if stored is None:
        return Clock()
    return Clock(datetime.now(UTC) + stored.offset)


# ---------------------------------------------------------------- the state directory's clock (mci clock set)

CLOCK_FILE = "clock.json"


@dataclass(frozen=True)
class StoredClock:
    """A rehearsal clock kept as an offset from real time, so that every process reads the same now."""

    offset: timedelta
    set_to: datetime  # the instant asked for
    set_at: datetime  # the real time when it was asked

    def as_dict(self) -> dict[str, object]:
        return {
            "offset_s": self.offset.total_seconds(),
            "set_to": self.set_to.isoformat(),
            "set_at": self.set_at.isoformat(),
        }


def read_stored_clock(state_dir: "Path") -> StoredClock | None:
    """The stored clock, or None. A file that cannot be read is an error, never a silent fall back to real time:
    a rehearsal that suddenly ran on the real clock could arm or trade a real day."""
    path = state_dir / CLOCK_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UsageError(
            f"cannot read the rehearsal clock {path}",
            exc.strerror or str(exc),
            "fix its permissions, or remove it with `mci clock clear`",
        ) from None
    try:
        data = json.loads(text)
        return StoredClock(
            timedelta(seconds=float(data["offset_s"])),
            datetime.fromisoformat(data["set_to"]),
            datetime.fromisoformat(data["set_at"]),
        )
    except (ValueError, KeyError, TypeError, OverflowError):
        raise UsageError(
            f"the rehearsal clock {path} is damaged",
            "it is not the JSON `mci clock set` writes",
            "set it again with `mci clock set T`, or remove it with `mci clock clear`",
        ) from None


def write_stored_clock(state_dir: "Path", at: datetime) -> StoredClock:
    real = datetime.now(UTC)
    stored = StoredClock(at - real, at, real)
    path = state_dir / CLOCK_FILE
    tmp = path.with_name(f".{CLOCK_FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(stored.as_dict()) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return stored


def clear_stored_clock(state_dir: "Path") -> bool:
    try:
        (state_dir / CLOCK_FILE).unlink()
    except FileNotFoundError:
        return False
    return True
