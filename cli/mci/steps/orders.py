"""orders.complete / orders.cancel_all / positions.square_off: leave the book as the sequence promises.

The order work itself (paced to the broker's rate limit, tagged so a rerun
never doubles an order) is mci.flatten; every order action it takes is
written to the audit log before and after.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any, Callable, Mapping

from mci.checks import duration_param
from mci.steps.base import Step, StepContext, StepOutcome, register

DEFAULT_RATE = 10.0  # Kite's order rate limit, per second


def order_rate(ctx: StepContext) -> float:
    # Requests per second for pacing against the clock: a rate of time, not money, hence float.
    declared = ctx.profile.risk.max_orders_per_second
    return float(declared) if isinstance(declared, Decimal) and declared > 0 else DEFAULT_RATE


def _on_event(ctx: StepContext) -> Callable[[str, Mapping[str, Any]], None]:
    def record(kind: str, data: Mapping[str, Any]) -> None:
        ctx.audit("order", {"event": kind, **data})

    return record


def _open_orders(ctx: StepContext) -> list[Any]:
    return [o for o in ctx.broker.orders() if o.is_open]


STOP_TYPES = ("SL", "SL-M")


def _closes(order: Any, quantity: int) -> bool:
    return (quantity > 0 and order.side == "SELL") or (quantity < 0 and order.side == "BUY")


def protective_stops(orders: list[Any], positions: list[Any]) -> set[str]:
    """Resting SL / SL-M orders on the closing side of an open position of the same instrument and product."""
    held = {(p.exchange, p.symbol, p.product): p.quantity for p in positions if p.quantity}
    return {
        o.order_id
        for o in orders
        if o.is_open and o.order_type in STOP_TYPES and _closes(o, held.get((o.exchange, o.symbol, o.product), 0))
    }


def unprotected_positions(orders: list[Any], positions: list[Any]) -> list[str]:
    """Open positions with no resting stop to limit their loss, as `NSE:INFY CNC +10`."""
    stops = protective_stops(orders, positions)
    covered = {(o.exchange, o.symbol, o.product) for o in orders if o.order_id in stops}
    return [
        f"{p.exchange}:{p.symbol} {p.product} {p.quantity:+d}"
        for p in positions
        if p.quantity and (p.exchange, p.symbol, p.product) not in covered
    ]


def _cancel_all(ctx: StepContext, within: timedelta, keep: set[str] | frozenset[str] = frozenset()) -> Any:
    from mci import flatten

    report = flatten.cancel_open_orders(
        ctx.broker,
        rate=order_rate(ctx),
        deadline=within,
        run_id=ctx.run_id,
        clock=ctx.clock,
        on_event=_on_event(ctx),
        keep=keep,
        select=ctx.selection,
    )
    _raise_unless_flat(report)
    return report


def _raise_unless_flat(report: Any) -> None:
    error = report.as_error()  # INCOMPLETE (exit 6), listing what remains
    if error is not None:
        raise error


@register
class OrdersComplete(Step):
    """Wait for pending orders to reach a final state, then cancel what is still open.

    A graceful shutdown keeps positions, so it keeps what protects them: the SL / SL-M orders on the
    closing side of a kept position are neither waited for (they rest until triggered) nor cancelled,
    unless `keep_stops: false`. Every kept position left without a stop is named in the outcome.
    """

    kind = "orders.complete"

    def _pending(self, ctx: StepContext, keep_stops: bool) -> tuple[list[Any], set[str]]:
        orders = [o for o in ctx.broker.orders() if o.is_open]
        stops = protective_stops(orders, ctx.broker.positions()) if keep_stops and orders else set()
        return [o for o in orders if o.order_id not in stops], stops

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> StepOutcome:
        within = duration_param(params, "within", timedelta(seconds=30))
        keep_stops = params.get("keep_stops", True) is not False
        deadline = ctx.clock.monotonic() + within.total_seconds()
        pending, stops = self._pending(ctx, keep_stops)
        initially = len(pending)
        while pending and ctx.clock.monotonic() < deadline:
            ctx.progress(f"{len(pending)} order(s) pending")
            ctx.clock.sleep(min(0.5, max(deadline - ctx.clock.monotonic(), 0)))
            pending, stops = self._pending(ctx, keep_stops)
        cancelled = 0
        if pending:
            report = _cancel_all(ctx, within=max(within, timedelta(seconds=10)), keep=stops)
            cancelled = len(report.cancelled)
        unprotected = unprotected_positions(list(ctx.broker.orders()), list(ctx.broker.positions()))
        facts = {
            "completed": initially - len(pending),
            "cancelled": cancelled,
            "stops_kept": sorted(stops),
            "unprotected": unprotected,
        }
        if not initially:
            summary = "no pending orders"
        elif not pending:
            summary = f"no pending orders ({initially} completed)"
        else:
            summary = f"{initially - len(pending)} order(s) completed, {cancelled} cancelled after {within}"
        if stops:
            summary += f"; {len(stops)} protective stop(s) kept"
        if unprotected:
            summary += f"; {len(unprotected)} kept position(s) WITHOUT a stop: {', '.join(unprotected)}"
        return StepOutcome(summary, facts)


@register
class OrdersCancelAll(Step):
    kind = "orders.cancel_all"

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> StepOutcome:
        within = duration_param(params, "within", timedelta(seconds=30))
        report = _cancel_all(ctx, within)
        cancelled = report.cancelled
        where = f" in scope {ctx.selection.label()}" if ctx.selection is not None else ""
        return StepOutcome(
            f"{len(cancelled)} order(s) cancelled{where}" if cancelled else f"no open orders{where}",
            {"cancelled": list(cancelled)},
        )


@register
class PositionsSquareOff(Step):
    """Close every open position (or only `products`) with market orders until flat or `within` passes."""

    kind = "positions.square_off"

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> StepOutcome:
        from mci import flatten

        within = duration_param(params, "within", timedelta(seconds=60))
        products = params.get("products")
        report = flatten.flatten(
            ctx.broker,
            deadline=within,
            rate=order_rate(ctx),
            products=tuple(products) if products else None,
            run_id=ctx.run_id,
            clock=ctx.clock,
            on_event=_on_event(ctx),
            select=ctx.selection,
        )
        _raise_unless_flat(report)
        return StepOutcome(
            f"flat: {len(report.placed)} square-off order(s), {len(report.cancelled)} cancelled, "
            f"{report.rounds} round(s)",
            report.as_dict(),
        )


@register
class GttDeleteAll(Step):
    """Delete every active GTT of the account (on by default; `enabled: false` keeps them, e.g. a profile whose
    GTTs are long-term exits it wants left in place)."""

    kind = "gtt.delete_all"

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> StepOutcome:
        from mci.errors import ExitCode, MciError
        from mci.flatten.gtts import delete_active_gtts

        if params.get("enabled", True) is False:
            return StepOutcome("GTTs kept (enabled: false)", {"enabled": False})
        if not hasattr(ctx.broker, "gtts"):
            return StepOutcome(f"the {ctx.broker.name} broker has no GTTs", {"deleted": []})
        report = delete_active_gtts(ctx.broker, run_id=ctx.run_id, on_event=_on_event(ctx))
        if report.remaining:
            raise MciError(
                f"{len(report.remaining)} GTT(s) still active: {', '.join(map(str, report.remaining))}",
                "; ".join(sorted(set(report.failed.values()))) or "the broker kept them active",
                "delete them in Kite (GTT tab) or run the kill again: a GTT fires a new order when its "
                "price is crossed",
                ExitCode.INCOMPLETE,
                details=report.as_dict(),
            )
        n = len(report.deleted)
        return StepOutcome(f"{n} GTT(s) deleted" if n else "no active GTTs", report.as_dict())
