"""Every rule at its boundary: exactly at the limit passes, one paisa (one unit, one microsecond) over fails.

The numbers are the paper profile's: 2% per trade, 6% daily loss, 15% drawdown, 5% position loss,
5 positions, risk:reward 2.0, ±10% price band, 5s signal age, warning at 80% — on ₹10,00,000, so
₹20,000.00 per trade, ₹60,000.00 per day, ₹50,000.00 per position. Limits the paper profile does not
declare (quantity, notional, order rate, order-to-trade ratio, allowed lists) are added with
dataclasses.replace.
"""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal as D

import pytest

from mci.risk import Holding, RiskModel, assess
from testing.risk import CAPITAL, NOW, ONE_US, account, holdings, judge, limits, order, paper_limits, rules

S = timedelta(seconds=1)
OTHERS = ("NSE:SBIN", "NSE:ITC", "NSE:WIPRO", "NSE:LT", "NSE:ONGC")
NIFTY = {
    "exchange": "NFO",
    "symbol": "NIFTY26NOVFUT",
    "product": "NRML",
    "quantity": 75,
    "price": "26000.00",
    "stop_loss": "25900.00",
    "target": "26200.00",
}  # risk ₹7,500.00, reward ₹15,000.00
TCS = {"symbol": "TCS", "price": "3000.00", "stop_loss": "2980.00", "target": "3050.00"}
SELL = {"side": "SELL", "stop_loss": "1520.00", "target": "1440.00"}


def placed(*seconds_ago: float) -> tuple:
    return tuple(sorted(NOW - timedelta(seconds=s) for s in seconds_ago))


def case(
    name: str,
    expected: set[str] | None,
    *,
    o: dict | None = None,
    a: dict | None = None,
    r: dict | None = None,
    capital: D = CAPITAL,
):
    """expected None: accepted with no failure; else exactly these rules fail."""
    return pytest.param(o or {}, a or {}, r or {}, capital, expected, id=name)


