"""Pre-trade validations per second on one core, as a ratio to the target (issue: risk limits).

A realistic order (LIMIT entry with stop, target and signal time) against a
realistic account (4 open positions, 60 orders today, the simulator's NSE
instrument list) with every rule declared: allowed exchanges, products and
symbols, quantity, notional, order rate and order-to-trade ratio. Three paths:

  dict     validate() on a parsed order (what a strategy in-process calls)   target >= 50,000/s
  json     json.loads + validate() per line (what `mci risk check -` does)   informational
  reject   an order breaking 5 rules (failures are built with their text)    informational

The exit status is non-zero if the dict path misses its target or if any
verdict differs from the expected one (a fast wrong answer is no answer).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from mci.brokers.base import InstrumentSpec
from mci.brokers.sim.universe import DEFAULT_UNIVERSE
from mci.config import load_profile
from mci.risk import Account, Holding, RiskModel, validate

TARGET = 50_000
SECONDS = float(os.environ.get("BENCH_SECONDS", "2"))
NOW = datetime(2026, 11, 23, 4, 40, tzinfo=timezone.utc)  # 10:10 IST


def setup() -> tuple[RiskModel, Account, dict, dict]:
    limits = replace(
        load_profile(None).risk,
        max_quantity_per_order=500, max_notional_per_order=Decimal("200000"), max_orders_per_second=Decimal(8),
        max_order_to_trade_ratio=Decimal(10), allowed_exchanges=("NSE",), allowed_products=("MIS", "CNC"),
        allowed_symbols=tuple(i.symbol for i in DEFAULT_UNIVERSE),
    )
    account = Account(
        capital=Decimal("1000000"), day_pnl=Decimal("-4200.50"),
        positions=tuple(Holding(f"NSE:{s}", "MIS", q, Decimal(p)) for s, q, p in
                        (("SBIN", 50, "-1200"), ("ITC", -100, "300.5"), ("TCS", 10, "-900"), ("WIPRO", 200, "150"))),
        last_prices={i.key: i.base_price for i in DEFAULT_UNIVERSE},
        instruments={i.key: InstrumentSpec(i.tick_size, i.lot_size) for i in DEFAULT_UNIVERSE},
        order_times=tuple(NOW - timedelta(seconds=30 * k) for k in range(60, 0, -1)),
        trades=40, peak_equity=Decimal("1003000"), at=NOW,
    )
    good = {"exchange": "NSE", "symbol": "INFY", "side": "BUY", "quantity": 100, "order_type": "LIMIT", "product": "MIS",
            "price": "1510.00", "stop_loss": "1495.00", "target": "1545.00", "signal_time": (NOW - timedelta(seconds=1)).isoformat(),
            "tag": "bench-1"}
    bad = dict(good, price="1700.03", quantity=1000, stop_loss="1710", signal_time=(NOW + timedelta(seconds=2)).isoformat())
    return RiskModel.of(limits, account.capital), account, good, bad


def rate(fn) -> float:
    """Calls per second of fn over about SECONDS of wall time (batches of 1,000 keep the timer out of the loop)."""
    fn()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < SECONDS:
        for _ in range(1000):
            fn()
        calls += 1000
    return calls / (time.perf_counter() - start)


def main() -> int:
    model, account, good, bad = setup()
    line = json.dumps(good)
    wrong = []
    if not validate(good, model, account, NOW).accepted:
        wrong.append("the good order was rejected: " + "; ".join(f.what for f in validate(good, model, account, NOW).failures))
    rejected = validate(bad, model, account, NOW)
    if rejected.accepted or len(rejected.failures) < 5:
        wrong.append(f"the bad order broke {len(rejected.failures)} rules, expected at least 5")

    per_dict = rate(lambda: validate(good, model, account, NOW))
    per_json = rate(lambda: validate(json.loads(line), model, account, NOW))
    per_reject = rate(lambda: validate(bad, model, account, NOW))
    print(f"dict   validate(order)             {per_dict:10,.0f}/s  {per_dict / TARGET:5.2f}x target (>= {TARGET:,}/s)  "
          f"{'ok' if per_dict >= TARGET else 'MISS'}")
    print(f"json   json.loads + validate       {per_json:10,.0f}/s  {per_json / TARGET:5.2f}x target  (informational)")
    print(f"reject 5+ rules broken             {per_reject:10,.0f}/s  {per_reject / TARGET:5.2f}x target  (informational)")
    for problem in wrong:
        print("WRONG: " + problem)
    return 1 if wrong or per_dict < TARGET else 0


if __name__ == "__main__":
    sys.exit(main())
