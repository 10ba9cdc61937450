"""What the watcher tells its caller: events as they happen, and the report when it stops."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Mapping

from mci.units import format_money
from mci.errors import ExitCode

if TYPE_CHECKING:
    from mci.risk import Account, Usage

# Events worth a person's attention: these go to the notify hook as well as to on_event.
NOTIFY = frozenset(
    {
        "risk_warning",
        "reducing",
        "reduce_failed",
        "risk_breach",
        "blind",
        "token_expiring",
        "square_off",
        "emergency_failed",
        "lock_busy",
        "db_failed",
    }
)

Notify = Callable[[str, Mapping[str, Any]], None]

log = logging.getLogger("mci.watch")
log.addHandler(logging.NullHandler())  # a library logs only where its user configured logging


def log_notify(event: str, data: Mapping[str, Any]) -> None:
    """The default notify hook (notifications proper come later): a log record, never a secret in it."""
    log.warning("%s: %s", event, data.get("text", ""))


@dataclass(frozen=True)
class WatchEvent:
    kind: str  # start | poll | risk_warning | risk_clear | reducing | reduce_failed | risk_breach | unconfirmed |
    #            poll_failed | blind | seen | token_expiring | square_off | halted | lock_busy | emergency_failed |
    #            db_failed | stop | stream_up | stream_down
    at: datetime
    text: str
    level: str = "info"  # info | warn | error
    data: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "event": self.kind,
            "at": self.at.isoformat(),
            "level": self.level,
            "text": self.text,
            **{k: v for k, v in self.data.items() if k not in ("event", "at", "level", "text")},
        }


@dataclass(frozen=True)
class WatchReport:
    status: str  # stopped | tripped | squared_off | halted
    exit_code: ExitCode
    note: str
    polls: int = 0
    failed_polls: int = 0
    summary: Mapping[str, Any] = field(default_factory=dict)  # the last good read
    outcome: Mapping[str, Any] | None = None  # the emergency or end-of-day ShutdownOutcome, as a dict
    ticks: int = 0  # judgements made on the stream's ticks

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "exit_code": int(self.exit_code),
            "note": self.note,
            "polls": self.polls,
            "failed_polls": self.failed_polls,
            "ticks": self.ticks,
            "summary": dict(self.summary),
            "outcome": self.outcome,
        }


LEVELS = ("ok", "warn", "breach")


def worst(usages: "list[Usage]") -> str:
    return max((u.level for u in usages), key=LEVELS.index, default="ok")


def summary_of(account: "Account", usages: "list[Usage]", peak: Decimal) -> dict[str, Any]:
    """The heartbeat's last summary and the JSON of a poll: money as exact text."""
    return {
        "at": account.at.isoformat() if account.at else None,
        "level": worst(usages),
        "capital": str(account.capital),
        "day_pnl": str(account.day_pnl),
        "equity": str(account.equity),
        "peak_equity": str(peak),
        "open_positions": len(account.open_positions),
        "orders_today": len(account.order_times),
        "usages": [u.as_dict() for u in usages],
    }


def poll_line(account: "Account", usages: "list[Usage]") -> str:
    """One line for people: the day's P&L and every limit's share used."""
    used = " · ".join(f"{u.rule} {int(u.used * 100)}%{'!' if u.level != 'ok' else ''}" for u in usages)
    return (
        f"{worst(usages).upper():<6} day P&L {format_money(account.day_pnl)}, "
        f"{len(account.open_positions)} open · {used}"
    )
