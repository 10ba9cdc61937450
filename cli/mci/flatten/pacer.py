"""A pacer that keeps order actions under the broker's rate limit without ever needing a 429.

Kite (and the simulator) allow about `rate` order requests per second. The
pacer admits at most `limit` requests in any `window` seconds (limit = rate
rounded down, at least 1; window = limit / rate, plus a small margin), and it
counts each request until `window` after it *finished*, not after it started:
the server timestamps a request somewhere between our send and its answer, so
counting from the answer can only be stricter than the server. A request still
in flight counts as recent. Bursts up to `limit` are allowed, which a
sliding-window or token-bucket server accepts.

Thread-safe: worker threads call `slot()` around each request.
"""

from __future__ import annotations

import math
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

DEFAULT_MARGIN = 0.02  # seconds added to the window: clock granularity and scheduling


class _Entry:
    __slots__ = ("start", "end")

    def __init__(self, start: float):
        self.start = start
        self.end: float | None = None


class Pacer:
    def __init__(self, rate: float, *, monotonic: Callable[[], float] = time.monotonic,
                 margin: float = DEFAULT_MARGIN):
        if not rate or rate <= 0 or not math.isfinite(rate):
            raise ValueError("rate must be a positive number of requests per second")
        self.rate = float(rate)
        self.limit = max(1, int(rate))
        self.window = self.limit / self.rate + margin
        self._now = monotonic
        self._entries: list[_Entry] = []
        self._cond = threading.Condition()
        self.admitted = 0
        self.waited = 0.0  # total seconds callers spent waiting for a slot

    def acquire(self, deadline: float | None = None) -> _Entry | None:
        """Block until a request may start; None when `deadline` (a monotonic instant) comes first."""
        with self._cond:
            began = self._now()
            while True:
                now = self._now()
                horizon = now - self.window
                self._entries = [e for e in self._entries if e.end is None or e.end > horizon]
                if len(self._entries) < self.limit:
                    entry = _Entry(now)
                    self._entries.append(entry)
                    self.admitted += 1
                    self.waited += now - began
                    return entry
                if deadline is not None and now >= deadline:
                    return None
                ended = [e.end for e in self._entries if e.end is not None]
                timeout = (min(ended) + self.window - now) if ended else None  # else: until one finishes
                if deadline is not None:
                    timeout = deadline - now if timeout is None else min(timeout, deadline - now)
                self._cond.wait(None if timeout is None else max(timeout, 0.001))

    def release(self, entry: _Entry) -> None:
        with self._cond:
            entry.end = self._now()
            self._cond.notify_all()

    @contextmanager
    def slot(self, deadline: float | None = None) -> Iterator[bool]:
        """`with pacer.slot(deadline) as ok:` — ok is False when the deadline passed before a slot opened."""
        entry = self.acquire(deadline)
        try:
            yield entry is not None
        finally:
            if entry is not None:
                self.release(entry)
