"""The outcome of a flatten (or of a cancel-only pass), JSON-able for the audit log and `--output json`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from mci.brokers.base import Order, Position
from mci.errors import ExitCode, MciError


def _money(d: Decimal) -> str:
    return str(d)


def position_dict(p: Position) -> dict[str, Any]:
    return {
        "exchange": p.exchange,
        "symbol": p.symbol,
        "product": p.product,
        "quantity": p.quantity,
        "average_price": _money(p.average_price),
        "last_price": _money(p.last_price),
        "realised": _money(p.realised),
        "unrealised": _money(p.unrealised),
    }


def order_dict(o: Order) -> dict[str, Any]:
    return {
        "order_id": o.order_id,
        "exchange": o.exchange,
        "symbol": o.symbol,
        "side": o.side,
        "quantity": o.quantity,
        "filled_quantity": o.filled_quantity,
        "order_type": o.order_type,
        "product": o.product,
        "price": _money(o.price),
        "trigger_price": _money(o.trigger_price),
        "status": o.status,
        "tag": o.tag,
        "placed_at": o.placed_at.isoformat(),
    }


def unclosed_line(u: dict[str, Any]) -> str:
    """`NSE:INFY MIS +10: at lower circuit ₹1461.35: no buyers, exit order 1 rests unfilled at ₹1461.35`."""
    return f"{u['instrument']} {u['product']} {u['quantity']:+d}: " + ", ".join(r["text"] for r in u["reasons"])


@dataclass(frozen=True)
class FlattenReport:
    """What a flatten did and what is left.

    flat: after the final re-read, no open order and no non-zero position (within
    the products asked for). For `cancel_open_orders` (scope "cancel") positions
    are neither touched nor read: flat means no open order remains.
    """

    flat: bool
    rounds: int
    cancelled: tuple[str, ...]  # order ids this call cancelled
    placed: tuple[str, ...]  # square-off order ids this call placed (or found placed after an ambiguous failure)
    remaining_positions: tuple[Position, ...]
    remaining_orders: tuple[Order, ...]
    errors: tuple[str, ...]  # WHAT lines of failures that did not stop the run, first occurrence order
    elapsed: timedelta
    run_id: str = ""
    scope: str = "flatten"  # "flatten" | "cancel"
    final_read: bool = True  # False: the last re-read failed, remaining_* are from an earlier read
    throttled: int = 0  # order actions the broker answered with 429 (backed off and retried, not failures)
    # Per position left open: {instrument, product, quantity, start_quantity, closed, last_price, reasons: [{kind,
    # text, ...}]}; kinds: lower_circuit/upper_circuit (price), rejected (message: Kite's text), cancelled_by_exchange
    # (message), resting (order_id, price), partial (filled, of), deadline.
    unclosed: tuple[dict[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "flat": self.flat,
            "scope": self.scope,
            "run_id": self.run_id,
            "rounds": self.rounds,
            "cancelled": list(self.cancelled),
            "placed": list(self.placed),
            "remaining_positions": [position_dict(p) for p in self.remaining_positions],
            "remaining_orders": [order_dict(o) for o in self.remaining_orders],
            "errors": list(self.errors),
            "elapsed_seconds": round(self.elapsed.total_seconds(), 3),
            "final_read": self.final_read,
            "throttled": self.throttled,
            "unclosed": list(self.unclosed),
        }

    def as_error(self) -> MciError | None:
        """None when flat; else the INCOMPLETE error (exit 6) an operator acts on."""
        if self.flat:
            return None
        what_left = []
        if self.unclosed:
            what_left.append(
                f"{len(self.unclosed)} position(s) not closed: "
                + "; ".join(unclosed_line(u) for u in self.unclosed[:10])
            )
        elif self.remaining_positions:
            what_left.append(
                f"{len(self.remaining_positions)} position(s): "
                + ", ".join(
                    f"{p.exchange}:{p.symbol} {p.product} {p.quantity:+d}" for p in self.remaining_positions[:10]
                )
            )
        if self.remaining_orders:
            what_left.append(
                f"{len(self.remaining_orders)} open order(s): "
                + ", ".join(
                    f"{o.order_id} {o.side} {o.quantity} {o.exchange}:{o.symbol} {o.status}"
                    for o in self.remaining_orders[:10]
                )
            )
        if not self.final_read:
            what_left.append("the broker could not be read at the end, so the account's state is unknown")
        noun = "cancel" if self.scope == "cancel" else "flatten"
        why = "; ".join(what_left) or "the account could not be confirmed flat"
        if self.errors:
            why += f"; last error: {self.errors[-1]}"
        return MciError(
            f"emergency {noun} incomplete after {self.rounds} round(s): the account is not flat",
            why,
            f"run it again with the same run id ({self.run_id}) — it resumes without duplicating orders — "
            "or close what remains by hand at the broker (the Kite console)",
            ExitCode.INCOMPLETE,
            details=self.as_dict(),
        )
