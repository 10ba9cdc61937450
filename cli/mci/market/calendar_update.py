"""`mci calendar update`: an exchange's published holiday list merged into a calendar, compared, checked, written.

The years the list covers replace those years' holidays in the base calendar (the local copy, else the
shipped one); other years, the sessions and the special sessions are kept. Coverage grows to the end of
the last year listed, never with a gap; a calendar whose coverage has wholly passed starts again at the
first year listed (the days in between are before it, unknown, as they were). A holiday that closes only
the morning or the evening (MCX) keeps that part (`closed:`). A holiday NSE lists on a weekend day changes nothing and is left
out (reported). The result is loaded with the same loader and checks as any calendar (positions,
schema, dates) before it replaces a file, atomically: a reader sees the old file or the new one whole.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from mci.errors import ConfigError, ExitCode, MciError
from mci.market.calendar import WEEKDAYS, ExchangeCalendar, parse_calendar
from mci.market.nse_holidays import HolidayList


@dataclass(frozen=True)
class Change:
    kind: str  # added | removed | renamed
    day: date
    old: str | None
    new: str | None

    def describe(self) -> str:
        if self.kind == "added":
            return f"+ {self.day:%a %Y-%m-%d}  {self.new}"
        if self.kind == "removed":
            return f"- {self.day:%a %Y-%m-%d}  {self.old}"
        return f"~ {self.day:%a %Y-%m-%d}  {self.old} -> {self.new}"

    def as_dict(self) -> dict[str, Any]:
        return {"change": self.kind, "date": self.day.isoformat(), "old": self.old, "new": self.new}


def _label(name: str, part: str | None) -> str:
    return f"{name} ({part} session closed)" if part else name


@dataclass
class Plan:
    base: ExchangeCalendar
    segments: tuple[str, ...]
    years: tuple[int, ...]
    changes: list[Change]
    text: str  # the new calendar file
    covers_until: date
    skipped: list[tuple[date, str]] = field(default_factory=list)  # listed on a weekend day
    notes: list[str] = field(default_factory=list)

    @property
    def extends(self) -> bool:
        return self.covers_until > self.base.covers_until


def _refuse(what: str, why: str, how: str) -> MciError:
    return MciError(what, why, how, ExitCode.INVALID)


def plan(base: ExchangeCalendar, listing: HolidayList, segments: tuple[str, ...] | None = None) -> Plan:
    segments = segments or base.segments
    foreign = [s for s in segments if s not in base.segments]
    if foreign:
        # Holidays are per segment, and so are hours: CD and MCX do not trade NSE cash's 09:15-15:30.
        raise _refuse(
            f"the {base.label} calendar ({base.path}) does not serve {', '.join(foreign)}",
            f"it holds the sessions of {', '.join(base.segments)}; another segment's holidays under those "
            "hours would be a calendar of a market that does not exist",
            f"use a calendar of {', '.join(foreign)}: copy {base.path}, set its `segments` and `sessions` "
            "from the exchange, point market.calendar at it, and update that one",
        )
    missing = [s for s in segments if s not in listing.segments]
    if missing:
        raise _refuse(
            f"{listing.origin} has no holidays for {', '.join(missing)}",
            f"it lists the segments {', '.join(listing.segments)}",
            f"pass --segment with some of {', '.join(listing.segments)}",
        )
    listed: dict[date, str] = {}
    parts: dict[date, str] = {}
    whole: set[date] = set()
    notes: list[str] = []
    for segment in segments:
        segment_parts = listing.partial.get(segment, {})
        for day, name in listing.segments[segment].items():
            if day in segment_parts and base.evening_start is None:
                raise _refuse(
                    f"{listing.origin} closes only the {segment_parts[day]} of {day} in {segment}",
                    f"the {base.label} calendar has no evening session (`sessions.evening_start`) to keep open",
                    f"update a calendar with morning and evening sessions (mcx) with --segment {segment}",
                )
            # A day closed whole in any segment is closed whole (the safe side); a part only if every segment says so.
            if day in segment_parts and day not in whole and parts.get(day, segment_parts[day]) == segment_parts[day]:
                parts[day] = segment_parts[day]
            else:
                whole.add(day)
                parts.pop(day, None)
            if day in listed and listed[day] != name:
                continue
            if day not in listed and segment != segments[0]:
                # One file serves every segment it names: a day closed in any of them is closed (the safe side).
                notes.append(
                    f"{day} is a holiday in {segment} only ({name}); the calendar closes it for all of "
                    f"{', '.join(segments)}"
                )
            listed[day] = name
    if not listed:
        raise _refuse(
            f"{listing.origin} lists no holiday for {', '.join(segments)}",
            "an empty list would open every weekday of the year",
            "check the file or the segment",
        )
    years = tuple(sorted({d.year for d in listed}))
    first_year, last_year = base.covers_from.year, base.covers_until.year
    covers_from = base.covers_from
    today = listing.read_at.astimezone(base.tz).date()
    if base.covers_until < today and years[0] > last_year + 1:
        # Nothing of the old coverage is still ahead: begin again at the list's first year (a calendar shipped
        # with the last list that could be verified, e.g. the currency segment's).
        covers_from = date(years[0], 1, 1)
        first_year, last_year = years[0], years[0] - 1
        notes.append(
            f"the {base.label} calendar ended {base.covers_until}; it now covers from {covers_from} "
            f"(the days before are unknown, as they were)"
        )
    for year in years:
        if year < first_year or year > last_year + 1:
            raise _refuse(
                f"the list is for {year}, and the calendar covers {base.covers_from} to {base.covers_until}",
                "coverage grows one year at a time and without gaps: a year in between would be unknown",
                f"update with the lists of the years in between first (up to {last_year + 1})",
            )
    weekend = [(d, n) for d, n in sorted(listed.items()) if d.weekday() in base.weekend]
    new = {d: _label(n, parts.get(d)) for d, n in listed.items() if (d, n) not in weekend}
    old = {d: _label(n, base.closed_part(d)) for d, n in base.holidays.items() if d.year in years}
    changes: list[Change] = []
    for day in sorted(set(old) | set(new)):
        if day not in new:
            changes.append(Change("removed", day, old[day], None))
        elif day not in old:
            changes.append(Change("added", day, None, new[day]))
        elif old[day] != new[day]:
            changes.append(Change("renamed", day, old[day], new[day]))
    holidays = {d: n for d, n in base.holidays.items() if d.year not in years and d >= covers_from}
    closed = {d: p for d, p in base.partial.items() if d in holidays}
    for d in new:
        holidays[d] = listed[d]
        if d in parts:
            closed[d] = parts[d]
    covers_until = max(base.covers_until, date(years[-1], 12, 31))
    stamp = listing.read_at.isoformat(timespec="seconds")
    previous = base.source.split(" | earlier: ")[-1]
    source = (
        f"{listing.publisher} trading holidays {', '.join(map(str, years))} ({', '.join(segments)}) from "
        f"{listing.origin}, read {stamp} by mci calendar update | earlier: {previous}"
    )
    text = render(
        base,
        segments=segments,
        source=source,
        covers_from=covers_from,
        covers_until=covers_until,
        holidays=holidays,
        closed=closed,
    )
    return Plan(base, segments, years, changes, text, covers_until, weekend, notes)


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def _session(s: Any) -> str:
    return f'{{start: "{s.start:%H:%M}", end: "{s.end:%H:%M}"}}'


def render(
    base: ExchangeCalendar,
    *,
    segments: tuple[str, ...],
    source: str,
    covers_from: date,
    covers_until: date,
    holidays: dict[date, str],
    closed: dict[date, str],
) -> str:
    lines = [
        "# yaml-language-server: $schema=https://mci.dev/schemas/calendar.schema.json",
        "# Written by `mci calendar update`. Check it with `mci validate FILE`; compare it with",
        "# `mci policy diff FILE --base OLD` (a removed holiday is a loosening).",
        "version: 1",
        "kind: calendar",
        f"name: {base.name}",
        f"timezone: {base.timezone}",
        f"source: {_q(source)}",
    ]
    if base.source_url:
        lines.append(f"source_url: {base.source_url}")
    lines += [
        f"segments: [{', '.join(segments)}]",
        "sessions:",
        f"  pre_open: {_session(base.pre_open)}",
        f"  normal: {_session(base.normal)}",
    ]
    if base.evening_start is not None:
        lines.append(f'  evening_start: "{base.evening_start:%H:%M}"')
    if base.dst_close is not None:
        lines.append(f'  dst_close: {{zone: {base.dst_close[0]}, end: "{base.dst_close[1]:%H:%M}"}}')
    lines += [
        f"weekend: [{', '.join(WEEKDAYS[i] for i in sorted(base.weekend))}]",
        f"covers: {{from: {covers_from.isoformat()}, until: {covers_until.isoformat()}}}",
        "holidays:",
    ]
    year = None
    for day, name in sorted(holidays.items()):
        if day.year != year:
            year = day.year
            lines.append(f"  # {year}")
        part = f", closed: {closed[day]}" if day in closed else ""
        lines.append(f"  - {{date: {day.isoformat()}, name: {_q(name)}{part}}}")
    special_days = {d: s for d, s in base.special.items() if covers_from <= d}
    if special_days:
        lines.append("special_sessions:")
        for day, special in special_days.items():
            pre = f", pre_open: {_session(special.pre_open)}" if special.pre_open else ""
            lines.append(
                f"  - {{date: {day.isoformat()}, name: {_q(special.name)}{pre}, normal: {_session(special.normal)}}}"
            )
    return "\n".join(lines) + "\n"


def check_text(text: str, path: Path) -> tuple[ExchangeCalendar, list[ConfigError]]:
    """The new file's text loaded and checked exactly as `mci validate` would (loader, schema, dates).

    It is read from a scratch copy, so a dry run creates nothing where the calendar would go.
    """
    import tempfile

    from mci.config.loader import read_document
    from mci.config.schema import validate_document

    try:
        with tempfile.TemporaryDirectory(prefix="mci-calendar-") as scratch:
            copy = Path(scratch) / path.name
            copy.write_text(text, encoding="utf-8")
            doc, errors = read_document(copy)
            if doc is None or errors:
                raise (
                    errors[0]
                    if errors
                    else _refuse(
                        "the new calendar cannot be read",
                        "the loader refused it",
                        "report this: mci wrote a calendar it cannot read",
                    )
                )
            schema_errors = validate_document(doc, "calendar")
            if schema_errors:
                raise schema_errors[0]
            warnings: list[ConfigError] = []
            return parse_calendar(doc, path, warnings), warnings
    except OSError as exc:
        raise MciError(
            "cannot check the new calendar",
            f"the temporary directory: {exc.strerror or type(exc).__name__}",
            "set TMPDIR to a writable directory",
            ExitCode.UNAVAILABLE,
        ) from None


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "x", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise MciError(
            f"cannot write {path}",
            exc.strerror or type(exc).__name__,
            "choose a writable --write PATH",
            ExitCode.UNAVAILABLE,
        ) from None
