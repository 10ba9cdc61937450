"""risk.parameters: the profile's limits make sense together and against today's capital.

The schema caps each limit on its own (no 50% per trade); this check catches the
combinations: a single trade allowed to lose more than the whole day, or a
full book of losing trades that breaches the daily loss before the kill switch
can act. The judgement is mci.risk's RiskModel, the one the pre-trade validator
and `mci watch` use; rupee figures come from the broker's opening balance.
"""

from __future__ import annotations

from typing import Any, Mapping

from mci.checks.base import Check, CheckContext, CheckOutcome, register
from mci.units import format_money, format_percent
from mci.errors import MciError


@register
class RiskParameters(Check):
    kind = "risk.parameters"
    uses_broker = True

    def run(self, ctx: CheckContext, params: Mapping[str, Any]) -> CheckOutcome:
        from mci.risk.model import RiskModel, rupees

        risk = ctx.profile.risk
        model = RiskModel.of(risk, ctx.broker.funds().opening)
        capital = model.capital
        facts = {
            "capital": capital,
            "max_risk_per_trade": risk.max_risk_per_trade,
            "max_risk_per_trade_rupees": model.max_risk_per_trade,
            "max_daily_loss": risk.max_daily_loss,
            "max_daily_loss_rupees": model.max_daily_loss,
            "max_position_loss": risk.max_position_loss,
            "max_position_loss_rupees": model.max_position_loss,
            "max_open_positions": risk.max_open_positions,
            "full_book_risk": risk.max_risk_per_trade * risk.max_open_positions,
        }
        problems = model.problems()
        errors = [p for p in problems if p.level == "error"]
        if errors:
            return CheckOutcome.failed(
                MciError(
                    f"the risk limits are inconsistent ({len(errors)} problem{'s' if len(errors) > 1 else ''})",
                    "; ".join(f"{p.what}: {p.why}" for p in errors),
                    "fix the `risk:` block of the profile; `mci risk limits` shows them in rupees without trading",
                ),
                **facts,
            )

        summary = (
            f"{format_percent(risk.max_risk_per_trade)} of {format_money(capital)} = "
            f"{format_money(rupees(risk.max_risk_per_trade, capital))} per trade; "
            f"daily loss {format_percent(risk.max_daily_loss)} = {format_money(model.max_daily_loss)}"
        )
        warnings = [p for p in problems if p.level == "warning"]
        if warnings:
            first = warnings[0]
            more = (
                f" (and {len(warnings) - 1} more: {'; '.join(p.what for p in warnings[1:])})"
                if len(warnings) > 1
                else ""
            )
            return CheckOutcome.warned(summary, MciError(first.what + more, first.why, first.how), **facts)
        return CheckOutcome.passed(summary, **facts)
