"""Helpers of the flatten tests: a seeded account, an event recorder, exchange-side audits."""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict
from decimal import Decimal as D

from mci.brokers.base import OrderRequest
from mci.brokers.sim.exchange import Exchange, round_to_tick
from mci.brokers.sim.universe import DEFAULT_UNIVERSE
from mci.flatten import Key, parse_own_tag

RESTING = ("OPEN", "TRIGGER PENDING")


class Events:
    """on_event sink: records every call and checks the calls never overlap (they are serialised)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []
        self._busy = threading.Lock()
        self.overlapped = False
        self.threads: set[str] = set()

    def __call__(self, kind: str, data: dict) -> None:
        if not self._busy.acquire(blocking=False):
            self.overlapped = True
            self._busy.acquire()
        try:
            json.dumps(data)  # the audit log must be able to write it
            self.threads.add(threading.current_thread().name)
            self.calls.append((kind, data))
        finally:
            self._busy.release()

    def of(self, kind: str) -> list[dict]:
        return [d for k, d in self.calls if k == kind]


def seed_positions(exchange: Exchange, spec: list[tuple[str, str, int]]) -> dict[Key, int]:
    """Open positions by MARKET orders at the exchange: [(symbol, product, signed quantity)]."""
    out: dict[Key, int] = {}
    for symbol, product, qty in spec:
        side = "BUY" if qty > 0 else "SELL"
        exchange.place_order(
            OrderRequest("NSE", symbol, side, abs(qty), "MARKET", product, tag="seed", market_protection=D(-1))
        )
        key = Key("NSE", symbol, product)
        out[key] = out.get(key, 0) + qty
    return out


def resting_limit(
    exchange: Exchange, symbol: str, side: str, qty: int, product: str = "MIS", tag: str = "resting"
) -> str:
    inst = DEFAULT_UNIVERSE.get("NSE", symbol)
    ltp = exchange.price_at("NSE", symbol, exchange.clock.now())
    price = round_to_tick(ltp * (D("0.9") if side == "BUY" else D("1.1")), inst.tick_size)
    return exchange.place_order(OrderRequest("NSE", symbol, side, qty, "LIMIT", product, price=price, tag=tag))


def resting_stop(exchange: Exchange, symbol: str, side: str, qty: int, product: str = "MIS") -> str:
    inst = DEFAULT_UNIVERSE.get("NSE", symbol)
    ltp = exchange.price_at("NSE", symbol, exchange.clock.now())
    trigger = round_to_tick(ltp * (D("0.9") if side == "SELL" else D("1.1")), inst.tick_size)
    price = trigger - inst.tick_size if side == "SELL" else trigger + inst.tick_size
    return exchange.place_order(
        OrderRequest("NSE", symbol, side, qty, "SL", product, price=price, trigger_price=trigger, tag="stoploss")
    )


def seed_big_book(exchange: Exchange, n_positions: int = 40, n_orders: int = 20) -> dict[Key, int]:
    """n positions (long/short MIS, long CNC) and n resting orders, half of them stops on the closing side."""
    instruments = list(DEFAULT_UNIVERSE)[:n_positions]
    spec = []
    for i, inst in enumerate(instruments):
        qty = 1 + (i * 7) % 25
        product = "CNC" if i % 5 == 4 else "MIS"
        sign = -1 if (i % 3 == 1 and product == "MIS") else 1
        spec.append((inst.symbol, product, sign * qty))
    positions = seed_positions(exchange, spec)
    by_symbol = {k.symbol: (k, q) for k, q in positions.items()}
    for j in range(n_orders):
        key, q = by_symbol[instruments[j * 2 % n_positions].symbol]
        if j % 2 == 0:
            resting_limit(exchange, key.symbol, "BUY" if q > 0 else "SELL", 1, key.product)
        else:
            resting_stop(exchange, key.symbol, "SELL" if q > 0 else "BUY", abs(q), key.product)
    return positions


def audit_exchange(exchange: Exchange, run_id: str, before: dict[Key, int]) -> dict:
    """What the exchange itself says: open orders, positions, orders per square-off tag, quantity closed per key."""
    orders = exchange.orders()
    tags = Counter()
    closed: dict[Key, int] = defaultdict(int)
    sides_ok = True
    for o in orders:
        key = Key(o.exchange, o.symbol, o.product)
        if parse_own_tag(o.tag, run_id, key):
            tags[o.tag] += 1
            closed[key] += o.filled_quantity
            want = "SELL" if before.get(key, 0) > 0 else "BUY"
            sides_ok = sides_ok and o.side == want and o.order_type == "MARKET"
    return {
        "open": [o for o in orders if o.status in RESTING],
        "positions": {Key(p.exchange, p.symbol, p.product): p.quantity for p in exchange.positions() if p.quantity},
        "duplicate_tags": {t: n for t, n in tags.items() if n > 1},
        "closed": dict(closed),
        "over_closed": {k: (closed[k], q) for k, q in before.items() if closed[k] > abs(q)},
        "sides_ok": sides_ok,
        "square_offs": sum(tags.values()),
    }
