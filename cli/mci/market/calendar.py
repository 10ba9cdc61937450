"""Exchange calendars: sessions, weekends, holidays and special sessions from `rules/calendars/<name>.yaml`.

A calendar knows a stated period (`covers`); outside it, whether a weekday
trades is UNKNOWN and `is_trading_day` raises: it never guesses, because
a wrong "open" on an unlisted holiday is the false pass this tool exists to
prevent. Weekends are known everywhere (the safe direction: closed).

A segment's day may have two parts: MCX trades a morning session (09:00-17:00) and an evening session
(17:00 to 23:30 or 23:55: the close follows US daylight saving time, `sessions.dst_close`), and on many
exchange holidays it closes only the morning (`closed: morning` on the holiday) and trades the evening.

A special session overrides the day's sessions: Muhurat trading on a holiday,
a weekend day the exchange declares open (Budget day, Sunday 2026-02-01), a
day with changed hours. Only the calendar file can open a closed day.

Which file: a profile's `market.calendar` is a name (the local copy written by
`mci calendar update` in `<state dir>/calendars/<name>.yaml` when there is
one, else the shipped `rules/calendars/<name>.yaml`) or a path to a calendar
file, relative to the profile. It answers for the segments its `segments` lists; a segment the profile
trades (its risk.allowed_exchanges) that it does not serve is answered by that segment's own calendar,
by name (SEGMENT_CALENDARS: CD -> nse-cd, MCX -> mcx), local copy first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from mci.clock import zone

# The segments a calendar may serve and the exchanges in each, profile_segments: the vocabulary a profile is
# built with, below this package; re-exported for the readers of calendars.
from mci.config.segments import SEGMENT_EXCHANGES as SEGMENT_EXCHANGES
from mci.config.segments import profile_segments as profile_segments
from mci.config.segments import segment_of as segment_of
from mci.errors import ConfigError, ExitCode, MciError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]*$")
_HHMM_RE = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


class MarketPhase(str, Enum):
    WEEKEND = "weekend"
    HOLIDAY = "holiday"
    BEFORE_PRE_OPEN = "before_pre_open"
    PRE_OPEN = "pre_open"
    OPEN = "open"
    CLOSED_AFTER = "closed_after"
    UNKNOWN = "unknown"  # a weekday outside the calendar's coverage

    @property
    def is_open(self) -> bool:
        return self is MarketPhase.OPEN


class CalendarCoverageError(MciError):
    """The date is outside the calendar's coverage: whether it trades is unknown."""

    def __init__(self, calendar: "ExchangeCalendar", day: date):
        super().__init__(
            f"cannot know if {day:%A %Y-%m-%d} is a trading day: the {calendar.label} calendar covers "
            f"{calendar.covers_from} to {calendar.covers_until}",
            f"{calendar.label} publishes its holiday list one year at a time; mci does not guess unlisted years",
            update_how(calendar),
            ExitCode.FAILED,
            None,
            {
                "date": day.isoformat(),
                "covers_from": calendar.covers_from.isoformat(),
                "covers_until": calendar.covers_until.isoformat(),
            },
        )


def update_how(calendar: "ExchangeCalendar") -> str:
    """The one remedy for a calendar running out, everywhere it is reported (scan, doctor, risk check)."""
    if "MCX" in calendar.segments:
        return (
            f"save MCX's published holiday table as CSV and run `mci calendar update --segment MCX --from-file "
            f"FILE --install` to extend the calendar beyond {calendar.covers_until}; "
            f"source: {calendar.source_url or calendar.source}"
        )
    flag = "" if set(calendar.segments) <= {"CM", "FO"} else f" --segment {','.join(calendar.segments)}"
    return (
        f"run `mci calendar update{flag} --install` to fetch {calendar.label}'s published holiday list (or "
        f"`--from-file` with a saved copy of it) and extend the calendar beyond {calendar.covers_until}; "
        f"source: {calendar.source_url or calendar.source}"
    )


@dataclass(frozen=True)
class Session:
    start: time
    end: time


@dataclass(frozen=True)
class SpecialSession:
    """A day whose sessions differ from the regular ones; it trades even if it is a holiday or a weekend day."""

    name: str
    pre_open: Session | None
    normal: Session


