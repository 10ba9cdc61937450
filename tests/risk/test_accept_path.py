"""The stream's accept path (mci.risk.accept, issue 19) against validate(), the old path, on generated orders:
whenever it answers, validate() accepts the same order as an entry and the verdict line is byte for byte the one
the old path writes; a duplicate key is never let through by its colon count; and `check()` writes the same
bytes and exits the same with the accept path as without it."""

from __future__ import annotations

import io
import json
import sys
import tempfile
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal as D
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mci.clock import Clock
from mci.commands import risk as command
from mci.commands.risk import _DuplicateKey, _loads
from mci.risk import Account, Holding, InstrumentSpec, RiskModel, validate
from mci.risk.accept import AcceptPath
from testing.risk import CAPITAL, INSTRUMENTS, LAST_PRICES, NOW, account, limits
from tests.risk.test_properties import json_values, numbers, worlds

MANY = settings(deadline=None, max_examples=500, suppress_health_check=[HealthCheck.too_slow])

# Instruments whose key has a third ':' (NSE:A:B is both exchange NSE, symbol A:B and exchange NSE:A, symbol B):
# accepted orders whose text fields hold colons, for the duplicate-key count.
COLON_KEYS = {"NSE:A:B": InstrumentSpec(D("0.05"), 1), "NSE:ÉT:É": InstrumentSpec(D("0.01"), 1)}
BASE = account(
    instruments={**INSTRUMENTS, **COLON_KEYS},
    last_prices={**LAST_PRICES, "NSE:A:B": D("1500.00"), "NSE:ÉT:É": D("1500.00")},
)
ACCOUNTS = [
    BASE,
    replace(BASE, positions=(Holding("NSE:INFY", "MIS", 10, D("-50")),)),  # a SELL of up to 10 is an exit
    replace(BASE, positions=(Holding("NSE:INFY", "MIS", -4, D("0")), Holding("NSE:TCS", "CNC", 3, D("0")))),
    replace(BASE, positions=tuple(Holding(f"NSE:S{k}", "MIS", 1, D("0")) for k in range(5))),  # none more may open
    replace(BASE, day_pnl=D("-59700")),  # ₹300 of daily-loss room left
    replace(BASE, peak_equity=D("1140000"), day_pnl=D("-1000")),  # drawdown near its limit
    replace(BASE, order_times=(NOW - timedelta(milliseconds=300),) * 8, trades=1),  # a 9th order this second
    replace(BASE, order_times=tuple(NOW - timedelta(minutes=k) for k in range(40, 0, -1)), trades=3),  # OTR
    replace(BASE, instruments=None),
    replace(BASE, last_prices={**LAST_PRICES, "NSE:INFY": D("1e-20")}, day_pnl=D("-1e20"), peak_equity=D("1e25")),
    replace(BASE, peak_equity=D("1e30")),  # the drawdown limit overflows: entries are out of range
]
LIMITS = [
    limits(
        max_quantity_per_order=1000,
        max_notional_per_order=D("500000"),
        max_orders_per_second=D(8),
        max_order_to_trade_ratio=D(10),
    ),
    limits(),
    limits(max_signal_age=None, require_stop_loss=False, allowed_products=("MIS",), allowed_exchanges=("NSE",)),
    limits(allowed_symbols=("INFY", "A:B"), max_notional_per_order=D("15000"), max_quantity_per_order=10),
    limits(max_notional_per_order=D("1e25"), max_risk_per_trade=D("0.9"), max_daily_loss=D("0.9")),
]