TABLE = [
    # -- max_risk_per_trade: 2% of ₹10,00,000 = ₹20,000.00
    case("risk/at ₹20,000.00", None, o={"quantity": 1000}),  # 20.00 × 1000
    case(
        "risk/over ₹20,000.01",
        {"max_risk_per_trade"},
        o={"quantity": 666667, "stop_loss": "1499.97", "target": "1500.10"},
    ),  # 0.03 × 666667 = 20,000.01
    case(
        "risk/limit rounds down: 2% of ₹9,99,999.99 is ₹19,999.99",
        {"max_risk_per_trade"},
        o={"quantity": 1000},
        capital=D("999999.99"),
    ),
    # -- max_daily_loss: the day's loss plus this trade's risk against ₹60,000.00
    case("daily_loss/at ₹40,000.00 + ₹20,000.00", None, o={"quantity": 1000}, a={"day_pnl": D("-40000.00")}),
    case(
        "daily_loss/over ₹40,000.01 + ₹20,000.00",
        {"max_daily_loss"},
        o={"quantity": 1000},
        a={"day_pnl": D("-40000.01")},
    ),
    case("daily_loss/a day in profit leaves the whole room", None, o={"quantity": 1000}, a={"day_pnl": D("5000.00")}),
    # -- max_drawdown: 15% of the intraday peak ₹12,00,000 = ₹1,80,000.00; equity ₹10,40,000 is ₹1,60,000 down
    case(
        "drawdown/at ₹1,60,000.00 + ₹20,000.00",
        None,
        o={"quantity": 1000},
        a={"peak_equity": D("1200000"), "day_pnl": D("40000.00")},
    ),
    case(
        "drawdown/over ₹1,60,000.01 + ₹20,000.00",
        {"max_drawdown"},
        o={"quantity": 1000},
        a={"peak_equity": D("1200000"), "day_pnl": D("39999.99")},
    ),
    # -- max_open_positions: 5
    case("positions/4 open + a new one", None, a={"positions": holdings(*OTHERS[:4])}),
    case("positions/5 open + a new one", {"max_open_positions"}, a={"positions": holdings(*OTHERS)}),
    case("positions/5 open, adding to one of them", None, a={"positions": holdings(*OTHERS[:4], "NSE:INFY")}),
    case(
        "positions/4 open and 1 flat + a new one",
        None,
        a={"positions": holdings(*OTHERS[:4]) + holdings("NSE:TCS", quantity=0)},
    ),
    case(
        "positions/5 open, INFY held as CNC: MIS is a new position",
        {"max_open_positions"},
        a={"positions": holdings(*OTHERS[:4]) + holdings("NSE:INFY", product="CNC")},
    ),
    # -- min_risk_reward: 2.0
    case("rr/BUY at 2.0 (₹40.00 for ₹20.00)", None, o={"quantity": 1, "target": "1540.00"}),
    case("rr/BUY a paisa short (₹39.99 for ₹20.00)", {"min_risk_reward"}, o={"quantity": 1, "target": "1539.99"}),
    case("rr/SELL at 2.0", None, o={**SELL, "quantity": 1, "target": "1460.00"}),
    case("rr/SELL a paisa short", {"min_risk_reward"}, o={**SELL, "quantity": 1, "target": "1460.01"}),
    case("rr/no target", {"min_risk_reward"}, o={"target": None}),
    # -- price_band: ±10% of the last price ₹1,500.00 is ₹1,350.00 to ₹1,650.00
    case("band/price at +10%", None, o={"price": "1650.00", "stop_loss": "1630.00", "target": "1700.00"}),
    case(
        "band/price a paisa over +10%",
        {"price_band"},
        o={"price": "1650.01", "stop_loss": "1630.00", "target": "1700.00"},
    ),
    case("band/price at -10%", None, o={"price": "1350.00", "stop_loss": "1330.00", "target": "1400.00"}),
    case(
        "band/price a paisa under -10%",
        {"price_band"},
        o={"price": "1349.99", "stop_loss": "1330.00", "target": "1400.00"},
    ),
    case(
        "band/trigger at +10%",
        None,
        o={
            "order_type": "SL-M",
            "price": None,
            "trigger_price": "1650.00",
            "stop_loss": "1630.00",
            "target": "1700.00",
        },
    ),
    case(
        "band/trigger a paisa over +10%",
        {"price_band"},
        o={
            "order_type": "SL-M",
            "price": None,
            "trigger_price": "1650.01",
            "stop_loss": "1630.00",
            "target": "1700.00",
        },
    ),
    case(
        "band/SELL trigger at -10%",
        None,
        o={
            **SELL,
            "order_type": "SL-M",
            "price": None,
            "trigger_price": "1350.00",
            "stop_loss": "1370.00",
            "target": "1300.00",
        },
    ),
    case(
        "band/SELL trigger a paisa under -10%",
        {"price_band"},
        o={
            **SELL,
            "order_type": "SL-M",
            "price": None,
            "trigger_price": "1349.99",
            "stop_loss": "1370.00",
            "target": "1300.00",
        },
    ),
    case(
        "band/SL: price inside, trigger a paisa outside",
        {"price_band"},
        o={"order_type": "SL", "trigger_price": "1650.01"},
    ),
    case("band/no last price", {"price_band"}, a={"last_prices": {}}),
    # -- max_quantity_per_order (declared 100)
    case("quantity/at 100", None, o={"quantity": 100}, r={"max_quantity_per_order": 100}),
    case("quantity/101", {"max_quantity_per_order"}, o={"quantity": 101}, r={"max_quantity_per_order": 100}),
    # -- max_notional_per_order (declared ₹1,500.00)
    case("notional/at ₹1,500.00", None, o={"quantity": 1}, r={"max_notional_per_order": D("1500.00")}),
    case(
        "notional/₹1,500.01",
        {"max_notional_per_order"},
        o={"quantity": 1, "price": "1500.01"},
        r={"max_notional_per_order": D("1500.00")},
    ),
    case(
        "notional/MARKET at the last price, at ₹15,000.00",
        None,
        o={"order_type": "MARKET", "price": None},
        r={"max_notional_per_order": D("15000.00")},
    ),
    case(
        "notional/MARKET at the last price, a paisa over",
        {"max_notional_per_order"},
        o={"order_type": "MARKET", "price": None},
        r={"max_notional_per_order": D("14999.99")},
    ),
    # -- max_orders_per_second (declared 3): orders placed in (now - 1s, now]
    case(
        "rate/2 in the last second + this one",
        None,
        a={"order_times": placed(0.5, 0.2)},
        r={"max_orders_per_second": D(3)},
    ),
    case(
        "rate/3 in the last second + this one",
        {"max_orders_per_second"},
        a={"order_times": placed(0.9, 0.5, 0)},
        r={"max_orders_per_second": D(3)},
    ),
    case(
        "rate/one placed exactly 1s ago is outside the window",
        None,
        a={"order_times": placed(1, 0.5, 0.2)},
        r={"max_orders_per_second": D(3)},
    ),
    # -- max_order_to_trade_ratio (declared 10), judged from the 20th order of the day
    case(
        "otr/19th order, no trade yet: not judged",
        None,
        a={"order_times": placed(*range(60, 60 * 19, 60)), "trades": 0},
        r={"max_order_to_trade_ratio": D(10)},
    ),
    case(
        "otr/20th order for 2 trades is 10",
        None,
        a={"order_times": placed(*range(60, 60 * 20, 60)), "trades": 2},
        r={"max_order_to_trade_ratio": D(10)},
    ),
    case(
        "otr/20th order for 1 trade is 20",
        {"max_order_to_trade_ratio"},
        a={"order_times": placed(*range(60, 60 * 20, 60)), "trades": 1},
        r={"max_order_to_trade_ratio": D(10)},
    ),
    case(
        "otr/21st order for 2 trades is 10.5",
        {"max_order_to_trade_ratio"},
        a={"order_times": placed(*range(60, 60 * 21, 60)), "trades": 2},
        r={"max_order_to_trade_ratio": D(10)},
    ),
    # -- max_signal_age (5s); a signal from the future is refused, never aged with abs()
    case("age/exactly 5s", None, o={"signal_time": (NOW - 5 * S).isoformat()}),
    case("age/5s + 1µs", {"signal_age"}, o={"signal_time": (NOW - 5 * S - ONE_US).isoformat()}),
    case("age/5s in UTC notation", None, o={"signal_time": "2026-11-23T04:29:55Z"}),
    case("age/no signal_time on an entry", {"signal_age"}, o={"signal_time": None}),
    case("future/exactly now", None, o={"signal_time": NOW.isoformat()}),
    case("future/1µs ahead", {"signal_time"}, o={"signal_time": (NOW + ONE_US).isoformat()}),
    case("future/1h ahead is not a 1h-old signal", {"signal_time"}, o={"signal_time": (NOW + 3600 * S).isoformat()}),
    case(
        "future/refused with no max_signal_age declared",
        {"signal_time"},
        o={"signal_time": (NOW + ONE_US).isoformat()},
        r={"max_signal_age": None},
    ),
    # -- tick_size: TCS in ₹0.05 ticks
    case("tick/on the tick", None, o={**TCS, "price": "3000.05", "stop_loss": "2980.00", "target": "3045.00"}),
    case("tick/price off", {"tick_size"}, o={**TCS, "price": "3000.01"}),
    case("tick/stop off", {"tick_size"}, o={**TCS, "stop_loss": "2980.01"}),
    case("tick/target off", {"tick_size"}, o={**TCS, "target": "3050.01"}),
    case("tick/trigger off", {"tick_size"}, o={**TCS, "order_type": "SL", "trigger_price": "2999.99"}),
    # -- lot_size: NIFTY futures in lots of 75
    case("lot/1 lot", None, o=NIFTY),
    case("lot/2 lots", None, o={**NIFTY, "quantity": 150}),
    case("lot/76", {"lot_size"}, o={**NIFTY, "quantity": 76}),
    case("lot/74", {"lot_size"}, o={**NIFTY, "quantity": 74}),
    # -- where it may trade
    case("exchanges/NSE allowed", None, r={"allowed_exchanges": ("NSE",)}),
    case("exchanges/NFO not allowed", {"allowed_exchanges"}, o=NIFTY, r={"allowed_exchanges": ("NSE",)}),
    case("products/MIS allowed", None, r={"allowed_products": ("MIS",)}),
    case("products/CNC not allowed", {"allowed_products"}, o={"product": "CNC"}, r={"allowed_products": ("MIS",)}),
    case("symbols/INFY allowed", None, r={"allowed_symbols": ("INFY",)}),
    case("symbols/TCS not allowed", {"allowed_symbols"}, o=TCS, r={"allowed_symbols": ("INFY",)}),
    case("unknown/misspelt symbol", {"unknown_symbol", "price_band"}, o={"symbol": "INFYY"}),
    case("unknown/wrong exchange", {"unknown_symbol", "price_band"}, o={"exchange": "BSE"}),
    case(
        "unknown/a listed symbol, but priced",
        {"unknown_symbol"},
        o={"symbol": "INFYY"},
        a={"last_prices": {"NSE:INFYY": D("1500.00")}},
    ),
    case("unknown/no instrument list at all", {"unknown_symbol"}, a={"instruments": None}),
    # -- stop and target on the right side of the entry
    case("side/BUY stop and target a paisa either side", None, o={"stop_loss": "1499.99", "target": "1500.02"}),
    case("side/BUY stop at the entry", {"stop_side"}, o={"stop_loss": "1500.00"}),
    case("side/BUY stop above", {"stop_side"}, o={"stop_loss": "1500.01"}),
    case("side/BUY target at the entry", {"target_side"}, o={"target": "1500.00"}),
    case("side/BUY target below", {"target_side"}, o={"target": "1499.99"}),
    case(
        "side/SELL stop and target a paisa either side", None, o={**SELL, "stop_loss": "1500.01", "target": "1499.98"}
    ),
    case("side/SELL stop at the entry", {"stop_side"}, o={**SELL, "stop_loss": "1500.00"}),
    case("side/SELL stop below", {"stop_side"}, o={**SELL, "stop_loss": "1499.99"}),
    case("side/SELL target at the entry", {"target_side"}, o={**SELL, "target": "1500.00"}),
    case("side/SELL target above", {"target_side"}, o={**SELL, "target": "1500.01"}),
    case(
        "side/MARKET BUY: the last price is the entry",
        {"stop_side"},
        o={"order_type": "MARKET", "price": None, "stop_loss": "1500.00"},
    ),
    # -- require_stop_loss
    case("stop/no stop on an entry", {"stop_loss"}, o={"stop_loss": None}),
]


