"""Checks that ask the broker about the account: connectivity, balance, positions, stale orders.

An UnavailableError from the broker propagates untouched: the runner retries it
per the declared policy and counts it against the check's circuit breaker.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any, Mapping

from mci.checks import duration_param, int_param, money_param
from mci.checks.base import Check, CheckContext, CheckOutcome, register
from mci.units import format_duration, format_money
from mci.errors import MciError


def _ms(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds < 1:
        return f"{int(seconds * 1000)}ms"
    if seconds < 60:  # tenths: whole seconds would say "took 2s, above the 2s limit" for 2.5s
        return f"{seconds:.1f}".rstrip("0").rstrip(".") + "s"
    return format_duration(delta)


@register
class BrokerConnectivity(Check):
    """A cheap round trip: proves the API answers, how fast, and that both clocks agree
    (expiry at 06:00 IST and market hours are decided on this machine's clock)."""

    kind = "broker.connectivity"
    uses_broker = True

    def run(self, ctx: CheckContext, params: Mapping[str, Any]) -> CheckOutcome:
        max_latency = duration_param(params, "max_latency", timedelta(seconds=2))
        max_skew = duration_param(params, "max_clock_skew", timedelta(seconds=5))
        t0 = time.monotonic()
        server = ctx.broker.server_time()
        latency = timedelta(seconds=time.monotonic() - t0)
        now = ctx.clock.now()
        if server.tzinfo is None:
            return CheckOutcome.failed(
                MciError(
                    "the broker's server time has no time zone",
                    "the broker adapter returned a naive date-time, so the clock skew cannot be measured",
                    "this is a bug in the broker adapter; run with -v and report it",
                )
            )
        facts: dict[str, Any] = {"latency_s": latency, "server_time": server, "max_latency_s": max_latency}
        # With --at the local clock is a rehearsal clock; only a broker sharing it (paper) can be compared.
        compare_skew = not ctx.clock.overridden or ctx.profile.broker.kind == "paper"
        skew = abs(server - now)
        problems: list[str] = []
        symptoms: list[str] = []
        if latency > max_latency:
            symptoms.append("slow")
            problems.append(f"the broker took {_ms(latency)} to answer, above the {_ms(max_latency)} limit")
        if compare_skew:
            facts.update(clock_skew_s=skew, max_clock_skew_s=max_skew)
            if skew > max_skew:
                symptoms.append("its clock is off")
                problems.append(
                    f"its clock differs from this machine's by {_ms(skew)}, above the {_ms(max_skew)} limit"
                )
        summary = f"answered in {_ms(latency)}" + (
            f", clock skew {_ms(skew)}" if compare_skew else ", clock skew not compared (clock overridden)"
        )
        if problems:
            return CheckOutcome.warned(
                summary,
                MciError(
                    f"the {ctx.profile.broker.kind} broker is reachable but {' and '.join(symptoms)}",
                    "; ".join(problems),
                    "check the network path to the broker; for clock skew, enable NTP (timedatectl set-ntp true)",
                ),
                **facts,
            )
        return CheckOutcome.passed(summary, **facts)


@register
class AccountBalance(Check):
    """Enough cash for the strategy's orders: an engine ignited on a thin account has its orders rejected."""

    kind = "account.balance"
    uses_broker = True

    def run(self, ctx: CheckContext, params: Mapping[str, Any]) -> CheckOutcome:
        minimum = money_param(params, "min_available")
        funds = ctx.broker.funds()
        facts = {"available": funds.available, "used": funds.used, "opening": funds.opening, "min_available": minimum}
        if funds.available >= minimum:
            return CheckOutcome.passed(f"{format_money(funds.available)} available ≥ {format_money(minimum)}", **facts)
        return CheckOutcome.failed(
            MciError(
                f"{format_money(funds.available)} available, below the {format_money(minimum)} threshold",
                f"the broker reports {format_money(funds.available)} usable for new orders "
                f"({format_money(funds.used)} used as margin, {format_money(funds.opening)} at opening); "
                f"the checklist requires at least {format_money(minimum)}, short by {format_money(minimum - funds.available)}",
                "add funds to the trading account, or lower min_available in the profile's scan override "
                "if the strategy truly needs less",
            ),
            **facts,
        )


@register
class AccountPositions(Check):
    """Open positions carried in count against the limit the engine will trade under."""

    kind = "account.positions"
    uses_broker = True

    def run(self, ctx: CheckContext, params: Mapping[str, Any]) -> CheckOutcome:
        limit = int_param(params, "max_open", ctx.profile.risk.max_open_positions)
        held = [p for p in ctx.broker.positions() if p.quantity != 0]
        listing = [f"{p.exchange}:{p.symbol} {p.quantity:+d} {p.product}" for p in held]
        facts = {"open": len(held), "max_open": limit, "positions": listing}
        if len(held) <= limit:
            detail = f" ({', '.join(listing)})" if listing else ""
            return CheckOutcome.passed(f"{len(held)} open position(s) ≤ {limit} allowed{detail}", **facts)
        return CheckOutcome.failed(
            MciError(
                f"{len(held)} open positions, above the limit of {limit}",
                f"the broker holds: {', '.join(listing)}",
                "square off at the broker what should not be carried into the session, "
                "or raise risk.max_open_positions if the limit is wrong",
            ),
            **facts,
        )


@register
class StaleOrders(Check):
    """Orders left open from an earlier run can fill unexpectedly once the engine starts trading."""

    kind = "orders.stale"
    uses_broker = True

    def run(self, ctx: CheckContext, params: Mapping[str, Any]) -> CheckOutcome:
        max_age = duration_param(params, "max_age", timedelta(minutes=5))
        now = ctx.clock.now()
        open_orders = [o for o in ctx.broker.orders() if o.is_open]
        stale = [(o, now - o.placed_at) for o in open_orders if now - o.placed_at > max_age]
        facts: dict[str, Any] = {"open": len(open_orders), "stale": len(stale), "max_age_s": max_age}
        if not stale:
            if open_orders:
                return CheckOutcome.passed(
                    f"{len(open_orders)} open order(s), none older than {format_duration(max_age)}", **facts
                )
            return CheckOutcome.passed("no open orders", **facts)
        listing = [
            f"{o.order_id} {o.exchange}:{o.symbol} {o.side} {o.quantity} {o.status} age {format_duration(_age(age))}"
            for o, age in stale
        ]
        facts["orders"] = [{"order_id": o.order_id, "symbol": o.symbol, "age_s": age} for o, age in stale]
        return CheckOutcome.failed(
            MciError(
                f"{len(stale)} open order(s) older than {format_duration(max_age)}",
                "; ".join(listing),
                "cancel them at the broker before igniting, so nothing fills behind the engine's back",
            ),
            **facts,
        )


def _age(delta: timedelta) -> timedelta:
    return timedelta(seconds=int(delta.total_seconds()))
