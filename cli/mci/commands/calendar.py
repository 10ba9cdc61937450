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
        raise UsageError(
            f"--segment {raw!r} names an unknown segment",
            f"segments are {', '.join(SEGMENT_EXCHANGES)}",
            "write it like --segment CM,FO",
        )
    return out


def update(
    profile: "Profile",
    clock: "Clock",
    state_dir: Path,
    output: str,
    *,
    from_file: Path | None,
    url: str,
    segment: str | None,
    write: Path | None,
    install: bool,
    timeout: float,
) -> int:
    """Each calendar that answers for the segments asked (the profile's, else the segment's own: nse for CM/FO,
    nse-cd for CD, mcx for MCX) gets the list's holidays of its segments."""
    from mci.market import calendar_update, mcx_holidays, nse_holidays
    from mci.market.calendar import calendar_for, local_calendars_dir, segment_calendar

    if write is not None and install:
        raise UsageError(
            "--write and --install together",
            "the calendar is written to one place",
            "use --install (the local calendar every profile naming it reads) or --write PATH",
        )
    segments = _segments(segment) or calendar_for(profile, state_dir).segments
    groups: dict[Path | str, tuple[list[str], Any]] = {}
    for seg in segments:
        calendar = segment_calendar(profile, state_dir, seg)
        groups.setdefault(calendar.path or calendar.name, ([], calendar))[0].append(seg)
    now = clock.now()
    if "MCX" in segments:
        if len(segments) > 1:
            raise UsageError(
                f"--segment {','.join(segments)} mixes MCX with NSE's segments",
                "MCX publishes its own holiday list; NSE's list does not hold MCX's days",
                "run it twice: --segment MCX --from-file MCX.csv, and --segment "
                + ",".join(s for s in segments if s != "MCX"),
            )
        if from_file is None:
            raise UsageError(
                "--segment MCX needs --from-file",
                f"MCX's holiday list is a table on {mcx_holidays.MCX_HOLIDAY_PAGE}, not a feed mci can fetch",
                "save the table as CSV and pass it: mci calendar update --segment MCX --from-file FILE",
            )
        listing = mcx_holidays.read_file(from_file, now=now)
    else:
        listing = (
            nse_holidays.read_file(from_file, now=now)
            if from_file
            else nse_holidays.fetch(url, timeout=timeout, now=now)
        )
    if write is not None and len(groups) > 1:
        raise UsageError(
            f"--write names one file, and {', '.join(segments)} are answered by "
            f"{len(groups)} calendars ({', '.join(c.name for _, c in groups.values())})",
            "each calendar keeps its own segments' hours",
            "pass --install, or one --segment group at a time",
        )
    results = []
    for group_segments, base in groups.values():
        plan = calendar_update.plan(base, listing, tuple(group_segments))
        target = local_calendars_dir(state_dir) / f"{base.name}.yaml" if install else write
        new_calendar, warnings = calendar_update.check_text(plan.text, target or base.path or Path(f"{base.name}.yaml"))
        results.append((base, plan, target, new_calendar, warnings))
    for _base, plan, target, _, _ in results:  # every plan checked before the first file is replaced
        if target is not None:
            calendar_update.write_atomic(target, plan.text)
    if output == "json":
        payloads = [_payload(listing, *r) for r in results]
        emit_json(payloads[0] if len(payloads) == 1 else {"status": payloads[0]["status"], "calendars": payloads})
        return 0
    for result in results:
        _text(listing, *result, install=install)
    return 0


def _payload(
    listing: Any, base: Any, plan: Any, target: Path | None, new_calendar: Any, warnings: list[Any]
) -> dict[str, Any]:
    return {
        "status": "written" if target else "dry-run",
        "calendar": base.name,
        "base": str(base.path),
        "origin": listing.origin,
        "read_at": listing.read_at.isoformat(),
        "segments": list(plan.segments),
        "years": list(plan.years),
        "covers": {
            "from": base.covers_from.isoformat(),
            "until_before": base.covers_until.isoformat(),
            "until": plan.covers_until.isoformat(),
        },
        "changes": [c.as_dict() for c in plan.changes],
        "skipped_weekend": [{"date": d.isoformat(), "name": n} for d, n in plan.skipped],
        "notes": plan.notes,
        "warnings": [w.as_dict() for w in warnings],
        "written": str(target) if target else None,
    }


def _text(
    listing: Any, base: Any, plan: Any, target: Path | None, new_calendar: Any, warnings: list[Any], *, install: bool
) -> None:
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
        emit(f"coverage: {new_calendar.covers_from} to {plan.covers_until} (was until {base.covers_until})")
    else:
        emit(
            f"coverage unchanged: until {base.covers_until}"
            + (
                ""
                if plan.years[-1] > base.covers_until.year
                else f" (the list is for {plan.years[-1]}; {listing.publisher} publishes next year's in December)"
            )
        )
    if removed:
        emit(
            f"{removed} holiday(s) removed: the scan will pass on those days (`mci policy diff` reports it as a loosening)"
        )
    if target is None:
        emit(
            "nothing written: pass --install (the local calendar, used by every profile naming "
            f"`{base.name}`) or --write PATH"
        )
    else:
        emit(f"written: {target} ({len(new_calendar.holidays)} holidays until {new_calendar.covers_until})")
        if not install:
            emit(f"  use it with market.calendar: {target} in a profile, or install it with --install")


def show(
    profile: "Profile", clock: "Clock", state_dir: Path, output: str, days: int, segment: str | None = None
) -> int:
    from datetime import timedelta

    from mci.market.calendar import CalendarCoverageError, calendar_for, segment_calendar

    chosen = _segments(segment)
    if chosen is not None and len(chosen) != 1:
        raise UsageError(
            f"--segment {segment!r} names {len(chosen)} segments",
            "one calendar is shown at a time",
            "write it like --segment MCX",
        )
    calendar = segment_calendar(profile, state_dir, chosen[0]) if chosen else calendar_for(profile, state_dir)
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
            part = calendar.closed_part(d) if special is None else None
            note = (
                f"{normal.start:%H:%M}-{normal.end:%H:%M}"
                + (f" {special.name}" if special else "")
                + (f" {calendar.holiday_name(d)} ({part} closed)" if part else "")
            )
            rows.append((d, "special" if special else "partial" if part else "open", note))
    left = (calendar.covers_until - today).days
    if output == "json":
        emit_json(
            {
                "calendar": calendar.name,
                "file": str(calendar.path),
                "source": calendar.source,
                "segments": list(calendar.segments),
                "covers": {"from": calendar.covers_from.isoformat(), "until": calendar.covers_until.isoformat()},
                "days_of_coverage_left": left,
                "days": [{"date": d.isoformat(), "status": s, "note": n} for d, s, n in rows],
            }
        )
        return 0
    emit(f"{calendar.label} calendar {calendar.path} ({', '.join(calendar.segments)})")
    emit(f"  covers {calendar.covers_from} to {calendar.covers_until} ({left} day(s) left); source: {calendar.source}")
    for d, status, note in rows:
        emit(f"  {d:%a %Y-%m-%d}  {status:<8} {note}")
    return 0
