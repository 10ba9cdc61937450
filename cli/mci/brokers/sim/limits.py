"""Kite's rate limits as the simulator enforces them, and the log of every request it counted.

What Kite counts, per account (sources):
- https://kite.trade/docs/connect/v3/exceptions/#api-rate-limit : beyond a limit, HTTP 429;
- kite.trade/forum/discussion/comment/51959 : order placement, modification and cancellation together,
  10 requests/s and 400/min; 5,000 placements a day (every request to the placement endpoint,
  rejected ones included; modifications and cancellations do not count towards the day);
- kite.trade/forum/discussion/11404 : quotes 1 request/s, all other endpoints 10 requests/s;
- kite.trade/forum/discussion/comment/3071 : the body, {"status": "error", "message": "Too many requests",
  "error_type": "NetworkException"} (kiteconnect raises NetworkException, code 429).

Windows slide, on the server's monotonic clock, from the instant a request arrives (after any injected
latency): a request is refused when `limit` requests of its bucket arrived in the last `window` seconds.
A refused request is not counted. The day is the exchange clock's Asia/Kolkata date. The login page
(/connect/login, served by kite.zerodha.com, not the API) is not limited.

Not modelled: the ~10 s cool-down after a 429 a forum answer mentions (kite.trade/forum/discussion/
comment/51478); Kite does not document it, and our client never draws a 429 from the limits.

The log keeps the last LOG_SIZE requests: arrival (monotonic and wall time), bucket, route, whether it
was counted, and the answer's status, so tests and bench can measure any window as the server saw it.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import date
from typing import Any, Callable, Iterable

from mci.errors import UsageError

BUCKETS = ("order", "place", "quote", "other")
UNITS = {"s": 1.0, "min": 60.0, "day": None}
LOG_SIZE = 100_000
TOO_MANY = "Too many requests"  # Kite's message with 429 (kite.trade/forum/discussion/comment/3071)

# The Kite endpoint (kite_server's url_map) -> the buckets one request counts in.
ENDPOINT_BUCKETS: dict[str, tuple[str, ...]] = {
    "place": ("order", "place"),
    "modify": ("order",),
    "cancel": ("order",),
    "quote": ("quote",),
    "ltp": ("quote",),
    "ohlc": ("quote",),
    "login": (),
    "redirect": (),
}


@dataclass(frozen=True)
class Rule:
    bucket: str
    limit: int
    unit: str  # s | min | day

    def __str__(self) -> str:
        return f"{self.bucket}={self.limit}/{self.unit}"


KITE_RULES = (
    Rule("order", 10, "s"),
    Rule("order", 400, "min"),
    Rule("place", 5000, "day"),
    Rule("quote", 1, "s"),
    Rule("other", 10, "s"),
)


@dataclass(frozen=True)
class RateLimits:
    rules: tuple[Rule, ...] = KITE_RULES

    @classmethod
    def off(cls) -> "RateLimits":
        return cls(())

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.rules) or "off"


_ITEM = re.compile(r"^(?P<bucket>[a-z]+)=(?:(?P<limit>\d+)/(?P<unit>s|min|day)|(?P<off>off))$")


def parse_rate_limits(text: str | None) -> RateLimits:
    """'kite' (or nothing): Kite's limits; 'off': none; else overrides of Kite's, e.g. 'order=20/s,quote=off'."""
    raw = (text or "").strip().lower().replace(" ", "")
    if raw in ("", "kite", "default"):
        return RateLimits()
    if raw in ("off", "none"):
        return RateLimits.off()
    rules = list(KITE_RULES)
    for item in raw.split(","):
        m = _ITEM.match(item)
        if m is None or m["bucket"] not in BUCKETS:
            raise UsageError(
                f"cannot read the rate limit {item!r}",
                f"a limit is BUCKET=N/UNIT or BUCKET=off, BUCKET one of {', '.join(BUCKETS)}, UNIT s, min or day",
                "write e.g. order=10/s,order=400/min,place=5000/day,quote=1/s,other=10/s, or off",
            )
        bucket = m["bucket"]
        if m["off"]:
            rules = [r for r in rules if r.bucket != bucket]
            continue
        limit = int(m["limit"])
        if limit < 1:
            raise UsageError(
                f"the rate limit {item!r} is below 1",
                "a limit counts requests allowed",
                f"write {bucket}=off for no limit on {bucket}",
            )
        rules = [r for r in rules if (r.bucket, r.unit) != (bucket, m["unit"])] + [Rule(bucket, limit, m["unit"])]
    return RateLimits(tuple(rules))


class SimRateLimiter:
    """Sliding windows per rule; admit() counts a request in every bucket it belongs to, or in none."""

    def __init__(self, limits: RateLimits, monotonic: Callable[[], float], today: Callable[[], date]):
        self.limits = limits
        self._now = monotonic
        self._today = today
        self._lock = threading.Lock()
        self._times: dict[Rule, deque[float]] = {r: deque() for r in limits.rules if UNITS[r.unit] is not None}
        self._days: dict[Rule, tuple[date | None, int]] = {}  # a counted day rule always has its day

    def admit(self, buckets: Iterable[str]) -> tuple[bool, float]:
        """(counted, the server's timestamp of the request)."""
        wanted = set(buckets)
        with self._lock:
            now = self._now()
            rules = [r for r in self.limits.rules if r.bucket in wanted]
            day = self._today() if any(r.unit == "day" for r in rules) else None
            for r in rules:
                window = UNITS[r.unit]
                if window is None:
                    seen_day, count = self._days.get(r, (day, 0))
                    if seen_day == day and count >= r.limit:
                        return False, now
                    continue
                times = self._times[r]
                while times and now - times[0] >= window:
                    times.popleft()
                if len(times) >= r.limit:
                    return False, now
            for r in rules:
                if UNITS[r.unit] is None:
                    seen_day, count = self._days.get(r, (day, 0))
                    self._days[r] = (day, count + 1 if seen_day == day else 1)
                else:
                    self._times[r].append(now)
            return True, now


class RequestLog:
    """The last LOG_SIZE Kite requests as the server saw them; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._entries: deque[dict[str, Any]] = deque(maxlen=LOG_SIZE)

    def add(self, *, at: float, bucket: str, route: str, counted: bool) -> dict[str, Any]:
        entry = {
            "seq": next(self._seq),
            "at": at,
            "wall": time.time(),
            "bucket": bucket,
            "route": route,
            "counted": counted,
            "status": None,
        }
        with self._lock:
            self._entries.append(entry)
        return entry

    @staticmethod
    def answered(entry: dict[str, Any], status: int | str) -> None:
        entry["status"] = status  # one writer: the request's own thread

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def snapshot(self, bucket: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._entries if e["seq"] > since and (bucket is None or e["bucket"] == bucket)]


def max_in_window(times: Iterable[float], window: float = 1.0) -> int:
    """The most timestamps within any `window` seconds (half-open, as the server's sliding window counts)."""
    ordered = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(ordered):
        while t - ordered[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best
