"""An exchange calendar compared: a holiday dropped, a longer session, a weekday less of weekend, a new
special session or coverage stretched over days whose holidays are not listed lets the scan pass on a day or
at an hour the exchange is closed. Times are "HH:MM" text, and dates YYYY-MM-DD text: both sort as time."""

from __future__ import annotations

from typing import Any, Mapping

from mci.policy.findings import LOOSENING, NEUTRAL, TIGHTENING, Change


def _holidays(data: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for entry in data.get("holidays") or []:
        if isinstance(entry, dict) and entry.get("date") is not None:
            out[str(entry["date"])] = str(entry.get("name", ""))
    return out


def _closed(data: Mapping[str, Any]) -> dict[str, tuple[int, str]]:
    """holiday date -> (its index, the part of the day it closes: all | morning | evening)."""
    out = {}
    for index, entry in enumerate(data.get("holidays") or []):
        if isinstance(entry, dict) and entry.get("date") is not None:
            out[str(entry["date"])] = (index, str(entry.get("closed") or "all"))
    return out


def _part_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """A holiday that closed the whole day and now closes only its morning or evening (MCX) opens a session."""
    changes: list[Change] = []
    a, b = _closed(old), _closed(new)
    for date in sorted(set(a) & set(b)):
        (_, x), (index, y) = a[date], b[date]
        if x == y:
            continue
        kind = TIGHTENING if y == "all" else LOOSENING
        changes.append(
            Change(
                kind,
                f"holidays.{date}.closed",
                y,
                f"holiday {date} now closes {'the whole day' if y == 'all' else 'the ' + y} "
                f"(was {'the whole day' if x == 'all' else 'the ' + x})",
                "the scan fails all day"
                if kind == TIGHTENING
                else f"the scan now passes in the part of {date} left open",
                "" if kind == TIGHTENING else f"check the exchange's circular, or set it back to {x}",
                ("holidays", index),
            )
        )
    return changes


def _special(data: Mapping[str, Any]) -> dict[str, tuple[int, dict[str, Any]]]:
    out = {}
    for index, entry in enumerate(data.get("special_sessions") or []):
        if isinstance(entry, dict) and entry.get("date") is not None:
            out[str(entry["date"])] = (index, entry)
    return out


def _span(entry: Mapping[str, Any]) -> str:
    normal = entry.get("normal") or {}
    return f"{normal.get('start')}-{normal.get('end')}"


def _covers_until(data: Mapping[str, Any]) -> str | None:
    until = (data.get("covers") or {}).get("until")
    return str(until) if until is not None else None


def _special_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    changes: list[Change] = []
    a, b = _special(old), _special(new)
    for date in sorted(set(a) - set(b)):
        changes.append(
            Change(
                TIGHTENING,
                f"special_sessions.{date}",
                "removed",
                f"special session {date} ({a[date][1].get('name')}) removed",
                f"the scan follows the regular calendar on {date}",
                "",
                ("special_sessions",),
            )
        )
    for date in sorted(b):
        index, entry = b[date]
        if date not in a:
            changes.append(
                Change(
                    LOOSENING,
                    f"special_sessions.{date}",
                    _span(entry),
                    f"special session {date} ({entry.get('name')}) added, {_span(entry)}",
                    f"the scan passes on {date} in {_span(entry)}, even if it is a holiday or a weekend day",
                    f"remove the special session {date} unless the exchange's circular announces it",
                    ("special_sessions", index),
                )
            )
        elif _span(entry) != _span(a[date][1]):
            changes.append(
                Change(
                    NEUTRAL,
                    f"special_sessions.{date}",
                    _span(entry),
                    f"special session {date} moved from {_span(a[date][1])} to {_span(entry)}",
                    "check the hours against the exchange's circular",
                    f"set it back to {_span(a[date][1])}",
                    ("special_sessions", index, "normal"),
                )
            )
    return changes


def _coverage_changes(old: Mapping[str, Any], new: Mapping[str, Any], added: set[str]) -> list[Change]:
    x, y = _covers_until(old), _covers_until(new)
    if x is None or y is None or x == y:
        return []
    if y < x:
        return [
            Change(
                TIGHTENING,
                "covers.until",
                y,
                f"coverage now ends {y} instead of {x}",
                f"the scan fails after {y}",
                "",
                ("covers", "until"),
            )
        ]
    listed = sorted(d for d in added if x < d <= y)
    if listed:
        return [
            Change(
                NEUTRAL,
                "covers.until",
                y,
                f"coverage extended from {x} to {y} with {len(listed)} holiday(s)",
                "check the new period's holidays against the exchange's circular",
                f"set it back to {x}",
                ("covers", "until"),
            )
        ]
    return [
        Change(
            LOOSENING,
            "covers.until",
            y,
            f"coverage extended from {x} to {y} without a holiday in between",
            f"every weekday after {x} now counts as a trading day: its holidays are not listed",
            f"add the holidays up to {y} (mci calendar update), or set it back to {x}",
            ("covers", "until"),
        )
    ]


def compare_calendars(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    changes: list[Change] = []
    a, b = _holidays(old), _holidays(new)
    for date in sorted(set(a) - set(b)):
        changes.append(
            Change(
                LOOSENING,
                f"holidays.{date}",
                "removed",
                f"holiday {date} ({a[date]}) removed",
                f"the scan now passes on {date}, when the exchange is closed",
                f"restore the holiday {date}",
                ("holidays",),
            )
        )
    for index, date in enumerate(b):
        if date not in a:
            changes.append(
                Change(
                    TIGHTENING,
                    f"holidays.{date}",
                    "added",
                    f"holiday {date} ({b[date]}) added",
                    f"the scan fails on {date}",
                    "",
                    ("holidays", index),
                )
            )
    changes += _part_changes(old, new)
    for session in ("pre_open", "normal"):
        for edge, later_is_looser in (("start", False), ("end", True)):
            x = ((old.get("sessions") or {}).get(session) or {}).get(edge)
            y = ((new.get("sessions") or {}).get(session) or {}).get(edge)
            if x == y or not isinstance(x, str) or not isinstance(y, str):
                continue
            kind = LOOSENING if (y > x) == later_is_looser else TIGHTENING
            if session == "pre_open":
                kind = NEUTRAL  # the pre-open only warns; the normal session decides
            changes.append(
                Change(
                    kind,
                    f"sessions.{session}.{edge}",
                    y,
                    f"sessions.{session}.{edge} moved from {x} to {y}",
                    "orders are allowed in more of the day"
                    if kind == LOOSENING
                    else "orders are allowed in less of the day"
                    if kind == TIGHTENING
                    else "the pre-open window moved; review it",
                    f'set it back to "{x}"',
                    ("sessions", session, edge),
                )
            )
    x = ((old.get("sessions") or {}).get("dst_close") or {}).get("end")
    y = ((new.get("sessions") or {}).get("dst_close") or {}).get("end")
    if x != y and isinstance(y, str):
        kind = LOOSENING if not isinstance(x, str) or y > x else TIGHTENING
        changes.append(
            Change(
                kind,
                "sessions.dst_close.end",
                y,
                f"the close under daylight saving time is now {y} (was {x or 'normal.end'})",
                "orders are allowed in more of the day"
                if kind == LOOSENING
                else "orders are allowed in less of the day",
                f"set it back to {x or 'normal.end'}",
                ("sessions", "dst_close"),
            )
        )
    gone = sorted(set(old.get("weekend") or []) - set(new.get("weekend") or []))
    if gone:
        changes.append(
            Change(
                LOOSENING,
                "weekend",
                ",".join(new.get("weekend") or []) or "none",
                f"weekend no longer includes {', '.join(gone)}",
                f"the scan now passes on {', '.join(gone)}",
                f"add {', '.join(gone)} back to weekend",
                ("weekend",),
            )
        )
    changes += _special_changes(old, new)
    changes += _coverage_changes(old, new, set(b) - set(a))
    return changes
