"""Fault injection: the spec grammar, the seeded injector, and each fault kind against the REAL kiteconnect
client over real sockets on 127.0.0.1 (the simulator runs in a thread)."""

from __future__ import annotations

import time
from datetime import timedelta
from itertools import groupby

import pytest
import requests
from kiteconnect import exceptions as kex

from mci.brokers.base import OrderRequest
from mci.brokers.kite import KiteBroker, RetrySettings
from mci.brokers.sim.faults import FaultInjector, FaultSpec, parse_faults
from mci.errors import ExitCode, UnavailableError, UsageError
from mci.store.token_store import TokenRecord

from testing.kite_sim import SIM_KEY, SIM_SECRET, kite_login

FAST = RetrySettings(attempts=3, initial=0.001, max_wait=0.005, jitter=0.001)


def set_faults(server, spec: str) -> dict:
    r = requests.put(server.url + "/_sim/faults", json={"spec": spec}, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def counters(server) -> dict:
    return requests.get(server.url + "/_sim/counters", timeout=5).json()["data"]


def token_for(kite, server) -> TokenRecord:
    return TokenRecord.issued(kite.access_token, "AB1234", SIM_KEY, server.app.exchange.clock.now())


def statuses(kite, n: int) -> list:
    """What n sequential profile() calls met: 'ok', or the exception's HTTP code, or 'reset'."""
    out = []
    for _ in range(n):
        try:
            kite.profile()
            out.append("ok")
        except requests.exceptions.ConnectionError:
            out.append("reset")
        except kex.KiteException as exc:
            out.append(exc.code)
    return out


# ---------------------------------------------------------------- the grammar


def test_a_full_spec_parses_and_prints_canonically():
    spec = parse_faults(" seed=7, lost=50%, reset=0.05,burst=5 ,429=0.1,5xx=0.3,jitter=20ms,latency=0.05s")
    assert spec == FaultSpec(
        latency=timedelta(milliseconds=50),
        jitter=timedelta(milliseconds=20),
        server_error=0.3,
        too_many=0.1,
        burst=5,
        reset=0.05,
        lost=0.5,
        seed=7,
    )
    assert str(spec) == "latency=50ms,jitter=20ms,5xx=0.3,429=0.1,burst=5,reset=0.05,lost=0.5,seed=7"
    assert parse_faults(str(spec)) == spec
    assert spec.as_dict()["latency_ms"] == 50 and spec.as_dict()["spec"] == str(spec)


@pytest.mark.parametrize("text", ["", "none", "off", "  NONE ", None])
def test_none_is_no_faults(text):
    assert parse_faults(text) == FaultSpec() and not FaultSpec().active and str(FaultSpec()) == "none"


@pytest.mark.parametrize(
    "text, why",
    [
        ("5xx=1.5", "outside 0..1"),
        ("5xx=abc", "not a rate"),
        ("latency=50", "not a duration"),
        ("latency=2m", "longer than 60s"),
        ("latency=40s,jitter=30s", "latency + jitter"),
        ("burst=0", "outside 1..10000"),
        ("seed=x", "not a whole number"),
        ("timeout=5", "unknown key 'timeout'"),
        ("5xx=0.1,5xx=0.2", "given twice"),
        ("5xx", "not key=value"),
        ("5xx=0.1,,", "not key=value"),
    ],
)
def test_a_bad_spec_is_a_usage_error_with_what_why_how(text, why):
    with pytest.raises(UsageError) as info:
        parse_faults(text)
    err = info.value
    assert err.code == ExitCode.INVALID and why in err.why and repr(text) in err.what
    assert "latency=50ms,jitter=20ms,5xx=0.3" in err.how


# ---------------------------------------------------------------- the injector, without HTTP


def fates(spec: str, n: int, placement: bool = False) -> list:
    injector = FaultInjector(parse_faults(spec))
    return [injector.next(placement=placement) for _ in range(n)]


def test_the_injector_is_reproducible_for_a_seed_and_differs_across_seeds():
    assert fates("5xx=0.3,429=0.1,burst=3,reset=0.1,lost=0.5,jitter=10ms,seed=11", 500, True) == fates(
        "5xx=0.3,429=0.1,burst=3,reset=0.1,lost=0.5,jitter=10ms,seed=11", 500, True
    )
    assert fates("5xx=0.3,seed=11", 200) != fates("5xx=0.3,seed=12", 200)


def test_the_nth_fate_depends_on_the_seed_and_n_only():
    # Placement or not, every request consumes the same draws: other traffic cannot shift an order's fate.
    a = FaultInjector(parse_faults("5xx=0.2,lost=0.5,seed=3"))
    b = FaultInjector(parse_faults("5xx=0.2,lost=0.5,seed=3"))
    mixed = [a.next(placement=i % 2 == 0) for i in range(300)]
    placements = [b.next(placement=True) for _ in range(300)]
    assert [f.kind for f in mixed] == [f.kind for f in placements]
    assert [f.lose for f in mixed[::2]] == [f.lose for f in placements[::2]]


def test_rates_are_honoured_approximately():
    n = 20_000
    got = fates("5xx=0.3,seed=5", n)
    share = sum(f.kind == "5xx" for f in got) / n
    assert 0.28 < share < 0.32
    assert {f.status for f in got if f.kind} == {500, 502, 503, 504}
    lost = fates("lost=0.5,seed=5", n, placement=True)
    assert 0.48 < sum(f.lose for f in lost) / n < 0.52
    assert not any(f.lose for f in fates("lost=1,seed=5", 100, placement=False))  # only order placement loses


def seed_starting_with(spec: str, kinds: list) -> int:
    """A seed whose first requests meet exactly these fault kinds (the sequence is a function of the seed)."""
    return next(seed for seed in range(10_000) if [f.kind for f in fates(f"{spec},seed={seed}", len(kinds))] == kinds)


def test_429_comes_in_bursts_of_the_declared_length():
    got = [f.kind == "429" for f in fates("429=0.05,burst=6,seed=9", 5000)]
    runs = [len(list(g)) for k, g in groupby(got[:-6]) if k]  # the last may be cut short by the end
    assert runs and all(r % 6 == 0 for r in runs)  # bursts may abut, never shorter


def test_latency_is_fixed_plus_jitter():
    delays = [f.delay for f in fates("latency=50ms,jitter=20ms,seed=2", 1000)]
    assert min(delays) >= 0.05 and max(delays) <= 0.07 and max(delays) - min(delays) > 0.015


# ---------------------------------------------------------------- each kind over HTTP, through kiteconnect


def test_latency_is_measured_on_kite_paths_and_not_on_admin_paths(sim_server):
    kite = kite_login(sim_server.url)
    set_faults(sim_server, "latency=120ms,jitter=40ms,seed=1")
    for _ in range(4):
        t0 = time.monotonic()
        kite.profile()
        took = time.monotonic() - t0
        assert 0.12 <= took < 0.5, took
    t0 = time.monotonic()
    counters(sim_server)
    assert time.monotonic() - t0 < 0.1
    assert counters(sim_server)["faults"]["latency"] == 4


def test_5xx_rate_is_honoured_reproducible_and_mapped_to_kite_exceptions(sim_server):
    kite = kite_login(sim_server.url)
    set_faults(sim_server, "5xx=0.3,seed=21")
    first = statuses(kite, 300)
    set_faults(sim_server, "5xx=0.3,seed=21")  # setting faults restarts the seeded sequence
    assert statuses(kite, 300) == first
    failed = [s for s in first if s != "ok"]
    assert 0.22 * 300 < len(failed) < 0.38 * 300
    assert set(failed) <= {500, 502, 503, 504}
    set_faults(sim_server, "5xx=0.3,seed=22")
    assert statuses(kite, 300) != first
    # What each code looks like to the client: JSON from the API, HTML from a gateway.
    seen = {}
    set_faults(sim_server, "5xx=1,seed=4")
    for _ in range(60):
        try:
            kite.margins()
        except kex.KiteException as exc:
            seen.setdefault(type(exc).__name__, set()).add(exc.code)
    assert seen.keys() == {"GeneralException", "NetworkException", "DataException"}
    assert seen["GeneralException"] == {500} and seen["NetworkException"] == {503}
    assert counters(sim_server)["requests"]["GET /user/margins"].keys() == {"500", "502", "503", "504"}


def test_429_bursts_are_network_exceptions_that_kite_broker_retries(sim_server, tmp_path):
    kite = kite_login(sim_server.url)
    set_faults(sim_server, "429=0.1,burst=4,seed=3")
    got = statuses(kite, 200)
    runs = [len(list(g)) for k, g in groupby(got[:-4]) if k == 429]
    assert runs and all(r % 4 == 0 for r in runs) and set(got) == {"ok", 429}
    set_faults(sim_server, "429=1,burst=2,seed=3")
    with pytest.raises(kex.NetworkException) as info:
        kite.profile()
    assert info.value.code == 429 and "Too many requests" in str(info.value)

    broker = KiteBroker(
        SIM_KEY,
        clock=sim_server.app.exchange.clock,
        token=token_for(kite, sim_server),
        root=sim_server.url,
        timeout=5,
        api_secret=SIM_SECRET,
        retry=FAST,
    )
    try:
        # A burst shorter than the attempts: the order goes through once (a 429 is a clean refusal, nothing placed).
        seed = seed_starting_with("429=0.2,burst=2", ["429", "429", None, None])
        set_faults(sim_server, f"429=0.2,burst=2,seed={seed}")
        oid = broker.place_order(OrderRequest("NSE", "INFY", "BUY", 1, "MARKET", "MIS", tag="burstshort"))
        assert [o.order_id for o in sim_server.app.exchange.orders_by_tag("burstshort")] == [oid]
        # A burst longer than the attempts: unavailable (exit 3), and still no order.
        set_faults(sim_server, "429=1,burst=50,seed=3")
        with pytest.raises(UnavailableError) as unavailable:
            broker.place_order(OrderRequest("NSE", "INFY", "BUY", 1, "MARKET", "MIS", tag="burstlong"))
        assert "Too many requests" in unavailable.value.why
        assert sim_server.app.exchange.orders_by_tag("burstlong") == []
    finally:
        broker.close()


def test_a_reset_raises_a_connection_error_in_kiteconnect_and_processes_nothing(sim_server):
    kite = kite_login(sim_server.url)
    set_faults(sim_server, "reset=1")
    with pytest.raises(requests.exceptions.ConnectionError):
        kite.profile()
    with pytest.raises(requests.exceptions.ConnectionError):
        kite.place_order("regular", "NSE", "INFY", "BUY", 1, "MIS", "MARKET", tag="neverplaced", market_protection=-1)
    assert sim_server.app.exchange.orders() == []
    seen = counters(sim_server)
    assert seen["faults"] == {"reset": 2} and seen["orders"]["placed"] == 0
    assert seen["requests"]["POST /orders/<variety>"] == {"dropped": 1}
    set_faults(sim_server, "none")
    assert kite.profile()["user_id"]  # the server survives its own resets


def test_a_lost_order_exists_at_the_exchange_though_the_client_saw_a_reset(sim_server):
    kite = kite_login(sim_server.url)
    set_faults(sim_server, "lost=1")
    kite.profile()  # lost applies to order placement only
    with pytest.raises(requests.exceptions.ConnectionError):
        kite.place_order("regular", "NSE", "INFY", "BUY", 2, "MIS", "MARKET", tag="lost1", market_protection=-1)
    (order,) = sim_server.app.exchange.orders_by_tag("lost1")
    assert order.status == "COMPLETE" and order.filled_quantity == 2
    assert [o["tag"] for o in kite.orders()] == ["lost1"]  # the book tells the client what the answer did not
    seen = counters(sim_server)
    assert seen["faults"] == {"lost": 1} and seen["orders"]["by_tag"] == {"lost1": 1}
    assert seen["requests"]["POST /orders/<variety>"] == {"dropped": 1}


def test_a_refused_placement_is_not_lost(sim_server):
    kite = kite_login(sim_server.url)
    set_faults(sim_server, "lost=1")
    with pytest.raises(kex.InputException):  # an answer that is not a 200 comes back: only accepted orders lose it
        kite.place_order("regular", "NSE", "NOSUCH", "BUY", 1, "MIS", "MARKET", market_protection=-1)
    assert counters(sim_server)["faults"] == {}


def test_admin_paths_are_never_faulted(sim_server):
    set_faults(sim_server, "reset=1,5xx=1,429=1,latency=300ms")
    t0 = time.monotonic()
    for path in ("health", "counters", "faults", "clock"):
        assert requests.get(f"{sim_server.url}/_sim/{path}", timeout=5).status_code == 200
    assert time.monotonic() - t0 < 0.3
    assert counters(sim_server)["requests"] == {}  # admin requests are not counted either


def test_200_orders_with_half_their_answers_lost_make_exactly_200_orders(sim_server):
    kite = kite_login(sim_server.url)
    broker = KiteBroker(
        SIM_KEY,
        clock=sim_server.app.exchange.clock,
        token=token_for(kite, sim_server),
        root=sim_server.url,
        timeout=5,
        api_secret=SIM_SECRET,
        retry=FAST,
    )
    requests.post(sim_server.url + "/_sim/counters/reset", timeout=5)
    set_faults(sim_server, "lost=0.5,seed=7")
    try:
        ids = [
            broker.place_order(OrderRequest("NSE", "INFY", "BUY" if i % 2 else "SELL", 1, "MARKET", "MIS"))
            for i in range(200)
        ]
    finally:
        broker.close()
    seen = counters(sim_server)
    by_tag = seen["orders"]["by_tag"]
    assert seen["orders"]["placed"] == 200 and len(by_tag) == 200 and set(by_tag.values()) == {1}
    lost = seen["faults"]["lost"]
    assert 70 < lost < 130  # about half of them; the tag look-up found every one
    assert seen["requests"]["POST /orders/<variety>"] == {"200": 200 - lost, "dropped": lost}
    assert len(set(ids)) == 200
    book = sim_server.app.exchange.orders()
    assert sorted(o.order_id for o in book) == sorted(ids) and set(by_tag) == {o.tag for o in book}
