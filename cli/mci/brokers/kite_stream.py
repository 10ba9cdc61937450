"""Kite's WebSocket ticker through the official `kiteconnect.KiteTicker` (twisted + autobahn: only `mci watch`
loads this module).

The ticker runs the twisted reactor in its own daemon thread (a reactor runs once per process); its callbacks
only put events on a queue, and subscriptions made from the caller's thread go through
reactor.callFromThread. Reconnection is KiteTicker's own (twisted's ReconnectingClientFactory: exponential
backoff with jitter, up to reconnect_max_delay); a connection that stays open but says nothing (Kite sends a
1-byte heartbeat when there is nothing else: https://kite.trade/forum/discussion/comment/6277) is dropped by
`drop()` so that the factory reconnects it.

Kite's endpoint is wss://ws.kite.trade?api_key=...&access_token=... (https://kite.trade/docs/connect/v3/websocket);
the simulator serves it on its own root with ws:// for http://.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from typing import Any, Mapping

from mci.brokers.stream import EventQueue, FeedState, OrderUpdate, StreamEvent, Tick

RECONNECT_MAX_DELAY = 5  # seconds; KiteTicker's floor: the stream is back within seconds of the network
RECONNECT_MAX_TRIES = 300  # KiteTicker's ceiling: a day's worth of retries at 5 s
CONNECT_TIMEOUT = 5


def ticker_root(rest_root: str | None) -> str | None:
    """The ticker's root for a REST root: None (KiteTicker's wss://ws.kite.trade) for Kite's own API, else the
    same server with ws(s):// (the simulator)."""
    if rest_root is None or rest_root.rstrip("/") == "https://api.kite.trade":
        return None
    if rest_root.startswith("https://"):
        return "wss://" + rest_root[len("https://") :].rstrip("/")
    if rest_root.startswith("http://"):
        return "ws://" + rest_root[len("http://") :].rstrip("/")
    return rest_root


def _short(reason: Any) -> str:
    """autobahn's reason, e.g. 'WebSocket connection upgrade failed (503 - ServiceUnavailable)'; never the URL (it
    carries the access token)."""
    text = str(reason or "")
    return "" if "access_token" in text else text[:120]


class KiteStream:
    name = "kite ticker"

    def __init__(self, api_key: str, access_token: str, root: str | None):
        self._api_key = api_key
        self._access_token = access_token  # never logged: KiteTicker puts it in the URL, which we never print
        self.root = root
        self._events = EventQueue()
        self._tokens: dict[int, str] = {}  # token -> "EXCHANGE:SYMBOL"
        self._lock = threading.Lock()
        self._kws: Any = None
        self._up = False
        self._failure = "not connected yet"

    def __repr__(self) -> str:
        return f"KiteStream(root={self.root!r})"

    # ------------------------------------------------------------ the caller's side

    def watch(self, instruments: Mapping[str, int | None]) -> None:
        wanted = {token: key for key, token in instruments.items() if token}
        with self._lock:
            added = sorted(set(wanted) - set(self._tokens))
            removed = sorted(set(self._tokens) - set(wanted))
            self._tokens = wanted
            kws = self._kws
        if kws is None:
            self._start()
            return
        from twisted.internet import reactor

        if self._up and added:
            reactor.callFromThread(self._subscribe, added)
        if self._up and removed:
            reactor.callFromThread(self._unsubscribe, removed)

    def get(self, timeout: float) -> list[StreamEvent]:
        return self._events.get(timeout)

    def connected(self) -> bool:
        return self._up

    def silent_for(self) -> float:
        last = self._events.last_message
        return time.monotonic() - last if last else 0.0

    def wake(self) -> None:
        self._events.wake()

    def drop(self) -> None:
        """Abort a connection that went silent: KiteTicker's factory reconnects with its backoff."""
        kws = self._kws
        if kws is None:
            return
        from twisted.internet import reactor

        def abort() -> None:
            ws = getattr(kws, "ws", None)
            if ws is not None:
                ws.dropConnection(abort=True)

        reactor.callFromThread(abort)

    def close(self) -> None:
        kws, self._kws = self._kws, None
        if kws is None:
            return
        from twisted.internet import reactor

        def stop() -> None:
            try:
                kws.close(1000, "mci watch stops")
            except Exception:  # noqa: BLE001 — closing a dead connection
                pass

        reactor.callFromThread(stop)

    # ------------------------------------------------------------ the reactor's side

    def _start(self) -> None:
        from mci.brokers.kite_client import kite_ticker

        KiteTicker = kite_ticker()
        kws = KiteTicker(
            self._api_key,
            self._access_token,
            root=self.root,
            reconnect=True,
            reconnect_max_tries=RECONNECT_MAX_TRIES,
            reconnect_max_delay=RECONNECT_MAX_DELAY,
            connect_timeout=CONNECT_TIMEOUT,
        )
        kws.on_connect = self._on_connect
        kws.on_ticks = self._on_ticks
        kws.on_order_update = self._on_order
        kws.on_message = lambda ws, payload, is_binary: self._events.heard()
        kws.on_close = lambda ws, code, reason: self._down(f"the ticker connection closed ({code}: {_short(reason)})")
        kws.on_error = lambda ws, code, reason: self._down(f"the ticker connection failed ({code}: {_short(reason)})")
        kws.on_reconnect = lambda ws, attempt: self._down(
            f"{self._failure}; reconnecting (attempt {attempt})", failure=False
        )
        kws.on_noreconnect = lambda ws: self._down("the ticker gave up reconnecting")
        self._kws = kws
        kws.connect(threaded=True)

    def _on_connect(self, ws: Any, response: Any) -> None:
        self._up = True
        self._events.heard()
        with self._lock:
            tokens = sorted(self._tokens)
        ws.subscribed_tokens.clear()  # KiteTicker resubscribes its own list on reconnect; ours is the truth
        if tokens:
            self._subscribe(tokens)
        self._events.put(FeedState(True, "connected to the ticker", time.monotonic()))

    def _subscribe(self, tokens: list[int]) -> None:
        kws = self._kws
        if kws is not None and kws.ws is not None:
            kws.subscribe(tokens)
            kws.set_mode(kws.MODE_LTP, tokens)  # the last price is all the marking needs: the smallest packets

    def _unsubscribe(self, tokens: list[int]) -> None:
        kws = self._kws
        if kws is not None and kws.ws is not None:
            kws.unsubscribe(tokens)

    def _down(self, reason: str, *, failure: bool = True) -> None:
        # Every failure, not only the first: while it never connects, the latest says why (the watcher acts on
        # the change of state alone).
        if failure:
            self._failure = reason
        self._up = False
        self._events.put(FeedState(False, reason, time.monotonic()))

    def _on_ticks(self, ws: Any, ticks: list[dict[str, Any]]) -> None:
        now = time.monotonic()
        with self._lock:
            names = dict(self._tokens)
        for t in ticks:
            key = names.get(t.get("instrument_token", 0))
            price = t.get("last_price")
            if key is not None and price is not None:
                # kiteconnect divides the paise by 100.0; repr is the float's shortest text, exact for 2 decimals.
                self._events.put(Tick(key, Decimal(repr(price)), now))

    def _on_order(self, ws: Any, data: dict[str, Any]) -> None:
        self._events.put(
            OrderUpdate(str(data.get("order_id", "")), str(data.get("status", "")), time.monotonic(), dict(data))
        )
