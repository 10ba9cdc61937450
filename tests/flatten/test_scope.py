"""mci.flatten.scope: what a scoped kill counts as its own (the flags, a declared scope, a strategy's positions)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from mci.brokers.base import Order, Position
from mci.errors import UsageError
from mci.flatten.scope import Selection
from mci.flatten.tags import Key, square_off_tag

NOW = datetime(2026, 11, 25, 5, 0, tzinfo=timezone.utc)


def pos(symbol: str, qty: int, product: str = "MIS") -> Position:
    return Position("NSE", symbol, product, qty, Decimal("100"), Decimal("100"), Decimal(0), Decimal(0))


def filled(symbol: str, side: str, qty: int, tag: str, product: str = "MIS") -> Order:
    return Order("1", "NSE", symbol, side, qty, "MARKET", product, Decimal(0), Decimal(0), "COMPLETE", tag, NOW, qty)


def test_a_strategy_owns_its_fills_less_the_emergency_closes_never_more_than_the_position():
    s = Selection.of(tag="Strat")
    orders = [filled("SBIN", "BUY", 5, "strat1"), filled("SBIN", "BUY", 3, "other")]
    assert s.quantity_in(pos("SBIN", 8), orders) == 5
    assert s.quantity_in(pos("SBIN", 4), orders) == 4  # someone closed part of it: never more than the position
    assert s.quantity_in(pos("SBIN", -2), orders) == 0  # the position is on the other side: not the strategy's
    close = filled("SBIN", "SELL", 5, square_off_tag("run-1", 1, Key("NSE", "SBIN", "MIS")))
    assert s.quantity_in(pos("SBIN", 3), [*orders, close]) == 0  # a rerun with another run id closes nothing more
    assert s.quantity_in(pos("TCS", 2), orders) == 0


def test_flags_narrow_a_declared_scope_and_never_widen_it():
    declared = Selection.of(products=["MIS"])
    assert declared.narrow(Selection.of(symbols=["infy"])).label() == "product MIS, symbol INFY"
    assert declared.narrow(None) == declared
    with pytest.raises(UsageError):
        declared.narrow(Selection.of(products=["CNC"]))
    with pytest.raises(UsageError):
        Selection.of(tag="ab").narrow(Selection.of(tag="cd"))
    assert Selection.of(tag="ab").narrow(Selection.of(tag="abc")).tag == "abc"
    assert Selection.of(symbols=["INFY"]).instrument_in("BSE", "INFY", "CNC")
    assert not Selection.of(symbols=["NSE:INFY"]).instrument_in("BSE", "INFY", "CNC")