# The calendar that answers for a segment the profile's own calendar does not serve (by name: the local copy
# written by `mci calendar update --install` first, else the shipped rules/calendars/<name>.yaml).
SEGMENT_CALENDARS = {"CM": "nse", "FO": "nse", "CD": "nse-cd", "MCX": "mcx"}
PARTS = ("morning", "evening")  # the part of a day a holiday may close alone (`closed:`)


@dataclass(frozen=True)
class ExchangeCalendar:
    name: str
    source: str
    source_url: str | None
    timezone: str
    pre_open: Session
    normal: Session
    weekend: frozenset[int]  # date.weekday() numbers
    covers_from: date
    covers_until: date
    holidays: Mapping[date, str]
    path: Path | None = None
    special: Mapping[date, SpecialSession] = field(default_factory=dict)
    segments: tuple[str, ...] = ("CM",)
    evening_start: time | None = None  # where the evening session begins (MCX: 17:00)
    dst_close: tuple[str, time] | None = None  # (zone, close): the close while that zone keeps summer time
    partial: Mapping[date, str] = field(default_factory=dict)  # holiday -> the part closed (morning | evening)

    @property
    def label(self) -> str:
        return self.name.upper()

    @property
    def tz(self) -> tzinfo:
        return zone(self.timezone)

    def covers(self, d: date) -> bool:
        return self.covers_from <= d <= self.covers_until

    def is_weekend(self, d: date) -> bool:
        return d.weekday() in self.weekend

    def holiday_name(self, d: date) -> str | None:
        return self.holidays.get(d)

    def special_session(self, d: date) -> SpecialSession | None:
        return self.special.get(d)

    def closed_part(self, d: date) -> str | None:
        """`morning` or `evening` when holiday `d` closes only that part of the day; None otherwise."""
        return self.partial.get(d) if d in self.holidays else None

    def regular_sessions(self, d: date) -> tuple[Session, Session]:
        """(pre-open, normal) of a regular day `d`: the close moves with `dst_close` (MCX follows US summer time)."""
        if self.dst_close is None:
            return self.pre_open, self.normal
        zone_name, close = self.dst_close
        if datetime.combine(d, time(12), tzinfo=zone(zone_name)).dst():
            return self.pre_open, Session(self.normal.start, close)
        return self.pre_open, self.normal

    def sessions_on(self, d: date) -> tuple[Session | None, Session] | None:
        """(pre-open, normal) of day `d`, None when it has no session.

        Raises CalendarCoverageError for a weekday outside the coverage (a special session is always inside it).
        """
        special = self.special.get(d)
        if special is not None:
            return special.pre_open, special.normal
        if self.is_weekend(d):
            return None
        if not self.covers(d):
            raise CalendarCoverageError(self, d)
        pre_open, normal = self.regular_sessions(d)
        part = self.closed_part(d)
        if part is not None and self.evening_start is not None:
            if part == "morning":  # the evening session alone, without a pre-open
                return None, Session(self.evening_start, normal.end)
            return pre_open, Session(normal.start, self.evening_start)
        if d in self.holidays:
            return None
        return pre_open, normal

    def is_trading_day(self, d: date) -> bool:
        """Raises CalendarCoverageError for a weekday outside the coverage."""
        return self.sessions_on(d) is not None

    def local(self, now: datetime) -> datetime:
        if now.tzinfo is None:
            raise ValueError("a market phase needs a timezone-aware instant")
        return now.astimezone(self.tz)

    def phase(self, now: datetime) -> MarketPhase:
        local = self.local(now)
        d, t = local.date(), local.time().replace(tzinfo=None)
        try:
            sessions = self.sessions_on(d)
        except CalendarCoverageError:
            return MarketPhase.UNKNOWN
        if sessions is None:
            return MarketPhase.WEEKEND if self.is_weekend(d) else MarketPhase.HOLIDAY
        pre_open, normal = sessions
        if t < (pre_open or normal).start:
            return MarketPhase.BEFORE_PRE_OPEN
        if t < normal.start:
            return MarketPhase.PRE_OPEN
        if t < normal.end:
            return MarketPhase.OPEN
        return MarketPhase.CLOSED_AFTER

    def session_bounds(self, d: date) -> tuple[datetime, datetime, datetime]:
        """(pre-open start, normal open, close) of day `d`, aware, in the exchange's zone.

        The day's own sessions (a special session's on such a day); the regular ones on a day without a session.
        """
        try:
            sessions = self.sessions_on(d)
        except CalendarCoverageError:
            sessions = None
        pre_open, normal = sessions or self.regular_sessions(d)
        tz = self.tz
        return (
            datetime.combine(d, (pre_open or normal).start, tzinfo=tz),
            datetime.combine(d, normal.start, tzinfo=tz),
            datetime.combine(d, normal.end, tzinfo=tz),
        )

    def next_trading_day(self, d: date) -> date:
        """The first trading day strictly after `d`; raises CalendarCoverageError past the coverage."""
        day = d + timedelta(days=1)
        while not self.is_trading_day(day):
            day += timedelta(days=1)
        return day

    def next_open(self, now: datetime) -> datetime | None:
        """The next normal-session open after `now` (today's if still ahead); None when beyond the coverage."""
        local = self.local(now)
        d = local.date()
        try:
            if not (self.is_trading_day(d) and local < self.session_bounds(d)[1]):
                d = self.next_trading_day(d)
        except CalendarCoverageError:
            return None
        return self.session_bounds(d)[1]

    def next_holiday(self, d: date) -> tuple[date, str] | None:
        """The first listed holiday on or after `d`."""
        upcoming = sorted(h for h in self.holidays if h >= d)
        return (upcoming[0], self.holidays[upcoming[0]]) if upcoming else None


