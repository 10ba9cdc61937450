"""Checklists (scan, gates) compared check by check, by id; the bookkeeping sequences share (compare_steps).

Directions are known per field; a change without a known direction is neutral.
Anchors are ("item", id, field...), ("items",) for a removal, ("order", id) for
a reorder: the caller turns them into file:line:column of the profile or the rule.
"""

from __future__ import annotations

from datetime import time, timedelta
from decimal import Decimal
from typing import Any, Callable

from mci.config.model import Checklist
from mci.policy import fmt
from mci.policy.findings import LOOSENING, NEUTRAL, TIGHTENING, Anchor, Change

# Check params whose direction is known: +1 a higher value is looser, -1 a lower value is looser.
CHECK_PARAMS: dict[str, int] = {
    "min_available": -1,
    "warn_within": -1,
    "warn_within_days": -1,
    "min_disk_free_mb": -1,
    "max_latency": +1,
    "max_clock_skew": +1,
    "max_age": +1,
    "max_open": +1,
}
# Market hours: an earlier open or a later close lets orders go out in more of the day.
CHECK_KIND_PARAMS: dict[tuple[str, str], int] = {("market.hours", "open"): -1, ("market.hours", "close"): +1}
PARAM_UNITS = {"min_available": "money"}
PARAM_WHY = {
    "min_available": "the scan passes with as little as {new} available for new orders, instead of {old}",
    "warn_within": "the warning that the token dies comes {new} ahead, instead of {old}",
    "warn_within_days": "the end of the calendar's data is announced {new} days ahead, instead of {old}",
    "min_disk_free_mb": "the scan passes with {new} MB free on the state disk, instead of {old}",
    "max_latency": "a broker answering in up to {new} passes, instead of {old}",
    "max_clock_skew": "a clock off by up to {new} passes, instead of {old}",
    "max_age": "open orders up to {new} old pass, instead of {old}",
    "max_open": "the scan passes with {new} positions already open, instead of {old}",
    "open": "the market counts as open from {new}, instead of {old}",
    "close": "the market counts as open until {new}, instead of {old}",
}


def _comparable(old: Any, new: Any) -> bool:
    kinds = ((Decimal, int), (timedelta,), (time,))
    return (
        not isinstance(old, bool)
        and not isinstance(new, bool)
        and any(isinstance(old, k) and isinstance(new, k) for k in kinds)
    )


def directed(old: Any, new: Any, higher_is_looser: bool) -> str:
    if not _comparable(old, new):
        return NEUTRAL
    return LOOSENING if (new > old) == higher_is_looser else TIGHTENING


def moved(old: Any, new: Any, unit: str = "") -> str:
    if _comparable(old, new):
        verb = "raised" if new > old else "lowered"
        return f"{verb} from {fmt.show(old, unit)} to {fmt.show(new, unit)}"
    return f"changed from {fmt.show(old, unit)} to {fmt.show(new, unit)}"


