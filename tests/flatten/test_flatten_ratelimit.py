"""One rate limiter per Kite account: measured from the simulator's own request log (server timestamps).

The simulator runs with Kite's limits (10 order actions/s, 400/min, quotes 1/s, the rest 10/s) and
answers 429 beyond them. Through the real kiteconnect client (KiteBroker), order actions must stay at
or under 10 in every 1 s window as the server counts them, with no 429:
- across the steps of one emergency run (cancel every order, then square off every position), which
  per-step pacers broke at the step boundary (20 actions within a second);
- across two processes flattening one account at once (each its own products), which a per-process
  limiter breaks (20/s).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest

from mci.brokers.kite import KiteBroker
from mci.brokers.sim.exchange import Exchange
from mci.brokers.sim.faults import parse_faults
from mci.brokers.sim.limits import max_in_window
from mci.flatten import cancel_open_orders, flatten
from mci.store.token_store import TokenRecord

from testing.flatten import resting_limit, seed_positions
from testing.kite_sim import sim_exchange, sim_thread

API_KEY, API_SECRET = "rate-key", "rate-secret"
HERE = Path(__file__).resolve().parent


@pytest.fixture
def exchange(tmp_path, clock):
    with sim_exchange(tmp_path / "sim.db", clock, D("100000000")) as ex:
        yield ex


@pytest.fixture
def srv(exchange):
    # Kite's limits: the default
    with sim_thread(exchange, API_KEY, API_SECRET, faults=parse_faults("latency=20ms,jitter=10ms,seed=2")) as server:
        yield server


def seed(exchange: Exchange, products: tuple[str, ...], per_product: int, orders_per_product: int) -> None:
    from mci.brokers.sim.universe import DEFAULT_UNIVERSE

    symbols = [i.symbol for i in DEFAULT_UNIVERSE][: per_product * len(products)]
    for n, product in enumerate(products):
        mine = symbols[n * per_product : (n + 1) * per_product]
        seed_positions(exchange, [(s, product, 3 + i % 4) for i, s in enumerate(mine)])
        for s in mine[:orders_per_product]:
            resting_limit(exchange, s, "BUY", 1, product)


def order_log(server) -> list[dict]:
    return server.app.requests.snapshot("order")


def measured(server) -> tuple[int, int, int]:
    """(order requests, the most arriving within any 1 s, 429s) as the simulator saw them."""
    log = order_log(server)
    return len(log), max_in_window(e["at"] for e in log), sum(1 for e in log if e["status"] == 429)


def test_an_emergency_run_stays_under_ten_a_second_across_its_steps(exchange, srv, clock):
    seed(exchange, ("MIS",), per_product=30, orders_per_product=30)
    token, _, _ = exchange.issue_session("AB1234")
    broker = KiteBroker(
        API_KEY, clock=clock, token=TokenRecord.issued(token, "AB1234", API_KEY, clock.now()), root=srv.url, timeout=5
    )
    srv.app.requests.clear()
    # the emergency sequence's two steps (orders.cancel_all, positions.square_off), back to back on one broker
    cancelled = cancel_open_orders(broker, rate=10, deadline=timedelta(seconds=30), run_id="steps", clock=clock)
    report = flatten(broker, deadline=timedelta(seconds=30), rate=10, run_id="steps", clock=clock)
    broker.close()
    assert cancelled.flat and len(cancelled.cancelled) == 30
    assert report.flat and len(report.placed) == 30
    requests, worst, refused = measured(srv)
    assert refused == 0
    assert worst <= 10  # per-step pacers: the cancel step's last second and the square-off's first made 20
    assert requests == 60


def test_two_processes_flattening_one_account_share_its_limit(exchange, srv, clock, rate_dir, tmp_path):
    seed(exchange, ("MIS", "CNC"), per_product=25, orders_per_product=10)
    srv.app.requests.clear()
    env = {
        **os.environ,
        "MCI_RATE_DIR": str(rate_dir),
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    children = []
    for product in ("MIS", "CNC"):
        token, _, _ = exchange.issue_session("AB1234")
        out = (tmp_path / f"{product}.out").open("w")
        children.append(
            (
                subprocess.Popen(
                    [
                        sys.executable,
                        str(HERE / "flatten_child.py"),
                        srv.url,
                        API_KEY,
                        token,
                        f"two-{product.lower()}",
                        "10",
                        product,
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                ),
                out,
                product,
            )
        )
    for child, out, product in children:
        assert child.wait(timeout=90) == 0, (tmp_path / f"{product}.out").read_text()[-3000:]
        out.close()
    reports = [
        json.loads(line)
        for _, _, p in children
        for line in (tmp_path / f"{p}.out").read_text().splitlines()
        if line.startswith('{"kind": "report"')
    ]
    assert len(reports) == 2 and all(r["flat"] for r in reports)
    assert {p.product for p in exchange.positions() if p.quantity} == set()
    requests, worst, refused = measured(srv)
    assert refused == 0
    assert worst <= 10  # one limiter per process would send 20 a second
    assert requests == 2 * (10 + 25)
    times = sorted(e["at"] for e in order_log(srv))
    assert times[-1] - times[0] >= (requests - 10) / 10  # 70 actions at 10/s, together