# ---------------------------------------------------------------- loading


def calendars_dir() -> Path:
    from mci.resources import rules_dir

    return rules_dir() / "calendars"


def available_calendars() -> list[str]:
    folder = calendars_dir()
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def local_calendars_dir(state_dir: Path) -> Path:
    """Where `mci calendar update --install` writes, and where a calendar name is looked up first."""
    return state_dir / "calendars"


def is_calendar_path(ref: str) -> bool:
    """`market.calendar` names a file (./my-nse.yaml, /etc/mci/nse.yaml) rather than a calendar by name."""
    return "/" in ref or "\\" in ref or ref.endswith((".yaml", ".yml"))


def calendar_file(ref: str = "nse", *, base: Path | None = None, state_dir: Path | None = None) -> Path:
    """The file `market.calendar: <ref>` means (see the module's docstring for the order)."""
    if isinstance(ref, str) and is_calendar_path(ref):
        path = Path(ref).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        if not path.is_file():
            raise ConfigError(
                f"calendar file {ref} not found",
                f"market.calendar names a file, and there is no {path}",
                "fix the path (relative to the profile), or write one with `mci calendar update --write PATH`",
            )
        return path
    if not _NAME_RE.match(ref or ""):
        raise ConfigError(
            f"invalid calendar name {ref!r}",
            "a calendar name is lower-case letters, digits, '-' or '_' (it names a file in rules/calendars/)",
            "set market.calendar to a name such as nse, or to a calendar file's path",
        )
    if state_dir is not None:
        local = local_calendars_dir(state_dir) / f"{ref}.yaml"
        if local.is_file():
            return local
    path = calendars_dir() / f"{ref}.yaml"
    if not path.is_file():
        known = ", ".join(available_calendars()) or "none"
        raise ConfigError(
            f"unknown exchange calendar {ref!r}",
            f"there is no {path}",
            f"set market.calendar to one of: {known}",
        )
    return path


def load_calendar(
    name: str = "nse", cache_dir: Path | None = None, *, base: Path | None = None, state_dir: Path | None = None
) -> ExchangeCalendar:
    """The calendar `name` means (a name or a path, see calendar_file), parsed and checked once per process
    and file version.

    With `cache_dir` (`<state_dir>/cache`) the parsed calendar is also kept between runs, keyed by the
    file's bytes and the code that parses it: a scan then reads it without PyYAML (see mci.cache), and a
    file rewritten by `mci calendar update` is another key.
    """
    path = calendar_file(name, base=base, state_dir=state_dir)
    try:
        st = path.stat()
    except OSError:
        st = None
    return _load(path, (st.st_ino, st.st_mtime_ns, st.st_size) if st else None, cache_dir)  # os.replace: a new inode


def _own_calendar(profile: Any, state_dir: Path | None) -> ExchangeCalendar:
    return load_calendar(
        profile.market.calendar,
        cache_dir=state_dir / "cache" if state_dir else None,
        base=Path(profile.path).parent,
        state_dir=state_dir,
    )


