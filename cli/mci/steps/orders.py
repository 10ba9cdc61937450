"""orders.complete / orders.cancel_all / positions.square_off: leave the book as the sequence promises.

The order work itself (paced to the broker's rate limit, tagged so a rerun
never doubles an order) is mci.flatten; every order action it takes is
written to the audit log before and after.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any, Mapping

from mci.checks import duration_param
from mci.steps.base import Step, StepContext, StepOutcome, register

DEFAULT_RATE = 10.0  # Kite's order rate limit, per second


def order_rate(ctx: StepContext) -> float:
    # Requests per second for pacing against the clock: a rate of time, not money, hence float.
    declared = ctx.profile.risk.max_orders_per_second
    return float(declared) if isinstance(declared, Decimal) and declared > 0 else DEFAULT_RATE


def _on_event(ctx: StepContext):
    def record(kind: str, data: Mapping[str, Any]) -> None:
        ctx.audit("order", {"event": kind, **data})

    return record


def _open_orders(ctx: StepContext) -> list[Any]:
    return [o for o in ctx.broker.orders() if o.is_open]


def _cancel_all(ctx: StepContext, within: timedelta) -> Any:
    from mci import flatten

    report = flatten.cancel_open_orders(ctx.broker, rate=order_rate(ctx), deadline=within, run_id=ctx.run_id,
                                        clock=ctx.clock, on_event=_on_event(ctx))
    _raise_unless_flat(report)
    return report


def _raise_unless_flat(report: Any) -> None:
    error = report.as_error()  # INCOMPLETE (exit 6), listing what remains
    if error is not None:
        raise error


@register
class OrdersComplete(Step):
    """Wait for pending orders to reach a final state, then cancel what is still open."""

    kind = "orders.complete"

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> StepOutcome:
        within = duration_param(params, "within", timedelta(seconds=30))
        deadline = ctx.clock.monotonic() + within.total_seconds()
        pending = _open_orders(ctx)
        initially = len(pending)
        while pending and ctx.clock.monotonic() < deadline:
            ctx.progress(f"{len(pending)} order(s) pending")
            ctx.clock.sleep(min(0.5, max(deadline - ctx.clock.monotonic(), 0)))
            pending = _open_orders(ctx)
        if not pending:
            return StepOutcome(f"no pending orders ({initially} completed)" if initially else "no pending orders",
                               {"completed": initially, "cancelled": 0})
        report = _cancel_all(ctx, within=max(within, timedelta(seconds=10)))
        cancelled = len(report.cancelled)
        return StepOutcome(f"{initially - len(pending)} order(s) completed, {cancelled} cancelled after {within}",
                           {"completed": initially - len(pending), "cancelled": cancelled})


@register
class OrdersCancelAll(Step):
    kind = "orders.cancel_all"

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> StepOutcome:
        within = duration_param(params, "within", timedelta(seconds=30))
        report = _cancel_all(ctx, within)
        cancelled = report.cancelled
        return StepOutcome(f"{len(cancelled)} order(s) cancelled" if cancelled else "no open orders",
                           {"cancelled": list(cancelled)})


@register
class PositionsSquareOff(Step):
    """Close every open position (or only `products`) with market orders until flat or `within` passes."""

    kind = "positions.square_off"

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> StepOutcome:
        from mci import flatten

        within = duration_param(params, "within", timedelta(seconds=60))
        products = params.get("products")
        report = flatten.flatten(ctx.broker, deadline=within, rate=order_rate(ctx),
                                 products=tuple(products) if products else None, run_id=ctx.run_id,
                                 clock=ctx.clock, on_event=_on_event(ctx))
        _raise_unless_flat(report)
        return StepOutcome(f"flat: {len(report.placed)} square-off order(s), {len(report.cancelled)} cancelled, "
                           f"{report.rounds} round(s)", report.as_dict())
