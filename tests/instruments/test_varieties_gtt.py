"""Order varieties kept and routed, cover-order exits, and GTTs in the Kite simulator, through kiteconnect (issue 13)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from kiteconnect import exceptions as kex

from mci.brokers.sim.exchange import round_to_tick
from mci.brokers.sim.universe import DEFAULT_UNIVERSE


def limit_price(exchange, symbol: str, side: str) -> float:
    inst = DEFAULT_UNIVERSE.get("NSE", symbol)
    ltp = exchange.price_at("NSE", symbol, exchange.clock.now())
    return float(round_to_tick(ltp * (Decimal("0.9") if side == "BUY" else Decimal("1.1")), inst.tick_size))


@pytest.mark.parametrize("variety", ["regular", "amo", "iceberg", "auction"])
def test_every_variety_is_kept_and_cancelled_only_on_its_own_route(kite, exchange, sim_clock, variety):
    extra = {"iceberg_legs": 2, "iceberg_quantity": 5} if variety == "iceberg" else {}
    extra.update({"auction_number": "22"} if variety == "auction" else {})
    if variety == "amo":  # Kite takes AMOs outside 09:00-15:45 only: this one after the close, for the next session
        sim_clock.set(sim_clock.now().replace(hour=15, minute=50), frozen=True)
    order_id = kite.place_order(
        variety=variety,
        exchange="NSE",
        tradingsymbol="INFY",
        transaction_type="BUY",
        quantity=10,
        product="CNC",
        order_type="LIMIT",
        price=limit_price(exchange, "INFY", "BUY"),
        tag="resting",
        **extra,
    )
    [order] = kite.orders()
    assert order["order_id"] == order_id and order["variety"] == variety and order["status"] == "OPEN"
    wrong = "amo" if variety == "regular" else "regular"
    with pytest.raises(kex.InputException, match=f"is a {variety} order"):
        kite.cancel_order(wrong, order_id)
    assert kite.orders()[0]["status"] == "OPEN"  # the refused cancel touched nothing
    kite.cancel_order(variety, order_id)
    assert kite.orders()[0]["status"] == "CANCELLED"


def test_an_amo_in_the_session_is_refused_before_the_book(kite, exchange):
    with pytest.raises(kex.OrderException, match="AMO orders are not allowed between 09:00 and 15:45 for NSE"):
        kite.place_order(
            variety="amo",
            exchange="NSE",
            tradingsymbol="INFY",
            transaction_type="BUY",
            quantity=1,
            product="CNC",
            order_type="LIMIT",
            price=limit_price(exchange, "INFY", "BUY"),
        )
    assert kite.orders() == []


def test_an_unknown_variety_is_refused(kite):
    with pytest.raises(kex.InputException, match="Invalid `variety`"):
        kite.place_order(
            variety="bo",
            exchange="NSE",
            tradingsymbol="INFY",
            transaction_type="BUY",
            quantity=1,
            product="MIS",
            order_type="MARKET",
            market_protection=-1,
        )


def test_a_cover_orders_stop_leg_is_exited_with_its_parent_never_cancelled_alone(kite, exchange):
    ltp = float(exchange.price_at("NSE", "SBIN", exchange.clock.now()))
    entry = kite.place_order(
        variety="co",
        exchange="NSE",
        tradingsymbol="SBIN",
        transaction_type="BUY",
        quantity=20,
        product="CO",
        order_type="MARKET",
        trigger_price=round(ltp * 0.95, 1),
        market_protection=-1,
    )
    orders = {o["order_id"]: o for o in kite.orders()}
    assert orders[entry]["status"] == "COMPLETE" and orders[entry]["variety"] == "co"
    [leg] = [o for o in orders.values() if o["parent_order_id"] == entry]
    assert leg["status"] == "TRIGGER PENDING" and leg["transaction_type"] == "SELL" and leg["variety"] == "co"
    [position] = [p for p in kite.positions()["net"] if p["tradingsymbol"] == "SBIN"]
    assert position["quantity"] == 20 and position["product"] == "CO"
    with pytest.raises(kex.InputException, match="exited with its parent_order_id"):
        kite.cancel_order("co", leg["order_id"])  # a plain cancel would leave the position hanging
    kite.exit_order("co", leg["order_id"], parent_order_id=entry)
    after = {o["order_id"]: o for o in kite.orders()}
    assert after[leg["order_id"]]["status"] == "COMPLETE" and after[leg["order_id"]]["order_type"] == "MARKET"
    [position] = [p for p in kite.positions()["net"] if p["tradingsymbol"] == "SBIN"]
    assert position["quantity"] == 0


def test_gtts_are_served_in_kites_format(server, kite, exchange):
    from mci.brokers.sim.limits import RateLimits

    server.app.set_rate_limits(RateLimits.off())  # a dozen calls in a burst: Kite's 10/s is not what this tests
    ltp = float(exchange.price_at("NSE", "INFY", exchange.clock.now()))
    placed = kite.place_gtt(
        kite.GTT_TYPE_SINGLE,
        "INFY",
        "NSE",
        [round(ltp * 0.9, 1)],
        ltp,
        [
            {
                "transaction_type": "BUY",
                "quantity": 5,
                "order_type": "LIMIT",
                "product": "CNC",
                "price": round(ltp * 0.9, 1),
            }
        ],
    )
    trigger_id = placed["trigger_id"]
    two = kite.place_gtt(
        kite.GTT_TYPE_OCO,
        "INFY",
        "NSE",
        [round(ltp * 0.9, 1), round(ltp * 1.1, 1)],
        ltp,
        [
            {
                "transaction_type": "SELL",
                "quantity": 5,
                "order_type": "LIMIT",
                "product": "CNC",
                "price": round(ltp * 0.9, 1),
            },
            {
                "transaction_type": "SELL",
                "quantity": 5,
                "order_type": "LIMIT",
                "product": "CNC",
                "price": round(ltp * 1.1, 1),
            },
        ],
    )["trigger_id"]
    listed = {g["id"]: g for g in kite.get_gtts()}
    assert set(listed) == {trigger_id, two}
    assert listed[trigger_id]["status"] == "active" and listed[trigger_id]["type"] == "single"
    assert listed[two]["type"] == "two-leg" and len(listed[two]["orders"]) == 2
    assert listed[trigger_id]["condition"]["tradingsymbol"] == "INFY"
    assert kite.get_gtt(trigger_id)["orders"][0]["quantity"] == 5
    kite.modify_gtt(
        trigger_id,
        kite.GTT_TYPE_SINGLE,
        "INFY",
        "NSE",
        [round(ltp * 0.8, 1)],
        ltp,
        [
            {
                "transaction_type": "BUY",
                "quantity": 7,
                "order_type": "LIMIT",
                "product": "CNC",
                "price": round(ltp * 0.8, 1),
            }
        ],
    )
    assert kite.get_gtt(trigger_id)["orders"][0]["quantity"] == 7
    assert kite.delete_gtt(trigger_id) == {"trigger_id": trigger_id}
    assert kite.get_gtt(trigger_id)["status"] == "deleted"
    with pytest.raises(kex.OrderException, match="cannot be deleted"):
        kite.delete_gtt(trigger_id)
    with pytest.raises(kex.InputException, match="trigger_values"):
        kite._post(
            "gtt.place",
            params={
                "type": "single",
                "condition": '{"exchange": "NSE", "tradingsymbol": "INFY", "trigger_values": [1, 2]}',
                "orders": '[{"quantity": 1}]',
            },
        )
