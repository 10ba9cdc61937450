"""`mci shutdown --end-of-day` SIGKILLed at step boundaries and in the middle of the square-off, then rerun.

Real processes against a real paper account (SQLite): the rerun resumes the journaled run, every step is
done exactly once in the journal, and no instrument is squared off twice.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from mci.brokers.base import OrderRequest
from mci.brokers.sim.exchange import round_to_tick
from mci.brokers.factory import broker_for
from mci.clock import Clock, parse_instant
from mci.config import load_profile

ROOT = Path(__file__).resolve().parents[2]
WEDNESDAY = "2026-11-25T10:30:00"
SYMBOLS = ["RELIANCE", "INFY", "TCS", "HDFCBANK", "ICICIBANK", "SBIN", "ITC", "LT", "AXISBANK", "KOTAKBANK"]
STEPS = [
    "stop_accepting",
    "complete_pending",
    "close_connections",
    "square_off_intraday",
    "clear_secrets",
    "log_final_state",
    "finish",
]


@pytest.fixture
def account(tmp_path, mci_home):
    """A paper profile paced at 4 orders/s, 10 MIS positions, 1 CNC position and a resting limit order."""
    text = (ROOT / "profiles" / "paper.yaml").read_text(encoding="utf-8")
    text = text.replace("  require_stop_loss: true", "  require_stop_loss: true\n  max_orders_per_second: 4")
    text = text.replace("complete_pending: {within: 5s}", "complete_pending: {within: 1s}")
    text = text.replace("max_open_positions: 5 ", "max_open_positions: 20 ")
    path = tmp_path / "paper.yaml"
    path.write_text(text, encoding="utf-8")
    profile = load_profile(path)
    broker = broker_for(profile, mci_home, Clock(parse_instant(WEDNESDAY)))
    for n, symbol in enumerate(SYMBOLS):
        broker.place_order(
            OrderRequest("NSE", symbol, "BUY" if n % 3 else "SELL", 1 + n, product="MIS", tag=f"seed{n}")
        )
    broker.place_order(OrderRequest("NSE", "WIPRO", "BUY", 5, product="CNC", tag="seedcnc"))
    price = broker.ltp(["NSE:INFY"])["NSE:INFY"]
    broker.place_order(
        OrderRequest(
            "NSE",
            "INFY",
            "BUY",
            1,
            order_type="LIMIT",
            product="MIS",
            price=round_to_tick(price * Decimal("0.9"), Decimal("0.05")),
            tag="seedlimit",
        )
    )
    before = {(p.symbol, p.product): p.quantity for p in broker.positions() if p.quantity}
    broker.close()
    return path, before


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCI_")}
    env.update({"MCI_HOME": str(home), "NO_COLOR": "1", "MCI_AT": WEDNESDAY})
    return env


def _journal(home: Path) -> list[tuple]:
    try:
        with sqlite3.connect(home / "state.db", timeout=5) as db:
            return db.execute("SELECT run_id, step_id, attempt, status FROM steps").fetchall()
    except sqlite3.OperationalError:
        return []


def _square_off_orders(home: Path, profile_path: Path) -> list:
    profile = load_profile(profile_path)
    broker = broker_for(profile, home, Clock(parse_instant(WEDNESDAY)))
    try:
        return [o for o in broker.orders() if o.tag and not o.tag.startswith("seed")], broker.positions()
    finally:
        broker.close()


# `orders()` reads the order book (a profile load and a broker): only the point that needs it pays, so the
# others poll fast enough to catch the short tail between the square-off and the end of the run.
KILL_POINTS = {
    "during complete_pending": lambda rows, orders: any(r[1] == "complete_pending" for r in rows),
    "after complete_pending": lambda rows, orders: any(r[1] == "complete_pending" and r[3] == "done" for r in rows),
    "mid square-off": lambda rows, orders: orders() >= 3,
    "after square-off": lambda rows, orders: any(r[1] == "square_off_intraday" and r[3] == "done" for r in rows),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_killed_shutdown_resumes_and_never_doubles_an_order(account, mci_home, point):
    path, before = account
    env = _env(mci_home)
    scan = subprocess.run(
        [sys.executable, "-m", "mci", "scan", "-p", str(path)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert scan.returncode == 0, scan.stdout + scan.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "mci", "shutdown", "--end-of-day", "-p", str(path)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    reached = False
    while time.monotonic() < deadline and proc.poll() is None:
        rows = _journal(mci_home)
        placed = sum(1 for r in rows if r[1] == "square_off_intraday")  # cheap gate before reading the book

        def orders() -> int:  # called in this same iteration, while `placed` is this iteration's
            return len(_square_off_orders(mci_home, path)[0]) if placed else 0  # noqa: B023

        if KILL_POINTS[point](rows, orders):
            reached = True
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert reached, f"never reached {point}: {proc.communicate()}"

    rerun = subprocess.run(
        [sys.executable, "-m", "mci", "shutdown", "--end-of-day", "-p", str(path), "-o", "json"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    out = json.loads(rerun.stdout)
    assert out["lifecycle"] == "stopped"
    # The kill may land after the last step wrote its verdict: then the rerun is a no-op ("already stopped").
    with sqlite3.connect(mci_home / "state.db") as db:
        ((run_id,),) = db.execute("SELECT run_id FROM runs WHERE purpose = 'end_of_day'").fetchall()
    rows = [r for r in _journal(mci_home) if r[0] == run_id]
    done = defaultdict(int)
    for _, step, _, status in rows:
        done[step] += status == "done"
    assert dict(done) == {s: 1 for s in STEPS}, rows

    orders, positions = _square_off_orders(mci_home, path)
    closed: dict[str, int] = defaultdict(int)
    for o in orders:
        if o.status == "COMPLETE":
            closed[o.symbol] += o.quantity
    for (symbol, product), qty in before.items():
        if product == "MIS":
            assert closed[symbol] == abs(qty), (symbol, qty, closed[symbol])  # closed exactly once, never twice
    left = {(p.symbol, p.product): p.quantity for p in positions if p.quantity}
    assert left == {("WIPRO", "CNC"): 5}  # delivery kept, every intraday position flat