def segment_calendar(profile: Any, state_dir: Path | None, segment: str) -> ExchangeCalendar:
    """The calendar that answers for `segment`: the profile's own when it serves it, else the segment's by name."""
    own = _own_calendar(profile, state_dir)
    if segment in own.segments or segment not in SEGMENT_CALENDARS:
        return own
    return load_calendar(
        SEGMENT_CALENDARS[segment], cache_dir=state_dir / "cache" if state_dir else None, state_dir=state_dir
    )


def calendars_for(profile: Any, state_dir: Path | None) -> list[tuple[tuple[str, ...], ExchangeCalendar]]:
    """[(the profile's segments it answers for, calendar)], one entry per calendar, in the profile's segment order."""
    groups: dict[Path | str, tuple[list[str], ExchangeCalendar]] = {}
    for segment in profile_segments(profile):
        calendar = segment_calendar(profile, state_dir, segment)
        key = calendar.path or calendar.name
        groups.setdefault(key, ([], calendar))[0].append(segment)
    return [(tuple(segments), calendar) for segments, calendar in groups.values()]


def calendar_for(profile: Any, state_dir: Path | None) -> ExchangeCalendar:
    """The profile's calendar: that of the first segment it trades (the profile's own `market.calendar` for
    NSE/BSE cash and derivatives; MCX's for a commodity profile). The scan, ignite and doctor read every one
    of calendars_for; `mci risk check` the one of each order's exchange."""
    return segment_calendar(profile, state_dir, profile_segments(profile)[0])


@lru_cache(maxsize=8)
def _load(path: Path, version: Any, cache_dir: Path | None) -> ExchangeCalendar:
    if cache_dir is None:
        return parse_calendar(_read(path), path)
    return _cached_calendar(path, cache_dir)


load_calendar.cache_clear = _load.cache_clear  # type: ignore[attr-defined]


def _cached_calendar(path: Path, cache_dir: Path) -> ExchangeCalendar:
    import sys

    from mci import __version__, cache

    classes = {"ExchangeCalendar": ExchangeCalendar, "Session": Session, "SpecialSession": SpecialSession}
    package = Path(__file__).resolve().parent.parent
    try:
        code = cache.files_digest(
            [
                Path(__file__).resolve(),
                package / "config" / "loader.py",
                package / "errors.py",
                package / "clock.py",
                package / "cache.py",
            ]
        )
        key = cache.digest(cache.FORMAT, "calendar", __version__, sys.version, code, str(path), path.read_bytes())
    except OSError:
        return parse_calendar(_read(path), path)
    entry = cache_dir / "calendar" / key
    calendar = cache.read(entry, classes)
    if isinstance(calendar, ExchangeCalendar) and calendar.path == path:
        try:
            zone(calendar.timezone)  # as parse_calendar checks it: the zone database may have changed since
            return calendar
        except MciError:
            pass
    calendar = parse_calendar(_read(path), path)
    cache.write(entry, calendar, classes)
    return calendar


def _read(path: Path) -> Any:
    from mci.config.loader import load_document

    return load_document(path)


