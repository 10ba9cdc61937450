"""Delete the account's active GTTs, so that nothing re-enters the market after a kill.

A GTT (good-till-triggered) lives at the broker, not in the order book: cancelling every order leaves it armed, and
when its price is crossed it places a fresh order (https://kite.trade/docs/connect/v3/gtt/). The emergency lists the
GTTs and deletes every active one, writing each action to the audit log before and after (`on_event`).

Idempotent: a rerun lists again and finds nothing active; a GTT that fired or was deleted between the list and the
delete is confirmed by the broker's own re-read (KiteBroker.delete_gtt), never counted as a failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from mci.errors import MciError

EventSink = Callable[[str, dict[str, Any]], None]


@dataclass
class GttReport:
    deleted: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    remaining: list[int] = field(default_factory=list)  # still active when listed again afterwards

    def as_dict(self) -> dict[str, Any]:
        return {
            "deleted": self.deleted,
            "failed": {str(k): v for k, v in self.failed.items()},
            "remaining": self.remaining,
        }


def delete_active_gtts(broker: Any, *, run_id: str, on_event: EventSink | None = None) -> GttReport:
    """List the GTTs, delete every active one, list again to confirm; MciError from the first list propagates."""

    def emit(kind: str, data: dict[str, Any]) -> None:
        if on_event is not None:
            on_event(kind, {"run_id": run_id, **data})

    report = GttReport()
    for gtt in broker.gtts():
        if not gtt.is_active:
            continue
        base = {"trigger_id": gtt.trigger_id, "exchange": gtt.exchange, "symbol": gtt.symbol, "type": gtt.kind}
        emit("gtt.delete.before", base)
        try:
            broker.delete_gtt(gtt.trigger_id)
        except MciError as exc:
            report.failed[gtt.trigger_id] = exc.what
            emit("gtt.delete.after", {**base, "result": "failed", "error": exc.what})
            continue
        report.deleted.append(gtt.trigger_id)
        emit("gtt.delete.after", {**base, "result": "deleted"})
    if report.deleted or report.failed:  # confirm from a fresh list; none active at first needs no second read
        report.remaining = [g.trigger_id for g in broker.gtts() if g.is_active]
    return report
