"""The flatten through the REAL kiteconnect client (KiteBroker) against the Kite simulator on 127.0.0.1.

40 open positions and 20 open orders, order placement limited to 10/s at the
server (429 beyond), 50 ms latency from the simulator's fault injector; then
5xx, resets and lost answers; then a flatten process SIGKILLed mid-square-off
and rerun with the same run_id. Every count is taken at the exchange.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest

from mci.brokers.kite import KiteBroker, RetrySettings
from mci.brokers.sim.exchange import Exchange
from mci.brokers.sim.faults import parse_faults
from mci.brokers.sim.kite_server import serve
from mci.errors import UnavailableError
from mci.flatten import Key, flatten, parse_own_tag, run_prefix
from mci.store.token_store import TokenRecord

from testing.flatten import audit_exchange, seed_big_book

API_KEY, API_SECRET = "flat-key", "flat-secret"
HERE = Path(__file__).resolve().parent
PLACE = "POST /orders/<variety>"
ONE_TRY = RetrySettings(attempts=1, initial=0.01, max_wait=0.05, jitter=0.01)


@pytest.fixture
def exchange(tmp_path, clock):
    ex = Exchange(tmp_path / "sim.db", clock, seed=7, capital=D("100000000"))
    yield ex
    ex.close()


@pytest.fixture
def sim(exchange):
    servers = []

    def start(faults: str = "none"):
        srv = serve("127.0.0.1", 0, exchange, api_key=API_KEY, api_secret=API_SECRET, faults=parse_faults(faults))
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.shutdown()


def kite_broker(srv, exchange, clock, **kw) -> KiteBroker:
    token, _, _ = exchange.issue_session("AB1234")
    return KiteBroker(
        API_KEY,
        clock=clock,
        token=TokenRecord.issued(token, "AB1234", API_KEY, clock.now()),
        root=srv.url,
        timeout=5,
        api_secret=API_SECRET,
        **kw,
    )


def assert_clean(seen: dict, before: dict, srv=None, run_id: str = "") -> None:
    assert seen["open"] == [] and seen["positions"] == {}
    assert seen["duplicate_tags"] == {} and seen["over_closed"] == {} and seen["sides_ok"]
    assert seen["closed"] == {k: abs(q) for k, q in before.items()}  # each closed exactly, never more
    assert seen["square_offs"] == len(before)  # one square-off order per instrument, whatever failed on the way
    if srv is not None:  # the simulator's own count of placements it accepted, by tag
        by_tag = srv.app.counters.snapshot()["orders"]["by_tag"]
        ours = {t: n for t, n in by_tag.items() if t.startswith(run_prefix(run_id))}
        assert len(ours) == len(before) and set(ours.values()) == {1}


def test_forty_positions_twenty_orders_at_ten_per_second_with_latency(exchange, sim, clock, events):
    before = seed_big_book(exchange)
    srv = sim("latency=50ms,seed=3")
    broker = kite_broker(srv, exchange, clock)
    start = time.monotonic()
    report = flatten(broker, deadline=timedelta(seconds=60), rate=10, run_id="kite-40", clock=clock, on_event=events)
    took = time.monotonic() - start
    broker.close()
    assert report.flat and report.errors == ()
    assert_clean(audit_exchange(exchange, "kite-40", before), before, srv, "kite-40")
    assert len(report.cancelled) == 20 and len(report.placed) == 40
    placements = srv.app.counters.snapshot()["requests"][PLACE]
    assert placements == {"200": 40}  # no 429: the rate limiters kept under the server's 10/s
    assert all(d["result"] != "throttled" for d in events.of("order.place.after"))
    assert 5.0 <= took <= 6 * 1.4  # bounded below by the rate (60 actions at 10/s), above by the target


def test_faults_5xx_resets_and_lost_answers_never_duplicate(exchange, sim, clock, events):
    before = seed_big_book(exchange)
    srv = sim("latency=50ms,5xx=0.2,lost=0.2,reset=0.05,seed=5")
    # one try per call inside KiteBroker: the flatten's own retries and tag lookups do the work
    broker = kite_broker(srv, exchange, clock, retry=ONE_TRY)
    report = flatten(
        broker, deadline=timedelta(seconds=60), rate=10, run_id="kite-faults", clock=clock, on_event=events
    )
    broker.close()
    assert report.flat
    assert_clean(audit_exchange(exchange, "kite-faults", before), before, srv, "kite-faults")
    faults = srv.app.counters.snapshot()["faults"]
    assert faults.get("lost", 0) > 0 and faults.get("5xx", 0) > 0
    results = {d["result"] for d in events.of("order.place.after")}
    assert "unknown" in results  # ambiguous failures happened, and were resolved by the tag
    assert report.errors  # and are reported


def test_429s_are_backed_off_and_retried_not_failures(exchange, sim, clock, events):
    before = seed_big_book(exchange, n_positions=10, n_orders=4)
    srv = sim("429=0.15,burst=2,seed=9")
    broker = kite_broker(srv, exchange, clock, retry=ONE_TRY)
    report = flatten(broker, deadline=timedelta(seconds=60), rate=10, run_id="kite-429", clock=clock, on_event=events)
    broker.close()
    assert report.flat and report.errors == ()
    assert_clean(audit_exchange(exchange, "kite-429", before), before, srv, "kite-429")
    assert srv.app.counters.snapshot()["faults"].get("429", 0) > 0
    assert any(d["result"] == "throttled" for d in events.of("order.place.after") + events.of("order.cancel.after"))


def test_a_flatten_killed_mid_square_off_is_rerun_without_duplicates(exchange, sim, clock, tmp_path, events):
    before = seed_big_book(exchange)
    srv = sim("latency=20ms,seed=4")
    token, _, _ = exchange.issue_session("AB1234")
    run_id = "crash-resume"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    out = (tmp_path / "child.out").open("w")
    child = subprocess.Popen(
        [sys.executable, str(HERE / "flatten_child.py"), srv.url, API_KEY, token, run_id, "5"],
        stdout=out,
        stderr=subprocess.STDOUT,
        env=env,
    )

    def ours() -> int:
        return sum(1 for o in exchange.orders() if parse_own_tag(o.tag, run_id, Key(o.exchange, o.symbol, o.product)))

    try:
        deadline = time.monotonic() + 60
        while ours() < 12 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert child.poll() is None, (tmp_path / "child.out").read_text()[-2000:]
        os.kill(child.pid, signal.SIGKILL)  # mid-square-off: no cleanup, no goodbye
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
        out.close()
    assert child.returncode == -signal.SIGKILL
    time.sleep(0.2)  # a request the child sent just before dying lands
    dead = ours()
    assert 12 <= dead < 40
    log = [json.loads(line) for line in (tmp_path / "child.out").read_text().splitlines() if line.startswith("{")]
    assert not any(e["kind"] == "report" for e in log)

    broker = kite_broker(srv, exchange, clock)
    report = flatten(broker, deadline=timedelta(seconds=60), rate=10, run_id=run_id, clock=clock, on_event=events)
    broker.close()
    assert report.flat
    assert_clean(audit_exchange(exchange, run_id, before), before, srv, run_id)
    assert len(report.placed) == 40 - dead  # what the dead run placed was found, not placed again
    assert min(d["round"] for d in events.of("order.place.before")) >= 2  # and none of its tags reused


def test_a_refused_token_raises_unavailable_with_the_login_hint(exchange, sim, clock):
    seed_big_book(exchange, n_positions=2, n_orders=0)
    srv = sim()
    broker = KiteBroker(
        API_KEY,
        clock=clock,
        token=TokenRecord.issued("not-a-token", "AB1234", API_KEY, clock.now()),
        root=srv.url,
        timeout=5,
    )
    start = time.monotonic()
    with pytest.raises(UnavailableError) as info:
        flatten(broker, deadline=timedelta(seconds=30), rate=10, run_id="bad-token", clock=clock)
    assert time.monotonic() - start < 3
    assert "mci token login" in info.value.how and "not-a-token" not in info.value.render()
    assert all(p.quantity for p in exchange.positions())


def test_a_simulator_that_goes_away_yields_an_incomplete_report_by_the_deadline(exchange, sim, clock):
    before = seed_big_book(exchange, n_positions=30, n_orders=0)
    srv = sim()
    broker = kite_broker(srv, exchange, clock, retry=ONE_TRY)
    events = []

    def on_event(kind, data):
        events.append(kind)
        if events.count("order.place.after") == 5:
            srv.shutdown()  # the broker disappears mid-square-off

    start = time.monotonic()
    report = flatten(broker, deadline=timedelta(seconds=4), rate=10, run_id="gone", clock=clock, on_event=on_event)
    took = time.monotonic() - start
    broker.close()
    assert not report.flat and report.errors
    assert took <= 4 + 1.5
    seen = audit_exchange(exchange, "gone", before)
    assert seen["duplicate_tags"] == {} and seen["over_closed"] == {}
