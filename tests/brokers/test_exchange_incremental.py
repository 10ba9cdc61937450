"""Incremental matching and order margin (issue 19) change the cost of the book, never its outcome.

The same random session (orders of every type, cancels, modifications, price moves, minutes
passing) runs on two real exchanges: the real one, driven through two handles on one file as two
processes would, and one whose matching and order margin are the whole-book scans the exchange
had before its caches (kept here verbatim as the oracle). Every answer, order, event, trade,
position and fund figure must be identical.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import asdict
from datetime import datetime, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest

from mci.brokers.base import OrderRequest
from mci.brokers.sim.exchange import MARGIN_RATE, SCHEMA_VERSION, Exchange, ExchangeError, round_to_tick
from mci.clock import Clock

IST = ZoneInfo("Asia/Kolkata")
T0 = datetime(2026, 11, 23, 9, 30, tzinfo=IST)
SYMBOLS = ("INFY", "TCS", "SBIN", "ITC")


class StepClock(Clock):
    def __init__(self, start: datetime):
        super().__init__(start, frozen=True)

    def advance(self, minutes: int) -> None:
        self._start += timedelta(minutes=minutes)


class RescanExchange(Exchange):
    """The exchange's matching and margin as they were before issue 19: every resting order, every call."""

    def _all_resting(self, c):
        c.row_factory = sqlite3.Row
        try:
            return c.execute("SELECT * FROM orders WHERE status IN ('OPEN', 'TRIGGER PENDING') ORDER BY seq").fetchall()
        finally:
            c.row_factory = None

    def _match(self, c, now):
        for row in self._all_resting(c):
            self._match_order(c, row, now, on_arrival=False)

    def _order_margin(self, c, now):
        projected = {
            (e, s, p): int(q) for e, s, p, q in c.execute("SELECT exchange, symbol, product, quantity FROM positions")
        }
        blocked = D(0)
        for o in self._all_resting(c):
            key = (o["exchange"], o["symbol"], o["product"])
            left = o["quantity"] - o["filled_quantity"]
            signed = left if o["side"] == "BUY" else -left
            reference = D(o["price"]) or D(o["trigger_price"])
            if not reference:
                inst = self.universe.get(o["exchange"], o["symbol"])
                reference = self._price(c, inst, now) if inst else D(0)
            blocked += self._increasing(projected.get(key, 0), signed) * reference * MARGIN_RATE.get(o["product"], D(1))
            projected[key] = projected.get(key, 0) + signed
        return blocked

    def _projected(self, c, key):
        projected = {
            (e, s, p): int(q) for e, s, p, q in c.execute("SELECT exchange, symbol, product, quantity FROM positions")
        }
        for o in self._all_resting(c):
            k = (o["exchange"], o["symbol"], o["product"])
            left = o["quantity"] - o["filled_quantity"]
            projected[k] = projected.get(k, 0) + (left if o["side"] == "BUY" else -left)
        return projected.get(key, 0)


def request(rng: random.Random, ex: Exchange) -> OrderRequest:
    symbol = rng.choice(SYMBOLS)
    inst = ex.universe.get("NSE", symbol)
    ltp = ex.ltp([inst.key])[inst.key]
    side = rng.choice(("BUY", "SELL"))
    kind = rng.choice(("MARKET", "LIMIT", "LIMIT", "LIMIT", "SL", "SL-M"))
    away = D(rng.randint(-8, 8)) / 1000
    price = round_to_tick(ltp * (1 + away), inst.tick_size)
    stop = round_to_tick(ltp * (1 + (D(rng.randint(1, 6)) / 1000) * (1 if side == "BUY" else -1)), inst.tick_size)
    kw: dict = {"product": rng.choice(("MIS", "MIS", "CNC")), "tag": f"t{rng.randint(0, 9)}"}
    if kind == "LIMIT":
        kw["price"] = price
    elif kind == "SL":
        kw.update(trigger_price=stop, price=stop)
    elif kind == "SL-M":
        kw.update(trigger_price=stop, market_protection=D(-1))
    else:
        kw["market_protection"] = D(-1)
    return OrderRequest("NSE", symbol, side, rng.randint(1, 40), kind, **kw)