@pytest.mark.parametrize("order_changes, account_changes, limit_changes, capital, expected", TABLE)
def test_each_rule_at_its_limit_passes_and_one_over_fails(
    order_changes, account_changes, limit_changes, capital, expected
):
    verdict = judge(
        order(**order_changes), acct=account(**account_changes), risk=limits(**limit_changes), capital=capital
    )
    shown = [f.render() for f in verdict.failures]
    if expected is None:
        assert verdict.accepted and verdict.failures == (), shown
    else:
        assert not verdict.accepted
        assert rules(verdict) == expected, shown
        assert all(f.what and f.why and f.how for f in verdict.failures)


def test_the_rupee_limits_are_the_seeds_numbers():
    model = RiskModel.of(paper_limits(), CAPITAL)
    assert (model.max_risk_per_trade, model.max_daily_loss, model.max_position_loss) == (
        D("20000.00"),
        D("60000.00"),
        D("50000.00"),
    )
    assert model.max_drawdown(CAPITAL) == D("150000.00") and model.max_drawdown(D("1200000")) == D("180000.00")
    r = paper_limits()
    assert (r.max_open_positions, r.min_risk_reward, r.price_band, r.max_signal_age, r.warn_at) == (
        5,
        D("2.0"),
        D("0.10"),
        timedelta(seconds=5),
        D("0.8"),
    )


