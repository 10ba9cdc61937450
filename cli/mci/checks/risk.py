"""risk.parameters: the profile's limits make sense together and against today's capital.

The schema caps each limit on its own (no 50% per trade); this check catches the
combinations: a single trade allowed to lose more than the whole day, or a
full book of losing trades that breaches the daily loss before the kill switch
can act. Rupee figures come from the broker's opening balance.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

from mci.checks.base import Check, CheckContext, CheckOutcome, register
from mci.config.units import format_money, format_percent
from mci.errors import MciError

_PAISA = Decimal("0.01")


def _rupees(fraction: Decimal, capital: Decimal) -> str:
    return format_money((fraction * capital).quantize(_PAISA))


@register
class RiskParameters(Check):
    kind = "risk.parameters"
    uses_broker = True

    def run(self, ctx: CheckContext, params: Mapping[str, Any]) -> CheckOutcome:
        risk = ctx.profile.risk
        capital = ctx.broker.funds().opening
        per_trade, daily, position = risk.max_risk_per_trade, risk.max_daily_loss, risk.max_position_loss
        book = per_trade * risk.max_open_positions
        facts = {
            "capital": capital,
            "max_risk_per_trade": per_trade, "max_risk_per_trade_rupees": (per_trade * capital).quantize(_PAISA),
            "max_daily_loss": daily, "max_daily_loss_rupees": (daily * capital).quantize(_PAISA),
            "max_position_loss": position, "max_open_positions": risk.max_open_positions,
            "full_book_risk": book,
        }

        errors: list[str] = []
        for name in ("max_risk_per_trade", "max_daily_loss", "max_drawdown", "max_position_loss", "price_band"):
            value: Decimal = getattr(risk, name)
            if value <= 0:
                errors.append(f"risk.{name} is {format_percent(value)}; it must be above 0%")
        if risk.max_open_positions < 1:
            errors.append(f"risk.max_open_positions is {risk.max_open_positions}; at least 1 is needed to trade")
        if risk.min_risk_reward <= 0:
            errors.append(f"risk.min_risk_reward is {risk.min_risk_reward}; it must be above 0")
        if per_trade > daily:
            errors.append(f"max_risk_per_trade {format_percent(per_trade)} exceeds max_daily_loss "
                          f"{format_percent(daily)}: one trade could lose more than the whole day allows")
        if position > daily:
            errors.append(f"max_position_loss {format_percent(position)} exceeds max_daily_loss "
                          f"{format_percent(daily)}: one position could lose more than the whole day allows")
        if capital <= 0:
            errors.append(f"the opening balance is {format_money(capital)}, so every limit is ₹0.00")
        if errors:
            return CheckOutcome.failed(MciError(
                f"the risk limits are inconsistent ({len(errors)} problem{'s' if len(errors) > 1 else ''})",
                "; ".join(errors),
                "fix the `risk:` block of the profile; `mci validate` checks it without trading",
            ), **facts)

        summary = (f"{format_percent(per_trade)} of {format_money(capital)} = {_rupees(per_trade, capital)} per trade; "
                   f"daily loss {format_percent(daily)} = {_rupees(daily, capital)}")
        if book > daily:
            return CheckOutcome.warned(summary, MciError(
                f"{risk.max_open_positions} positions each losing {format_percent(per_trade)} would breach "
                f"the {format_percent(daily)} daily loss",
                f"{risk.max_open_positions} × {format_percent(per_trade)} = {format_percent(book)} "
                f"({_rupees(book, capital)}) > {format_percent(daily)} ({_rupees(daily, capital)}); "
                "the daily-loss kill switch, not the per-trade limit, is what stops a full book of losers",
                "accept it knowingly, or lower max_open_positions or max_risk_per_trade so that "
                "positions × risk per trade ≤ daily loss",
            ), **facts)
        return CheckOutcome.passed(summary, **facts)
