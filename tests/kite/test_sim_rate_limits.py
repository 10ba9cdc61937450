"""The simulator refuses what Kite refuses, with Kite's 429 body, through the real kiteconnect client.

Server time is injected (a monotonic the test moves), so every window edge is exact.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import kiteconnect.exceptions as kex
import pytest
import requests

from mci.brokers.sim.admin import SimClock
from mci.brokers.sim.exchange import Exchange
from mci.brokers.sim.kite_server import serve
from mci.brokers.sim.limits import max_in_window, parse_rate_limits
from mci.errors import UsageError

from testing.kite_sim import kite_login

IST = ZoneInfo("Asia/Kolkata")
API_KEY, API_SECRET = "sim-key", "sim-secret-never-printed"
KITE_429 = {"status": "error", "message": "Too many requests", "data": None, "error_type": "NetworkException"}


class Mono:
    def __init__(self) -> None:
        self.t = 5000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def mono():
    return Mono()


@pytest.fixture
def clock():
    return SimClock(datetime(2026, 11, 23, 10, 0, tzinfo=IST), frozen=True)


@pytest.fixture
def server(tmp_path, clock, mono):
    exchange = Exchange(tmp_path / "sim.db", clock, seed=7, capital=D("100000000"))
    srv = serve("127.0.0.1", 0, exchange, api_key=API_KEY, api_secret=API_SECRET, monotonic=mono)  # Kite's limits
    yield srv
    srv.shutdown()
    exchange.close()


@pytest.fixture
def kite(server, mono):
    client = kite_login(server.url, API_KEY, API_SECRET)
    mono.t += 1.0  # the login's own requests fall out of the window
    yield client
    client.reqsession.close()


def resting(kite) -> str:
    return kite.place_order(
        "regular", "NSE", "INFY", "BUY", 1, "MIS", "LIMIT", price=1300
    )  # below the market, inside the ±20% circuit band


def raw(server, kite, method: str, path: str, **kw) -> requests.Response:
    headers = {"Authorization": f"token {API_KEY}:{kite.access_token}", "X-Kite-Version": "3"}
    return requests.request(method, server.url + path, headers=headers, timeout=5, **kw)


def test_the_eleventh_order_action_in_a_second_is_refused_with_kites_body(server, kite, mono):
    a, b = resting(kite), resting(kite)  # 2
    kite.modify_order("regular", a, price=1301)  # 3
    kite.cancel_order("regular", b)  # 4
    for _ in range(5):
        resting(kite)  # 9
    kite.modify_order("regular", a, price=1302)  # 10: place, modify and cancel count together
    r = raw(server, kite, "DELETE", f"/orders/regular/{a}")
    assert r.status_code == 429 and r.json() == KITE_429
    for action in (
        lambda: resting(kite),
        lambda: kite.modify_order("regular", a, price=1303),
        lambda: kite.cancel_order("regular", a),
    ):
        with pytest.raises(kex.NetworkException) as info:
            action()
        assert info.value.code == 429 and str(info.value) == "Too many requests"
    assert [o["status"] for o in kite.orders() if o["order_id"] == a] == ["OPEN"]  # refused: nothing done
    assert [o["price"] for o in kite.orders() if o["order_id"] == a] == [1302]
    mono.t += 0.999
    with pytest.raises(kex.NetworkException):
        kite.cancel_order("regular", a)
    mono.t += 0.001  # one second after the first: the window has slid past it
    kite.cancel_order("regular", a)


def test_quotes_are_one_a_second_across_ltp_ohlc_and_quote(server, kite, mono):
    kite.ltp(["NSE:INFY"])
    for call in (kite.ltp, kite.ohlc, kite.quote):
        with pytest.raises(kex.NetworkException) as info:
            call(["NSE:INFY"])
        assert info.value.code == 429
    r = raw(server, kite, "GET", "/quote/ohlc", params={"i": "NSE:INFY"})
    assert r.status_code == 429 and r.json() == KITE_429
    kite.orders()  # other buckets are not affected
    mono.t += 1.0
    kite.quote(["NSE:INFY"])


def test_other_endpoints_are_ten_a_second_and_separate_from_orders(server, kite, mono):
    for call in (kite.orders, kite.positions, kite.margins, kite.profile, kite.trades) * 2:
        call()
    with pytest.raises(kex.NetworkException) as info:
        kite.holdings()
    assert info.value.code == 429
    for _ in range(10):
        resting(kite)  # the order bucket is its own
    mono.t += 1.0
    kite.holdings()


def test_four_hundred_order_actions_a_minute(server, kite, mono):
    start = mono.t
    for second in range(40):
        mono.t = start + second
        for _ in range(10):
            r = raw(server, kite, "DELETE", "/orders/regular/999999")  # refused by the book, counted by the limit
            assert r.status_code != 429
    mono.t = start + 40
    assert raw(server, kite, "DELETE", "/orders/regular/999999").status_code == 429  # 10/s is free, 400/min is not
    mono.t = start + 60
    assert raw(server, kite, "DELETE", "/orders/regular/999999").status_code != 429  # the first second slid out


def test_the_day_counts_placements_only_and_resets_at_midnight_ist(server, kite, mono, clock):
    requests.put(server.url + "/_sim/limits", json={"spec": "place=3/day"}, timeout=5).raise_for_status()
    ids = [resting(kite) for _ in range(3)]
    with pytest.raises(kex.NetworkException) as info:
        resting(kite)
    assert info.value.code == 429
    kite.modify_order("regular", ids[0], price=1301)  # modifications and cancellations still go through
    kite.cancel_order("regular", ids[0])
    mono.t += 5
    with pytest.raises(kex.NetworkException):
        resting(kite)  # not a window: the day
    clock.set(datetime(2026, 11, 24, 10, 0, tzinfo=IST), frozen=True)
    kite_next_day = kite_login(server.url, API_KEY, API_SECRET)
    resting(kite_next_day)


def test_the_request_log_has_server_timestamps_and_answers(server, kite, mono):
    requests.post(server.url + "/_sim/counters/reset", timeout=5).raise_for_status()
    for _ in range(12):
        mono.t += 0.05
        try:
            resting(kite)
        except kex.NetworkException:
            pass
    log = requests.get(server.url + "/_sim/requests", params={"bucket": "order"}, timeout=5).json()["data"]
    assert log["limits"] == "order=10/s,order=400/min,place=5000/day,quote=1/s,other=10/s"
    entries = log["entries"]
    assert [e["status"] for e in entries] == [200] * 10 + [429] * 2
    assert [e["counted"] for e in entries] == [True] * 10 + [False] * 2
    assert [round(e["at"] - entries[0]["at"], 2) for e in entries] == [round(0.05 * i, 2) for i in range(12)]
    assert all(e["route"] == "POST /orders/<variety>" and e["wall"] > 0 for e in entries)
    assert max_in_window(e["at"] for e in entries if e["counted"]) == 10


def test_limits_are_configurable_and_a_bad_spec_is_a_usage_error(server, kite, mono):
    assert str(parse_rate_limits("off")) == "off"
    assert str(parse_rate_limits("order=20/s,quote=off")) == "order=400/min,place=5000/day,other=10/s,order=20/s"
    for bad in ("order=0/s", "orders=10/s", "order=10/hour", "order"):
        with pytest.raises(UsageError):
            parse_rate_limits(bad)
    r = requests.put(server.url + "/_sim/limits", json={"spec": "order=2/s"}, timeout=5)
    assert r.json()["data"]["spec"] == "order=400/min,place=5000/day,quote=1/s,other=10/s,order=2/s"
    resting(kite), resting(kite)
    with pytest.raises(kex.NetworkException):
        resting(kite)
    r = requests.put(server.url + "/_sim/limits", json={"spec": "order=5/x"}, timeout=5)
    assert r.status_code == 400 and r.json()["error"]["what"].startswith("cannot read the rate limit")
    requests.put(server.url + "/_sim/limits", json={"spec": "off"}, timeout=5).raise_for_status()
    for _ in range(30):
        resting(kite)


def test_mci_sim_kite_serves_kites_limits_and_reports_the_request_log(start_sim, run_mci, mci_home):
    sim = start_sim("--rate-limits", "quote=2/s")
    assert sim.url, sim.stdout
    assert "rate limits: order=10/s,order=400/min,place=5000/day,other=10/s,quote=2/s" in sim.stdout
    kite = kite_login(sim.url)
    for _ in range(3):
        try:
            kite.ltp(["NSE:INFY"])
        except kex.NetworkException:
            pass
    out = run_mci("sim", "requests", "--bucket", "quote", "--url", sim.url)
    assert out.returncode == 0, out.stderr
    assert "quote  3 request(s), 1 refused (429), at most 3 within 1s" in out.stdout
    out = run_mci("sim", "limits", "order=x", "--url", sim.url)
    assert out.returncode == 2 and "WHAT: cannot read the rate limit 'order=x'" in (out.stdout + out.stderr)
    bad = start_sim("--rate-limits", "bogus")
    assert not bad.url and bad.proc.returncode == 2
