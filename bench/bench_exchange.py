"""What one order costs on the paper exchange as its book grows (issue 19: fast where it counts).

place     median wall time of one `place_order` (a resting LIMIT BUY, cancelled again outside the
          timing so the book keeps its size) with 0 and with RESTING orders on the book, in one run.
          Target: place(RESTING) <= 2x place(0).
tick      the same with the clock one market minute later at every place (every price moves, so every
          instrument with resting orders is matched again): informational.
build     wall time to build a book of BUILD resting orders from empty, one `place_order` each: informational.

The book mixes what a strategy leaves resting: LIMIT BUYs below and LIMIT SELLs above the market,
stop-loss SELLs below it, across the whole simulated universe. The exchange is the real one on a
real SQLite file (WAL, synchronous=FULL), as the paper broker and the Kite simulator use it.
The exit status is non-zero if the target is missed or a book does not hold the orders it was given.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from mci.brokers.base import OrderRequest
from mci.brokers.sim.exchange import Exchange, round_to_tick
from mci.brokers.sim.universe import DEFAULT_UNIVERSE
from mci.clock import Clock, zone

RESTING = int(os.environ.get("BENCH_EXCHANGE_RESTING", "2000"))
BUILD = int(os.environ.get("BENCH_EXCHANGE_BUILD", "1000"))
SAMPLES = int(os.environ.get("BENCH_EXCHANGE_SAMPLES", "30"))
TARGET = 2.0
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=zone("Asia/Kolkata"))  # a Monday, market open
# The universe's F&O series follow the real date; the bench's day is fixed, so a series expired by then is left out.
INSTRUMENTS = [i for i in DEFAULT_UNIVERSE if i.expiry is None or i.expiry >= T0.date()]


class StepClock(Clock):
    def __init__(self, start: datetime):
        super().__init__(start, frozen=True)

    def advance(self, minutes: int) -> None:
        self._start += timedelta(minutes=minutes)


def resting_request(i: int) -> OrderRequest:
    """The i-th order of a book: far enough from the market not to fill, inside the ±20% band."""
    inst = INSTRUMENTS[i % len(INSTRUMENTS)]
    kind = (i // len(INSTRUMENTS)) % 3
    away = Decimal("0.10") + Decimal(i % 7) / 100
    below = round_to_tick(inst.base_price * (1 - away), inst.tick_size)
    above = round_to_tick(inst.base_price * (1 + away), inst.tick_size)
    if kind == 0:
        return OrderRequest(inst.exchange, inst.symbol, "BUY", inst.lot_size, "LIMIT", "MIS", price=below, tag=f"b{i}")
    if kind == 1:
        return OrderRequest(inst.exchange, inst.symbol, "SELL", inst.lot_size, "LIMIT", "MIS", price=above, tag=f"s{i}")
    return OrderRequest(
        inst.exchange,
        inst.symbol,
        "SELL",
        inst.lot_size,
        "SL",
        "MIS",
        price=below,
        trigger_price=below + inst.tick_size,
        tag=f"t{i}",
    )


def exchange(home: Path, clock: Clock) -> Exchange:
    return Exchange(home / "paper.db", clock, seed=7, capital=Decimal("1000000000"))


def build(ex: Exchange, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        ex.place_order(resting_request(i))
    return time.perf_counter() - start


def place_cost(ex: Exchange, clock: StepClock, *, tick: bool) -> float:
    samples = []
    for i in range(SAMPLES):
        if tick:
            clock.advance(1)
        request = resting_request(7 * i)
        start = time.perf_counter()
        order_id = ex.place_order(request)
        samples.append(time.perf_counter() - start)
        ex.cancel_order(order_id)
    return statistics.median(samples)


def resting_count(ex: Exchange) -> int:
    return sum(1 for o in ex.orders() if o.status in ("OPEN", "TRIGGER PENDING"))


def main() -> int:
    ok = True
    with tempfile.TemporaryDirectory() as d:
        clock = StepClock(T0)
        empty = exchange(Path(d) / "empty", clock)
        booked = exchange(Path(d) / "booked", clock)
        built = build(booked, RESTING)
        if resting_count(booked) != RESTING:
            print(f"FAIL the book holds {resting_count(booked)} resting orders, not {RESTING}")
            ok = False
        # Alternate the two books so a busy neighbour slows both alike.
        zero, full, zero_tick, full_tick = [], [], [], []
        for _ in range(3):
            zero.append(place_cost(empty, clock, tick=False))
            full.append(place_cost(booked, clock, tick=False))
            zero_tick.append(place_cost(empty, clock, tick=True))
            full_tick.append(place_cost(booked, clock, tick=True))
        z, f = statistics.median(zero), statistics.median(full)
        zt, ft = statistics.median(zero_tick), statistics.median(full_tick)
        small = exchange(Path(d) / "small", clock)
        small_build = build(small, BUILD)
        for ex in (empty, booked, small):
            ex.close()
    ratio = f / z
    verdict = "ok" if ratio <= TARGET else "MISS"
    print(
        f"place   0 resting {z * 1000:7.2f} ms   {RESTING} resting {f * 1000:7.2f} ms   ratio {ratio:5.2f}x"
        f"   target <= {TARGET:.1f}x   {verdict}"
    )
    print(
        f"tick    0 resting {zt * 1000:7.2f} ms   {RESTING} resting {ft * 1000:7.2f} ms   ratio {ft / zt:5.2f}x"
        f"   (a new market minute at every place: informational)"
    )
    print(
        f"build   {BUILD} orders {small_build:6.2f} s ({small_build / BUILD * 1000:.2f} ms/order); "
        f"{RESTING} orders {built:6.2f} s"
    )
    return 0 if ok and ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