def step(rng: random.Random, ex: Exchange, clock: StepClock, op: int):
    """One random operation; its answer (or refusal) is what a caller would see."""
    resting = [o for o in ex.orders() if o.status in ("OPEN", "TRIGGER PENDING")]
    try:
        if op < 45:
            return ex.place_order(request(rng, ex))
        if op < 55 and resting:
            return ex.cancel_order(rng.choice(resting).order_id)
        if op < 65 and resting:
            order = rng.choice(resting)
            tick = ex.universe.get(order.exchange, order.symbol).tick_size
            if order.order_type in ("LIMIT", "SL"):
                moved = max(order.price + tick * rng.randint(-20, 20), tick)
                trigger = moved if order.order_type == "SL" else None
                return ex.modify_order(order.order_id, price=moved, trigger_price=trigger)
            return ex.modify_order(order.order_id, quantity=order.quantity + rng.randint(0, 5))
        if op < 75:
            return ex.move_price("NSE", rng.choice(SYMBOLS), D(rng.randint(-15, 15)) / 10)
        if op < 80:
            symbol = rng.choice(SYMBOLS)
            return ex.set_price("NSE", symbol, ex.ltp([f"NSE:{symbol}"])[f"NSE:{symbol}"])  # pinned where it stands
        if op < 95:
            clock.advance(rng.choice((0, 1, 1, 2, 5)))
            return ex.funds()
        return ex.positions()
    except ExchangeError as exc:
        return (type(exc).__name__, exc.what, exc.why)


def snapshot(ex: Exchange) -> dict:
    orders = ex.orders()
    return {
        "orders": [asdict(o) for o in orders],
        "history": {o.order_id: [asdict(e) for e in ex.order_history(o.order_id)] for o in orders},
        "trades": [asdict(t) for t in ex.trades()],
        "positions": [asdict(p) for p in ex.positions()],
        "funds": asdict(ex.funds()),
    }


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_cached_book_answers_exactly_as_a_rescanned_book(tmp_path, seed):
    cached_clock, fresh_clock = StepClock(T0), StepClock(T0)
    capital, slippage = D("300000"), D("0.001")
    cached = [
        Exchange(tmp_path / "cached.db", cached_clock, seed=5, capital=capital, slippage=slippage) for _ in range(2)
    ]
    fresh = RescanExchange(tmp_path / "fresh.db", fresh_clock, seed=5, capital=capital, slippage=slippage)
    cached[0].seed_position("NSE", "ITC", "CNC", 50, D("410"))
    fresh.seed_position("NSE", "ITC", "CNC", 50, D("410"))
    rng_cached, rng_fresh, ops = random.Random(seed), random.Random(seed), random.Random(seed * 7919)
    try:
        for n in range(160):
            op = ops.randrange(100)
            answer_fresh = step(rng_fresh, fresh, fresh_clock, op)
            answer_cached = step(rng_cached, cached[n % 2], cached_clock, op)
            assert answer_cached == answer_fresh, f"operation {n} ({op}) answered differently"
        assert snapshot(cached[1]) == snapshot(fresh)
        statuses = [o.status for o in cached[0].orders()]
        assert len(cached[0].trades()) > 10 and "OPEN" in statuses and "CANCELLED" in statuses
        assert any(
            e.status == "TRIGGER PENDING"
            for o in cached[0].orders()
            for e in cached[0].order_history(o.order_id)
            if o.status == "COMPLETE"
        )  # a stop triggered and filled while resting
    finally:
        for ex in (*cached, fresh):
            ex.close()


def test_a_schema_2_book_is_migrated_with_its_resting_orders_counted(tmp_path):
    """An account from before the caches: its resting orders are still matched and still block margin."""
    clock = StepClock(T0)
    ex = Exchange(tmp_path / "old.db", clock, seed=5, capital=D("1000000"))
    resting = ex.place_order(OrderRequest("NSE", "INFY", "BUY", 10, "LIMIT", "MIS", price=D("1400")))
    blocked = ex.funds().order_margin
    ex.close()
    conn = sqlite3.connect(tmp_path / "old.db")
    with conn:
        for trigger in [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")]:
            conn.execute(f"DROP TRIGGER {trigger}")
        for table in ("match_marks", "margin_marks", "resting_keys"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute("DROP INDEX orders_resting")
    conn.execute("PRAGMA user_version = 2")
    conn.close()
    ex = Exchange(tmp_path / "old.db", clock, seed=5, capital=D("1000000"))
    try:
        assert ex.funds().order_margin == blocked > 0
        ex.set_price("NSE", "INFY", D("1399"))
        assert ex.order(resting).status == "COMPLETE"
        conn = sqlite3.connect(tmp_path / "old.db")
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
        conn.close()
    finally:
        ex.close()