# Values near the paper account's INFY (₹1,500.00, paisa ticks, band ±10%, 5s signals, 2% risk per trade).
prices = (
    st.sampled_from(
        [
            "1500.00",
            "1480.00",
            "1560.00",
            "1350.00",
            "1349.99",
            "1650.00",
            "1650.01",
            "1500",
            " 1500.00 ",
            "1.5E+3",
            "1500.005",
            "1500.000000000000000000000000001",
            "1_500",
            1500,
            1500.0,
            1480,
            "1e-30",
            "-1480",
            "0",
            True,
            None,
        ]
    )
    | numbers
)
texts = st.sampled_from(
    [
        "NSE",
        "nse ",
        "INFY",
        " infy",
        "BUY",
        "buy",
        " SELL ",
        "sell",
        "HOLD",
        "LIMIT",
        "limit",
        "MARKET",
        "SL",
        "SL-M",
        "sl-m",
        "MIS",
        "mis",
        "CNC",
        "NRML",
        "",
        " ",
        "A:B",
        "NSE:A",
        "B",
        "ÉT:É",
        "t:1",
        "tag-1",
    ]
) | st.text(max_size=4)
FIELD_VALUES: dict[str, Any] = {
    "exchange": texts,
    "symbol": texts,
    "side": texts,
    "order_type": texts | st.none(),
    "product": texts | st.none(),
    "tag": texts | st.none() | st.integers(),
    "quantity": st.integers(-2, 1200) | numbers | st.sampled_from([10.0, "10", True]),
    "price": prices,
    "trigger_price": prices,
    "stop_loss": prices,
    "target": prices,
    "signal_time": st.sampled_from(
        [
            (NOW - timedelta(seconds=1)).isoformat(),
            NOW.isoformat(),
            (NOW - timedelta(seconds=5)).isoformat(),
            (NOW - timedelta(seconds=5, microseconds=1)).isoformat(),
            (NOW + timedelta(microseconds=1)).isoformat(),
            "2026-11-23T04:29:59Z",
            "2026-11-23T10:00:00",
            "2026-11-23",
            "0001-01-01T00:00:00+14:00",
            17,
            None,
        ]
    ),
    "market_protection": st.sampled_from([-1, 0, 2, 100, 101, "2", 2.5, True, None]),
}
ENTRY = {
    "exchange": "NSE",
    "symbol": "INFY",
    "side": "BUY",
    "quantity": 10,
    "order_type": "LIMIT",
    "product": "MIS",
    "price": "1500.00",
    "stop_loss": "1480.00",
    "target": "1560.00",
    "signal_time": (NOW - timedelta(seconds=1)).isoformat(),
}


# (exchange, symbol, last price, tick, lot) of BASE's instruments
LISTED = [
    ("NSE", "INFY", D("1500.00"), D("0.01"), 1),
    ("NSE", "TCS", D("3000.00"), D("0.05"), 1),
    ("NFO", "NIFTY26NOVFUT", D("26000.00"), D("0.10"), 75),
]


@st.composite
def entries(draw: Any) -> dict[str, Any]:
    """An entry on one of BASE's instruments whose price, quantity, stop and target lie on either side of a limit
    of LIMITS[0]: the band (±10%), the tick and lot, the notional (₹5,00,000), the risk per trade (₹20,000),
    risk:reward 2; or anywhere near them."""
    exchange, symbol, ltp, tick, lot = draw(st.sampled_from(LISTED))
    side = draw(st.sampled_from(["BUY", "SELL"]))
    sign = 1 if side == "BUY" else -1
    band = int(ltp / 10 / tick)  # the band in ticks
    ticks = draw(st.sampled_from([0, 1, -1, band, band + 1, -band, -band - 1]) | st.integers(-band - 3, band + 3))
    price = ltp + ticks * tick + draw(st.sampled_from([D(0)] * 9 + [tick / 2]))
    lots = draw(
        st.sampled_from([1, 2, 50, 100, int(D(500_000) / (price * lot)), int(D(500_000) / (price * lot)) + 1])
        | st.integers(1, 120)
    )
    quantity = max(lots, 1) * lot + draw(st.sampled_from([0] * 9 + [1]))
    # the stop at the risk limit, a tick either side of it, or nearer
    at_limit, within = int(D(20_000) / (quantity * tick)), int(price / 3 / tick)
    if at_limit + 1 > within:  # the stop would be at or below ₹0: a risk the limit cannot reach at this quantity
        at_limit = within
    stop = tick * draw(st.sampled_from([at_limit, at_limit + 1, at_limit - 1]) | st.integers(1, max(at_limit, 1)))
    reach = stop * draw(st.sampled_from([2, 3, 1])) + tick * draw(st.sampled_from([0, 0, 1, -1]))
    off = draw(
        st.sampled_from([(D(0), D(0))] * 8 + [(tick / 2, D(0)), (D(0), tick / 2)])
    )  # a stop or target between ticks
    return dict(
        ENTRY,
        exchange=exchange,
        symbol=symbol,
        side=side,
        price=str(price),
        quantity=quantity,
        stop_loss=str(price - sign * stop + off[0]),
        target=str(price + sign * reach + off[1]),
    )