def test_a_rejection_lists_every_failed_rule_not_just_the_first():
    verdict = judge(
        order(
            symbol="TCS", price="3400.01", stop_loss="3500.00", target="3300.00", signal_time=(NOW + ONE_US).isoformat()
        )
    )
    assert rules(verdict) == {"tick_size", "price_band", "signal_time", "stop_side", "target_side"}


# -- exits: an order that only reduces an open position ------------------------------------------------

LONG_100 = holdings("NSE:INFY", quantity=100)
SELL_OUT = {
    "side": "SELL",
    "order_type": "MARKET",
    "price": None,
    "stop_loss": None,
    "target": None,
    "signal_time": None,
}


@pytest.mark.parametrize(
    "day_pnl",
    [D("-60000.00"), D("-60000.01"), D("-90000")],
    ids=["day loss at the limit", "a paisa past it", "far past it"],
)
@pytest.mark.parametrize("quantity", [100, 40, 1], ids=["all", "part", "one"])
def test_an_exit_needs_no_stop_target_or_signal_time_even_when_the_day_loss_is_reached(day_pnl, quantity):
    verdict = judge(order(**SELL_OUT, quantity=quantity), acct=account(positions=LONG_100, day_pnl=day_pnl))
    assert verdict.accepted and verdict.exit, [f.render() for f in verdict.failures]


