"""Account.from_broker: the day's P&L is the day's, not a carried position's whole history."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

from mci.brokers.base import Funds, Order, Position
from mci.risk import Account


class Book:
    """A broker's answers as data: what Account.from_broker reads, nothing else."""

    name = "book"

    def __init__(self, positions, orders=()):
        self._positions, self._orders = positions, list(orders)

    def funds(self):
        return Funds(available=D("900000"), used=D("100000"), opening=D("1000000"))

    def positions(self):
        return self._positions

    def orders(self):
        return self._orders

    def ltp(self, keys):
        return {k: D("100") for k in keys}


def test_a_carried_position_counts_only_todays_mark_to_market():
    carried = Position("NSE", "SBIN", "CNC", 100, D("900"), D("800"), D("0"), D("-10000"), m2m=D("-500"))
    today = Position("NSE", "INFY", "MIS", 10, D("1500"), D("1490"), D("0"), D("-100"))
    account = Account.from_broker(Book([carried, today]))
    assert carried.pnl == D("-10000") and carried.day_pnl == D("-500")
    assert account.day_pnl == D("-600")
    assert {h.instrument: h.pnl for h in account.positions} == {"NSE:SBIN": D("-500"), "NSE:INFY": D("-100")}
    assert account.last_prices == {"NSE:INFY": D("100"), "NSE:SBIN": D("100")}


def test_orders_are_sorted_and_fills_counted():
    t0 = datetime(2026, 11, 23, 4, 30, tzinfo=timezone.utc)
    orders = [
        Order(
            str(i),
            "NSE",
            "INFY",
            "BUY",
            1,
            "MARKET",
            "MIS",
            D("0"),
            D("0"),
            "COMPLETE" if i % 2 else "CANCELLED",
            None,
            t0 - timedelta(seconds=i),
            filled_quantity=1 if i % 2 else 0,
        )
        for i in range(5)
    ]
    account = Account.from_broker(Book([], orders))
    assert list(account.order_times) == sorted(o.placed_at for o in orders)
    assert account.trades == 2