@st.composite
def near_orders(draw: Any) -> dict[str, Any]:
    """An entry near the limits with a few fields changed to values on either side of a rule, or of another type."""
    out = draw(entries())
    changed = draw(st.sampled_from([0, 0, 1, 1, 2, 3]))
    for name in draw(st.lists(st.sampled_from(sorted(FIELD_VALUES)), unique=True, min_size=changed, max_size=changed)):
        value = draw(FIELD_VALUES[name] | json_values) if draw(st.integers(0, 5)) == 0 else draw(FIELD_VALUES[name])
        if value is None and draw(st.booleans()):
            out.pop(name, None)
        else:
            out[name] = value
    if draw(st.integers(0, 9)) == 0:
        out[draw(st.sampled_from(["stop_los", "note", "a:b"]))] = draw(json_values)
    return out


def refusing(product: str | None):
    """A session rule refusing entries of one product (None: none), in both shapes the two paths take."""

    def refusal(exchange: str, prod: str, now: Any) -> Any:
        return "closed" if prod == product else None

    def session(intent: Any, now: Any) -> Any:
        return refusal(intent.exchange, intent.product, now)

    return refusal, session


def both(raw: dict[str, Any], acct: Account, risk: Any, text: str, product: str | None = None) -> bool:
    """Judge `text` (the JSON of raw) on both paths; True when the accept path answered. What check() writes of
    the answer is compared below (test_check_writes_the_same_bytes...)."""
    model = RiskModel.of(risk, acct.capital)
    refusal, session = refusing(product)
    hit = AcceptPath(model, acct, refusal).accept(json.loads(text), NOW, text.count(":"))
    if hit is None:
        return False
    verdict = validate(json.loads(text), model, acct, NOW, session)
    assert verdict.accepted and not verdict.exit and verdict.intent is not None, (raw, verdict)
    facts = verdict.facts_text()
    assert list(facts) == ["notional", "risk", "reward", "risk_reward"], facts
    assert hit == (verdict.intent.label(), *facts.values())
    return True


@MANY
@given(
    raw=near_orders(),
    which=st.integers(0, 2) | st.integers(0, len(ACCOUNTS) - 1),
    risk=st.sampled_from(LIMITS),
    product=st.sampled_from([None, None, "MIS", "CNC"]),
)
def test_an_answer_of_the_accept_path_is_the_verdict_line_validate_gives(raw, which, risk, product):
    text = json.dumps(raw, ensure_ascii=False)
    if "\\" not in text:  # check() never asks the accept path about a line with escapes
        both(raw, ACCOUNTS[which], risk, text, product)


@MANY
@given(raw=entries(), risk=st.sampled_from(LIMITS[:2]), which=st.sampled_from([0, 0, 0, 4, 5]))
def test_at_each_limit_of_an_entry_the_accept_path_agrees_with_validate(raw, risk, which):
    both(raw, ACCOUNTS[which], risk, json.dumps(raw))


@MANY
@given(world=worlds())
def test_on_the_property_tests_worlds_the_accept_path_agrees_with_validate(world):
    both(world.raw, world.account, world.limits, json.dumps(world.raw))


STRATEGY_ENTRIES = [
    {},
    {"side": "SELL", "stop_loss": "1520.00", "target": "1440.00"},
    {"order_type": None, "product": None},
    {"side": " buy ", "order_type": "limit", "product": "mis", "exchange": "nse", "symbol": " infy "},
    {"quantity": 1, "tag": "strategy-7"},
    {"signal_time": "2026-11-23T04:29:59Z"},
    {"price": 1500, "stop_loss": 1480},
    {"order_type": "SL", "trigger_price": "1499.00"},
    {"order_type": "SL-M", "price": None, "trigger_price": "1499.00", "market_protection": -1},
    {"order_type": "MARKET", "price": None, "market_protection": 2},
    {"symbol": "A:B", "tag": "a:b:c"},
    {"exchange": "NSE:A", "symbol": "B"},
    {"exchange": "NSE", "symbol": "ÉT:É"},
    {"symbol": "ÉT:É", "tag": "\u2028\u00e9 \U0001f600"},
]