def parse_calendar(doc: Any, path: Path | None = None, warnings: list[ConfigError] | None = None) -> ExchangeCalendar:
    """Build a calendar from a loaded Document (positioned errors) or plain data, checking what the schema says.

    Checked here rather than with jsonschema so the scan path stays light. What is allowed but
    probably a mistake (a holiday on a weekend day) is appended to `warnings`.
    """
    data = getattr(doc, "data", doc)
    where = getattr(doc, "name", None) or (str(path) if path else "the calendar")

    def bad(at: tuple[Any, ...], why: str) -> ConfigError:
        field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in at).lstrip(".") or "(document)"
        location = doc.at(at) if hasattr(doc, "at") else None
        return ConfigError(
            f"{where}: invalid `{field}`",
            why,
            "fix the calendar file against schemas/calendar.schema.json",
            location,
        )

    def warn(at: tuple[Any, ...], what: str, why: str, how: str) -> None:
        if warnings is not None:
            warnings.append(ConfigError(f"{where}: {what}", why, how, doc.at(at) if hasattr(doc, "at") else None))

    if not isinstance(data, dict):
        raise bad((), "a calendar is a mapping")
    allowed = {
        "version",
        "kind",
        "name",
        "timezone",
        "source",
        "source_url",
        "segments",
        "sessions",
        "weekend",
        "covers",
        "holidays",
        "special_sessions",
    }
    extra = set(data) - allowed
    if extra:
        raise bad((sorted(extra)[0],), "this key is not part of a calendar")
    if data.get("version") != 1:
        raise bad(("version",), "only version 1 exists")
    if data.get("kind") != "calendar":
        raise bad(("kind",), "must be `calendar`")
    name = data.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise bad(("name",), "a lower-case name is required")
    tz = data.get("timezone")
    if not isinstance(tz, str) or not tz:
        raise bad(("timezone",), "an IANA zone name is required")
    try:
        zone(tz)
    except MciError as exc:
        raise bad(("timezone",), exc.why) from None
    source = data.get("source")
    if not isinstance(source, str) or not source.strip():
        raise bad(("source",), "name the official document the holidays come from")
    source_url = data.get("source_url")
    if source_url is not None and not isinstance(source_url, str):
        raise bad(("source_url",), "must be a URL string")

    sessions = data.get("sessions")
    if not isinstance(sessions, dict) or not {"pre_open", "normal"} <= set(sessions) <= {
        "pre_open",
        "normal",
        "evening_start",
        "dst_close",
    }:
        raise bad(("sessions",), "needs `pre_open` and `normal`, and may have `evening_start` and `dst_close`")
    pre_open = _session(sessions["pre_open"], ("sessions", "pre_open"), bad)
    normal = _session(sessions["normal"], ("sessions", "normal"), bad)
    if not (pre_open.start <= pre_open.end <= normal.start < normal.end):
        raise bad(("sessions",), "pre-open must come before the normal session, and each must start before it ends")
    evening_start = None
    if sessions.get("evening_start") is not None:
        evening_start = parse_hhmm(sessions["evening_start"], ("sessions", "evening_start"), bad)
        if not normal.start < evening_start < normal.end:
            raise bad(("sessions", "evening_start"), "the evening session starts inside the normal session")
    dst_close = None
    raw_dst = sessions.get("dst_close")
    if raw_dst is not None:
        dst_at = ("sessions", "dst_close")
        if not isinstance(raw_dst, dict) or set(raw_dst) != {"zone", "end"}:
            raise bad(dst_at, "exactly {zone, end}: the close while `zone` keeps daylight saving time")
        if not isinstance(raw_dst["zone"], str) or not raw_dst["zone"]:
            raise bad((*dst_at, "zone"), "an IANA zone name is required, e.g. America/New_York")
        try:
            zone(raw_dst["zone"])
        except MciError as exc:
            raise bad((*dst_at, "zone"), exc.why) from None
        dst_end = parse_hhmm(raw_dst["end"], (*dst_at, "end"), bad)
        if not max(normal.start, evening_start or normal.start) < dst_end:
            raise bad((*dst_at, "end"), "the close must come after the session's (and the evening session's) start")
        dst_close = (raw_dst["zone"], dst_end)

    weekend_raw = data.get("weekend")
    if not isinstance(weekend_raw, list) or any(w not in WEEKDAYS for w in weekend_raw):
        raise bad(("weekend",), f"a list of weekday names ({', '.join(WEEKDAYS)})")
    weekend = frozenset(WEEKDAYS.index(w) for w in weekend_raw)

    covers = data.get("covers")
    if not isinstance(covers, dict) or set(covers) != {"from", "until"}:
        raise bad(("covers",), "needs exactly `from` and `until` dates")
    covers_from = _date(covers["from"], ("covers", "from"), bad)
    covers_until = _date(covers["until"], ("covers", "until"), bad)
    if covers_from > covers_until:
        raise bad(("covers",), "`from` is after `until`")

    holidays: dict[date, str] = {}
    partial: dict[date, str] = {}
    raw = data.get("holidays")
    if not isinstance(raw, list):
        raise bad(("holidays",), "a list of {date, name}")
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not {"date", "name"} <= set(item) <= {"date", "name", "closed"}:
            raise bad(("holidays", i), "each holiday is {date, name} with an optional `closed` (morning | evening)")
        if item.get("closed") is not None:
            if item["closed"] not in PARTS:
                raise bad(
                    ("holidays", i, "closed"),
                    "the part of the day closed: `morning` or `evening` (leave it out for the whole day)",
                )
            if evening_start is None:
                raise bad(
                    ("holidays", i, "closed"),
                    "a calendar without `sessions.evening_start` has no morning or evening session to close alone",
                )
        d = _date(item["date"], ("holidays", i, "date"), bad)
        label = item["name"]
        if not isinstance(label, str) or not label.strip():
            raise bad(("holidays", i, "name"), "a holiday needs its name")
        if d in holidays:
            raise bad(("holidays", i, "date"), f"{d} is listed twice")
        if not covers_from <= d <= covers_until:
            raise bad(("holidays", i, "date"), f"{d} is outside `covers` ({covers_from} to {covers_until})")
        if d.weekday() in weekend:
            warn(
                ("holidays", i, "date"),
                f"holiday {d} ({label.strip()}) falls on a {d:%A}",
                "the exchange is closed on weekends anyway, so the entry changes nothing; a wrong date would leave "
                "the real holiday a trading day",
                "check the date against the exchange's circular, or remove the entry",
            )
        holidays[d] = label.strip()
        if item.get("closed") is not None:
            partial[d] = item["closed"]

    special: dict[date, SpecialSession] = {}
    raw_special = data.get("special_sessions", [])
    if not isinstance(raw_special, list):
        raise bad(("special_sessions",), "a list of {date, name, normal, pre_open}")
    for i, item in enumerate(raw_special):
        at = ("special_sessions", i)
        if not isinstance(item, dict) or not {"date", "name", "normal"} <= set(item) <= {
            "date",
            "name",
            "normal",
            "pre_open",
        }:
            raise bad(at, "each special session is {date, name, normal} with an optional pre_open")
        d = _date(item["date"], (*at, "date"), bad)
        label = item["name"]
        if not isinstance(label, str) or not label.strip():
            raise bad((*at, "name"), "a special session needs its name (as the exchange's circular gives it)")
        if d in special:
            raise bad((*at, "date"), f"{d} has two special sessions")
        if not covers_from <= d <= covers_until:
            raise bad((*at, "date"), f"{d} is outside `covers` ({covers_from} to {covers_until})")
        normal_s = _session(item["normal"], (*at, "normal"), bad)
        pre_s = _session(item["pre_open"], (*at, "pre_open"), bad) if item.get("pre_open") is not None else None
        if not normal_s.start < normal_s.end or (pre_s and not pre_s.start <= pre_s.end <= normal_s.start):
            raise bad(at, "pre-open must come before the normal session, and each must start before it ends")
        special[d] = SpecialSession(label.strip(), pre_s, normal_s)

    segments_raw = data.get("segments", ["CM"])
    if (
        not isinstance(segments_raw, list)
        or not segments_raw
        or any(x not in SEGMENT_EXCHANGES for x in segments_raw)
        or len(set(segments_raw)) != len(segments_raw)
    ):
        raise bad(("segments",), f"a list of distinct segments ({', '.join(SEGMENT_EXCHANGES)})")

    return ExchangeCalendar(
        name=name,
        source=source.strip(),
        source_url=source_url,
        timezone=tz,
        pre_open=pre_open,
        normal=normal,
        weekend=weekend,
        covers_from=covers_from,
        covers_until=covers_until,
        holidays=dict(sorted(holidays.items())),
        path=path,
        special=dict(sorted(special.items())),
        segments=tuple(segments_raw),
        evening_start=evening_start,
        dst_close=dst_close,
        partial=dict(sorted(partial.items())),
    )


def _session(raw: Any, at: tuple[Any, ...], bad: Any) -> Session:
    if not isinstance(raw, dict) or set(raw) != {"start", "end"}:
        raise bad(at, "a session is exactly {start, end}")
    return Session(parse_hhmm(raw["start"], (*at, "start"), bad), parse_hhmm(raw["end"], (*at, "end"), bad))


def parse_hhmm(raw: Any, at: tuple[Any, ...], bad: Any) -> time:
    match = _HHMM_RE.match(raw) if isinstance(raw, str) else None
    if not match:
        raise bad(at, f'{raw!r} is not an "HH:MM" time')
    return time(int(match.group(1)), int(match.group(2)))


def _date(raw: Any, at: tuple[Any, ...], bad: Any) -> date:
    if isinstance(raw, datetime):
        raise bad(at, "a date, not a date-time")
    if isinstance(raw, date):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    raise bad(at, f"{raw!r} is not a YYYY-MM-DD date")
