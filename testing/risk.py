"""Shared numbers for the risk tests: the paper profile's limits on ₹10,00,000, one account, one order.

NSE:INFY trades here in paisa ticks so that every rupee boundary can be hit to the paisa; NSE:TCS trades
in ₹0.05 ticks (the tick-size rule) and NFO:NIFTY26NOVFUT in lots of 75 (the lot-size rule).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D
from functools import lru_cache
from typing import Any

from mci.config.model import RiskLimits
from mci.risk import Account, Holding, InstrumentSpec, RiskModel, Verdict, validate

IST = timezone(timedelta(hours=5, minutes=30))
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=IST)  # a Monday, in session
CAPITAL = D("1000000")
ONE_US = timedelta(microseconds=1)  # one microsecond

INSTRUMENTS = {
    "NSE:INFY": InstrumentSpec(D("0.01"), 1),
    "NSE:TCS": InstrumentSpec(D("0.05"), 1),
    "NFO:NIFTY26NOVFUT": InstrumentSpec(D("0.10"), 75),
}
LAST_PRICES = {"NSE:INFY": D("1500.00"), "NSE:TCS": D("3000.00"), "NFO:NIFTY26NOVFUT": D("26000.00")}

# BUY 10 INFY at 1500.00, stop 1480.00 (risk ₹200.00), target 1560.00 (reward ₹600.00, 3.0): inside every limit.
ORDER: dict[str, Any] = {
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


@lru_cache(maxsize=1)
def paper_limits() -> RiskLimits:
    """The shipped paper profile's `risk:` block (2%, 6%, 15%, 5%, 5 positions, 2.0, ±10%, 5s)."""
    from mci.config import load_profile

    return load_profile(None).risk


def limits(**changes: Any) -> RiskLimits:
    return replace(paper_limits(), **changes)


def account(**changes: Any) -> Account:
    base = Account(capital=CAPITAL, last_prices=dict(LAST_PRICES), instruments=dict(INSTRUMENTS))
    return replace(base, **changes)


def order(**changes: Any) -> dict[str, Any]:
    """ORDER with changes; a change to None removes the field."""
    out = {**ORDER, **changes}
    kind = out.get("order_type") or ("LIMIT" if out.get("price") is not None else "MARKET")
    if kind in ("MARKET", "SL-M") and "market_protection" not in changes:
        out["market_protection"] = -1  # Kite's 2026 rule; a test of the rule itself passes it (or None) explicitly
    return {k: v for k, v in out.items() if v is not None}


def holdings(*instruments: str, quantity: int = 10, product: str = "MIS") -> tuple[Holding, ...]:
    return tuple(Holding(i, product, quantity, D("0")) for i in instruments)


def judge(
    raw: Any, *, acct: Account | None = None, risk: RiskLimits | None = None, capital: D = CAPITAL, now: datetime = NOW
) -> Verdict:
    acct = acct or account()
    return validate(raw, RiskModel.of(risk or paper_limits(), capital), acct, now)


def rules(verdict: Verdict) -> set[str]:
    return {f.rule for f in verdict.failures}