@pytest.mark.parametrize("changes", STRATEGY_ENTRIES)
def test_the_entries_a_strategy_sends_are_answered_by_the_accept_path(changes):
    raw = {k: v for k, v in {**ENTRY, **changes}.items() if v is not None}
    for text in (
        json.dumps(raw, ensure_ascii=False),
        json.dumps(raw, ensure_ascii=False, separators=(",", ":")),
        json.dumps(raw, ensure_ascii=False, indent=None, separators=(" , ", " : ")),
    ):
        assert both(raw, BASE, LIMITS[0], text), text


@pytest.mark.parametrize("output", ["json", "text"])
def test_check_writes_what_it_wrote_without_the_accept_path_for_the_entries_a_strategy_sends(monkeypatch, output):
    raws = [{k: v for k, v in {**ENTRY, **changes}.items() if v is not None} for changes in STRATEGY_ENTRIES]
    lines = "".join(
        json.dumps(raw, ensure_ascii=False, separators=sep) + "\n" for raw in raws for sep in [(", ", ": "), (",", ":")]
    )
    fast = run_check(lines, output, BASE, LIMITS[0], monkeypatch, answer=True)
    # All accepted but the exchange "NSE:A", which has no session calendar (the session rule refuses it)
    assert fast[0] == 1 and fast[1].count("ACCEPTED" if output == "text" else '"accepted": true') == 2 * len(raws) - 2
    assert fast == run_check(lines, output, BASE, LIMITS[0], monkeypatch, answer=False)


@pytest.mark.parametrize(
    "changes, acct",
    [
        ({"side": "SELL", "quantity": 5, "stop_loss": "1520.00", "target": "1440.00"}, ACCOUNTS[1]),  # an exit
        ({"stop_loss": None}, BASE),
        ({"target": None}, BASE),
        ({"quantity": 10.0}, BASE),
        ({"tag": "  "}, BASE),
        ({"price": "1650.01"}, BASE),
        ({"signal_time": (NOW + timedelta(microseconds=1)).isoformat()}, BASE),
        ({}, ACCOUNTS[3]),
        ({}, ACCOUNTS[6]),
        ({}, ACCOUNTS[8]),
        ({}, ACCOUNTS[10]),
    ],
)
def test_what_it_does_not_answer_is_left_to_validate(changes, acct):
    raw = {k: v for k, v in {**ENTRY, **changes}.items() if v is not None}
    assert not both(raw, acct, LIMITS[0], json.dumps(raw))


# ---------------------------------------------------------------- duplicate keys never pass the colon count

safe_text = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='"\\'), max_size=8)
members = st.tuples(
    st.sampled_from(sorted(ENTRY) + ["tag", "market_protection", "a:b", ":", ""]) | safe_text, json_values | safe_text
)
separators = st.sampled_from([(", ", ": "), (",", ":"), (" ,\t", " :  "), (",", ": ")])


def encode(pairs: list[tuple[str, Any]], sep: tuple[str, str]) -> str:
    return (
        "{"
        + sep[0].join(json.dumps(k, ensure_ascii=False) + sep[1] + json.dumps(v, ensure_ascii=False) for k, v in pairs)
        + "}"
    )


@settings(deadline=None, max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), sep=separators, which=st.integers(0, len(ACCOUNTS) - 1))
def test_a_key_given_twice_is_never_let_through(data, sep, which):
    pairs = list(ENTRY.items())
    for _ in range(data.draw(st.integers(1, 3))):  # a second member of an existing key, anywhere, any value
        key = data.draw(st.sampled_from([k for k, _ in pairs]))
        value = data.draw(st.just(dict(pairs)[key]) | json_values | safe_text | st.dictionaries(safe_text, json_values))
        pairs.insert(data.draw(st.integers(0, len(pairs))), (key, value))
    if data.draw(st.booleans()):  # and members of other keys, nested duplicates among them
        extra = data.draw(members)
        pairs.insert(data.draw(st.integers(0, len(pairs))), extra)
    text = encode(pairs, sep)
    with pytest.raises(_DuplicateKey):
        _loads(text)
    if "\\" in text:
        return  # check() takes the general path for escapes
    model = RiskModel.of(LIMITS[0], CAPITAL)
    assert AcceptPath(model, ACCOUNTS[which], None).accept(json.loads(text), NOW, text.count(":")) is None, text


