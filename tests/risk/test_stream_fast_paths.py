"""The stream's per-order shortcuts (issue 19) give what the plain paths give: the verdict line json.dumps
would write, the duplicate-key refusal, and verdicts against a changed account (no stale account facts)."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mci.commands.risk import _BadJson, _json_verdict, _loads, orders_in
from mci.risk import Holding, InstrumentSpec, RiskModel, validate
from testing.risk import CAPITAL, INSTRUMENTS, LAST_PRICES, NOW, account, limits, order
from tests.risk.test_properties import HOSTILE_ACCOUNTS, order_shaped
from testing.hypothesis_profiles import examples

MODEL = RiskModel.of(
    limits(
        max_quantity_per_order=1000,
        max_notional_per_order=D("500000"),
        max_orders_per_second=D(8),
        max_order_to_trade_ratio=D(10),
    ),
    CAPITAL,
)


@settings(deadline=None, max_examples=examples(300), suppress_health_check=[HealthCheck.too_slow])
@given(
    raw=order_shaped(),
    which=st.integers(0, len(HOSTILE_ACCOUNTS) - 1),
    line=st.integers(1, 10**9),
    symbol=st.text(max_size=8),
)
def test_the_verdict_line_is_what_json_dumps_writes(raw, which, line, symbol):
    if symbol.strip() and isinstance(raw, dict) and "symbol" in raw:
        raw = dict(raw, symbol=symbol)  # quotes, backslashes, control and non-ASCII characters in the label
    verdict = validate(raw, MODEL, HOSTILE_ACCOUNTS[which], NOW)
    assert _json_verdict(verdict, line) == json.dumps({"line": line, **verdict.as_dict()}, ensure_ascii=False)


@pytest.mark.parametrize("symbol", ['IN"F\\Y\u20b9', "A\u2028B\x7f", "\u00e9T\u00c9", "X/Y\tZ"])
def test_an_accepted_order_with_any_characters_in_its_label_is_the_line_json_dumps_writes(symbol):
    key = f"NSE:{symbol.strip().upper()}"
    listed = account(
        instruments={**INSTRUMENTS, key: InstrumentSpec(D("0.01"), 1)}, last_prices={**LAST_PRICES, key: D("1500.00")}
    )
    verdict = validate(order(symbol=symbol), MODEL, listed, NOW)
    assert verdict.accepted, verdict.failures  # the direct path, not json.dumps
    text = _json_verdict(verdict, 7)
    assert text == json.dumps({"line": 7, **verdict.as_dict()}, ensure_ascii=False)
    assert json.loads(text) == {"line": 7, **verdict.as_dict()}
    ok = validate(order(), MODEL, account(), NOW)
    assert ok.accepted and _json_verdict(ok, 3) == json.dumps({"line": 3, **ok.as_dict()}, ensure_ascii=False)


@pytest.mark.parametrize(
    "text, key",
    [
        ('{"quantity": 10, "quantity": 100000}', "quantity"),
        ('{"a": {"b": 1, "c": 2, "b": 3}}', "b"),
        ('{"x": 1, "y": 2, "x": 1, "y": 2}', "x"),
    ],
)
def test_a_duplicate_key_is_refused_by_name(text, key):
    with pytest.raises(ValueError, match=f"the key '{key}' appears twice"):
        _loads(text)
    [(_, bad)] = list(orders_in(__import__("io").StringIO(text + "\n")))
    assert isinstance(bad, _BadJson)


def test_objects_without_duplicates_parse_as_json_loads_does():
    text = '{"a": 1, "b": {"c": [1, {"d": 2}], "e": null}, "f": "x"}'
    assert _loads(text) == json.loads(text)


def test_a_new_account_is_judged_afresh_not_by_the_facts_of_the_previous_one():
    base = account()
    assert validate(order(), MODEL, base, NOW).accepted
    # The same order against accounts that differ in each fact the stream works out once per account.
    losing = replace(base, day_pnl=D("-59900"))
    assert [f.rule for f in validate(order(), MODEL, losing, NOW).failures] == ["max_daily_loss"]
    short = replace(base, positions=(Holding("NSE:INFY", "MIS", -10, D("0")),))
    exit_verdict = validate(order(), MODEL, short, NOW)
    assert exit_verdict.accepted and exit_verdict.exit
    full = replace(base, positions=tuple(Holding(f"NSE:S{k}", "MIS", 1, D("0")) for k in range(5)))
    assert [f.rule for f in validate(order(), MODEL, full, NOW).failures] == ["max_open_positions"]
    busy = replace(base, order_times=(NOW,) * 30, trades=1)
    assert {f.rule for f in validate(order(), MODEL, busy, NOW).failures} == {
        "max_orders_per_second",
        "max_order_to_trade_ratio",
    }
    assert validate(order(), MODEL, base, NOW).accepted  # and back
    narrow = RiskModel.of(limits(allowed_symbols=("TCS",)), CAPITAL)
    assert [f.rule for f in validate(order(), narrow, base, NOW).failures] == ["allowed_symbols"]


def test_an_account_whose_drawdown_overflows_still_lets_an_exit_be_judged():
    # The drawdown limit of a peak of 10^30 rupees overflows 28 digits: an entry is refused as out of range
    # (as it always was), while an exit, which the entry rules never judge, is still accepted.
    huge = replace(account(), peak_equity=D("1e30"), positions=(Holding("NSE:INFY", "MIS", -10, D("0")),))
    exit_verdict = validate(order(), MODEL, huge, NOW)
    assert exit_verdict.accepted and exit_verdict.exit
    entry = validate(order(symbol="TCS", price="3000.00", stop_loss="2990.00", target="3100.00"), MODEL, huge, NOW)
    assert not entry.accepted and entry.failures[0].what.startswith("the order's numbers are out of range")


def test_an_accepted_exit_is_the_line_json_dumps_writes():
    short = account(positions=(Holding("NSE:INFY", "MIS", -10, D("0")),))
    verdict = validate(order(stop_loss=None, target=None), MODEL, short, NOW)
    assert verdict.accepted and verdict.exit
    assert _json_verdict(verdict, 12) == json.dumps({"line": 12, **verdict.as_dict()}, ensure_ascii=False)


@settings(deadline=None, max_examples=examples(400), suppress_health_check=[HealthCheck.too_slow])
@given(raw=order_shaped(), texts=st.lists(st.text(max_size=6), min_size=6, max_size=6))
def test_the_plain_text_fields_read_as_the_general_path_reads_them(raw, texts):
    from mci.risk.intent import ORDER_TYPES, SIDES, _plain_texts, _texts

    if texts[0]:  # strings with spaces, case, blanks and non-ASCII in every text field, not only the order's own
        raw = dict(zip(("exchange", "symbol", "side", "order_type", "product", "tag"), texts)) | {
            k: v for k, v in raw.items() if k not in ("exchange", "symbol", "side", "order_type", "product", "tag")
        }
    plain = _plain_texts(raw)
    if plain is not None:
        failures: list = []
        assert _texts(raw, failures) == plain
        # What parse() adds on the plain path: the side and order-type refusals, nothing else.
        assert [f.what for f in failures] == (
            [f"side {plain[2]!r} is not BUY or SELL"] if plain[2] not in SIDES else []
        ) + ([f"order_type {plain[3]!r} is unknown"] if plain[3] not in ORDER_TYPES else [])


@settings(deadline=None, max_examples=examples(400))
@given(
    value=st.decimals(allow_nan=False, allow_infinity=False)
    | st.integers(0, 10**22).map(D)
    | st.integers(1, 10**24).map(lambda n: D(n).scaleb(-8)),
    key=st.sampled_from(["notional", "risk", "reward", "risk_reward"]),
)
def test_facts_read_as_format_money_and_quantize_write_them(value, key):
    from mci.units import format_money
    from mci.risk import Verdict

    try:
        expected = str(value.quantize(D("0.01"))) if key == "risk_reward" else format_money(value)
    except ArithmeticError:
        expected = str(value)
    assert Verdict(True, (), facts={key: value}).facts_text() == {key: expected}
