"""The simulator's WebSocket ticker against the real `kiteconnect.KiteTicker` (a process: twisted's reactor runs once
per process), on 127.0.0.1: Kite's packets in the three modes, subscribe/unsubscribe/mode, heartbeats, order
updates, the api_key/access_token check, and the stream=cut fault."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from decimal import Decimal as D
from typing import Any, Callable

import pytest

from testing.kite_sim import ROOT, SIM_KEY, kite_login

CLIENT = str(ROOT / "tests" / "kite" / "ticker_client.py")


class Ticker:
    """ticker_client.py as a process: its JSON lines on a queue."""

    def __init__(self, url: str, access_token: str, mode: str, tokens: list[int], api_key: str = SIM_KEY):
        root = url.replace("http://", "ws://", 1)
        self.proc = subprocess.Popen(
            [sys.executable, CLIENT, root, api_key, access_token, mode, ",".join(map(str, tokens))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        self.lines: "queue.Queue[dict[str, Any]]" = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def until(self, match: Callable[[dict[str, Any]], bool], timeout: float = 15) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                event = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                return None
            self.seen.append(event)
            if match(event):
                return event
        return None

    def tick_of(
        self, token: int, match: Callable[[dict[str, Any]], bool] = lambda t: True, timeout: float = 15, since: int = 0
    ) -> dict[str, Any] | None:
        """The first tick of `token` matching, among the events seen from index `since` on, or the next ones."""
        found: list[dict[str, Any]] = []

        def has(event: dict[str, Any]) -> bool:
            found.extend(t for t in event.get("ticks", []) if t["instrument_token"] == token and match(t))
            return bool(found)

        for event in self.seen[since:]:
            if has(event):
                return found[0]
        return found[0] if self.until(has, timeout) else None

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def tickers():
    started: list[Ticker] = []

    def start(*args: Any, **kw: Any) -> Ticker:
        t = Ticker(*args, **kw)
        started.append(t)
        return t

    yield start
    for t in started:
        t.stop()


@pytest.fixture
def session(sim_server):
    token, _, _ = sim_server.app.exchange.issue_session("AB1234")
    return sim_server, token


def token_of(exchange, symbol: str) -> int:
    return exchange.universe.get("NSE", symbol).token


def test_the_three_modes_carry_the_exchange_prices_and_a_move_is_a_tick(session, tickers):
    server, access = session
    ex = server.app.exchange
    infy, tcs, reliance = (token_of(ex, s) for s in ("INFY", "TCS", "RELIANCE"))
    t = tickers(server.url, access, "quote", [infy, tcs, reliance])
    assert t.until(lambda e: e["event"] == "connect"), t.seen
    t.send(f"mode full {tcs}")
    t.send(f"mode ltp {reliance}")

    quote = t.tick_of(infy)
    prices = ex.quote(["NSE:INFY", "NSE:TCS", "NSE:RELIANCE"])
    assert quote["mode"] == "quote" and D(repr(quote["last_price"])) == prices["NSE:INFY"].last_price
    q = prices["NSE:INFY"]
    assert {k: D(repr(v)) for k, v in quote["ohlc"].items()} == {
        "open": q.open,
        "high": q.high,
        "low": q.low,
        "close": q.close,
    }
    full = t.tick_of(tcs, lambda x: x["mode"] == "full")
    assert full is not None, t.seen
    assert D(repr(full["last_price"])) == prices["NSE:TCS"].last_price
    assert len(full["depth"]["buy"]) == 5 and len(full["depth"]["sell"]) == 5
    assert D(repr(full["depth"]["buy"][0]["price"])) == prices["NSE:TCS"].last_price
    assert full["exchange_timestamp"] is not None
    ltp = t.tick_of(reliance, lambda x: x["mode"] == "ltp")
    assert ltp is not None and set(ltp) == {"tradable", "mode", "instrument_token", "last_price"}
    assert D(repr(ltp["last_price"])) == prices["NSE:RELIANCE"].last_price

    assert t.until(lambda e: e["event"] == "heartbeat", timeout=5), "no 1-byte heartbeat in 5 s"  # nothing moves
    ex.move_price("NSE", "INFY", D("-5"))
    moved = ex.ltp(["NSE:INFY"])["NSE:INFY"]
    tick = t.tick_of(infy, lambda x: D(repr(x["last_price"])) == moved, timeout=5)
    assert tick is not None, t.seen
    sent = [r for r in server.app.stream.ticks() if r.instrument == "NSE:INFY" and r.last_price == moved]
    assert len(sent) == 1 and sent[0].mode == "quote"  # the tick the benches measure from

    t.send(f"unsubscribe {infy}")
    time.sleep(0.5)
    ex.move_price("NSE", "INFY", D("-1"))
    ex.move_price("NSE", "TCS", D("-1"))
    since = len(t.seen)
    assert t.tick_of(tcs, since=since, timeout=5) is not None  # still subscribed
    assert t.tick_of(infy, since=since, timeout=1) is None  # unsubscribed: no more INFY


def test_order_updates_follow_the_book(session, tickers):
    server, access = session
    kite = kite_login(server.url)
    t = tickers(server.url, access, "ltp", [])
    assert t.until(lambda e: e["event"] == "connect"), t.seen
    time.sleep(0.3)  # the publisher's first look at the book: what is already there is no update
    ltp = server.app.exchange.ltp(["NSE:ITC"])["NSE:ITC"]
    price = (ltp * D("0.97") / D("0.05")).quantize(D(1)) * D("0.05")
    order_id = kite.place_order(
        variety="regular",
        exchange="NSE",
        tradingsymbol="ITC",
        transaction_type="BUY",
        quantity=1,
        order_type="LIMIT",
        product="MIS",
        price=float(price),
        tag="tickertest",
    )
    update = t.until(lambda e: e["event"] == "order" and e["data"]["order_id"] == order_id)
    assert update is not None, t.seen
    data = update["data"]
    assert data["status"] == "OPEN" and data["tag"] == "tickertest" and data["pending_quantity"] == 1
    assert data["user_id"] == "AB1234" and data["unfilled_quantity"] == 1
    kite.cancel_order(variety="regular", order_id=order_id)
    cancelled = t.until(lambda e: e["event"] == "order" and e["data"]["status"] == "CANCELLED")
    assert cancelled is not None and cancelled["data"]["order_id"] == order_id


@pytest.mark.parametrize("wrong", ["token", "api_key"])
def test_a_wrong_api_key_or_access_token_is_refused_at_the_handshake(session, tickers, wrong):
    server, access = session
    token = token_of(server.app.exchange, "INFY")
    t = (
        tickers(server.url, "not-a-token", "ltp", [token])
        if wrong == "token"
        else tickers(server.url, access, "ltp", [token], api_key="other-key")
    )
    event = t.until(lambda e: e["event"] in ("connect", "reconnect", "error"), timeout=15)
    assert event is not None and event["event"] != "connect", t.seen
    assert not [e for e in t.seen if e["event"] in ("connect", "ticks")]
    assert server.app.stream.connections == 0


def test_a_cut_stream_closes_refuses_and_comes_back_resubscribed(session, tickers):
    from mci.brokers.sim.faults import parse_faults

    server, access = session
    ex = server.app.exchange
    infy = token_of(ex, "INFY")
    t = tickers(server.url, access, "ltp", [infy])
    assert t.tick_of(infy) is not None, t.seen
    server.app.set_faults(parse_faults("stream=cut"))
    assert t.until(lambda e: e["event"] in ("close", "error")), t.seen
    assert t.until(lambda e: e["event"] == "reconnect"), t.seen  # KiteTicker's backoff, refused while cut
    assert server.app.stream.connections == 0
    server.app.set_faults(parse_faults("none"))
    assert t.until(lambda e: e["event"] == "connect", timeout=20), t.seen
    ex.move_price("NSE", "INFY", D("2"))
    moved = ex.ltp(["NSE:INFY"])["NSE:INFY"]
    assert t.tick_of(infy, lambda x: D(repr(x["last_price"])) == moved, timeout=10) is not None, t.seen


def test_dropped_and_delayed_ticks(session, tickers):
    from mci.brokers.sim.faults import parse_faults

    server, access = session
    ex = server.app.exchange
    infy = token_of(ex, "INFY")
    t = tickers(server.url, access, "ltp", [infy])
    assert t.tick_of(infy) is not None, t.seen
    server.app.set_faults(parse_faults("stream_drop=1"))
    ex.move_price("NSE", "INFY", D("-1"))
    dropped = ex.ltp(["NSE:INFY"])["NSE:INFY"]
    since = len(t.seen)
    assert t.until(lambda e: e["event"] == "heartbeat", timeout=5)  # the connection lives on, its ticks are lost
    assert t.tick_of(infy, lambda x: D(repr(x["last_price"])) == dropped, since=since, timeout=1) is None
    server.app.set_faults(parse_faults("stream_delay=700ms"))
    ex.move_price("NSE", "INFY", D("-1"))
    late = ex.ltp(["NSE:INFY"])["NSE:INFY"]
    moved = time.monotonic()
    assert t.tick_of(infy, lambda x: D(repr(x["last_price"])) == late, timeout=10) is not None, t.seen
    assert time.monotonic() - moved >= 0.7
    assert (
        str(parse_faults("stream_drop=1,stream_delay=700ms,stream=cut"))
        == "stream=cut,stream_drop=1,stream_delay=700ms"
    )


def test_a_fourth_connection_of_one_api_key_is_refused(session, tickers):
    server, access = session
    infy = token_of(server.app.exchange, "INFY")
    three = [tickers(server.url, access, "ltp", [infy]) for _ in range(3)]
    for t in three:
        assert t.until(lambda e: e["event"] == "connect"), t.seen
    fourth = tickers(server.url, access, "ltp", [infy])
    event = fourth.until(lambda e: e["event"] in ("connect", "error"), timeout=15)
    assert event is not None and event["event"] == "error" and "429" in event["reason"], fourth.seen
    assert server.app.stream.connections == 3