class Items:
    """Shared bookkeeping of one checklist or sequence comparison."""

    def __init__(self, label: str, prefix: str, noun: str):
        self.label, self.prefix, self.noun = label, prefix, noun
        self.changes: list[Change] = []

    def add(self, kind: str, key: str, value: Any, what: str, why: str, revert: str, anchor: Anchor) -> None:
        full = f"{self.prefix}.{key}" if key else self.prefix
        self.changes.append(
            Change(
                kind,
                full,
                value if isinstance(value, str) else fmt.token(value),
                f"{self.label}: {what}",
                why,
                revert,
                anchor,
            )
        )

    def membership(self, old: dict[str, Any], new: dict[str, Any], dropped_why: Callable[[Any], str]) -> list[str]:
        """Removed and added items; returns the ids present in both, in the new order."""
        for item_id, item in old.items():
            if item_id not in new:
                self.add(
                    LOOSENING,
                    item_id,
                    "removed",
                    f"{self.noun} {item_id} ({item.title}, {item.kind}) removed",
                    dropped_why(item),
                    f"restore the {self.noun} {item_id}",
                    ("items",),
                )
        for item_id, item in new.items():
            if item_id not in old:
                self.add(
                    TIGHTENING,
                    item_id,
                    "added",
                    f"{self.noun} {item_id} ({item.title}, {item.kind}) added",
                    f"one more {self.noun} runs",
                    "",
                    ("item", item_id),
                )
        return [i for i in new if i in old]

    def kind_changed(self, item_id: str, old: Any, new: Any) -> bool:
        if old.kind == new.kind:
            return False
        self.add(
            LOOSENING,
            f"{item_id}.kind",
            new.kind,
            f"{self.noun} {item_id} now runs {new.kind} instead of {old.kind}",
            f"what {old.kind} ensured is no longer ensured by {item_id}",
            f"set its kind back to {old.kind}",
            ("item", item_id, "kind"),
        )
        return True

    def breaker(self, item_id: str, old: str | None, new: str | None) -> None:
        if old == new:
            return
        anchor = ("item", item_id, "breaker")
        if new is None:
            self.add(
                LOOSENING,
                f"{item_id}.breaker",
                "none",
                f"{self.noun} {item_id} no longer guarded by breaker {old}",
                f"its failures no longer count toward the {old} breaker, and an open {old} breaker no longer stops it",
                f"restore breaker: {old}",
                anchor,
            )
        elif old is None:
            self.add(
                TIGHTENING,
                f"{item_id}.breaker",
                new,
                f"{self.noun} {item_id} now guarded by breaker {new}",
                "its failures count toward the breaker",
                "",
                anchor,
            )
        else:
            self.add(
                NEUTRAL,
                f"{item_id}.breaker",
                new,
                f"{self.noun} {item_id} breaker changed from {old} to {new}",
                "another breaker guards it",
                "",
                anchor,
            )

    def param(self, item_id: str, key: str, old: Any, new: Any, direction: int | None, unit: str = "") -> None:
        if old == new:
            return
        anchor = ("item", item_id, "params", key)
        name = f"{item_id}.params.{key}"
        if new is None:
            kind = LOOSENING if direction else NEUTRAL
            self.add(
                kind,
                name,
                "removed",
                f"{name} removed (was {fmt.show(old, unit)})",
                "the check's built-in default applies instead of the value written",
                f"restore {key}: {fmt.show(old, unit)}",
                ("item", item_id, "params"),
            )
            return
        kind = NEUTRAL if old is None or not direction else directed(old, new, direction > 0)
        why = "a change mci cannot rank as looser or tighter; review it"
        if kind != NEUTRAL:
            why = PARAM_WHY.get(
                key, "more is tolerated before it fails" if kind == LOOSENING else "less is tolerated before it fails"
            ).format(old=fmt.show(old, unit), new=fmt.show(new, unit))
        self.add(
            kind,
            name,
            fmt.token(new, unit),
            f"{name} {moved(old, new, unit)}",
            why,
            f"set it back to {fmt.show(old, unit)}",
            anchor,
        )


def compare_checklists(old: Checklist, new: Checklist, label: str, prefix: str) -> list[Change]:
    items = Items(label, prefix, "check")
    old_by, new_by = old.by_id(), new.by_id()
    common = items.membership(
        old_by, new_by, lambda c: f"the {label} no longer runs {c.title}: it can pass without what {c.id} verified"
    )
    for check_id in common:
        a, b = old_by[check_id], new_by[check_id]
        if items.kind_changed(check_id, a, b):
            continue
        if a.severity != b.severity:
            weaker = b.severity != "critical"
            items.add(
                LOOSENING if weaker else TIGHTENING,
                f"{check_id}.severity",
                b.severity,
                f"check {check_id} downgraded from {a.severity} to {b.severity}"
                if weaker
                else f"check {check_id} upgraded from {a.severity} to {b.severity}",
                f"a failure of {a.title} now only warns: the {label} passes and ignition goes ahead"
                if weaker
                else f"a failure of {a.title} now fails the {label}",
                f"set severity: {a.severity}",
                ("item", check_id, "severity"),
            )
        if a.timeout != b.timeout:
            items.add(
                directed(a.timeout, b.timeout, True),
                f"{check_id}.timeout",
                b.timeout,
                f"check {check_id} timeout {moved(a.timeout, b.timeout)}",
                "a hung or slow broker is waited on longer before the check fails"
                if b.timeout > a.timeout
                else "a slow answer fails the check sooner",
                f"set timeout: {fmt.show(a.timeout)}",
                ("item", check_id, "timeout"),
            )
        items.breaker(check_id, a.breaker, b.breaker)
        for key in sorted(set(a.params) | set(b.params)):
            direction = CHECK_KIND_PARAMS.get((b.kind, key), CHECK_PARAMS.get(key))
            items.param(check_id, key, a.params.get(key), b.params.get(key), direction, PARAM_UNITS.get(key, ""))
    return items.changes
