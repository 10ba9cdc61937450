"""Hypothesis: the validator never raises on arbitrary JSON (a clear rejection instead), and never accepts an
order that breaks a declared limit — judged by an oracle of plain Decimal arithmetic written here, not by the
validator's own helpers."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_FLOOR, Decimal as D

from hypothesis import HealthCheck, given, settings, strategies as st

from mci.risk import Account, Holding, InstrumentSpec, RiskModel, validate
from testing.risk import INSTRUMENTS, LAST_PRICES, NOW, ORDER, account, limits
from testing.hypothesis_profiles import examples

FAST = settings(deadline=None, max_examples=examples(300), suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------- arbitrary JSON never raises

FIELDS = (
    "exchange",
    "symbol",
    "side",
    "quantity",
    "order_type",
    "product",
    "price",
    "trigger_price",
    "stop_loss",
    "target",
    "signal_time",
    "tag",
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)

# Numbers as a strategy would send them, and as a broken one would: exact strings, floats, extremes.
numeric_text = st.sampled_from(
    [
        "1500",
        "1500.00",
        " 1500.05 ",
        "0",
        "-0",
        "-1500",
        "0.00001",
        "1e30",
        "1e-30",
        "9e999999",
        "1e-999999",
        "NaN",
        "nan",
        "-Infinity",
        "inf",
        "1_500",
        "₹1500",
        "1,500",
        "0x10",
        "",
        " ",
        "1500.000000000000000000000000001",
    ]
)
numbers = (
    numeric_text
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.decimals(allow_nan=False, allow_infinity=False).map(str)
    | st.decimals(min_value=D("0.01"), max_value=D("1e12"), places=2).map(str)
)
times = (
    st.datetimes(timezones=st.timezones()).map(lambda t: t.isoformat())
    | st.datetimes().map(lambda t: t.isoformat())  # naive
    | st.sampled_from(
        [
            NOW.isoformat(),
            "2026-11-23T10:00:00Z",
            "2026-11-23",
            "yesterday",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59.999999-12:00",
        ]
    )
)
per_field = {
    "exchange": st.sampled_from(["NSE", "nse", "BSE", "NFO", "", "NSE:INFY"]),
    "symbol": st.sampled_from(["INFY", "TCS", "NIFTY26NOVFUT", "infy ", "", "NOPE"]),
    "side": st.sampled_from(["BUY", "SELL", "buy", "HOLD", ""]),
    "order_type": st.sampled_from(["LIMIT", "MARKET", "SL", "SL-M", "STOP", ""]),
    "product": st.sampled_from(["MIS", "CNC", "NRML", "XYZ"]),
    "quantity": numbers,
    "price": numbers,
    "trigger_price": numbers,
    "stop_loss": numbers,
    "target": numbers,
    "signal_time": times,
    "tag": st.text(max_size=10),
}


@st.composite
def order_shaped(draw) -> dict:
    """An object with the known field names, each value plausible, hostile or arbitrary JSON."""
    if draw(st.booleans()):  # a well-formed order with a few fields spoilt or dropped: the deep rules run
        out = dict(ORDER)
        for name in draw(st.lists(st.sampled_from(FIELDS), unique=True, max_size=3)):
            if draw(st.integers(0, 4)):
                out[name] = draw(per_field[name] | json_values)
            else:
                out.pop(name, None)
    else:
        out = {
            name: draw(per_field[name] | json_values) for name in draw(st.lists(st.sampled_from(FIELDS), unique=True))
        }
    if draw(st.booleans()):
        out.update(draw(st.dictionaries(st.text(max_size=10), json_values, max_size=2)))
    return out


HOSTILE_ACCOUNTS = [
    account(),
    account(instruments=None, last_prices={}),
    account(last_prices={**LAST_PRICES, "NSE:INFY": D("1e-20")}, day_pnl=D("-1e20"), peak_equity=D("1e25")),
    account(positions=(Holding("NSE:INFY", "MIS", 10**30, D("-1e30")),), order_times=(NOW,) * 30, trades=0),
]


def assert_clear_verdict(raw, acct) -> None:
    model = RiskModel.of(
        limits(
            max_quantity_per_order=1000,
            max_notional_per_order=D("500000"),
            max_orders_per_second=D(8),
            max_order_to_trade_ratio=D(10),
        ),
        acct.capital,
    )
    verdict = validate(raw, model, acct, NOW)  # must not raise
    if verdict.accepted:
        assert verdict.failures == ()
    else:
        assert verdict.failures, "a rejection gives its reasons"
        for f in verdict.failures:
            assert f.rule and f.what and f.why and f.how
            assert f.render()
    json.dumps(verdict.as_dict(), ensure_ascii=False)  # what `mci risk check -o json` prints


@FAST
@given(raw=json_values, which=st.integers(0, len(HOSTILE_ACCOUNTS) - 1))
def test_arbitrary_json_is_a_verdict_never_an_exception(raw, which):
    assert_clear_verdict(raw, HOSTILE_ACCOUNTS[which])


@FAST
@given(raw=order_shaped(), which=st.integers(0, len(HOSTILE_ACCOUNTS) - 1))
def test_order_shaped_objects_with_hostile_values_are_a_verdict_never_an_exception(raw, which):
    assert_clear_verdict(raw, HOSTILE_ACCOUNTS[which])


@FAST
@given(
    field=st.sampled_from(["quantity", "price", "trigger_price", "stop_loss", "target"]),
    value=numbers,
    order_type=st.sampled_from(["LIMIT", "SL", "SL-M", "MARKET"]),
    which=st.integers(0, len(HOSTILE_ACCOUNTS) - 1),
)
def test_one_hostile_number_in_a_well_formed_order_is_a_verdict_never_an_exception(field, value, order_type, which):
    raw = {**ORDER, "order_type": order_type, "trigger_price": "1500.00", field: value}
    if order_type in ("MARKET", "SL-M") and field != "price":
        del raw["price"]
    assert_clear_verdict(raw, HOSTILE_ACCOUNTS[which])


# ---------------------------------------------------------------- accepted orders break no declared limit

TICKS = [D("0.05"), D("0.01"), D("0.10"), D("1")]


@dataclass(frozen=True)
class World:
    limits: object
    capital: D
    account: Account
    raw: dict


def pct(lo: int, hi: int):
    """A percentage in basis points, as a fraction: pct(1, 500) is 0.01% to 5%."""
    return st.integers(lo, hi).map(lambda bp: D(bp) / 10000)


def mostly(usual, edge):
    """Draw from `usual` three times in four, else from `edge` (the whole schema range)."""
    return st.integers(0, 3).flatmap(lambda n: usual if n else edge)


@st.composite
def worlds(draw) -> World:
    risk = limits(
        max_risk_per_trade=draw(mostly(pct(100, 500), pct(1, 500))),
        max_daily_loss=draw(mostly(pct(300, 2000), pct(1, 2000))),
        max_drawdown=draw(mostly(pct(500, 3000), pct(1, 3000))),
        max_position_loss=draw(pct(1, 1000)),
        max_open_positions=draw(st.integers(1, 8)),
        min_risk_reward=draw(st.integers(10, 40).map(lambda x: D(x) / 10)),
        price_band=draw(mostly(pct(200, 2000), pct(1, 2000))),
        require_stop_loss=draw(st.booleans()),
        max_quantity_per_order=draw(st.none() | st.integers(1, 5000)),
        max_notional_per_order=draw(st.none() | st.integers(1000, 5_000_000).map(D)),
        max_signal_age=draw(st.none() | st.integers(1, 10_000_000).map(lambda us: timedelta(microseconds=us))),
        allowed_products=draw(st.sampled_from([None, None, ("MIS",), ("MIS", "CNC")])),
    )
    capital = draw(st.integers(10_000_00, 5_00_00_000_00).map(lambda p: D(p) / 100))
    tick = draw(st.sampled_from(TICKS))
    lot = draw(st.sampled_from([1, 1, 25, 75]))
    ltp = tick * draw(st.integers(1, 60_000))
    key = "NSE:STOCK"
    held = draw(st.sampled_from([0, 0, 0]) | st.integers(-300, 300))
    positions = tuple(Holding(f"NSE:OTHER{n}", "MIS", 1, D(0)) for n in range(draw(st.integers(0, 4))))
    if held:
        positions += (Holding(key, draw(st.sampled_from(["MIS", "CNC"])), held, D(0)),)
    pnl_range = draw(mostly(st.just(5), st.just(30)))  # percent of capital either way
    day_pnl = D(draw(st.integers(-int(capital * pnl_range), int(capital * pnl_range)))) / 100
    peak = draw(st.none() | st.integers(0, int(capital * 20)).map(lambda p: capital + D(p) / 100))
    acct = Account(
        capital=capital,
        day_pnl=day_pnl,
        positions=positions,
        last_prices={key: ltp},
        instruments={key: InstrumentSpec(tick, lot), **INSTRUMENTS},
        peak_equity=peak,
    )

    side = draw(st.sampled_from(["BUY", "SELL"]))
    order_type = draw(st.sampled_from(["LIMIT", "MARKET", "SL", "SL-M"]))
    quantity = lot * draw(st.integers(1, 20)) + draw(st.sampled_from([0, 0, 0, 0, 0, 1]))
    spread = draw(st.sampled_from([0, 3, 30, int(ltp / tick) // 5]))
    near = max(ltp + tick * draw(st.integers(-spread, spread)), tick)
    raw: dict = {
        "exchange": "NSE",
        "symbol": "STOCK",
        "side": side,
        "quantity": quantity,
        "order_type": order_type,
        "product": draw(st.sampled_from(["MIS", "MIS", "CNC"])),
    }
    if order_type in ("LIMIT", "SL"):
        raw["price"] = str(near)
    if order_type in ("MARKET", "SL-M"):
        raw["market_protection"] = -1  # Kite's 2026 rule (its own tests: tests/risk/test_market_protection.py)
    if order_type in ("SL", "SL-M"):
        raw["trigger_price"] = str(near if order_type == "SL-M" else max(near + tick * draw(st.integers(-5, 5)), tick))
    entry = D(raw.get("price") or raw.get("trigger_price") or ltp)
    sign = 1 if side == "BUY" else -1
    stop_ticks = draw(mostly(st.integers(1, 100), st.integers(-5, 400)))
    if draw(st.integers(0, 7)):
        raw["stop_loss"] = str(max(entry - sign * tick * stop_ticks, tick))
    if draw(st.integers(0, 7)):
        multiple, jitter = draw(st.integers(1, 6)), draw(st.integers(-2, 2))
        reach = draw(mostly(st.just(multiple * max(stop_ticks, 1) + jitter), st.integers(-5, 1600)))
        raw["target"] = str(max(entry + sign * tick * reach, tick))
    if draw(st.integers(0, 8)):
        age_us = draw(mostly(st.integers(0, 6_000_000), st.integers(-2_000_000, 12_000_000)))
        raw["signal_time"] = (NOW - timedelta(microseconds=age_us)).isoformat()
    return World(risk, capital, acct, raw)


def floor_paisa(amount: D) -> D:
    return (amount * 100).to_integral_value(rounding=ROUND_FLOOR) / 100


def broken_limits(w: World) -> list[str]:
    """Every declared limit the order in `w` breaks, by plain arithmetic on the inputs."""
    r, a, o = w.limits, w.account, w.raw
    broken = []
    key = f"{o['exchange']}:{o['symbol']}"
    spec, ltp = a.instruments.get(key), a.last_prices.get(key)
    if spec is None or ltp is None:
        return ["unknown instrument or price"]
    qty, side = o["quantity"], o["side"]
    sign = 1 if side == "BUY" else -1
    prices = {k: D(o[k]) for k in ("price", "trigger_price", "stop_loss", "target") if k in o}
    if any(v / spec.tick_size != int(v / spec.tick_size) for v in prices.values()):
        broken.append("tick")
    if qty % spec.lot_size:
        broken.append("lot")
    if r.allowed_products is not None and o["product"] not in r.allowed_products:
        broken.append("product")
    for k in ("price", "trigger_price"):
        if k in prices and not ltp * (1 - r.price_band) <= prices[k] <= ltp * (1 + r.price_band):
            broken.append("band")
    if "signal_time" in o:
        from datetime import datetime

        age = NOW - datetime.fromisoformat(o["signal_time"])
        if age < timedelta(0):
            broken.append("future")
        elif r.max_signal_age is not None and age > r.max_signal_age:
            broken.append("age")

    held = sum(p.quantity for p in a.positions if p.instrument == key and p.product == o["product"])
    if held and (held > 0) != (side == "BUY") and qty <= abs(held):
        return broken  # an exit: the entry limits do not apply

    entry = {
        "LIMIT": prices.get("price"),
        "SL": prices.get("price"),
        "SL-M": prices.get("trigger_price"),
        "MARKET": ltp,
    }[o["order_type"]]
    if r.max_quantity_per_order is not None and qty > r.max_quantity_per_order:
        broken.append("quantity")
    if r.max_notional_per_order is not None and entry * qty > r.max_notional_per_order:
        broken.append("notional")
    if r.max_signal_age is not None and "signal_time" not in o:
        broken.append("no signal time")
    stop, target = prices.get("stop_loss"), prices.get("target")
    if target is not None and sign * (target - entry) <= 0:
        broken.append("target side")
    risk = D(0)  # an unstopped trade's risk is unknown: a day already past its loss or drawdown limit still refuses it
    if stop is None:
        if r.require_stop_loss:
            broken.append("no stop")
    elif sign * (entry - stop) <= 0:
        broken.append("stop side")
    else:
        risk = (entry - stop) * sign * qty
        if risk > floor_paisa(r.max_risk_per_trade * w.capital):
            broken.append("risk per trade")
        if target is None or (target - entry) * sign * qty < r.min_risk_reward * risk:
            broken.append("risk:reward")
    day_loss = -a.day_pnl if a.day_pnl < 0 else D(0)
    if day_loss + risk > floor_paisa(r.max_daily_loss * w.capital):
        broken.append("daily loss")
    peak = max(a.peak_equity or a.capital, a.capital, a.capital + a.day_pnl)
    if peak - (a.capital + a.day_pnl) + risk > floor_paisa(r.max_drawdown * peak):
        broken.append("drawdown")
    if held == 0 and sum(1 for p in a.positions if p.quantity) + 1 > r.max_open_positions:
        broken.append("open positions")
    return broken


@settings(deadline=None, max_examples=examples(400), suppress_health_check=[HealthCheck.too_slow])
@given(w=worlds())
def test_an_accepted_order_breaks_no_declared_limit(w):
    verdict = validate(w.raw, RiskModel.of(w.limits, w.capital), w.account, NOW)
    broken = broken_limits(w)
    if verdict.accepted:
        assert broken == [], (broken, w.raw)
    else:
        # The converse: a rejection names a rule the oracle also sees broken (no limit invented).
        assert broken, ([f.render() for f in verdict.failures], w.raw)


def test_the_generator_reaches_both_verdicts():
    """Guards the property above against a generator that only ever produces rejections (or acceptances)."""
    seen = Counter()

    @settings(
        deadline=None, max_examples=200, database=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(w=worlds())
    def sample(w):
        seen[validate(w.raw, RiskModel.of(w.limits, w.capital), w.account, NOW).accepted] += 1

    sample()
    assert seen[True] >= 10 and seen[False] >= 10, seen
