"""`mci risk check` holds an order to Kite's 2026 rule: MARKET and SL-M need market_protection (-1 or 0 < p ≤ 100)."""

from __future__ import annotations

import pytest

from testing.risk import judge, order, rules


@pytest.mark.parametrize(
    "order_type, extra", [("MARKET", {"price": None}), ("SL-M", {"price": None, "trigger_price": "1450.00"})]
)
def test_a_market_or_slm_order_without_protection_is_refused_with_kites_words(order_type, extra):
    verdict = judge(
        order(order_type=order_type, market_protection=None, side="SELL", stop_loss=None, target=None, **extra)
    )
    assert not verdict.accepted and "market_protection" in rules(verdict)
    (failure,) = [f for f in verdict.failures if f.rule == "market_protection"]
    assert failure.what == f"a {order_type} order has no market_protection"
    assert "Market orders without market protection are not allowed via API" in failure.why
    assert '"market_protection": -1' in failure.how


@pytest.mark.parametrize("value", [0, "0", -2, 100.01, "abc", True])
def test_zero_and_values_kite_does_not_take_are_refused(value):
    verdict = judge(order(order_type="MARKET", price=None, market_protection=value))
    assert not verdict.accepted and "market_protection" in rules(verdict)


@pytest.mark.parametrize("value", [-1, "-1", 0.5, 2, "100"])
def test_automatic_and_percentages_up_to_100_pass(value):
    verdict = judge(order(order_type="MARKET", price=None, market_protection=value))
    assert "market_protection" not in rules(verdict)
    assert verdict.intent is not None and verdict.intent.market_protection is not None


def test_a_limit_order_needs_none():
    assert "market_protection" not in rules(judge(order()))