def test_covering_a_short_is_an_exit():
    verdict = judge(
        order(**{**SELL_OUT, "side": "BUY"}, quantity=50),
        acct=account(positions=holdings("NSE:INFY", quantity=-50), day_pnl=D("-60000")),
    )
    assert verdict.accepted and verdict.exit


def test_an_exit_is_not_held_to_the_fat_finger_quantity_or_notional():
    verdict = judge(
        order(**SELL_OUT, quantity=100),
        acct=account(positions=LONG_100),
        risk=limits(max_quantity_per_order=10, max_notional_per_order=D("1000")),
    )
    assert verdict.accepted and verdict.exit


def test_an_exit_is_still_held_to_the_price_band_and_the_tick():
    held = account(positions=LONG_100, day_pnl=D("-60000"))
    band = judge(order(**{**SELL_OUT, "order_type": "LIMIT", "price": "1349.99"}, quantity=100), acct=held)
    assert band.exit and rules(band) == {"price_band"}
    tcs = judge(
        order(**{**SELL_OUT, "order_type": "LIMIT", "price": "3000.01"}, symbol="TCS", quantity=10),
        acct=account(positions=holdings("NSE:TCS", quantity=10)),
    )
    assert tcs.exit and rules(tcs) == {"tick_size"}


def test_an_order_that_flips_the_position_is_an_entry():
    held = account(positions=LONG_100, day_pnl=D("-60000.00"))
    bare = judge(order(**SELL_OUT, quantity=101), acct=held)
    assert not bare.exit and rules(bare) == {"stop_loss", "signal_age"}
    # With a stop, a target and a fresh signal the flip is a full entry: its risk meets the exhausted day.
    dressed = judge(order(side="SELL", quantity=101, stop_loss="1520.00", target="1440.00"), acct=held)
    assert not dressed.exit and rules(dressed) == {"max_daily_loss"}


def test_the_same_side_or_another_product_is_an_entry_not_an_exit():
    day_spent = D("-60000.00")
    same_side = judge(
        order(**{**SELL_OUT, "side": "BUY"}, quantity=10), acct=account(positions=LONG_100, day_pnl=day_spent)
    )
    assert not same_side.exit and "stop_loss" in rules(same_side)
    other_product = judge(
        order(**SELL_OUT, quantity=10, product="CNC"), acct=account(positions=LONG_100, day_pnl=day_spent)
    )
    assert not other_product.exit and "stop_loss" in rules(other_product)


# -- the day's exposure (mci watch): exactly at a limit is no breach, a paisa over is ------------------


def usage(acct, **limit_changes) -> dict:
    return {u.rule: u for u in assess(RiskModel.of(limits(**limit_changes), CAPITAL), acct)}


def loser(pnl: str, instrument: str = "NSE:INFY") -> tuple[Holding, ...]:
    return (Holding(instrument, "MIS", 10, D(pnl)),)


