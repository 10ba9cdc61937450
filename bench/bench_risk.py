"""Pre-trade validation throughput, as ratios to a minimal loop measured in the same run (issue 19).

minimal  json.loads + a Decimal notional compare per line of an in-memory text: the least any JSON-lines
         checker does.
stream   the real streaming path of `mci risk check - -o json` (mci.commands.risk.check) on ORDERS JSON lines
         read as the CLI reads its stdin (a file made the process's stdin, read through the buffer that flushes
         the verdicts before each read of the pipe, once per 8 KiB), offline account, verdicts written to
         /dev/null. Target: its time per order <= 3x the minimal loop's.
dict     validate() on a parsed order (what a strategy in-process calls): informational.
reject   an order breaking 5 rules (failures are built with their text): informational.

A realistic order (LIMIT entry with stop, target and signal time) against a realistic account
(4 open positions, 60 orders today, the simulator's NSE instrument list) with every rule
declared. The minimal loop and the stream are run alternately ROUNDS times; the ratio is of their medians,
in CPU time (time.process_time: user + system of this process, which a busy neighbour does not add to, as
it adds to the wall clock while this process waits for a core), the wall-clock ratio printed beside it.
`uptime` is printed beside the figures.
The exit status is non-zero if the target is missed or any verdict differs from the expected one.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from mci.brokers.base import InstrumentSpec
from mci.brokers.sim.universe import DEFAULT_UNIVERSE
from mci.clock import Clock
from mci.commands import risk as command
from mci.config import load_profile
from mci.risk import Account, Holding, RiskModel, validate

TARGET = 3.0
ORDERS = int(os.environ.get("BENCH_RISK_ORDERS", "100000"))
ROUNDS = int(os.environ.get("BENCH_RISK_ROUNDS", "7"))
NOW = datetime(2026, 11, 23, 4, 40, tzinfo=timezone.utc)  # 10:10 IST, a Monday


def setup():
    profile = load_profile(None)
    limits = replace(
        profile.risk,
        max_quantity_per_order=500,
        max_notional_per_order=Decimal("200000"),
        max_orders_per_second=Decimal(8),
        max_order_to_trade_ratio=Decimal(10),
        allowed_exchanges=("NSE",),
        allowed_products=("MIS", "CNC"),
        allowed_symbols=tuple(i.symbol for i in DEFAULT_UNIVERSE),
    )
    account = Account(
        capital=Decimal("1000000"),
        day_pnl=Decimal("-4200.50"),
        positions=tuple(
            Holding(f"NSE:{s}", "MIS", q, Decimal(p))
            for s, q, p in (("SBIN", 50, "-1200"), ("ITC", -100, "300.5"), ("TCS", 10, "-900"), ("WIPRO", 200, "150"))
        ),
        last_prices={i.key: i.base_price for i in DEFAULT_UNIVERSE},
        instruments={i.key: InstrumentSpec(i.tick_size, i.lot_size) for i in DEFAULT_UNIVERSE},
        order_times=tuple(NOW - timedelta(seconds=30 * k) for k in range(60, 0, -1)),
        trades=40,
        peak_equity=Decimal("1003000"),
        at=NOW,
    )
    good = {
        "exchange": "NSE",
        "symbol": "INFY",
        "side": "BUY",
        "quantity": 100,
        "order_type": "LIMIT",
        "product": "MIS",
        "price": "1510.00",
        "stop_loss": "1495.00",
        "target": "1545.00",
        "signal_time": (NOW - timedelta(seconds=1)).isoformat(),
        "tag": "bench-1",
    }
    bad = dict(
        good, price="1700.03", quantity=1000, stop_loss="1710", signal_time=(NOW + timedelta(seconds=2)).isoformat()
    )
    return replace(profile, risk=limits), RiskModel.of(limits, account.capital), account, good, bad


def lines_of(good: dict) -> str:
    """ORDERS JSON lines, each its own quantity and tag (as a strategy's stream is), all acceptable."""
    return "".join(json.dumps(dict(good, quantity=10 + k % 90, tag=f"b{k % 100000}")) + "\n" for k in range(ORDERS))


Timing = tuple[float, float]  # CPU seconds, wall seconds


def _clocks() -> Timing:
    return time.process_time(), time.perf_counter()


def _since(start: Timing) -> Timing:
    cpu, wall = _clocks()
    return cpu - start[0], wall - start[1]


def minimal(text: str) -> Timing:
    limit, accepted = Decimal("200000"), 0
    start = _clocks()
    for line in io.StringIO(text):
        order = json.loads(line)
        accepted += Decimal(order["price"]) * order["quantity"] <= limit
    elapsed = _since(start)
    assert accepted == ORDERS
    return elapsed


def stream(profile, account: Account, orders: Path, state_dir: Path) -> Timing:
    # The verdicts go where the CLI writes them, sys.stdout (file descriptor 1), pointed at /dev/null meanwhile;
    # the orders come as `mci risk check -` reads them: as the process's stdin (CPython's: lines split at "\n").
    sys.stdout.flush()
    saved, sink = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    os.dup2(sink, 1)
    stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(orders, "r")), encoding="utf-8", newline="\n")
    own_stdin, sys.__stdin__ = sys.__stdin__, stdin
    try:
        start = _clocks()
        code = command.check(profile, Clock(NOW, frozen=True), state_dir, "json", stdin, account=account)
        sys.stdout.flush()
        elapsed = _since(start)
    finally:
        sys.__stdin__ = own_stdin
        stdin.close()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(sink)
    if code != 0:
        raise SystemExit(f"WRONG: the stream of acceptable orders exited {code}")
    return elapsed


