"""Two processes flattening one Kite account at once: the account's rate limit, as the simulator counted it.

The simulator (real HTTP on 127.0.0.1, Kite's limits: 10 order actions/s, 400/min, quotes 1/s, the rest
10/s; 429 beyond) holds POSITIONS MIS and POSITIONS CNC positions, and ORDERS resting orders of each.
Two processes (this script with --child) each flatten one product through the real kiteconnect client
(KiteBroker), at the same moment, sharing the account's limiter (mci.brokers.ratelimit) through
$MCI_RATE_DIR. From the simulator's request log (server timestamps):

- the most order actions arriving within any 1 s, against the physical bound of 10 (ratio <= 1.0);
- the total time against the ideal N_actions / 10 s, and the span from the first order action to the
  last at the server against its own ideal (bursts of 10 a second: ceil(N / 10) - 1 s);
- the 429s (target: none).

Then the counterfactual: the same two processes with one limiter each (two directories), which a
per-process limiter would be: 20 a second, and 429s.

  BENCH_POSITIONS (default 30 per product), BENCH_ORDERS (default 10 per product)

Exit status non-zero when the shared run was not flat, exceeded 10 in a second, or met a 429.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")
API_KEY, API_SECRET = "bench-rate-key", "bench-rate-secret"
POSITIONS = int(os.environ.get("BENCH_POSITIONS", "30"))
ORDERS = int(os.environ.get("BENCH_ORDERS", "10"))
PRODUCTS = ("MIS", "CNC")
LIMIT = 10  # Kite: order actions per second


def child(url: str, token: str, run_id: str, product: str) -> int:
    """One flatten of `product`, in its own process, as `mci kill` or a watcher's emergency would run it."""
    from mci.brokers.kite import KiteBroker
    from mci.clock import Clock
    from mci.flatten import flatten
    from mci.store.token_store import TokenRecord

    clock = Clock()
    broker = KiteBroker(
        API_KEY, clock=clock, token=TokenRecord.issued(token, "AB1234", API_KEY, clock.now()), root=url, timeout=5
    )
    report = flatten(
        broker, deadline=timedelta(seconds=120), rate=LIMIT, run_id=run_id, clock=clock, products=[product]
    )
    broker.close()
    print(
        json.dumps(
            {
                "flat": report.flat,
                "placed": len(report.placed),
                "cancelled": len(report.cancelled),
                "throttled": report.throttled,
            }
        ),
        flush=True,
    )
    return 0 if report.flat else 6


def seed(exchange) -> None:
    from mci.brokers.base import OrderRequest
    from mci.brokers.sim.exchange import round_to_tick
    from mci.brokers.sim.universe import DEFAULT_UNIVERSE

    instruments = list(DEFAULT_UNIVERSE)[: POSITIONS * len(PRODUCTS)]
    now = exchange.clock.now()
    for n, product in enumerate(PRODUCTS):
        mine = instruments[n * POSITIONS : (n + 1) * POSITIONS]
        for i, inst in enumerate(mine):
            exchange.place_order(
                OrderRequest(
                    inst.exchange,
                    inst.symbol,
                    "BUY",
                    1 + i % 5,
                    "MARKET",
                    product,
                    tag="seed",
                    market_protection=Decimal(-1),
                )
            )
        for inst in mine[:ORDERS]:
            price = round_to_tick(exchange.price_at(inst.exchange, inst.symbol, now) * Decimal("0.9"), inst.tick_size)
            exchange.place_order(
                OrderRequest(inst.exchange, inst.symbol, "BUY", 1, "LIMIT", product, price=price, tag="resting")
            )


def one_run(label: str, shared: bool) -> bool:
    from mci.brokers.sim.exchange import Exchange
    from mci.brokers.sim.faults import parse_faults
    from mci.brokers.sim.kite_server import serve
    from mci.brokers.sim.limits import max_in_window
    from mci.clock import Clock

    home = Path(tempfile.mkdtemp(prefix="mci-bench-rate-"))
    clock = Clock(datetime(2026, 11, 23, 10, 0, tzinfo=IST))  # a Monday in session, ticking
    exchange = Exchange(home / "sim.db", clock, seed=7, capital=Decimal("100000000"))
    seed(exchange)
    server = serve(
        "127.0.0.1",
        0,
        exchange,
        api_key=API_KEY,
        api_secret=API_SECRET,
        faults=parse_faults("latency=20ms,jitter=10ms,seed=5"),
    )  # Kite's limits: the default
    outputs, procs = [], []
    started = time.perf_counter()
    try:
        for product in PRODUCTS:
            token, _, _ = exchange.issue_session("AB1234")
            rate_dir = home / ("rate" if shared else f"rate-{product}")
            rate_dir.mkdir(mode=0o700, exist_ok=True)
            env = {**os.environ, "MCI_RATE_DIR": str(rate_dir)}
            procs.append(
                subprocess.Popen(
                    [sys.executable, __file__, "--child", server.url, token, f"bench-{product.lower()}", product],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=env,
                )
            )
        for p in procs:
            out, err = p.communicate(timeout=300)
            outputs.append((p.returncode, out, err))
        total = time.perf_counter() - started
        log = server.app.requests.snapshot("order")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        server.shutdown()
    left = [p for p in exchange.positions() if p.quantity]
    exchange.close()
    arrivals = [e["at"] for e in log]
    actions = len(log)
    refused = sum(1 for e in log if e["status"] == 429)
    counted = sum(1 for e in log if e["counted"])
    worst = max_in_window(arrivals)
    span = (max(arrivals) - min(arrivals)) if arrivals else 0.0
    ideal = counted / LIMIT
    ideal_span = max(math.ceil(counted / LIMIT) - 1, 0)  # bursts of 10, one a second: the last starts then
    flat = all(code == 0 for code, _, _ in outputs) and not left
    print(f"{label}:")
    print(
        f"    order actions {actions} ({counted} counted, {refused} refused 429); "
        f"most within any 1 s: {worst} = {worst / LIMIT:.2f}x the bound of {LIMIT}"
    )
    print(
        f"    total {total:.2f} s (two processes started to both done, Python start-up included) against the "
        f"ideal {ideal:.1f} s ({counted} actions / {LIMIT} per s): {total / ideal if ideal else 0:.2f}x"
    )
    print(
        f"    first to last order action at the server {span:.2f} s against the ideal {ideal_span} s: "
        f"{span / ideal_span if ideal_span else 0:.2f}x; flat: {flat}"
    )
    for code, out, err in outputs:
        if code != 0:
            print(f"    child exit {code}: {(out + err).strip()[-500:]}")
    return flat and worst <= LIMIT and refused == 0


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return child(*sys.argv[2:6])
    n = len(PRODUCTS) * (POSITIONS + ORDERS)
    print(
        f"two processes flatten {POSITIONS} positions + {ORDERS} orders each ({n} order actions) "
        f"through KiteBroker -> Kite simulator (Kite's limits, 20 ms latency)"
    )
    ok = one_run("one limiter for the account, shared by both processes", shared=True)
    one_run("counterfactual: one limiter per process (for comparison only)", shared=False)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
