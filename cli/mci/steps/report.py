"""state.log: the final state of the day (positions, orders, P&L) in the audit log and a JSON report."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Mapping

from mci.steps.base import Step, StepContext, StepOutcome, register

if TYPE_CHECKING:
    from mci.brokers.base import Broker


def snapshot(broker: "Broker") -> dict[str, Any]:
    """Positions, open orders and funds as JSON-able data (Decimal as text: exact, never float)."""
    from mci.steps.orders import unprotected_positions

    held = broker.positions()
    book = broker.orders()
    positions = [
        {
            "instrument": f"{p.exchange}:{p.symbol}",
            "product": p.product,
            "quantity": p.quantity,
            "average_price": str(p.average_price),
            "last_price": str(p.last_price),
            "realised": str(p.realised),
            "unrealised": str(p.unrealised),
        }
        for p in held
    ]
    orders = [
        {
            "order_id": o.order_id,
            "instrument": f"{o.exchange}:{o.symbol}",
            "side": o.side,
            "quantity": o.quantity,
            "order_type": o.order_type,
            "product": o.product,
            "status": o.status,
            "tag": o.tag,
        }
        for o in book
        if o.is_open
    ]
    funds = broker.funds()
    pnl = sum((p.realised + p.unrealised for p in held), start=Decimal(0))
    return {
        "positions": positions,
        "open_positions": sum(1 for p in positions if p["quantity"] != 0),
        "open_orders": orders,
        "unprotected": unprotected_positions(list(book), list(held)),  # kept positions with no stop resting
        "pnl": str(pnl),
        "funds": {"available": str(funds.available), "used": str(funds.used), "opening": str(funds.opening)},
    }


def _earlier_snapshot(ctx: StepContext) -> dict[str, Any] | None:
    for step in reversed(ctx.journal.steps(ctx.run_id)):
        if step.facts and isinstance(step.facts.get("snapshot"), dict):
            return dict(step.facts["snapshot"])
    return None


@register
class StateLog(Step):
    kind = "state.log"

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> StepOutcome:
        state: dict[str, Any] | None
        try:
            state = snapshot(ctx.broker)
            source = "broker"
        except Exception:  # noqa: BLE001 — after secrets.clear the broker may be unreachable by design
            state = _earlier_snapshot(ctx)
            source = "snapshot taken before the credentials were cleared"
            if state is None:
                raise
        ctx.audit("final_state", {"source": source, **state})
        reports = ctx.state_dir / "reports"
        reports.mkdir(parents=True, exist_ok=True)
        path = reports / f"{ctx.profile.name}-{ctx.run_id}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {
                    "profile": ctx.profile.name,
                    "run_id": ctx.run_id,
                    "purpose": ctx.purpose,
                    "at": ctx.clock.now().isoformat(),
                    "source": source,
                    **state,
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
        os.replace(tmp, path)
        open_positions = state.get("open_positions", 0)
        unprotected = list(state.get("unprotected") or [])
        without = f", {len(unprotected)} WITHOUT a stop ({', '.join(unprotected)})" if unprotected else ""
        return StepOutcome(
            f"final state logged: {open_positions} open position(s) kept{without}, "
            f"{len(state.get('open_orders', []))} open order(s), P&L ₹{state.get('pnl')} ({path})",
            {
                "report": str(path),
                "open_positions": open_positions,
                "pnl": state.get("pnl"),
                "unprotected": unprotected,
            },
        )