def rate(fn, seconds: float = 1.0) -> float:
    fn()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(1000):
            fn()
        calls += 1000
    return calls / (time.perf_counter() - start)


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (no uptime)"


def main() -> int:
    profile, model, account, good, bad = setup()
    wrong = []
    if not validate(good, model, account, NOW).accepted:
        wrong.append(
            "the good order was rejected: " + "; ".join(f.what for f in validate(good, model, account, NOW).failures)
        )
    rejected = validate(bad, model, account, NOW)
    if rejected.accepted or len(rejected.failures) < 5:
        wrong.append(f"the bad order broke {len(rejected.failures)} rules, expected at least 5")
    text = lines_of(good)
    with tempfile.TemporaryDirectory() as state_dir:
        orders = Path(state_dir) / "orders.jsonl"
        orders.write_text(text, encoding="utf-8")
        base, real = [], []
        for _ in range(ROUNDS):
            base.append(minimal(text))
            real.append(stream(profile, account, orders, Path(state_dir)))
    loop, checked = statistics.median(b[0] for b in base), statistics.median(r[0] for r in real)
    wall = statistics.median(r[1] for r in real) / statistics.median(b[1] for b in base)
    per_loop = ORDERS / loop
    per_dict = rate(lambda: validate(good, model, account, NOW))
    per_reject = rate(lambda: validate(bad, model, account, NOW))
    ratio = checked / loop
    print(f"load: {_uptime()}  ({ORDERS:,} orders, medians of {ROUNDS} alternating rounds)")
    print(f"minimal json.loads + Decimal compare {per_loop:10,.0f}/s  (CPU time)")
    print(
        f"stream  risk check - -o json         {ORDERS / checked:10,.0f}/s  {ratio:5.2f}x the minimal loop's CPU time"
        f"  target <= {TARGET:.1f}x  {'PASS' if ratio <= TARGET else 'MISS'}"
    )
    print(f"        per round (stream / minimal): {', '.join(f'{r[0] / b[0]:.2f}x' for b, r in zip(base, real))}")
    print(
        f"        wall clock: {wall:5.2f}x (per round: {', '.join(f'{r[1] / b[1]:.2f}x' for b, r in zip(base, real))})"
    )
    print(f"dict    validate(order)              {per_dict:10,.0f}/s  {per_loop / per_dict:5.2f}x  (informational)")
    print(f"reject  5+ rules broken              {per_reject:10,.0f}/s  {per_loop / per_reject:5.2f}x  (informational)")
    for problem in wrong:
        print("WRONG: " + problem)
    return 1 if wrong or ratio > TARGET else 0


if __name__ == "__main__":
    sys.exit(main())
