"""The paper broker's feed, in-process: the same Stream interface as Kite's ticker, fed by reading the paper
exchange every PAPER_EVERY in a daemon thread (the paper exchange has no network to push over)."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Mapping

from mci.brokers.stream import EventQueue, FeedState, OrderUpdate, StreamEvent, Tick

if TYPE_CHECKING:
    from mci.brokers.sim.exchange import Exchange

PAPER_EVERY = 0.1


class PaperStream:
    name = "paper feed"

    def __init__(self, exchange: "Exchange", every: float = PAPER_EVERY):
        self._exchange = exchange
        self._every = every
        self._events = EventQueue()
        self._instruments: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, instruments: Mapping[str, int | None]) -> None:
        with self._lock:
            self._instruments = sorted(instruments)
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="paper-stream", daemon=True)
            self._thread.start()

    def get(self, timeout: float) -> list[StreamEvent]:
        return self._events.get(timeout)

    def connected(self) -> bool:
        return self._thread is not None and not self._stop.is_set()

    def silent_for(self) -> float:
        last = self._events.last_message
        return time.monotonic() - last if last else 0.0

    def wake(self) -> None:
        self._events.wake()

    def close(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        sent: dict[str, Decimal] = {}
        orders: dict[str, tuple[str, int]] | None = None
        self._events.put(FeedState(True, "paper feed started", time.monotonic()))
        while not self._stop.wait(self._every if orders is not None else 0):
            try:
                with self._lock:
                    wanted = list(self._instruments)
                prices = self._exchange.ltp(wanted) if wanted else {}
                book = {o.order_id: (o.status, o.filled_quantity) for o in self._exchange.orders()}
            except Exception:  # noqa: BLE001 — a busy file skips a cycle; the watcher's staleness check judges
                continue
            now = time.monotonic()
            self._events.heard()
            for key, price in prices.items():
                if sent.get(key) != price:
                    sent[key] = price
                    self._events.put(Tick(key, price, now))
            if orders is not None:
                for order_id, state in book.items():
                    if orders.get(order_id) != state:
                        self._events.put(OrderUpdate(order_id, state[0], now))
            orders = book
