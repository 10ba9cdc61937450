"""An exchange calendar compared: a holiday dropped, a longer session or a weekday less of weekend
lets the scan pass on a day or at an hour the exchange is closed. Times are "HH:MM" text, which sorts as time."""

from __future__ import annotations

from typing import Any, Mapping

from mci.policy.findings import LOOSENING, NEUTRAL, TIGHTENING, Change


def _holidays(data: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for entry in data.get("holidays") or []:
        if isinstance(entry, dict) and entry.get("date") is not None:
            out[str(entry["date"])] = str(entry.get("name", ""))
    return out


def compare_calendars(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    changes: list[Change] = []
    a, b = _holidays(old), _holidays(new)
    for date in sorted(set(a) - set(b)):
        changes.append(Change(LOOSENING, f"holidays.{date}", "removed", f"holiday {date} ({a[date]}) removed",
                              f"the scan now passes on {date}, when the exchange is closed", f"restore the holiday {date}",
                              ("holidays",)))
    for index, date in enumerate(b):
        if date not in a:
            changes.append(Change(TIGHTENING, f"holidays.{date}", "added", f"holiday {date} ({b[date]}) added",
                                  f"the scan fails on {date}", "", ("holidays", index)))
    for session in ("pre_open", "normal"):
        for edge, later_is_looser in (("start", False), ("end", True)):
            x = ((old.get("sessions") or {}).get(session) or {}).get(edge)
            y = ((new.get("sessions") or {}).get(session) or {}).get(edge)
            if x == y or not isinstance(x, str) or not isinstance(y, str):
                continue
            kind = LOOSENING if (y > x) == later_is_looser else TIGHTENING
            if session == "pre_open":
                kind = NEUTRAL  # the pre-open only warns; the normal session decides
            changes.append(Change(kind, f"sessions.{session}.{edge}", y, f"sessions.{session}.{edge} moved from {x} to {y}",
                                  "orders are allowed in more of the day" if kind == LOOSENING else
                                  "orders are allowed in less of the day" if kind == TIGHTENING else
                                  "the pre-open window moved; review it", f"set it back to \"{x}\"",
                                  ("sessions", session, edge)))
    gone = sorted(set(old.get("weekend") or []) - set(new.get("weekend") or []))
    if gone:
        changes.append(Change(LOOSENING, "weekend", ",".join(new.get("weekend") or []) or "none",
                              f"weekend no longer includes {', '.join(gone)}",
                              f"the scan now passes on {', '.join(gone)}", f"add {', '.join(gone)} back to weekend",
                              ("weekend",)))
    return changes
