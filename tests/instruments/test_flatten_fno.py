"""The flatten on F&O through KiteBroker and the real kiteconnect against the simulator (issue 13): exits above the
freeze quantity are sliced (≤ 10 slices a round, the rest in later rounds, one tag per slice), a lowered freeze
quantity (the `freeze` fault) is learnt from Kite's refusal, cover orders are exited, every variety is cancelled on
its own route, and the emergency's GTT step deletes the active GTTs once."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal as D

import pytest

from mci.brokers.base import OrderRequest
from mci.brokers.kite import KiteBroker
from mci.brokers.sim.exchange import round_to_tick
from mci.brokers.sim.universe import DEFAULT_UNIVERSE
from mci.clock import Clock
from mci.flatten import Key, flatten, parse_own_tag
from mci.flatten.gtts import delete_active_gtts
from mci.store.token_store import TokenRecord
from testing.flatten import audit_exchange
from testing.kite_sim import SIM_KEY, SIM_SECRET

NIFTY, BANK, RELI = "NIFTY26DECFUT", "BANKNIFTY26DEC59000CE", "RELIANCE26DECFUT"


@pytest.fixture
def broker(server, exchange, sim_clock):
    clock = Clock(sim_clock.now(), frozen=True)
    token, _, _ = exchange.issue_session("AB1234")
    kb = KiteBroker(
        SIM_KEY,
        clock=clock,
        token=TokenRecord.issued(token, "AB1234", SIM_KEY, clock.now()),
        root=server.url,
        timeout=5,
        api_secret=SIM_SECRET,
    )
    yield kb
    kb.close()


def seed(exchange) -> dict[Key, int]:
    spec = {
        Key("NFO", NIFTY, "NRML"): 65 * 60,
        Key("NFO", BANK, "MIS"): -30 * 45,
        Key("NFO", RELI, "NRML"): 500 * 25,
        Key("NSE", "INFY", "CNC"): 40,
    }
    for key, qty in spec.items():
        exchange.seed_position(
            key.exchange,
            key.symbol,
            key.product,
            qty,
            exchange.price_at(key.exchange, key.symbol, exchange.clock.now()),
        )
    return spec


def limit(exchange, symbol: str) -> D:
    inst = DEFAULT_UNIVERSE.get("NSE", symbol)
    return round_to_tick(exchange.price_at("NSE", symbol, exchange.clock.now()) * D("0.9"), inst.tick_size)


def test_exits_above_the_freeze_quantity_are_sliced_paced_and_learnt(server, exchange, broker):
    before = seed(exchange)
    # The freeze fault: RELIANCE futures now freeze at 2 lots, which mci's shipped data (20 lots) does not know.
    assert exchange.set_freeze_quantity("NFO", RELI, 1200) == 1000
    events: list[tuple[str, dict]] = []
    report = flatten(
        broker, deadline=timedelta(seconds=60), run_id="fno1", on_event=lambda kind, data: events.append((kind, data))
    )
    assert report.flat, report.errors
    seen = audit_exchange(exchange, "fno1", before)
    assert seen["open"] == [] and seen["positions"] == {} and seen["duplicate_tags"] == {} and seen["sides_ok"]
    assert seen["closed"] == {k: abs(q) for k, q in before.items()} and seen["over_closed"] == {}
    caps = {NIFTY: 1755, BANK: 600, RELI: 1000, "INFY": 100_000}
    per_round: dict[tuple[str, int], int] = Counter()
    for o in exchange.orders():
        tag = parse_own_tag(o.tag, "fno1", Key(o.exchange, o.symbol, o.product))
        if tag is not None and o.status == "COMPLETE":
            assert (
                o.quantity <= caps[o.symbol] and o.quantity % DEFAULT_UNIVERSE.get(o.exchange, o.symbol).lot_size == 0
            )
            per_round[(o.symbol, tag.round_no)] += 1
    assert max(per_round.values()) <= 10  # Kite's 10 slices, the rest in later rounds
    assert sum(n for (s, _), n in per_round.items() if s == RELI) == 13  # 12,500 in slices of 1,000
    assert len({r for s, r in per_round if s == RELI}) >= 2
    assert sum(n for (s, _), n in per_round.items() if s == NIFTY) == 3  # 1,755 + 1,755 + 390, from the data
    refused = [d for k, d in events if k == "order.place.after" and d["result"] == "failed"]
    assert refused and all(d["symbol"] == RELI and "freeze quantity" in d["error"] + d["reason"] for d in refused)
    assert not any(d["symbol"] == NIFTY for d in refused)  # the shipped limit was right: never refused


def test_varieties_and_cover_orders_are_cancelled_as_kite_requires(server, exchange, broker):
    resting = {}
    session = exchange.clock.now()
    for variety in ("amo", "regular", "iceberg", "auction"):  # the AMO before the open, as Kite takes them
        exchange.clock.set(session.replace(hour=8, minute=45) if variety == "amo" else session, frozen=True)
        resting[variety] = exchange.place_order(
            OrderRequest(
                "NSE", "TCS", "BUY", 5, "LIMIT", "CNC", price=limit(exchange, "TCS"), tag="r" + variety, variety=variety
            )
        )
    ltp = exchange.price_at("NSE", "SBIN", exchange.clock.now())
    entry = exchange.place_order(
        OrderRequest(
            "NSE",
            "SBIN",
            "BUY",
            20,
            "MARKET",
            "CO",
            market_protection=D(-1),
            trigger_price=round_to_tick(ltp * D("0.95"), D("0.05")),
            variety="co",
        )
    )
    report = flatten(broker, deadline=timedelta(seconds=30), run_id="var1")
    assert report.flat, report.errors
    orders = {o.order_id: o for o in exchange.orders()}
    assert {orders[i].status for i in resting.values()} == {"CANCELLED"}
    [leg] = [o for o in orders.values() if o.parent_order_id == entry]
    assert leg.status == "COMPLETE"  # exited at market with its parent, which closed the CO position
    assert not any(o.tag and parse_own_tag(o.tag, "var1", Key("NSE", "SBIN", "CO")) for o in orders.values())
    assert all(p.quantity == 0 for p in exchange.positions())


def test_the_emergency_deletes_active_gtts_once_and_audits_each(server, exchange, broker):
    ltp = exchange.price_at("NSE", "INFY", exchange.clock.now())
    body = {
        "type": "single",
        "condition": {"exchange": "NSE", "tradingsymbol": "INFY", "trigger_values": [str(ltp)]},
        "orders": [
            {"transaction_type": "BUY", "quantity": 1, "order_type": "LIMIT", "product": "CNC", "price": str(ltp)}
        ],
    }
    ids = [exchange.place_gtt(body) for _ in range(3)]
    exchange.delete_gtt(ids[0])  # already gone: listed, never deleted again
    events: list[tuple[str, dict]] = []
    report = delete_active_gtts(broker, run_id="g1", on_event=lambda k, d: events.append((k, d)))
    assert sorted(report.deleted) == ids[1:] and report.remaining == [] and report.failed == {}
    assert [k for k, _ in events] == ["gtt.delete.before", "gtt.delete.after"] * 2
    assert all(d["run_id"] == "g1" for _, d in events)
    assert {g["status"] for g in exchange.gtts()} == {"deleted"}
    again = delete_active_gtts(broker, run_id="g1")  # a rerun finds nothing active and sends nothing
    assert again.deleted == [] and again.remaining == []


def test_policy_diff_flags_a_profile_that_keeps_its_gtts_through_the_kill():
    from mci.config.model import Sequence, StepSpec
    from mci.policy.compare_steps import compare_sequences

    def seq(params):
        return Sequence("emergency", "", (StepSpec("delete_gtts", "gtt.delete_all", "delete_gtts", params),))

    [kept] = compare_sequences(seq({"enabled": True}), seq({"enabled": False}), "e", "steps", emergency=True)
    assert kept.kind == "loosening" and "GTTs survive the kill" in kept.why
    [back] = compare_sequences(seq({"enabled": False}), seq({}), "e", "steps", emergency=True)
    assert back.kind == "tightening"
    [dropped] = compare_sequences(seq({}), Sequence("emergency", "", ()), "e", "steps", emergency=True)
    assert "GTTs are no longer deleted" in dropped.why


def test_a_stock_option_is_closed_with_a_marketable_limit_since_kite_blocks_its_market_orders(
    server, exchange, broker, kite
):
    from kiteconnect import exceptions as kex

    with pytest.raises(kex.OrderException, match="Market orders are blocked for stock options"):
        kite.place_order(
            variety="regular",
            exchange="NFO",
            tradingsymbol="SBIN26DEC910CE",
            transaction_type="BUY",
            quantity=750,
            product="NRML",
            order_type="MARKET",
            market_protection=-1,
        )
    before = {Key("NFO", "SBIN26DEC910CE", "NRML"): 750 * 3, Key("NFO", "NIFTY26DEC26000PE", "MIS"): -65 * 2}
    for key, qty in before.items():
        exchange.seed_position(
            "NFO", key.symbol, key.product, qty, exchange.price_at("NFO", key.symbol, exchange.clock.now())
        )
    report = flatten(broker, deadline=timedelta(seconds=30), run_id="opt1")
    assert report.flat, report.errors
    ours = [o for o in exchange.orders() if parse_own_tag(o.tag, "opt1", Key(o.exchange, o.symbol, o.product))]
    kinds = {o.symbol: (o.order_type, o.side, o.status) for o in ours}
    assert kinds == {
        "SBIN26DEC910CE": ("LIMIT", "SELL", "COMPLETE"),
        "NIFTY26DEC26000PE": ("MARKET", "BUY", "COMPLETE"),
    }
    [sbin] = [o for o in ours if o.symbol == "SBIN26DEC910CE"]
    ltp = exchange.price_at("NFO", "SBIN26DEC910CE", exchange.clock.now())
    assert sbin.price == (ltp * D("0.95") / D("0.05")).to_integral_value(rounding="ROUND_FLOOR") * D("0.05")


def test_the_nfo_dump_is_read_only_when_a_position_may_need_slicing(server, exchange, broker):
    def dump_reads() -> int:
        return sum(server.app.counters.snapshot()["requests"].get("GET /instruments/<exchange>", {}).values())

    exchange.seed_position("NFO", NIFTY, "NRML", 65 * 10, exchange.price_at("NFO", NIFTY, exchange.clock.now()))
    assert flatten(broker, deadline=timedelta(seconds=30), run_id="small").flat
    assert dump_reads() == 0  # 650 is under NSE's 1,800: one order, no instrument list needed
    # Under the shipped limit (10,000) but above a freeze the exchange lowered: refused, then learnt with the lot.
    exchange.set_freeze_quantity("NFO", RELI, 1000)
    exchange.seed_position("NFO", RELI, "NRML", 500 * 10, exchange.price_at("NFO", RELI, exchange.clock.now()))
    report = flatten(broker, deadline=timedelta(seconds=60), run_id="lowered")
    assert report.flat, report.errors
    assert dump_reads() == 1
    done = sorted(
        o.quantity
        for o in exchange.orders()
        if parse_own_tag(o.tag, "lowered", Key("NFO", RELI, "NRML")) and o.status == "COMPLETE"
    )
    assert done == [1000] * 5
