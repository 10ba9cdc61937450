"""Kite as it is in 2026, through the REAL kiteconnect client against the simulator on 127.0.0.1.

Each rule has a test that fails when it is broken on our side: the simulator must refuse what Kite refuses
(market protection, static IP, modifications, tags, autoslice), RMS rejections must arrive as an accepted
request whose order turns REJECTED with a status_message, and KiteBroker must send what Kite needs.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
import requests
from kiteconnect import exceptions as kex

from mci.brokers import kite_rules
from mci.brokers.base import OrderRequest
from mci.brokers.kite import KiteBroker, RetrySettings
from mci.errors import MciError
from mci.flatten import flatten
from mci.store.token_store import TokenRecord

from testing.kite_sim import SIM_KEY, SIM_SECRET, kite_login

ONE_TRY = RetrySettings(attempts=1, initial=0.01, max_wait=0.05, jitter=0.01)


@pytest.fixture
def kite(sim_server):
    client = kite_login(sim_server.url)
    yield client
    client.reqsession.close()


def kite_broker(sim_server, kite, **kw) -> KiteBroker:
    clock = sim_server.app.exchange.clock
    record = TokenRecord.issued(kite.access_token, "AB1234", SIM_KEY, clock.now())
    return KiteBroker(
        SIM_KEY, clock=clock, token=record, root=sim_server.url, timeout=5, api_secret=SIM_SECRET, retry=ONE_TRY, **kw
    )


def admin(sim_server, method: str, path: str, body: dict | None = None) -> dict:
    r = requests.request(method, f"{sim_server.url}/_sim/{path}", json=body, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def last(kite, order_id: str) -> dict:
    return kite.order_history(order_id)[-1]


def ltp(kite, key: str = "NSE:INFY") -> D:
    return D(repr(kite.ltp([key])[key]["last_price"]))


# ---------------------------------------------------------------- market protection


@pytest.mark.parametrize("order_type, extra", [("MARKET", {}), ("SL-M", {"trigger_price": "1"})])
@pytest.mark.parametrize("protection", [None, 0, "0.0"])
def test_market_and_slm_orders_without_protection_are_refused_with_kites_words(
    kite, sim_server, order_type, extra, protection
):
    kw = dict(extra) if protection is None else {**extra, "market_protection": protection}
    with pytest.raises(kex.InputException) as err:
        kite.place_order("regular", "NSE", "INFY", "SELL", 1, "MIS", order_type, **kw)
    assert err.value.code == 400
    assert str(err.value) == (
        "Market orders without market protection are not allowed via API. "
        "Please set market protection or use a Limit order."
    )
    assert sim_server.app.exchange.orders() == []  # refused: nothing recorded


@pytest.mark.parametrize("protection, shown", [(-1, -1), (2.5, 2.5), (100, 100)])
def test_accepted_protection_is_echoed_in_the_book(kite, protection, shown):
    oid = kite.place_order("regular", "NSE", "INFY", "BUY", 1, "MIS", "MARKET", market_protection=protection)
    assert last(kite, oid)["market_protection"] == shown
    (order,) = [o for o in kite.orders() if o["order_id"] == oid]
    assert order["market_protection"] == shown and order["status"] == "COMPLETE"


def test_a_modify_with_zero_protection_is_refused(kite):
    trigger = str(((ltp(kite) * D("0.9")) * 20).to_integral_value() / 20)
    oid = kite.place_order(
        "regular", "NSE", "INFY", "SELL", 1, "MIS", "SL-M", trigger_price=trigger, market_protection=-1
    )
    assert last(kite, oid)["status"] == "TRIGGER PENDING"
    with pytest.raises(kex.InputException) as err:
        kite.modify_order("regular", oid, market_protection=0)
    assert "market protection" in str(err.value)
    kite.modify_order("regular", oid, market_protection=3)
    assert last(kite, oid)["market_protection"] == 3


def test_kite_broker_sends_the_profiles_protection_on_market_and_slm(sim_server, kite):
    broker = kite_broker(sim_server, kite)  # the default: -1, automatic
    oid = broker.place_order(OrderRequest("NSE", "INFY", "BUY", 2, "MARKET", "MIS", tag="mpauto"))
    assert last(kite, oid)["market_protection"] == -1
    broker.close()
    broker = kite_broker(sim_server, kite, market_protection=D("4"))
    trigger = ((ltp(kite) * D("0.9")) * 20).to_integral_value() / 20
    stop = broker.place_order(
        OrderRequest("NSE", "INFY", "SELL", 2, "SL-M", "MIS", trigger_price=trigger, tag="mpstop")
    )
    assert last(kite, stop)["market_protection"] == 4 and last(kite, stop)["status"] == "TRIGGER PENDING"
    limit = broker.place_order(OrderRequest("NSE", "INFY", "BUY", 1, "LIMIT", "MIS", price=trigger, tag="mplimit"))
    assert last(kite, limit)["market_protection"] == 0  # a LIMIT order carries none
    broker.close()


def test_kite_broker_refuses_a_protection_kite_would_refuse(sim_server, kite):
    with pytest.raises(MciError) as err:
        kite_broker(sim_server, kite, market_protection=D(0))
    assert "market_protection" in err.value.how


# ---------------------------------------------------------------- static IP


def test_order_writes_from_an_unregistered_ip_are_refused_and_reads_still_work(kite, sim_server):
    resting = kite.place_order(
        "regular",
        "NSE",
        "INFY",
        "BUY",
        1,
        "MIS",
        "LIMIT",
        price=str(((ltp(kite) * D("0.95")) * 20).to_integral_value() / 20),
    )
    assert admin(sim_server, "PUT", "order-ips", {"ips": "203.0.113.7"}) == {"ips": ["203.0.113.7"]}
    for write in (
        lambda: kite.place_order("regular", "NSE", "INFY", "BUY", 1, "MIS", "MARKET", market_protection=-1),
        lambda: kite.modify_order("regular", resting, quantity=2),
        lambda: kite.cancel_order("regular", resting),
    ):
        with pytest.raises(kex.PermissionException) as err:
            write()
        assert err.value.code == 403 and "127.0.0.1" in str(err.value)
    assert [o["status"] for o in kite.orders()] == ["OPEN"]  # reads answer any address; nothing changed
    assert kite.positions()["net"] == [] and kite.margins("equity")["net"] > 0
    admin(sim_server, "PUT", "order-ips", {"ips": "127.0.0.1,::1"})
    kite.cancel_order("regular", resting)
    assert last(kite, resting)["status"] == "CANCELLED"


def test_kite_broker_says_where_to_register_the_ip_never_to_log_in_again(kite, sim_server):
    broker = kite_broker(sim_server, kite)
    admin(sim_server, "PUT", "order-ips", {"ips": "203.0.113.7"})
    with pytest.raises(MciError) as err:
        broker.place_order(OrderRequest("NSE", "INFY", "BUY", 1, "MARKET", "MIS", tag="ipblocked"))
    assert "IP Whitelist" in err.value.how and "developers.kite.trade" in err.value.how
    assert "token login" not in err.value.how and "127.0.0.1" in err.value.why
    refusal = broker.probe_order_path()
    assert refusal.details["refusal"] == "ip"
    admin(sim_server, "PUT", "order-ips", {"ips": "127.0.0.1"})
    refusal = broker.probe_order_path()  # the write reached the order system: "no such order"
    assert refusal.details.get("refusal") is None and refusal.details["error_type"] == "InputException"
    broker.close()


# ---------------------------------------------------------------- modifications, tags, autoslice


def test_the_26th_modification_is_refused_with_kites_words(kite, sim_server):
    price = ((ltp(kite) * D("0.9")) * 20).to_integral_value() / 20
    oid = kite.place_order("regular", "NSE", "INFY", "BUY", 1, "MIS", "LIMIT", price=str(price))
    for n in range(kite_rules.MAX_MODIFICATIONS):
        kite.modify_order("regular", oid, price=str(price - D("0.05") * (n + 1)))
    with pytest.raises(kex.OrderException) as err:
        kite.modify_order("regular", oid, price=str(price))
    assert str(err.value) == "Maximum allowed order modifications exceeded"
    assert last(kite, oid)["price"] == float(price - D("0.05") * 25)  # the 26th changed nothing
    kite.cancel_order("regular", oid)  # a cancel is not a modification


@pytest.mark.parametrize("tag", ["mci-1", "a_b", "x" * 21, "tag with space"])
def test_tags_are_alphanumeric_and_at_most_20(kite, tag):
    with pytest.raises(kex.InputException):
        kite.place_order("regular", "NSE", "INFY", "BUY", 1, "MIS", "MARKET", market_protection=-1, tag=tag)


def test_our_own_tags_are_what_kite_accepts():
    from mci.brokers.kite import new_tag
    from mci.flatten import Key, square_off_tag

    for tag in (new_tag(), square_off_tag("run-1", 46655, Key("NSE", "M&M", "MIS"), 9), "demo261123n12", "simadmin"):
        assert kite_rules.TAG_RE.match(tag), tag


def test_autoslice_is_refused_not_placed_as_one_order(kite, sim_server):
    with pytest.raises(kex.InputException):
        kite.place_autoslice_order("regular", "NSE", "INFY", "BUY", 150_000, "MIS", "MARKET", market_protection=-1)
    assert sim_server.app.exchange.orders() == []


# ---------------------------------------------------------------- RMS rejections


def test_rms_rejections_are_accepted_requests_whose_orders_turn_rejected(kite, sim_server):
    last_price = ltp(kite, "NSE:SBIN")
    upper = D(repr(kite.quote(["NSE:SBIN"])["NSE:SBIN"]["upper_circuit_limit"]))
    cases = {
        "quantity": dict(quantity=100_001, order_type="MARKET", market_protection=-1),
        "circuit": dict(quantity=1, order_type="LIMIT", price=str(upper + D("0.05"))),
        "trigger": dict(
            quantity=1,
            order_type="SL-M",
            transaction_type="SELL",
            market_protection=-1,
            trigger_price=str(last_price + D(1)),
        ),
        "margin": dict(quantity=90_000, order_type="MARKET", product="CNC", market_protection=-1),
    }
    messages = {}
    for name, kw in cases.items():
        params = {
            "variety": "regular",
            "exchange": "NSE",
            "tradingsymbol": "SBIN",
            "transaction_type": "BUY",
            "product": "MIS",
            **kw,
        }
        oid = kite.place_order(**params)  # 200 with an order_id: the request was accepted
        row = last(kite, oid)
        assert row["status"] == "REJECTED" and row["exchange_order_id"] is None, name
        messages[name] = row["status_message"]
    assert messages["quantity"] == "Maximum quantity per order for Equity is 1,00,000"
    assert (
        messages["circuit"] == "Price exceeds circuit limits for the instrument. Place an order within the daily range."
    )
    assert messages["trigger"] == (
        f"RMS:Rule: Check trigger price vs ltp for sl-m orders; "
        f"trigger price: {last_price + 1}, ltp {last_price.quantize(D('0.01'))}"
    )
    assert messages["margin"].startswith("Insufficient funds. Required margin is ")
    assert kite.positions()["net"] == []


def test_an_intraday_blocked_stock_takes_no_new_mis_exposure_but_can_be_closed(kite, sim_server):
    admin(sim_server, "POST", "positions", {"instrument": "NSE:SBIN", "quantity": 10})
    assert admin(sim_server, "POST", "mis-blocked", {"instrument": "NSE:SBIN"}) == {"instruments": ["NSE:SBIN"]}
    more = kite.place_order("regular", "NSE", "SBIN", "BUY", 1, "MIS", "MARKET", market_protection=-1)
    assert last(kite, more)["status"] == "REJECTED"
    assert (
        last(kite, more)["status_message"]
        == "MIS (intraday) orders are blocked for SBIN. Place a CNC (delivery) order instead."
    )
    cnc = kite.place_order("regular", "NSE", "SBIN", "BUY", 1, "CNC", "MARKET", market_protection=-1)
    assert last(kite, cnc)["status"] == "COMPLETE"
    close = kite.place_order("regular", "NSE", "SBIN", "SELL", 10, "MIS", "MARKET", market_protection=-1)
    assert last(kite, close)["status"] == "COMPLETE"


def test_kite_broker_raises_a_rejection_with_kites_reason(sim_server, kite):
    broker = kite_broker(sim_server, kite)
    with pytest.raises(MciError) as err:
        broker.place_order(OrderRequest("NSE", "SBIN", "BUY", 100_001, "MARKET", "MIS", tag="toobig"))
    assert err.value.why == "Maximum quantity per order for Equity is 1,00,000"
    assert err.value.details["order_id"] and err.value.details["status_message"] == err.value.why
    broker.close()


def test_a_rejected_square_off_is_reported_with_kites_reason_and_the_numbers(sim_server, kite):
    # A freeze quantity above Kite's 1,00,000: the one square-off order is REJECTED by Kite's RMS.
    admin(sim_server, "POST", "positions", {"instrument": "NSE:SBIN", "quantity": 150_000})
    broker = kite_broker(sim_server, kite)
    report = flatten(
        broker,
        deadline=timedelta(seconds=2),
        rate=10,
        run_id="toobig",
        freeze_quantity=200_000,
        clock=sim_server.app.exchange.clock,
    )
    assert not report.flat
    assert any(
        "SELL 150000 NSE:SBIN MIS" in e and "Maximum quantity per order for Equity is 1,00,000" in e
        for e in report.errors
    ), report.errors
    broker.close()


def test_the_flatten_slices_a_close_above_kites_maximum_and_ends_flat(sim_server, kite):
    admin(sim_server, "POST", "positions", {"instrument": "NSE:SBIN", "quantity": 250_000})
    broker = kite_broker(sim_server, kite)
    report = flatten(
        broker, deadline=timedelta(seconds=10), rate=10, run_id="sliced", clock=sim_server.app.exchange.clock
    )
    assert report.flat, report.errors
    sizes = sorted(o["quantity"] for o in kite.orders())
    assert sizes == [50_000, 100_000, 100_000] and all(o["status"] == "COMPLETE" for o in kite.orders())
    broker.close()


def test_a_refused_write_that_speaks_of_the_ip_is_an_ip_refusal_whatever_its_error_type(sim_server, kite):
    # Kite's exact error for an unregistered IP is not published: an InputException naming the IP must not
    # pass the order_path probe as "no such order".
    from kiteconnect.exceptions import InputException

    broker = kite_broker(sim_server, kite)
    error = broker._error(
        InputException("Order request from IP 198.51.100.9 is not whitelisted", code=400),
        "cancelling order 0",
        write=True,
    )
    assert error.details["refusal"] == "ip" and "IP Whitelist" in error.how
    plain = broker._error(InputException("Invalid `order_id`.", code=400), "cancelling order 0", write=True)
    assert plain.details.get("refusal") is None
    broker.close()