@pytest.mark.parametrize(
    "rule, acct, level",
    [
        pytest.param("daily_loss", account(day_pnl=D("-60000.00")), "warn", id="daily loss at ₹60,000.00"),
        pytest.param("daily_loss", account(day_pnl=D("-60000.01")), "breach", id="daily loss ₹60,000.01"),
        pytest.param("daily_loss", account(day_pnl=D("-48000.00")), "warn", id="daily loss at 80%"),
        pytest.param("daily_loss", account(day_pnl=D("-47999.99")), "ok", id="daily loss a paisa under 80%"),
        pytest.param("daily_loss", account(day_pnl=D("25000")), "ok", id="a day in profit"),
        pytest.param("position_loss", account(positions=loser("-50000.00")), "warn", id="position loss at ₹50,000.00"),
        pytest.param("position_loss", account(positions=loser("-50000.01")), "breach", id="position loss ₹50,000.01"),
        pytest.param("position_loss", account(positions=loser("-40000.00")), "warn", id="position loss at 80%"),
        pytest.param("position_loss", account(positions=loser("-39999.99")), "ok", id="position loss under 80%"),
        pytest.param(
            "position_loss",
            account(positions=(Holding("NSE:INFY", "MIS", 0, D("-70000")),)),
            "ok",
            id="a closed position's loss is the day's, not a position's",
        ),
        pytest.param(
            "drawdown",
            account(peak_equity=D("1200000"), day_pnl=D("20000.00")),
            "warn",
            id="drawdown at 15% of the peak",
        ),
        pytest.param(
            "drawdown",
            account(peak_equity=D("1200000"), day_pnl=D("19999.99")),
            "breach",
            id="drawdown a paisa past 15% of the peak",
        ),
        pytest.param(
            "drawdown",
            account(peak_equity=D("1200000"), day_pnl=D("56000.00")),
            "warn",
            id="drawdown at 80% of ₹1,80,000.00",
        ),
        pytest.param(
            "drawdown", account(peak_equity=D("1200000"), day_pnl=D("56000.01")), "ok", id="drawdown under 80%"
        ),
        pytest.param(
            "drawdown", account(day_pnl=D("-150000.01")), "breach", id="no recorded peak: the capital is the peak"
        ),
        pytest.param("open_positions", account(positions=holdings(*OTHERS)), "ok", id="5 open positions is the plan"),
        pytest.param("open_positions", account(positions=holdings(*OTHERS, "NSE:INFY")), "breach", id="6 > 5"),
    ],
)
def test_exposure_levels_at_the_boundaries(rule, acct, level):
    assert usage(acct)[rule].level == level


def test_exposure_drawdown_at_the_limit_is_no_breach_without_a_peak():
    u = usage(account(day_pnl=D("-150000.00")))["drawdown"]
    assert (u.value, u.limit) == (D("150000.00"), D("150000.00"))
    assert usage(account(day_pnl=D("-149999.99")))["drawdown"].level == "warn"


def test_exposure_rate_and_order_to_trade_ratio():
    burst = account(order_times=placed(0.9, 0.5, 0.1))
    assert usage(burst, max_orders_per_second=D(3))["order_rate"].level == "warn"
    assert (
        usage(account(order_times=placed(0.9, 0.5, 0.1, 0)), max_orders_per_second=D(3))["order_rate"].level == "breach"
    )
    twenty = placed(*range(60, 60 * 21, 60))
    assert (
        usage(account(order_times=twenty, trades=2), max_order_to_trade_ratio=D(10))["order_to_trade"].level == "warn"
    )
    assert (
        usage(account(order_times=twenty, trades=1), max_order_to_trade_ratio=D(10))["order_to_trade"].level == "breach"
    )
    nineteen = placed(*range(60, 60 * 20, 60))
    assert (
        usage(account(order_times=nineteen, trades=0), max_order_to_trade_ratio=D(10))["order_to_trade"].level == "ok"
    )
    assert "order_rate" not in usage(burst)  # not declared in the paper profile: not shown


def test_an_old_burst_does_not_trip_every_later_read():
    """One burst must not breach for the rest of the day (a watcher restarted after a reset would trip at once)."""
    old = placed(120.9, 120.5, 120.1, 120)
    model = RiskModel.of(limits(max_orders_per_second=D(3)), CAPITAL)
    rate = {u.rule: u for u in assess(model, account(order_times=old, at=NOW))}["order_rate"]
    assert rate.level == "ok" and rate.value == 0
    assert {u.rule: u for u in assess(model, account(order_times=old))}["order_rate"].level == "breach"  # no read time
    since = NOW - timedelta(seconds=121)  # the previous read came before the burst
    assert {u.rule: u for u in assess(model, account(order_times=old, at=NOW), rate_since=since)}[
        "order_rate"
    ].level == "breach"


# -- a field sent as null is a missing field, never a skipped rule --------------------------------------


@pytest.mark.parametrize(
    "nulled, order_type, what",
    [
        ("price", "LIMIT", "a LIMIT order has no price"),
        ("price", "SL", "a SL order has no price"),
        ("trigger_price", "SL", "an SL order has no trigger_price"),
        ("trigger_price", "SL-M", "an SL-M order has no trigger_price"),
        ("side", "LIMIT", "the order has no side"),
        ("symbol", "LIMIT", "the order has no symbol"),
        ("exchange", "LIMIT", "the order has no exchange"),
    ],
    ids=lambda v: str(v),
)
def test_a_null_field_is_rejected_as_missing(nulled, order_type, what):
    # 100,000 shares with a ₹20.00 stop is ₹20,00,000 of risk: a null entry price must not hide it.
    raw = {**order(quantity=100_000, order_type=order_type, trigger_price="1500.00"), nulled: None}
    if order_type == "SL-M":
        del raw["price"]
    verdict = judge(raw)
    assert not verdict.accepted
    assert what in [f.what for f in verdict.failures]