@settings(deadline=None, max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(nested=st.dictionaries(safe_text, json_values, min_size=1), key=st.sampled_from(sorted(ENTRY)), sep=separators)
def test_a_duplicate_inside_a_value_that_a_later_member_replaced_is_never_let_through(nested, key, sep):
    inner = next(iter(nested))
    doubled = "{" + encode([(inner, 1)], sep)[1:-1] + sep[0] + encode(list(nested.items()), sep)[1:]
    pairs = [(k, v) for k, v in ENTRY.items()]
    text = (
        encode(pairs, sep)[:-1]
        + sep[0]
        + json.dumps(key)
        + sep[1]
        + doubled
        + sep[0]
        + json.dumps(key)
        + sep[1]
        + json.dumps(ENTRY[key])
        + "}"
    )
    with pytest.raises(_DuplicateKey):
        _loads(text)
    if "\\" not in text:
        model = RiskModel.of(LIMITS[0], CAPITAL)
        assert AcceptPath(model, BASE, None).accept(json.loads(text), NOW, text.count(":")) is None, text


# ---------------------------------------------------------------- check() with and without the accept path


@lru_cache(maxsize=1)
def paper() -> Any:
    from mci.config import load_profile

    return load_profile(None)


def run_check(
    lines: str, output: str, acct: Account, risk: Any, monkeypatch: Any, answer: bool
) -> tuple[int | str, str]:
    with monkeypatch.context() as patch:
        if not answer:
            patch.setattr(AcceptPath, "accept", lambda self, raw, now, colons: None)
        out = io.StringIO()
        patch.setattr(sys, "stdout", out)
        profile = replace(paper(), risk=risk)
        with tempfile.TemporaryDirectory() as state:
            try:
                code: int | str = command.check(
                    profile, Clock(NOW, frozen=True), Path(state), output, io.StringIO(lines), account=acct
                )
            except Exception as exc:  # noqa: BLE001 — the same refusal on both paths is what is compared
                code = f"{type(exc).__name__}: {exc}"
    return code, out.getvalue()


@settings(
    deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    orders=st.lists(
        near_orders()
        | st.sampled_from(
            [
                "",
                "   ",
                "{",
                "[1, 2]",
                "not json",
                '{"a": 1, "a": 2}',
                '{"quantity": 10, "quantity": 100000}',
                "[",
                "null",
            ]
        ),
        min_size=1,
        max_size=12,
    ),
    output=st.sampled_from(["json", "text"]),
    which=st.integers(0, 2) | st.integers(0, len(ACCOUNTS) - 1),
    risk=st.sampled_from(LIMITS),
    around=st.lists(st.sampled_from([("", "")] * 6 + [(" ", ""), ("", " "), ("", "\r")]), min_size=12, max_size=12),
)
def test_check_writes_the_same_bytes_and_exits_the_same_with_the_accept_path_and_without(
    monkeypatch, orders, output, which, risk, around
):
    lines = "".join(
        before + (o if isinstance(o, str) else json.dumps(o, ensure_ascii=False)) + after + "\n"
        for o, (before, after) in zip(orders, around)
    )
    fast = run_check(lines, output, ACCOUNTS[which], risk, monkeypatch, answer=True)
    assert fast == run_check(lines, output, ACCOUNTS[which], risk, monkeypatch, answer=False)


@settings(deadline=None, max_examples=2000)
@given(
    amount=st.decimals(min_value=D("1e-30"), max_value=D("1e20"), allow_nan=False, allow_infinity=False)
    | st.builds(lambda c, e: D(c).scaleb(e), st.integers(1, 10**12), st.integers(-9, 4))
    | st.integers(1, 10**9).map(lambda paisa: D(paisa) / 100)
)
def test_a_fact_in_rupees_is_what_the_format_writes(amount):
    from mci.risk.accept import _rupees

    if amount > 0:
        assert _rupees(amount) == f"₹{amount:,.2f}"
