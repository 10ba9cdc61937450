"""The Kite-protocol simulator against the REAL kiteconnect client, and KiteBroker against the simulator.

Only 127.0.0.1 on an ephemeral port: nothing here touches the internet.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal as D
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import pytest
import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from mci.brokers.base import Funds, Order, OrderRequest, Position
from mci.brokers.kite import KiteBroker, RetrySettings, new_tag
from mci.brokers.sim.kite_server import dumps, serve

from testing.kite_sim import sim_exchange, sim_thread
from mci.brokers.sim.limits import parse_rate_limits
from mci.clock import Clock
from mci.config.model import BrokerConfig, Checklist, MarketConfig, Profile, RiskLimits, ScanConfig
from mci.errors import ExitCode, MciError, UnavailableError
from mci.store.token_store import TokenRecord

IST = ZoneInfo("Asia/Kolkata")
MOCKS = Path("/work/shared/kite-mocks")
if not MOCKS.is_dir():
    MOCKS = Path(__file__).resolve().parents[3] / "shared" / "kite-mocks"
API_KEY, API_SECRET = "sim-key", "sim-secret-do-not-print"
FAST = RetrySettings(attempts=3, initial=0.001, max_wait=0.005, jitter=0.001)


class FakeMonotonic:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock():
    return Clock(datetime(2026, 11, 23, 10, 0, tzinfo=IST), frozen=True)  # a Monday, market open


@pytest.fixture
def exchange(tmp_path, clock):
    with sim_exchange(tmp_path / "sim.db", clock, D("1000000")) as ex:
        yield ex


@pytest.fixture
def mono():
    return FakeMonotonic()


@pytest.fixture
def server(exchange, mono):
    # Time stands still for the limits (mono): order actions are limited as Kite does; quotes and the other
    # endpoints are not, or a frozen second would refuse every second read (tests/kite/test_sim_rate_limits.py).
    with sim_thread(
        exchange,
        API_KEY,
        API_SECRET,
        redirect_url="http://127.0.0.1:9/callback",
        monotonic=mono,
        rate_limits=parse_rate_limits("quote=off,other=off"),
    ) as srv:
        yield srv


def login(srv) -> tuple[KiteConnect, dict]:
    kite = KiteConnect(API_KEY, root=srv.url, timeout=5)
    kite._default_login_uri = srv.url + "/connect/login"
    r = requests.get(kite.login_url(), allow_redirects=False, timeout=5)
    assert r.status_code == 302
    query = parse_qs(urlparse(r.headers["Location"]).query)
    session = kite.generate_session(query["request_token"][0], api_secret=API_SECRET)
    return kite, session


@pytest.fixture
def kite(server):
    client, _ = login(server)
    yield client
    client.reqsession.close()


def tick(x) -> D:
    value = x if isinstance(x, D) else D(repr(x))
    return (value * 20).to_integral_value() / 20


def ltp(kite, key="NSE:INFY") -> D:
    return D(repr(kite.ltp([key])[key]["last_price"]))


# ---------------------------------------------------------------- login


def test_login_redirects_with_a_request_token_and_generate_session_issues_a_token(server):
    kite = KiteConnect(API_KEY, root=server.url, timeout=5)
    kite._default_login_uri = server.url + "/connect/login"
    assert kite.login_url() == f"{server.url}/connect/login?api_key={API_KEY}&v=3"
    r = requests.get(kite.login_url(), allow_redirects=False, timeout=5)
    assert r.status_code == 302
    location = urlparse(r.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "http://127.0.0.1:9/callback"
    query = parse_qs(location.query)
    assert query["action"] == ["login"] and query["status"] == ["success"]
    session = kite.generate_session(query["request_token"][0], api_secret=API_SECRET)
    assert session["access_token"] and session["user_id"] == "AB1234"
    assert kite.access_token == session["access_token"]
    assert kite.profile()["user_id"] == "AB1234"
    # a request token is single-use
    with pytest.raises(kex.TokenException):
        KiteConnect(API_KEY, root=server.url).generate_session(query["request_token"][0], api_secret=API_SECRET)


def test_wrong_secret_and_unknown_api_key_are_refused(server):
    r = requests.get(server.url + "/connect/login", params={"v": 3, "api_key": API_KEY}, allow_redirects=False)
    token = parse_qs(urlparse(r.headers["Location"]).query)["request_token"][0]
    with pytest.raises(kex.TokenException):
        KiteConnect(API_KEY, root=server.url).generate_session(token, api_secret="wrong")
    r = requests.get(server.url + "/connect/login", params={"v": 3, "api_key": "nope"}, allow_redirects=False)
    assert r.status_code == 400 and r.json()["error_type"] == "InputException"


def test_logout_invalidates_the_token(server):
    kite, session = login(server)
    assert kite.invalidate_access_token() is True
    with pytest.raises(kex.TokenException) as info:
        kite.profile()
    assert info.value.code == 403


def test_bad_or_missing_token_is_a_403_token_exception(server):
    bad = KiteConnect(API_KEY, access_token="not-a-token", root=server.url)
    for call in (bad.profile, bad.margins, bad.orders, lambda: bad.ltp(["NSE:INFY"])):
        with pytest.raises(kex.TokenException) as info:
            call()
        assert info.value.code == 403
    r = requests.get(server.url + "/user/profile")
    assert r.status_code == 403
    assert r.json() == {"status": "error", "message": r.json()["message"], "data": None, "error_type": "TokenException"}
    _, session = login(server)
    other_key = KiteConnect("other-key", access_token=session["access_token"], root=server.url)
    with pytest.raises(kex.TokenException):
        other_key.profile()


# ---------------------------------------------------------------- reads and orders through kiteconnect


def test_read_endpoints_through_kiteconnect(kite):
    assert kite.profile()["user_id"] == "AB1234"
    margins = kite.margins()
    assert margins["equity"]["net"] == 1000000 and margins["equity"]["enabled"] is True
    assert kite.margins("equity") == margins["equity"]
    assert kite.positions() == {"net": [], "day": []}
    assert kite.holdings() == []
    assert kite.orders() == [] and kite.trades() == []
    price = ltp(kite)
    assert price > 0
    ohlc = kite.ohlc(["NSE:INFY"])["NSE:INFY"]
    assert ohlc["instrument_token"] == 408065 and set(ohlc["ohlc"]) == {"open", "high", "low", "close"}
    quote = kite.quote(["NSE:INFY", "NSE:NOPE"])
    assert list(quote) == ["NSE:INFY"]  # unknown instruments are left out, as Kite does
    assert isinstance(quote["NSE:INFY"]["timestamp"], datetime)
    assert D(repr(quote["NSE:INFY"]["last_price"])) == price


def test_market_order_fills_and_shows_in_orders_trades_positions(kite):
    oid = kite.place_order("regular", "NSE", "INFY", "BUY", 3, "MIS", "MARKET", tag="tmarket", market_protection=-1)
    (order,) = kite.orders()
    assert order["order_id"] == oid and order["status"] == "COMPLETE" and order["tag"] == "tmarket"
    assert order["filled_quantity"] == 3 and order["pending_quantity"] == 0
    history = kite.order_history(oid)
    assert [h["status"] for h in history][0] == "PUT ORDER REQ RECEIVED" and history[-1]["status"] == "COMPLETE"
    (trade,) = kite.order_trades(oid)
    assert trade["order_id"] == oid and trade["quantity"] == 3 and kite.trades() == [trade]
    (pos,) = kite.positions()["net"]
    assert pos["tradingsymbol"] == "INFY" and pos["quantity"] == 3 and pos["product"] == "MIS"
    assert kite.margins("equity")["utilised"]["debits"] > 0


def test_limit_sl_and_slm_orders_rest_modify_and_cancel(kite):
    last = ltp(kite)
    below = tick(last * D("0.95"))
    limit = kite.place_order("regular", "NSE", "INFY", "BUY", 1, "CNC", "LIMIT", price=str(below))
    assert kite.order_history(limit)[-1]["status"] == "OPEN"
    new_price = tick(last * D("0.94"))
    assert kite.modify_order("regular", limit, price=str(new_price), quantity=2) == limit
    latest = kite.order_history(limit)[-1]
    assert latest["status"] == "OPEN" and latest["quantity"] == 2 and D(repr(latest["price"])) == new_price
    assert latest["modified"] is True

    trigger = tick(last * D("1.05"))
    sl = kite.place_order(
        "regular", "NSE", "INFY", "BUY", 1, "MIS", "SL", price=str(trigger + 1), trigger_price=str(trigger)
    )
    slm = kite.place_order(
        "regular",
        "NSE",
        "INFY",
        "SELL",
        1,
        "MIS",
        "SL-M",
        trigger_price=str(tick(last * D("0.95"))),
        market_protection=-1,
    )
    statuses = {o["order_id"]: o["status"] for o in kite.orders()}
    assert statuses == {limit: "OPEN", sl: "TRIGGER PENDING", slm: "TRIGGER PENDING"}
    for oid in (limit, sl, slm):
        assert kite.cancel_order("regular", oid) == oid
    assert {o["status"] for o in kite.orders()} == {"CANCELLED"}
    assert all(o["cancelled_quantity"] == o["quantity"] for o in kite.orders())
    with pytest.raises(kex.OrderException) as info:
        kite.cancel_order("regular", limit)
    assert info.value.code == 400


def test_input_errors_are_400_input_exceptions(kite):
    with pytest.raises(kex.InputException) as info:
        kite.place_order("regular", "NSE", "INFY", "BUY", 0, "MIS", "MARKET", market_protection=-1)
    assert info.value.code == 400
    with pytest.raises(kex.InputException):
        kite.place_order("regular", "NSE", "INFY", "BUY", 1, "MIS", "LIMIT")  # no price
    with pytest.raises(kex.InputException):
        kite.place_order("regular", "NSE", "NOSUCH", "BUY", 1, "MIS", "MARKET", market_protection=-1)
    with pytest.raises(kex.InputException):
        kite.place_order(
            "bo", "NSE", "INFY", "BUY", 1, "MIS", "MARKET", market_protection=-1
        )  # no "bo" variety (kite_rules.VARIETIES)
    with pytest.raises(kex.InputException):
        kite.order_history("999")
    with pytest.raises(kex.InputException):
        kite.margins("currency")


def test_a_rejected_order_is_accepted_then_rejected_in_the_book(kite, exchange):
    exchange.set_cash(D(0))
    oid = kite.place_order("regular", "NSE", "INFY", "BUY", 10, "CNC", "MARKET", market_protection=-1)
    order = kite.order_history(oid)[-1]
    assert order["status"] == "REJECTED" and order["status_message"]


def test_order_placement_is_rate_limited_with_429_network_exception(kite, mono):
    placed, limited = [], []
    for _ in range(15):
        try:
            placed.append(kite.place_order("regular", "NSE", "INFY", "BUY", 1, "MIS", "MARKET", market_protection=-1))
        except kex.NetworkException as exc:
            limited.append(exc)
    assert len(placed) == 10 and len(limited) == 5
    assert all(e.code == 429 and "Too many requests" in str(e) for e in limited)
    kite.orders()  # reads are not rate-limited
    mono.t += 1.0  # the window slides
    kite.place_order("regular", "NSE", "INFY", "BUY", 1, "MIS", "MARKET", market_protection=-1)


def test_responses_carry_a_date_header_from_the_exchange_clock(server, clock):
    r = requests.get(server.url + "/user/profile")
    assert r.headers["Date"].count("GMT") == 1  # one Date header, not http.server's plus ours
    assert parsedate_to_datetime(r.headers["Date"]) == clock.now()
    assert r.headers["Content-Type"].startswith("application/json")


def test_unknown_route_is_a_json_error(server):
    r = requests.get(server.url + "/nope")
    assert r.status_code == 404 and r.json()["status"] == "error"


def test_money_is_written_from_decimal_text():
    assert (
        dumps({"a": D("99725.05000000002"), "b": D("0.00"), "c": D("161"), "d": [D("-2.50")]})
        == '{"a":99725.05000000002,"b":0,"c":161,"d":[-2.5]}'
    )


# ---------------------------------------------------------------- shapes against the real samples


def jtype(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def check_shape(actual, samples: list, path: str = "$") -> list[str]:
    """Problems of `actual` against every value the samples hold at this place."""
    types = {jtype(s) for s in samples}
    if not samples or types == {"null"}:
        return []
    kind = jtype(actual)
    if kind not in types:
        return [f"{path}: {kind}, the sample has {sorted(types)}"]
    out: list[str] = []
    if kind == "object":
        objs = [s for s in samples if isinstance(s, dict)]
        required = set.intersection(*(set(o) for o in objs))
        for key in sorted(required):
            if key not in actual:
                out.append(f"{path}.{key}: missing")
            else:
                out += check_shape(actual[key], [o[key] for o in objs], f"{path}.{key}")
    elif kind == "array":
        items = [i for s in samples if isinstance(s, list) for i in s]
        for n, item in enumerate(actual):
            out += check_shape(item, items, f"{path}[{n}]")
    return out


def test_the_shape_check_catches_missing_keys_and_wrong_types():
    want = {"a": 1, "b": None, "c": [{"x": "s"}], "d": {"e": True}}
    assert check_shape({"a": 2.5, "b": "any", "c": [{"x": "t"}], "d": {"e": False}}, [want]) == []
    assert check_shape({"a": "1", "b": None, "c": [], "d": {"e": True}}, [want]) == [
        "$.a: string, the sample has ['number']"
    ]
    assert check_shape({"a": 1, "b": None, "c": [{}], "d": {"e": None}}, [want]) == [
        "$.c[0].x: missing",
        "$.d.e: null, the sample has ['boolean']",
    ]


def sample(name: str):
    return json.loads((MOCKS / f"{name}.json").read_text())


@pytest.fixture
def busy(server, kite):
    """An account with a filled, a resting and a modified order (so every list has rows)."""
    filled = kite.place_order("regular", "NSE", "INFY", "BUY", 2, "MIS", "MARKET", market_protection=-1)
    resting = kite.place_order(
        "regular", "NSE", "INFY", "BUY", 1, "CNC", "LIMIT", price=str(tick(ltp(kite) * D("0.9")))
    )
    return kite, filled, resting


ENDPOINTS = [
    ("profile", "GET", "/user/profile", None),
    ("margins", "GET", "/user/margins", None),
    ("margins_equity", "GET", "/user/margins/equity", None),
    ("positions", "GET", "/portfolio/positions", None),
    ("holdings", "GET", "/portfolio/holdings", None),
    ("orders", "GET", "/orders", None),
    ("order_info", "GET", "/orders/{filled}", None),
    ("order_trades", "GET", "/orders/{filled}/trades", None),
    ("trades", "GET", "/trades", None),
    ("quote", "GET", "/quote", {"i": ["NSE:INFY", "NSE:SBIN"]}),
    ("ltp", "GET", "/quote/ltp", {"i": ["NSE:INFY"]}),
    ("ohlc", "GET", "/quote/ohlc", {"i": ["NSE:INFY"]}),
    ("order_modify", "PUT", "/orders/regular/{resting}", {"quantity": "2"}),
    (
        "order_response",
        "POST",
        "/orders/regular",
        {
            "exchange": "NSE",
            "tradingsymbol": "SBIN",
            "transaction_type": "BUY",
            "quantity": "1",
            "product": "MIS",
            "order_type": "MARKET",
            "market_protection": "-1",
        },
    ),
    ("order_cancel", "DELETE", "/orders/regular/{resting}", None),
]


@pytest.mark.parametrize("name, method, route, params", ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_responses_match_the_kite_samples(server, busy, name, method, route, params):
    kite, filled, resting = busy
    url = server.url + route.format(filled=filled, resting=resting)
    headers = {"Authorization": f"token {API_KEY}:{kite.access_token}", "X-Kite-Version": "3"}
    if method in ("GET", "DELETE"):
        r = requests.request(method, url, params=params, headers=headers, timeout=5)
    else:
        r = requests.request(method, url, data=params, headers=headers, timeout=5)
    assert r.status_code == 200, r.text
    body, expected = r.json(), sample(name)
    assert set(body) >= {"status", "data"} and body["status"] == "success"
    data, want = body["data"], expected["data"]
    if name in ("quote", "ltp", "ohlc"):  # keyed by instrument: compare each value to the sample's
        assert data
        problems = [p for v in data.values() for p in check_shape(v, list(want.values()))]
    else:
        if isinstance(data, list) and name != "holdings":
            assert data, f"{name}: no rows to compare"
        problems = check_shape(data, [want])
    assert problems == []


def test_generate_session_matches_the_sample(server):
    r = requests.get(server.url + "/connect/login", params={"v": 3, "api_key": API_KEY}, allow_redirects=False)
    token = parse_qs(urlparse(r.headers["Location"]).query)["request_token"][0]
    import hashlib

    checksum = hashlib.sha256((API_KEY + token + API_SECRET).encode()).hexdigest()
    r = requests.post(
        server.url + "/session/token", data={"api_key": API_KEY, "request_token": token, "checksum": checksum}
    )
    assert check_shape(r.json()["data"], [sample("generate_session")["data"]]) == []
    r = requests.delete(
        server.url + "/session/token", params={"api_key": API_KEY, "access_token": r.json()["data"]["access_token"]}
    )
    assert r.json() == sample("session_logout")


# ---------------------------------------------------------------- KiteBroker against the simulator


def broker_for_server(server, clock, token: str, **kw) -> KiteBroker:
    record = TokenRecord.issued(token, "AB1234", API_KEY, clock.now())
    return KiteBroker(
        API_KEY,
        clock=clock,
        token=record,
        root=server.url,
        timeout=5,
        api_secret=API_SECRET,
        retry=kw.pop("retry", FAST),
        **kw,
    )


@pytest.fixture
def broker(server, clock, kite):
    b = broker_for_server(server, clock, kite.access_token)
    yield b
    b.close()


def test_broker_maps_funds_positions_orders_to_decimal_dataclasses(broker, exchange):
    assert broker.funds() == Funds(available=D("1000000"), used=D(0), opening=D("1000000"))
    oid = broker.place_order(OrderRequest("NSE", "INFY", "BUY", 4, "MARKET", "MIS"))
    funds = broker.funds()
    truth = exchange.funds()
    assert funds == Funds(available=truth.available, used=truth.used, opening=truth.opening)
    assert all(isinstance(v, D) for v in (funds.available, funds.used, funds.opening))
    (pos,) = broker.positions()
    assert isinstance(pos, Position) and pos.quantity == 4 and isinstance(pos.average_price, D)
    (truth_pos,) = exchange.positions()
    assert pos.average_price == truth_pos.average_price and pos.last_price == truth_pos.last_price
    (order,) = broker.orders()
    assert isinstance(order, Order) and order.order_id == oid and order.status == "COMPLETE"
    assert order.average_price == exchange.order(oid).average_price and isinstance(order.price, D)
    assert order.placed_at.tzinfo is not None and order.placed_at == exchange.order(oid).placed_at
    assert order.tag and len(order.tag) <= 20 and order.tag.startswith("mci")
    assert broker.ltp(["NSE:INFY", "NSE:NOPE"]) == exchange.ltp(["NSE:INFY"])


def test_broker_session_and_server_time(broker, server, clock, kite):
    info = broker.session()
    assert info.valid and info.user_id == "AB1234" and info.expires_at > clock.now()
    assert broker.ensure_session() == info
    assert broker.server_time() == clock.now()
    kite.invalidate_access_token()
    info = broker.session()
    assert not info.valid and "TokenException" in info.reason


def test_broker_without_a_token_says_to_log_in(server, clock):
    b = KiteBroker(API_KEY, clock=clock, token=None, root=server.url)
    assert not b.session().valid
    with pytest.raises(MciError) as info:
        b.funds()
    assert "mci token login" in info.value.how


def test_a_refused_token_becomes_what_why_how_without_secrets(server, clock):
    b = broker_for_server(server, clock, "stale-token-value")
    with pytest.raises(MciError) as info:
        b.orders()
    err = info.value
    assert err.code == ExitCode.FAILED and "mci token login" in err.how and "TokenException" in err.why
    for text in (str(err), repr(err), repr(b), json.dumps(err.as_dict())):
        assert "stale-token-value" not in text and API_SECRET not in text


def test_place_order_keeps_a_given_tag_and_rejection_raises(broker, exchange):
    oid = broker.place_order(OrderRequest("NSE", "INFY", "BUY", 1, "MARKET", "MIS", tag="mine1"))
    assert [o.order_id for o in broker.orders_by_tag("mine1")] == [oid]
    exchange.set_cash(D(0))
    with pytest.raises(MciError) as info:
        broker.place_order(OrderRequest("NSE", "INFY", "BUY", 100, "MARKET", "CNC"))
    assert info.value.code == ExitCode.FAILED and "rejected" in info.value.what


def test_input_errors_are_not_retried(broker):
    calls = []
    real = broker._kite.place_order
    broker._kite.place_order = lambda **kw: (calls.append(kw), real(**kw))[1]
    with pytest.raises(MciError) as info:
        broker.place_order(OrderRequest("NSE", "INFY", "BUY", 1, "LIMIT", "MIS"))  # LIMIT without price
    assert len(calls) == 1 and info.value.code == ExitCode.FAILED
    assert info.value.details["error_type"] == "InputException"


def test_a_timeout_after_the_order_landed_does_not_place_it_twice(broker, exchange):
    real = broker._kite.place_order
    calls = []

    def lands_then_times_out(**kw):
        calls.append(kw["tag"])
        real(**kw)
        raise requests.exceptions.ReadTimeout("read timed out")

    broker._kite.place_order = lands_then_times_out
    oid = broker.place_order(OrderRequest("NSE", "INFY", "BUY", 1, "MARKET", "MIS"))
    assert len(calls) == 1
    assert [o.order_id for o in exchange.orders_by_tag(calls[0])] == [oid]
    assert len(exchange.orders()) == 1


def test_a_connection_failure_before_sending_is_retried_once_found_absent(broker, exchange):
    real = broker._kite.place_order
    calls = []

    def fails_first(**kw):
        calls.append(kw["tag"])
        if len(calls) == 1:
            raise requests.exceptions.ConnectionError("connection reset")
        return real(**kw)

    broker._kite.place_order = fails_first
    oid = broker.place_order(OrderRequest("NSE", "INFY", "SELL", 1, "MARKET", "MIS"))
    assert len(calls) == 2 and calls[0] == calls[1]  # same tag on the re-send
    assert [o.order_id for o in exchange.orders()] == [oid]


def test_unknown_outcome_when_the_book_cannot_be_read_is_not_resent(broker):
    calls = []

    def times_out(**kw):
        calls.append(kw)
        raise requests.exceptions.ReadTimeout("read timed out")

    broker._kite.place_order = times_out
    broker._kite.orders = lambda: (_ for _ in ()).throw(requests.exceptions.ConnectionError("down"))
    with pytest.raises(UnavailableError) as info:
        broker.place_order(OrderRequest("NSE", "INFY", "BUY", 1, "MARKET", "MIS", tag="tunknown"))
    assert len(calls) == 1 and "may or may not" in info.value.what and "tunknown" in info.value.how


def test_429_is_retried_then_unavailable(broker, mono, exchange):
    for _ in range(10):
        broker.place_order(OrderRequest("NSE", "INFY", "BUY", 1, "MARKET", "MIS"))
    with pytest.raises(UnavailableError) as info:
        broker.place_order(OrderRequest("NSE", "INFY", "BUY", 1, "MARKET", "MIS"))
    assert "Too many requests" in info.value.why and info.value.code == ExitCode.UNAVAILABLE
    assert len(exchange.orders()) == 10


def test_modify_and_cancel_through_the_broker(broker, exchange):
    price = exchange.ltp(["NSE:INFY"])["NSE:INFY"]
    oid = broker.place_order(
        OrderRequest("NSE", "INFY", "BUY", 1, "LIMIT", "CNC", price=(price * D("0.9") * 20).to_integral_value() / 20)
    )
    broker.modify_order(oid, quantity=3)
    assert exchange.order(oid).quantity == 3
    broker.cancel_order(oid)
    assert exchange.order(oid).status == "CANCELLED"
    broker.cancel_order(oid)  # a repeated cancel of a cancelled order is success
    with pytest.raises(MciError):
        broker.cancel_order("999")


def test_server_down_is_unavailable(clock, exchange):
    srv = serve("127.0.0.1", 0, exchange, api_key=API_KEY, api_secret=API_SECRET)
    url = srv.url
    srv.shutdown()
    b = KiteBroker(
        API_KEY, clock=clock, token=TokenRecord.issued("x", None, API_KEY, clock.now()), root=url, timeout=1, retry=FAST
    )
    with pytest.raises(UnavailableError):
        b.funds()


def test_from_profile_reads_mci_access_token(server, clock, kite, tmp_path, monkeypatch):
    monkeypatch.setenv("MCI_ACCESS_TOKEN", kite.access_token)
    risk = RiskLimits(D("0.02"), D("0.06"), D("0.15"), D("0.05"), 5, D("2"), D("0.1"))
    profile = Profile(
        name="kite-sim",
        path=tmp_path / "kite-sim.yaml",
        broker=BrokerConfig(kind="kite", api_key=API_KEY, api_secret=API_SECRET, root=server.url),
        market=MarketConfig(),
        risk=risk,
        breakers={},
        scan=ScanConfig(Checklist("empty", "", ())),
    )
    from mci.brokers.factory import broker_for

    b = broker_for(profile, tmp_path, clock)
    try:
        assert isinstance(b, KiteBroker) and b.session().valid
        assert b.funds().available == D("1000000")
        assert kite.access_token not in repr(b)
    finally:
        b.close()


def test_new_tags_are_unique_and_short():
    tags = {new_tag() for _ in range(1000)}
    assert len(tags) == 1000 and all(len(t) <= 20 for t in tags)
