"""Time, injected. Nothing in mci reads the wall clock except through a Clock.

`--at` / `MCI_AT` start the clock at a chosen instant and let it tick in real
time from there, so "would this pass at 09:05 next Monday?" has an answer and
tests can stand on 09:14:59 / 09:15:00.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache

from mci.errors import UsageError

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


def clock_from(at: str | None = None, env: dict[str, str] | None = None) -> Clock:
    """`--at` wins over MCI_AT; neither means the real clock."""
    source = at if at else (env if env is not None else os.environ).get("MCI_AT")
    if not source:
        return Clock()
    return Clock(parse_instant(source))
