"""Time-to-flat of the emergency flatten against the Kite simulator, as a ratio to the rate-limit bound.

The simulator (real HTTP on 127.0.0.1, order placement limited to 10/s -> 429)
holds 40 open positions (long and short, MIS and CNC) and 20 open orders
(LIMIT and SL, some on the closing side of a position). The flatten runs
through the real kiteconnect client (KiteBroker). The bound is what the rate
limit allows at best: (orders to cancel + positions to close) / rate = 6 s.

  run 1: 50 ms latency                                   target <= 1.2x
  run 2: 50 ms latency, 20% 5xx and 20% lost responses   target <= 1.6x
  run 3: the mixed book of issue 13, 50 ms latency       target <= 1.2x
         40 cash positions, 10 NFO positions (3 above their freeze quantity: sliced), 5 active GTTs (deleted
         first, as the emergency's gtt.delete_all step does), 20 resting orders of every variety (regular, amo,
         iceberg, auction, and cover orders whose stop-loss legs are exited with their parent). Its bound counts
         every action: GTT deletes + cancels and exits + square-off slices, at 10/s.

A missed ratio is printed, not fatal. The exit status is non-zero only when a
run did not end flat, placed a duplicate (two orders with one tag, or more
square-off quantity than a position held) or met a 429 it could not absorb.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from mci.brokers.base import OrderRequest
from mci.brokers.kite import KiteBroker
from mci.brokers.sim.exchange import Exchange, round_to_tick
from mci.brokers.sim.faults import parse_faults
from mci.brokers.sim.kite_server import serve
from mci.brokers.sim.universe import DEFAULT_UNIVERSE
from mci.clock import Clock
from mci.flatten import flatten, parse_own_tag
from mci.flatten.gtts import delete_active_gtts
from mci.flatten.tags import Key
from mci.store.token_store import TokenRecord

IST = ZoneInfo("Asia/Kolkata")
API_KEY, API_SECRET = "bench-key", "bench-secret"
RATE = 10
REPEAT = int(os.environ.get("BENCH_REPEAT", "1"))
POSITIONS, ORDERS = 40, 20
RUNS = [
    ("50 ms latency", "latency=50ms,seed=11", 1.2),
    ("50 ms latency, 20% 5xx + 20% lost responses", "latency=50ms,5xx=0.2,lost=0.2,seed=11", 1.6),
]


def seed_account(exchange: Exchange, *, varieties: bool = False) -> dict[Key, int]:
    """40 positions and 20 resting orders; returns the positions {key: signed quantity}.

    `varieties`: the resting orders take the varieties in turn, and two of them are cover orders (in instruments
    of their own, their stop-loss legs resting)."""
    instruments = list(DEFAULT_UNIVERSE)[:POSITIONS]
    positions: dict[Key, int] = {}
    for i, inst in enumerate(instruments):
        qty = 1 + (i * 7) % 25
        product = "CNC" if i % 5 == 4 else "MIS"
        side = "SELL" if (i % 3 == 1 and product == "MIS") else "BUY"
        exchange.place_order(
            OrderRequest(
                inst.exchange, inst.symbol, side, qty, "MARKET", product, tag="seed", market_protection=Decimal(-1)
            )
        )
        positions[Key(inst.exchange, inst.symbol, product)] = qty if side == "BUY" else -qty
    now = exchange.clock.now()
    for j in range(ORDERS):
        inst = instruments[j * 2 % POSITIONS]
        ltp = exchange.price_at(inst.exchange, inst.symbol, now)
        key = next(k for k in positions if k.symbol == inst.symbol)
        if j % 2 == 0:  # a resting LIMIT far from the market, on the opening side
            side = "BUY" if positions[key] > 0 else "SELL"
            price = round_to_tick(ltp * (Decimal("0.9") if side == "BUY" else Decimal("1.1")), inst.tick_size)
            request = OrderRequest(
                inst.exchange, inst.symbol, side, 1, "LIMIT", key.product, price=price, tag="resting"
            )
        else:  # a stop-loss on the closing side: cancelled before any square-off of that position
            side = "SELL" if positions[key] > 0 else "BUY"
            factor = Decimal("0.9") if side == "SELL" else Decimal("1.1")
            trigger = round_to_tick(ltp * factor, inst.tick_size)
            price = trigger - inst.tick_size if side == "SELL" else trigger + inst.tick_size
            request = OrderRequest(
                inst.exchange,
                inst.symbol,
                side,
                abs(positions[key]),
                "SL",
                key.product,
                price=price,
                trigger_price=trigger,
                tag="stoploss",
            )
        if varieties and j in (3, 7):  # a cover order: its entry fills, its stop-loss leg is the resting order
            co = list(DEFAULT_UNIVERSE)[POSITIONS + j]
            ltp = exchange.price_at(co.exchange, co.symbol, now)
            request = OrderRequest(
                co.exchange,
                co.symbol,
                "BUY",
                5,
                "MARKET",
                "CO",
                market_protection=Decimal(-1),
                trigger_price=round_to_tick(ltp * Decimal("0.95"), co.tick_size),
                variety="co",
            )
        elif varieties:
            request = replace(request, variety=VARIETIES[j % len(VARIETIES)])
        if request.variety == "amo":  # Kite takes AMOs outside 09:00-15:45 only: placed before the open
            session = exchange.clock
            exchange.clock = Clock(now.replace(hour=8, minute=45), frozen=True)
            try:
                exchange.place_order(request)
            finally:
                exchange.clock = session
            continue
        exchange.place_order(request)
    return positions


# The mixed book's F&O positions: (tradingsymbol, product, lots, side); the first three are above the freeze quantity.
FNO_BOOK = (
    ("NIFTY26DECFUT", "NRML", 40, 1),
    ("BANKNIFTY26DEC59000CE", "MIS", 30, -1),
    ("RELIANCE26DECFUT", "NRML", 30, 1),
    ("INFY26DECFUT", "NRML", 2, -1),
    ("TCS26DECFUT", "MIS", 1, 1),
    ("SBIN26DEC910CE", "NRML", 3, 1),
    ("ITC26DEC410PE", "MIS", 2, -1),
    ("LT26DECFUT", "NRML", 1, 1),
    ("AXISBANK26DEC1220CE", "NRML", 2, -1),
    ("HDFCBANK26DECFUT", "MIS", 1, 1),
)
VARIETIES = ("regular", "amo", "iceberg", "auction")
GTTS = 5


def seed_mixed(exchange: Exchange) -> tuple[dict[Key, int], int]:
    """The cash book of seed_account (its 20 resting orders spread over the varieties, two of them cover orders),
    plus FNO_BOOK and GTTS active GTTs; returns the positions and the number of order actions the bound counts."""
    positions = seed_account(exchange, varieties=True)
    actions = ORDERS + GTTS
    now = exchange.clock.now()
    for symbol, product, lots, sign in FNO_BOOK:
        inst = DEFAULT_UNIVERSE.get("NFO", symbol)
        qty = sign * lots * inst.lot_size
        exchange.seed_position("NFO", symbol, product, qty, exchange.price_at("NFO", symbol, now))
        positions[Key("NFO", symbol, product)] = qty
    for key, qty in positions.items():
        inst = DEFAULT_UNIVERSE.get(key.exchange, key.symbol)
        if key.product != "CO":  # a cover order's position is closed by its leg's exit, counted with the orders
            actions += -(-abs(qty) // (inst.freeze_quantity or abs(qty)))  # one square-off per slice
    for i in range(GTTS):
        inst = list(DEFAULT_UNIVERSE)[i]
        ltp = exchange.price_at(inst.exchange, inst.symbol, now)
        exchange.place_gtt(
            {
                "type": "single",
                "condition": {
                    "exchange": inst.exchange,
                    "tradingsymbol": inst.symbol,
                    "trigger_values": [str(ltp * Decimal("0.9"))],
                },
                "orders": [
                    {
                        "transaction_type": "BUY",
                        "quantity": 1,
                        "order_type": "LIMIT",
                        "product": "CNC",
                        "price": str(round_to_tick(ltp * Decimal("0.9"), inst.tick_size)),
                    }
                ],
            }
        )
    return positions, actions


def audit(exchange: Exchange, run_id: str, before: dict[Key, int]) -> list[str]:
    """Problems at the exchange: not flat, a tag used twice, more square-off quantity than a position held."""
    problems = []
    orders = exchange.orders()
    if any(o.status in ("OPEN", "TRIGGER PENDING") for o in orders):
        problems.append("open orders remain")
    if any(p.quantity for p in exchange.positions()):
        left = [f"{p.symbol} {p.quantity}" for p in exchange.positions() if p.quantity]
        problems.append("positions remain: " + ", ".join(left))
    tags = Counter(o.tag for o in orders if parse_own_tag(o.tag, run_id, Key(o.exchange, o.symbol, o.product)))
    problems += [f"tag {t} used by {n} orders" for t, n in tags.items() if n > 1]
    closed: dict[Key, int] = defaultdict(int)
    for o in orders:
        key = Key(o.exchange, o.symbol, o.product)
        if parse_own_tag(o.tag, run_id, key):
            closed[key] += o.filled_quantity
    problems += [f"{k}: closed {closed[k]} of {abs(q)}" for k, q in before.items() if closed[k] != abs(q)]
    return problems


def one_run(label: str, spec: str, target: float, *, mixed: bool = False) -> bool:
    home = Path(tempfile.mkdtemp(prefix="mci-bench-flatten-"))
    clock = Clock(datetime(2026, 11, 23, 10, 0, tzinfo=IST))  # a Monday in session, ticking
    exchange = Exchange(home / "sim.db", clock, seed=7, capital=Decimal("100000000"))
    if mixed:
        before, actions = seed_mixed(exchange)
    else:
        before, actions = seed_account(exchange), ORDERS + POSITIONS
    token, _, _ = exchange.issue_session("AB1234")
    server = serve("127.0.0.1", 0, exchange, api_key=API_KEY, api_secret=API_SECRET, faults=parse_faults(spec))
    broker = KiteBroker(
        API_KEY,
        clock=clock,
        token=TokenRecord.issued(token, "AB1234", API_KEY, clock.now()),
        root=server.url,
        timeout=5,
    )
    run_id = f"bench-{int(time.time() * 1000)}"
    try:
        start = time.perf_counter()
        gtts = delete_active_gtts(broker, run_id=run_id) if mixed else None
        report = flatten(broker, deadline=timedelta(seconds=60), rate=RATE, run_id=run_id, clock=clock)
        elapsed = time.perf_counter() - start
        counters = server.app.counters.snapshot()
    finally:
        broker.close()
        server.shutdown()
    problems = audit(exchange, run_id, before)
    if gtts is not None and (
        gtts.remaining or len(gtts.deleted) != GTTS or any(g["status"] == "active" for g in exchange.gtts())
    ):
        problems.append(f"GTTs: deleted {gtts.deleted}, still active {gtts.remaining}")
    exchange.close()
    bound = actions / RATE
    ratio = elapsed / bound
    placements = counters["requests"].get("POST /orders/<variety>", {})
    throttled = placements.get("429", 0)
    faults = counters.get("faults", {})
    print(
        f"{label}: flat in {elapsed:.2f} s = {ratio:.2f}x the rate-limit bound ({actions} actions / {RATE}/s = {bound:.1f} s); "
        f"target <= {target}x {'ok' if ratio <= target else 'MISS'}"
    )
    print(
        f"    rounds {report.rounds}, cancelled {len(report.cancelled)}, square-offs {len(report.placed)}, "
        f"placement answers {dict(placements)}, 429 from the rate limiter {throttled}, "
        f"faults {dict(faults)}, 429 absorbed {report.throttled}, errors recorded {len(report.errors)}"
    )
    if not report.flat:
        problems.append("the report says not flat")
    for p in problems:
        print(f"    PROBLEM: {p}")
    return not problems


def main() -> int:
    print(
        f"flatten {POSITIONS} positions + {ORDERS} open orders at {RATE}/s through KiteBroker -> Kite simulator"
        f" ({REPEAT} run(s) each; BENCH_REPEAT to change)"
    )
    ok = True
    for label, spec, target in RUNS:
        for i in range(REPEAT):
            run_spec = spec.replace("seed=11", f"seed={11 + i}")
            ok = one_run(f"{label} [{run_spec}]", run_spec, target) and ok
    for i in range(REPEAT):
        run_spec = f"latency=50ms,seed={11 + i}"
        ok = (
            one_run(
                f"mixed book: 40 cash + 10 F&O (3 above freeze), {GTTS} GTTs, {ORDERS} orders of every variety "
                f"[{run_spec}]",
                run_spec,
                1.2,
                mixed=True,
            )
            and ok
        )
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (uptime)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
