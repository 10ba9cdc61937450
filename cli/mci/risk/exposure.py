"""The day's exposure against the account-level limits: what `mci watch` polls and `mci status` draws.

Each limit yields one Usage: the value, the limit, and a level: "ok", "warn"
(at or above warn_at of the limit) or "breach" (over the limit). Exactly at the
limit is not a breach; one paisa over is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from mci.units import format_money, format_percent
from mci.risk.account import ZERO, Account
from mci.risk.model import RiskModel

# The order-to-trade ratio is noise over a handful of orders (1 order, 0 trades is "infinite").
OTR_MIN_ORDERS = 20
# A burst is judged while it is recent: judged over the whole day, one burst would trip every later
# poll, and a watcher restarted after `mci reset --confirm` would trip again at once.
RATE_LOOKBACK = timedelta(seconds=60)


@dataclass(frozen=True)
class Usage:
    rule: str  # daily_loss | drawdown | position_loss | open_positions | order_rate | order_to_trade
    value: Decimal
    limit: Decimal
    level: str  # ok | warn | breach
    text: str  # "loss ₹61,000.00 of ₹60,000.00 (6% of capital)"
    subject: str = ""  # the instrument, for position_loss

    @property
    def used(self) -> Decimal:
        """value / limit: 1 is at the limit (the bars of `mci status`)."""
        return self.value / self.limit if self.limit > 0 else Decimal(1 if self.value > 0 else 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "value": str(self.value),
            "limit": str(self.limit),
            "level": self.level,
            "used": str(self.used.quantize(Decimal("0.0001"))),
            "text": self.text,
            "subject": self.subject,
        }


def _level(value: Decimal, limit: Decimal, warn_at: Decimal) -> str:
    if value > limit:
        return "breach"
    return "warn" if value > 0 and value >= limit * warn_at else "ok"


def assess(model: RiskModel, account: Account, *, rate_since: datetime | None = None) -> list[Usage]:
    """Every account-level limit against the account.

    The order rate counts orders placed after `rate_since` (a watcher passes its previous read), by default
    within RATE_LOOKBACK of the account's read time.
    """
    r = model.limits
    warn_at = r.warn_at
    out: list[Usage] = []

    loss = max(ZERO, -account.day_pnl)
    out.append(
        Usage(
            "daily_loss",
            loss,
            model.max_daily_loss,
            _level(loss, model.max_daily_loss, warn_at),
            f"day loss {format_money(loss)} of {format_money(model.max_daily_loss)} "
            f"({format_percent(r.max_daily_loss)} of capital)",
        )
    )

    # The day opens at the capital, so the peak is never below it.
    peak = max(account.peak_equity or account.capital, account.capital, account.equity)
    drawdown = peak - account.equity
    dd_limit = model.max_drawdown(peak)
    out.append(
        Usage(
            "drawdown",
            drawdown,
            dd_limit,
            _level(drawdown, dd_limit, warn_at),
            f"drawdown {format_money(drawdown)} from the peak {format_money(peak)}, limit "
            f"{format_money(dd_limit)} ({format_percent(r.max_drawdown)})",
        )
    )

    losses = sorted(((max(ZERO, -p.pnl), p) for p in account.open_positions), key=lambda lp: lp[0], reverse=True)
    worst, subject = (losses[0][0], losses[0][1].instrument) if losses else (ZERO, "")
    out.append(
        Usage(
            "position_loss",
            worst,
            model.max_position_loss,
            _level(worst, model.max_position_loss, warn_at),
            f"worst position loss {format_money(worst)}{f' ({subject})' if subject else ''} of "
            f"{format_money(model.max_position_loss)} ({format_percent(r.max_position_loss)} of capital)",
            subject,
        )
    )

    count = Decimal(len(account.open_positions))
    cap = Decimal(r.max_open_positions)
    # A full book is the plan, not a warning: only more than the limit counts.
    out.append(
        Usage("open_positions", count, cap, "breach" if count > cap else "ok", f"{count} open position(s) of {cap}")
    )

    if r.max_orders_per_second is not None:
        since = rate_since if rate_since is not None else account.at - RATE_LOOKBACK if account.at else None
        rate = Decimal(account.peak_rate(since=since))
        out.append(
            Usage(
                "order_rate",
                rate,
                r.max_orders_per_second,
                _level(rate, r.max_orders_per_second, warn_at),
                f"peak order rate {rate}/s of {r.max_orders_per_second}/s",
            )
        )

    if r.max_order_to_trade_ratio is not None:
        orders = len(account.order_times)
        ratio = (Decimal(orders) / Decimal(max(account.trades, 1))).quantize(Decimal("0.01"))
        level = _level(ratio, r.max_order_to_trade_ratio, warn_at) if orders >= OTR_MIN_ORDERS else "ok"
        out.append(
            Usage(
                "order_to_trade",
                ratio,
                r.max_order_to_trade_ratio,
                level,
                f"order-to-trade ratio {ratio} ({orders} orders, {account.trades} traded) of "
                f"{r.max_order_to_trade_ratio}",
            )
        )
    return out


def breaches(usages: list[Usage]) -> list[Usage]:
    return [u for u in usages if u.level == "breach"]
