"""`mci calendar update` and `mci calendar show`: the library calls and their text / JSON output."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mci.errors import UsageError
from mci.output.console import emit, emit_json

if TYPE_CHECKING:
    from mci.clock import Clock
    from mci.config.model import Profile


def _segments(raw: str | None) -> tuple[str, ...] | None:
    from mci.market.calendar import SEGMENT_EXCHANGES

    if raw is None:
        return None
    out = tuple(dict.fromkeys(s.strip().upper() for s in raw.split(",") if s.strip()))
    unknown = [s for s in out if s not in SEGMENT_EXCHANGES]
    if not out or unknown:
        raise UsageError(f"--segment {raw!r} names an unknown segment", f"segments are {', '.join(SEGMENT_EXCHANGES)}",
                         "write it like --segment CM,FO")
    return out


def update(profile: "Profile", clock: "Clock", state_dir: Path, output: str, *, from_file: Path | None, url: str,
           segment: str | None, write: Path | None, install: bool, timeout: float) -> int:
    from mci.market import calendar_update, nse_holidays
    from mci.market.calendar import calendar_for, local_calendars_dir

    if write is not None and install:
        raise UsageError("--write and --install together", "the calendar is written to one place",
                         "use --install (the local calendar every profile naming it reads) or --write PATH")
    segments = _segments(segment)
    base = calendar_for(profile, state_dir)
    now = clock.now()
    listing = nse_holidays.read_file(from_file, now=now) if from_file else nse_holidays.fetch(url, timeout=timeout, now=now)
    plan = calendar_update.plan(base, listing, segments)
    target = local_calendars_dir(state_dir) / f"{base.name}.yaml" if install else write
    new_calendar, warnings = calendar_update.check_text(plan.text, target or base.path or Path(f"{base.name}.yaml"))
    if target is not None:
        calendar_update.write_atomic(target, plan.text)
    payload: dict[str, Any] = {
        "status": "written" if target else "dry-run",
        "base": str(base.path), "origin": listing.origin, "read_at": listing.read_at.isoformat(),
        "segments": list(plan.segments), "years": list(plan.years),
        "covers": {"from": base.covers_from.isoformat(), "until_before": base.covers_until.isoformat(),
                   "until": plan.covers_until.isoformat()},
        "changes": [c.as_dict() for c in plan.changes],
        "skipped_weekend": [{"date": d.isoformat(), "name": n} for d, n in plan.skipped],
        "notes": plan.notes, "warnings": [w.as_dict() for w in warnings],
        "written": str(target) if target else None,
    }
    if output == "json":
        emit_json(payload)
        return 0
    emit(f"{base.label} holidays {', '.join(map(str, plan.years))} ({', '.join(plan.segments)}) from {listing.origin}")
    emit(f"  compared with {base.path}")
    for change in plan.changes:
        emit("  " + change.describe())
    if not plan.changes:
        emit("  no change to the holidays of " + ", ".join(map(str, plan.years)))
    for d, n in plan.skipped:
        emit(f"  (left out: {d:%a %Y-%m-%d} {n} falls on a weekend day)")
    for note in plan.notes:
        emit(f"  note: {note}")
    for warning in warnings:
        emit("warning: " + warning.render())
    removed = sum(c.kind == "removed" for c in plan.changes)
    if plan.extends:
        emit(f"coverage: {base.covers_from} to {plan.covers_until} (was until {base.covers_until})")
    else:
        emit(f"coverage unchanged: until {base.covers_until}"
             + ("" if plan.years[-1] > base.covers_until.year else
                f" (the list is for {plan.years[-1]}; NSE publishes next year's in December)"))
    if removed:
        emit(f"{removed} holiday(s) removed: the scan will pass on those days (`mci policy diff` reports it as a loosening)")
    if target is None:
        emit("nothing written: pass --install (the local calendar, used by every profile naming "
             f"`{base.name}`) or --write PATH")
    else:
        emit(f"written: {target} ({len(new_calendar.holidays)} holidays until {new_calendar.covers_until})")
        if not install:
            emit(f"  use it with market.calendar: {target} in a profile, or install it with --install")
    return 0


def show(profile: "Profile", clock: "Clock", state_dir: Path, output: str, days: int) -> int:
    from datetime import timedelta

    from mci.market.calendar import CalendarCoverageError, calendar_for

    calendar = calendar_for(profile, state_dir)
    today = calendar.local(clock.now()).date()
    rows = []
    for offset in range(days):
        d = today + timedelta(days=offset)
        try:
            sessions = calendar.sessions_on(d)
        except CalendarCoverageError:
            rows.append((d, "unknown", "beyond the calendar's coverage"))
            continue
        special = calendar.special_session(d)
        if sessions is None:
            rows.append((d, "closed", calendar.holiday_name(d) or "weekend"))
        else:
            pre, normal = sessions
            note = f"{normal.start:%H:%M}-{normal.end:%H:%M}" + (f" {special.name}" if special else "")
            rows.append((d, "special" if special else "open", note))
    left = (calendar.covers_until - today).days
    if output == "json":
        emit_json({"calendar": calendar.name, "file": str(calendar.path), "source": calendar.source,
                   "segments": list(calendar.segments), "covers": {"from": calendar.covers_from.isoformat(),
                                                                   "until": calendar.covers_until.isoformat()},
                   "days_of_coverage_left": left,
                   "days": [{"date": d.isoformat(), "status": s, "note": n} for d, s, n in rows]})
        return 0
    emit(f"{calendar.label} calendar {calendar.path} ({', '.join(calendar.segments)})")
    emit(f"  covers {calendar.covers_from} to {calendar.covers_until} ({left} day(s) left); source: {calendar.source}")
    for d, status, note in rows:
        emit(f"  {d:%a %Y-%m-%d}  {status:<8} {note}")
    return 0
