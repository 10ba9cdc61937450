"""The broker's live feed, as `mci watch` consumes it: ticks of last prices and order updates, pushed.

Two implementations: Kite's WebSocket ticker through the real `kiteconnect.KiteTicker`
(mci.brokers.kite_stream: twisted and autobahn, loaded only by whoever opens it) and the paper broker's
in-process feed (mci.brokers.paper_stream). A broker offers one through `broker.stream()`; the events
come out of `get()` on the caller's thread, so the caller judges them where it judges everything else.
"""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Mapping, Protocol, Union


@dataclass(frozen=True)
class Tick:
    instrument: str  # "EXCHANGE:SYMBOL"
    last_price: Decimal
    received: float  # time.monotonic() when it arrived


@dataclass(frozen=True)
class OrderUpdate:
    order_id: str
    status: str
    received: float
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FeedState:
    up: bool
    reason: str
    received: float


StreamEvent = Union[Tick, OrderUpdate, FeedState]


class Stream(Protocol):
    name: str

    def watch(self, instruments: Mapping[str, int | None]) -> None:
        """Stream these instruments ("EXCHANGE:SYMBOL" -> the broker's instrument token, None if unknown) and no
        others; starts the feed on the first call."""

    def get(self, timeout: float) -> list[StreamEvent]:
        """Every event that arrived, waiting up to `timeout` seconds for the first ([] when none came)."""

    def connected(self) -> bool: ...

    def silent_for(self) -> float:
        """Seconds since the feed last said anything (a heartbeat counts); 0 when never connected."""

    def wake(self) -> None:
        """Make a waiting get() return now (a stop request)."""

    def close(self) -> None: ...


class EventQueue:
    """The thread-safe queue both feeds put into and get() drains."""

    def __init__(self) -> None:
        # SimpleQueue: wake() comes from a signal handler (a stop request), where Queue.put could deadlock on the
        # lock a get() in the interrupted main thread holds; SimpleQueue.put is reentrant (mci.signals).
        self._q: "queue.SimpleQueue[StreamEvent | None]" = queue.SimpleQueue()
        self.last_message = 0.0

    def put(self, event: StreamEvent) -> None:
        self._q.put(event)

    def heard(self) -> None:
        self.last_message = time.monotonic()

    def wake(self) -> None:
        self._q.put(None)

    def get(self, timeout: float) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        try:
            first = self._q.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return out
        if first is not None:
            out.append(first)
        while True:
            try:
                event = self._q.get_nowait()
            except queue.Empty:
                return out
            if event is not None:
                out.append(event)
