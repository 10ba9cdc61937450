"""Circuits, partial fills and LPP cancellations of the simulated exchange, seen through the real kiteconnect client."""

from __future__ import annotations

import pytest
from kiteconnect import KiteConnect

from mci.brokers import kite_rules
from mci.brokers.sim.faults import FaultSpec, parse_faults
from mci.errors import UsageError
from testing.killswitch import sim_admin
from testing.kite_sim import kite_login


def _sell(kite: KiteConnect, symbol: str, qty: int, **extra) -> str:
    return kite.place_order(
        variety="regular",
        exchange="NSE",
        tradingsymbol=symbol,
        transaction_type="SELL",
        quantity=qty,
        product="MIS",
        order_type="MARKET",
        market_protection=-1,
        **extra,
    )


def _last(kite: KiteConnect, order_id: str) -> dict:
    return kite.order_history(order_id)[-1]


def test_a_market_exit_at_a_locked_lower_circuit_rests_there_and_fills_when_lifted(sim_thread):
    url, _ = sim_thread
    sim_admin(url, "POST", "positions", instrument="NSE:INFY", quantity=10)
    locked = sim_admin(url, "POST", "circuits", instrument="NSE:INFY", lock="lower")
    kite = kite_login(url)
    quote = kite.quote(["NSE:INFY"])["NSE:INFY"]
    assert quote["last_price"] == quote["lower_circuit_limit"] == float(locked["lower_circuit_limit"])
    order_id = _sell(kite, "INFY", 10)
    rest = _last(kite, order_id)
    # No buyers: the market order is now a limit at the circuit price (Kite's market protection), unfilled.
    assert (rest["status"], rest["filled_quantity"], rest["pending_quantity"]) == ("OPEN", 0, 10)
    assert rest["price"] == quote["lower_circuit_limit"]
    buy = kite.place_order(
        variety="regular",
        exchange="NSE",
        tradingsymbol="INFY",
        transaction_type="BUY",
        quantity=1,
        product="MIS",
        order_type="MARKET",
        market_protection=-1,
    )
    assert _last(kite, buy)["status"] == "COMPLETE"  # sellers there are: a buyer fills at once
    assert _last(kite, order_id)["status"] == "OPEN"

    sim_admin(url, "POST", "circuits", instrument="NSE:INFY", lift=True)
    done = _last(kite, order_id)
    assert (done["status"], done["filled_quantity"], done["average_price"]) == (
        "COMPLETE",
        10,
        quote["lower_circuit_limit"],
    )
    assert [p["quantity"] for p in kite.positions()["net"] if p["tradingsymbol"] == "INFY"] == [1]


def test_on_circuit_cancel_is_the_exchanges_lpp_cancellation_in_kites_words(sim_thread):
    url, _ = sim_thread
    sim_admin(url, "POST", "positions", instrument="NSE:SBIN", quantity=5)
    sim_admin(url, "PUT", "faults", spec="circuit=SBIN,oncircuit=cancel")
    kite = kite_login(url)
    last = _last(kite, _sell(kite, "SBIN", 5))
    assert (last["status"], last["filled_quantity"], last["status_message"]) == (
        "CANCELLED",
        0,
        kite_rules.LPP_CANCELLED,
    )
    sim_admin(url, "DELETE", "faults")  # the spec that locked it is gone: the lock is lifted
    assert sim_admin(url, "GET", "circuits")["circuits"] == []
    assert _last(kite, _sell(kite, "SBIN", 5))["status"] == "COMPLETE"


def test_partial_fills_leave_the_remainder_resting_and_a_cancel_keeps_what_filled(sim_thread):
    url, _ = sim_thread
    sim_admin(url, "POST", "positions", instrument="NSE:TCS", quantity=10)
    sim_admin(url, "PUT", "faults", spec="partial=0.3")
    kite = kite_login(url)
    order_id = _sell(kite, "TCS", 10)
    last = _last(kite, order_id)
    assert (last["status"], last["filled_quantity"], last["pending_quantity"]) == ("OPEN", 3, 7)
    assert [t["quantity"] for t in kite.order_trades(order_id)] == [3]
    kite.cancel_order("regular", order_id)
    last = _last(kite, order_id)
    assert (last["status"], last["filled_quantity"], last["cancelled_quantity"]) == ("CANCELLED", 3, 7)
    assert [p["quantity"] for p in kite.positions()["net"] if p["tradingsymbol"] == "TCS"] == [7]
    assert sim_admin(url, "GET", "circuits")["partial"] == "0.3"


def test_an_instruments_own_band_refuses_a_limit_beyond_it_with_kites_text(sim_thread):
    url, exchange = sim_thread
    data = sim_admin(url, "POST", "circuits", instrument="NSE:INFY", band="5%")
    lower, upper = exchange.circuit_limits("NSE", "INFY")
    assert (data["lower_circuit_limit"], data["upper_circuit_limit"]) == (str(lower), str(upper))
    close = exchange.quote(["NSE:INFY"])["NSE:INFY"].close
    assert upper - close <= close * 5 / 100 < upper - close + 1  # ±5% of the close, to the tick
    kite = kite_login(url)
    order_id = kite.place_order(
        variety="regular",
        exchange="NSE",
        tradingsymbol="INFY",
        transaction_type="BUY",
        quantity=1,
        product="MIS",
        order_type="LIMIT",
        price=str(upper + 1),
    )
    last = _last(kite, order_id)
    assert (last["status"], last["status_message"]) == ("REJECTED", kite_rules.CIRCUIT_EXCEEDED)


def test_the_market_fault_spec_reads_back_and_refuses_what_it_cannot_do():
    spec = parse_faults("circuit=INFY+nse:sbin/upper,oncircuit=cancel,partial=30%,seed=3")
    assert spec.circuit == ("NSE:INFY", "NSE:SBIN/upper") and spec.partial == 0.3 and spec.on_circuit == "cancel"
    assert parse_faults(str(spec)) == spec and spec.market and not spec.active
    assert str(FaultSpec()) == "none"
    for bad in ("partial=0", "partial=1.5", "circuit=", "circuit=INFY/sideways", "oncircuit=later"):
        with pytest.raises(UsageError):
            parse_faults(bad)