def test_a_null_order_type_or_product_takes_the_default():
    verdict = judge({**order(), "order_type": None, "product": None, "tag": None})
    assert verdict.accepted and verdict.intent.order_type == "LIMIT" and verdict.intent.product == "MIS"
    market = judge({**order(), "order_type": None, "price": None, "market_protection": -1})
    assert market.accepted and market.intent.order_type == "MARKET"


@pytest.mark.parametrize(
    "quantity",
    [10**13, "1e30", "9e999999", 66_666_666_666_666_666_666_667],
    ids=["10^13", "1e30", "9e999999", "a 29-digit int"],
)
def test_an_absurd_quantity_is_a_clear_rejection(quantity):
    verdict = judge(order(quantity=quantity))
    assert not verdict.accepted and [f.rule for f in verdict.failures] == ["signal"]
    assert "beyond any order size" in verdict.failures[0].what


@pytest.mark.parametrize(
    "field, value",
    [("price", "1e30"), ("price", "9e999999"), ("target", "1e30"), ("stop_loss", "1e-999999"), ("price", "1e-999999")],
)
def test_an_absurd_price_is_a_clear_rejection(field, value):
    verdict = judge(order(**{field: value}))
    assert not verdict.accepted and verdict.failures
    assert all(f.what and f.why and f.how for f in verdict.failures)
    verdict.as_dict()


# -- signal validation: numbers no market produces ------------------------------------------------------


@pytest.mark.parametrize("field", ["quantity", "price", "trigger_price", "stop_loss", "target"])
@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, -math.inf, 0, -1, 0.0, -0.0, "NaN", "Infinity", "-inf", "0", "-0.05", "", "ten", True, [], {}],
    ids=lambda v: repr(v),
)
def test_nan_infinite_zero_negative_or_non_numbers_are_a_signal_rejection(field, value):
    raw = order(**{"order_type": "SL", "trigger_price": "1500.00", field: value})
    verdict = judge(raw)
    assert not verdict.accepted and [f.rule for f in verdict.failures] == ["signal"]
    assert field in verdict.failures[0].what


@pytest.mark.parametrize("quantity", [10.5, "10.5", 1e-9])
def test_a_fractional_quantity_is_a_signal_rejection(quantity):
    verdict = judge(order(quantity=quantity))
    assert [f.rule for f in verdict.failures] == ["signal"] and "whole number" in verdict.failures[0].what


@pytest.mark.parametrize("quantity", [10, 10.0, "10", " 10 ", "1e1"])
def test_a_whole_quantity_in_any_json_spelling_is_accepted(quantity):
    assert judge(order(quantity=quantity)).intent.quantity == 10


@pytest.mark.parametrize(
    "signal_time",
    ["2026-11-23T09:59:59", "2026-11-23", "yesterday", 1763872199, ""],
    ids=["naive", "a date", "text", "epoch number", "empty"],
)
def test_a_signal_time_without_an_offset_or_not_a_time_is_rejected(signal_time):
    verdict = judge(order(signal_time=signal_time))
    assert [f.rule for f in verdict.failures] == ["signal"] and "signal_time" in verdict.failures[0].what


@pytest.mark.parametrize("day_pnl, accepted", [(D("-60000.00"), True), (D("-60000.01"), False)])
def test_an_unstopped_entry_is_refused_once_the_day_is_past_its_loss_limit(day_pnl, accepted):
    """require_stop_loss: false lets an entry without a stop through, but never past the day's loss limit."""
    verdict = judge(
        order(stop_loss=None, target=None),
        acct=account(day_pnl=day_pnl),
        risk=limits(require_stop_loss=False, min_risk_reward=D("2.0")),
    )
    assert ("max_daily_loss" not in rules(verdict)) is accepted, verdict.failures


def test_digit_separators_in_a_number_are_malformed():
    assert "signal" in rules(judge(order(quantity="1_0")))
    assert "signal" in rules(judge(order(price="1_500.00")))
