"""The profile's `risk:` block against one capital figure: every limit in rupees, once.

The validator, `mci watch` and scanner check 10 all judge with this object, so
"2% of capital" means the same paisa everywhere. A rupee limit is rounded down
to the paisa: rounding up would let a breach of a fraction of a paisa pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING

from mci.units import format_money, format_percent

if TYPE_CHECKING:
    from mci.config.model import RiskLimits

PAISA = Decimal("0.01")
ZERO = Decimal("0")


def rupees(fraction: Decimal, capital: Decimal) -> Decimal:
    return (fraction * capital).quantize(PAISA, rounding=ROUND_DOWN)


@dataclass(frozen=True)
class Problem:
    """A combination of limits that does not hold together (scanner check 10)."""

    level: str  # "error": unusable; "warning": usable, but a limit will not act as its name says
    what: str
    why: str
    how: str


@dataclass(frozen=True)
class RiskModel:
    limits: "RiskLimits"
    capital: Decimal
    max_risk_per_trade: Decimal  # rupees
    max_daily_loss: Decimal  # rupees
    max_position_loss: Decimal  # rupees

    @classmethod
    def of(cls, limits: "RiskLimits", capital: Decimal) -> "RiskModel":
        return cls(
            limits,
            capital,
            rupees(limits.max_risk_per_trade, capital),
            rupees(limits.max_daily_loss, capital),
            rupees(limits.max_position_loss, capital),
        )

    def max_drawdown(self, peak_equity: Decimal) -> Decimal:
        """The drawdown limit in rupees is relative to the intraday equity peak, not to the opening capital."""
        return rupees(self.limits.max_drawdown, peak_equity)

    def describe(self, fraction: Decimal) -> str:
        """ "2% of capital, ₹20,000.00": the share and what it is in rupees today."""
        return f"{format_percent(fraction)} of capital, {format_money(rupees(fraction, self.capital))}"

    def problems(self) -> list[Problem]:
        """Limits inconsistent with capital or with each other."""
        r = self.limits
        out: list[Problem] = []
        for name in ("max_risk_per_trade", "max_daily_loss", "max_drawdown", "max_position_loss", "price_band"):
            value: Decimal = getattr(r, name)
            if value <= 0:
                out.append(
                    Problem(
                        "error",
                        f"risk.{name} is {format_percent(value)}",
                        "it must be above 0%",
                        f"set risk.{name} in the profile",
                    )
                )
        if r.max_open_positions < 1:
            out.append(
                Problem(
                    "error",
                    f"risk.max_open_positions is {r.max_open_positions}",
                    "at least 1 is needed to trade",
                    "set risk.max_open_positions to 1 or more",
                )
            )
        if r.min_risk_reward <= 0:
            out.append(
                Problem(
                    "error",
                    f"risk.min_risk_reward is {r.min_risk_reward}",
                    "it must be above 0",
                    "set risk.min_risk_reward, e.g. 2.0",
                )
            )
        if self.capital <= 0:
            out.append(
                Problem(
                    "error",
                    f"the capital is {format_money(self.capital)}",
                    "every limit is a share of capital, so every limit is ₹0.00",
                    "fund the account, or check that the broker reports the opening balance",
                )
            )
        if r.max_risk_per_trade > r.max_daily_loss:
            out.append(
                Problem(
                    "error",
                    f"max_risk_per_trade {format_percent(r.max_risk_per_trade)} exceeds "
                    f"max_daily_loss {format_percent(r.max_daily_loss)}",
                    "one trade could lose more than the whole day allows",
                    "lower max_risk_per_trade below max_daily_loss",
                )
            )
        if r.max_position_loss > r.max_daily_loss:
            out.append(
                Problem(
                    "error",
                    f"max_position_loss {format_percent(r.max_position_loss)} exceeds "
                    f"max_daily_loss {format_percent(r.max_daily_loss)}",
                    "one position could lose more than the whole day allows",
                    "lower max_position_loss below max_daily_loss",
                )
            )
        if r.max_risk_per_trade > r.max_position_loss:
            out.append(
                Problem(
                    "warning",
                    f"max_risk_per_trade {format_percent(r.max_risk_per_trade)} exceeds "
                    f"max_position_loss {format_percent(r.max_position_loss)}",
                    "a trade stopped out as planned would first trip the position-loss limit",
                    "keep max_risk_per_trade at or below max_position_loss",
                )
            )
        book = r.max_risk_per_trade * r.max_open_positions
        if book > r.max_daily_loss:
            out.append(
                Problem(
                    "warning",
                    f"{r.max_open_positions} positions each losing {format_percent(r.max_risk_per_trade)} would breach "
                    f"the {format_percent(r.max_daily_loss)} daily loss",
                    f"{r.max_open_positions} × {format_percent(r.max_risk_per_trade)} = {format_percent(book)} "
                    f"({format_money(rupees(book, self.capital))}) > {format_percent(r.max_daily_loss)} "
                    f"({format_money(self.max_daily_loss)}); the daily-loss kill switch, not the per-trade limit, "
                    "is what stops a full book of losers",
                    "accept it knowingly, or lower max_open_positions or max_risk_per_trade so that "
                    "positions × risk per trade ≤ daily loss",
                )
            )
        notional = r.max_notional_per_order
        if notional is not None and self.capital > 0 and notional > self.capital * 5:
            out.append(
                Problem(
                    "warning",
                    f"max_notional_per_order {format_money(notional)} is over 5× the capital "
                    f"{format_money(self.capital)}",
                    "the fat-finger guard would not stop a fat finger",
                    "lower risk.max_notional_per_order",
                )
            )
        if r.warn_at <= 0 or r.warn_at > 1:
            out.append(
                Problem(
                    "error",
                    f"risk.warn_at is {format_percent(r.warn_at)}",
                    "it must be above 0% and at most 100%",
                    "set risk.warn_at, e.g. 80%",
                )
            )
        return out
