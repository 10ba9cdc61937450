"""The watcher's live feed: the last REST read of the account, marked to market by the broker's ticks.

The ticks say only last prices, and an order update only that the book moved: the funds, the positions and
the orders come from the watcher's REST read (at start, every watch.reconcile, and at once after an order
update). Between two reads each position is marked at its instrument's latest tick:

    day P&L (and unrealised) += quantity x (tick price - the price the read marked it at)

which is Kite's own marking for equity and F&O, where a position's quantity is in units (Kite's positions
carry a `multiplier` for MCX and CDS lots that the Position model does not keep: those segments are marked by
the REST read alone until it does).

A stream that is down, or silent for STALE_AFTER (Kite sends a heartbeat when there is nothing else to send),
is not live: the watcher polls every watch.interval meanwhile, and a silent connection is dropped so that the
ticker's backoff reconnects it.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Callable

from mci.brokers.stream import FeedState, OrderUpdate, Stream, StreamEvent, Tick

if TYPE_CHECKING:
    from datetime import datetime

    from mci.brokers.base import Funds, Order, Position
    from mci.risk import Account
    from mci.watch.reading import Reader

STALE_AFTER = 3.0  # seconds without a message, heartbeats included: three of Kite's heartbeats missed


class Feed:
    def __init__(self, stream: Stream, monotonic: Callable[[], float]):
        self.stream = stream
        self._monotonic = monotonic
        self._answers: "tuple[Funds, list[Position], list[Order]] | None" = None
        self._prices: dict[str, Tick] = {}
        self.up = False  # the stream says it is connected
        self.live = False  # up, not silent, and a read to mark
        self.said: bool | None = None  # the liveness last announced (stream_up / stream_down)
        self.opened = monotonic()
        self.reason = "not connected yet"
        self.ticks = 0
        self.last_tick: Tick | None = None

    def reconciled(self, answers: "tuple[Funds, list[Position], list[Order]]", started: float) -> None:
        """A good REST read that began at `started` (monotonic): the base the ticks mark from."""
        self._answers = answers
        # A tick that arrived after the read began is at least as new as the read's prices.
        self._prices = {k: t for k, t in self._prices.items() if t.received > started}
        held = {f"{p.exchange}:{p.symbol}": p.instrument_token for p in answers[1] if p.quantity}
        self.stream.watch(held)

    def take(self, events: list[StreamEvent]) -> tuple[bool, bool, list[FeedState]]:
        """(a held price moved, the order book moved, the connection's changes)."""
        moved = orders = False
        states: list[FeedState] = []
        for e in events:
            if isinstance(e, Tick):
                self.ticks += 1
                self.last_tick = e
                old = self._prices.get(e.instrument)
                self._prices[e.instrument] = e
                moved = moved or old is None or old.last_price != e.last_price
            elif isinstance(e, OrderUpdate):
                orders = True
            elif isinstance(e, FeedState):
                self.up = e.up
                if not e.up:
                    self.reason = e.reason  # what check() says while it stays down
                states.append(e)
        return moved, orders, states

    def check(self) -> tuple[bool, str]:
        """Whether the feed can be judged on now, and if not why; drops a connection gone silent."""
        silent = self.stream.silent_for()
        if not self.stream.connected():
            return False, self.reason
        if silent > STALE_AFTER:
            drop = getattr(self.stream, "drop", None)
            if drop is not None:
                drop()
            return False, f"the stream has been silent for {silent:.1f}s"
        if self._answers is None:
            return False, "no account read to mark yet"
        return True, ""

    def account(self, reader: "Reader", peak: Decimal | None, at: "datetime") -> "Account | None":
        """The last read, marked at the latest ticks; None before a read."""
        from mci.risk import Account

        if self._answers is None:
            return None
        funds, positions, orders = self._answers
        marked = []
        for p in positions:
            tick = self._prices.get(f"{p.exchange}:{p.symbol}")
            if tick is None or not p.quantity or tick.last_price == p.last_price:
                marked.append(p)
                continue
            delta = p.quantity * (tick.last_price - p.last_price)
            marked.append(
                replace(
                    p,
                    last_price=tick.last_price,
                    unrealised=p.unrealised + delta,
                    m2m=p.m2m + delta if p.m2m is not None else None,
                )
            )
        return Account.from_answers(reader.broker(), funds, marked, orders, peak_equity=peak, at=at, quote_held=False)

    def close(self) -> None:
        try:
            self.stream.close()
        except Exception:  # noqa: BLE001 — closing a dead connection must not hide the watcher's verdict
            pass
