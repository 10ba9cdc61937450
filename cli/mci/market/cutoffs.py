"""Intraday cut-offs: when the broker squares off MIS/CO/BO positions, and from when no new intraday entry is made.

Zerodha's own words (https://support.zerodha.com/category/trading-and-markets/margin-leverage-and-product-and-order-types/articles/intraday-auto-square-off-timings):
"Open intraday positions are auto squared-off by our system at/after the below mentioned time for each
segment: Equity/Cash 3:20 PM, Equity Derivatives 3:25 PM, Currency Derivatives 4:45 PM, Commodities
25 minutes before Close", and "You will not be able to enter fresh orders for MIS/CO order types [...]
after the auto square off time." A profile may set other times (`market.broker_square_off`), and its
own, earlier entry cut-off (`market.entry_cutoff`, else `watch.square_off`).

On a day whose session ends at another time (Muhurat trading, changed hours) every cut-off keeps its
distance to the close: a 15:15 cut-off of a 15:30 close is 14:30 on a day that closes at 14:45.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from mci.errors import ConfigError, MciError
from mci.market.calendar import (
    SEGMENT_EXCHANGES,
    CalendarCoverageError,
    ExchangeCalendar,
    segment_of,
    update_how,
)
from mci.market.calendar import profile_segments as profile_segments  # re-exported: policy diff reads it from here

if TYPE_CHECKING:
    from collections.abc import Callable

    from mci.config.model import Profile

ZERODHA_URL = ("https://support.zerodha.com/category/trading-and-markets/margin-leverage-and-product-and-order-types/"
               "articles/intraday-auto-square-off-timings")
# Zerodha's published square-off times; MCX has none fixed: "Commodities: 25 minutes before the close" (same page),
# the close of that day's MCX session (23:30 or 23:55 with US summer time, 17:00 on a day without an evening).
ZERODHA_SQUARE_OFF = {"CM": time(15, 20), "FO": time(15, 25), "CD": time(16, 45)}
MCX_BEFORE_CLOSE = timedelta(minutes=25)
# MCX's earliest regular close is 23:30 (non-agricultural commodities while the US keeps summer time; 23:55
# otherwise: https://www.angelone.in/announcements/market/mcx-trade-timings-revised-from-11-mar), so Zerodha's MCX
# square-off is 23:05 at the earliest: what `validate` holds watch.square_off to (at run time, each day's own close).
MCX_EARLIEST_SQUARE_OFF = time(23, 5)
INTRADAY_PRODUCTS = ("MIS", "CO", "BO")
WARN_WITHIN = timedelta(minutes=2)  # a square-off this close to the broker's races it


def _minutes(t: time) -> timedelta:
    return timedelta(hours=t.hour, minutes=t.minute, seconds=t.second)


def _clock(delta: timedelta) -> time:
    seconds = int(delta.total_seconds())
    return time(seconds // 3600, seconds % 3600 // 60, seconds % 60)


def may_trade_intraday(profile: "Profile") -> bool:
    allowed = profile.risk.allowed_products
    return allowed is None or any(p in INTRADAY_PRODUCTS for p in allowed)


def broker_square_off(profile: "Profile", segment: str) -> tuple[time | None, str]:
    """(the broker's regular-day square-off in `segment`, where it comes from); None for MCX's relative rule."""
    own = profile.market.broker_square_off.get(segment)
    if own is not None:
        return own, f"market.broker_square_off.{segment}"
    if segment in ZERODHA_SQUARE_OFF:
        return ZERODHA_SQUARE_OFF[segment], f"Zerodha's {segment} auto square-off ({ZERODHA_URL})"
    return None, f"Zerodha's commodity auto square-off, 25 minutes before the close ({ZERODHA_URL})"


def entry_cutoff(profile: "Profile", segment: str) -> tuple[time | None, str]:
    """(the profile's regular-day intraday entry cut-off in `segment`, where it comes from)."""
    own = profile.market.entry_cutoff
    if segment in own:
        return own[segment], f"market.entry_cutoff.{segment}"
    if "*" in own:
        return own["*"], "market.entry_cutoff"
    if profile.watch.square_off is not None:
        return profile.watch.square_off, "watch.square_off"
    square_off, source = broker_square_off(profile, segment)
    return square_off, source


def square_off_findings(profile: "Profile", location_of: "Callable[[tuple[Any, ...]], Any]") -> tuple[list[ConfigError], list[ConfigError]]:
    """(errors, warnings): watch.square_off and the entry cut-off against the broker's square-off.

    `location_of(path)` positions a finding in the profile file.
    """
    errors: list[ConfigError] = []
    warnings: list[ConfigError] = []
    for segment in profile_segments(profile):
        broker, source = broker_square_off(profile, segment)
        if broker is None:  # MCX: 25 minutes before each day's close; the earliest of a regular day here
            broker = MCX_EARLIEST_SQUARE_OFF
            source += ", the 23:30 close while the US keeps daylight saving time"
        mine = profile.watch.square_off
        if mine is not None:
            gap = _minutes(broker) - _minutes(mine)
            if gap <= timedelta(0):
                errors.append(ConfigError(
                    f"watch.square_off {mine:%H:%M} is not before the broker's {segment} square-off {broker:%H:%M}",
                    f"the broker squares off intraday positions at {broker:%H:%M} ({source}): mci's end-of-day "
                    "sequence would find them already closed at market prices, or race the broker's own orders",
                    f"set watch.square_off before {broker:%H:%M}, e.g. \"{_clock(_minutes(broker) - timedelta(minutes=5)):%H:%M}\"",
                    location_of(("watch", "square_off"))))
            elif gap <= WARN_WITHIN:
                warnings.append(ConfigError(
                    f"watch.square_off {mine:%H:%M} is only {int(gap.total_seconds() // 60)} minute(s) before the broker's "
                    f"{segment} square-off {broker:%H:%M}",
                    f"closing a book takes time (orders, fills, retries at 10 orders/s); the broker squares off at "
                    f"{broker:%H:%M} ({source})",
                    f"leave at least {int(WARN_WITHIN.total_seconds() // 60) + 1} minutes, e.g. "
                    f"\"{_clock(_minutes(broker) - timedelta(minutes=5)):%H:%M}\"",
                    location_of(("watch", "square_off"))))
        cutoff, cut_source = entry_cutoff(profile, segment)
        if cutoff is not None and cut_source.startswith("market.entry_cutoff") and cutoff > broker:
            errors.append(ConfigError(
                f"{cut_source} {cutoff:%H:%M} is after the broker's {segment} square-off {broker:%H:%M}",
                f"the broker refuses fresh intraday orders after its square-off ({source})",
                f"set {cut_source} at or before {broker:%H:%M}",
                location_of(("market", "entry_cutoff"))))
    return errors, warnings


def _on_day(t: time, calendar: ExchangeCalendar, d: date) -> datetime:
    """`t` (a regular-day time) on day `d`, kept at its distance from the close when `d` closes at another time."""
    close = calendar.session_bounds(d)[2]
    regular_close = datetime.combine(d, calendar.regular_sessions(d)[1].end, tzinfo=calendar.tz)
    at = datetime.combine(d, t, tzinfo=calendar.tz)
    return at if close == regular_close else close - (regular_close - at)


def watch_square_off_on(profile: "Profile", calendar: ExchangeCalendar, d: date) -> datetime | None:
    """When the watcher runs the end-of-day sequence on day `d`: `watch.square_off` on a regular day; on a day whose
    session closes at another time (Muhurat trading), the same distance before that day's close, so it still falls in
    the session and before the broker's own square-off, which moves the same way. None without `watch.square_off`."""
    at = profile.watch.square_off
    return _on_day(at, calendar, d) if at is not None else None


@dataclass(frozen=True)
class Cutoff:
    segment: str
    at: datetime  # the entry cut-off on that day, aware
    source: str
    broker_at: datetime | None
    broker_source: str


def cutoff_on(profile: "Profile", calendar: ExchangeCalendar, segment: str, d: date) -> Cutoff:
    """The day's entry cut-off and broker square-off in `segment` (a trading day of `calendar`)."""
    broker, broker_source = broker_square_off(profile, segment)
    close = calendar.session_bounds(d)[2]
    broker_at = _on_day(broker, calendar, d) if broker is not None else close - MCX_BEFORE_CLOSE
    cutoff, source = entry_cutoff(profile, segment)
    at = _on_day(cutoff, calendar, d) if cutoff is not None else broker_at
    return Cutoff(segment, min(at, broker_at), source, broker_at, broker_source)


def day_text(d: date) -> str:
    return f"{d:%A %Y-%m-%d}"


def next_session_text(calendar: ExchangeCalendar, local: datetime) -> str:
    """'the next session opens Monday 2026-11-23 09:15 IST': the one wording of the scan, ignite and risk check."""
    opens = calendar.next_open(local)
    if opens is None:
        return f"the next session is unknown (the {calendar.label} calendar ends {calendar.covers_until})"
    return f"the next session opens {day_text(opens.date())} {opens:%H:%M} {opens.tzname()}"


def intraday_entry_refusal(profile: "Profile", calendar: ExchangeCalendar, exchange: str, product: str,
                           now: datetime) -> MciError | None:
    """Why an intraday entry on `exchange` may not be placed at `now`, or None when it may (or is not intraday)."""
    if product not in INTRADAY_PRODUCTS:
        return None
    segment = segment_of(exchange)
    label = f"{product} entry on {exchange}"
    if segment is None or segment not in calendar.segments:
        served = ", ".join(e for s in calendar.segments for e in SEGMENT_EXCHANGES[s])
        return MciError(
            f"{label} refused: the {calendar.label} calendar has no sessions for {exchange}",
            f"{calendar.path or calendar.name} serves the segments {', '.join(calendar.segments)} ({served}); "
            "without its segment's holidays and hours mci cannot tell whether it trades now",
            f"trade {served}, or point market.calendar at a calendar whose `segments` include "
            f"{segment or 'that exchange'}")
    local = calendar.local(now)
    d = local.date()
    try:
        sessions = calendar.sessions_on(d)
    except CalendarCoverageError as exc:
        return MciError(f"{label} refused: cannot know if {day_text(d)} is a trading day", exc.why, update_how(calendar))
    if sessions is None:
        reason = calendar.holiday_name(d) or "a weekend day"
        return MciError(
            f"{label} refused: {calendar.label} is closed on {day_text(d)} ({reason})",
            "an intraday position can only be opened and closed inside a session",
            f"{next_session_text(calendar, local)}")
    opens = datetime.combine(d, (sessions[0] or sessions[1]).start, tzinfo=calendar.tz)
    holiday = calendar.holiday_name(d)
    if holiday is not None and local < opens:
        # A holiday that keeps a session open (MCX's evening, a Muhurat hour) is closed until that session starts.
        return MciError(
            f"{label} refused: {calendar.label} is closed at {local:%H:%M} {local.tzname()} on {day_text(d)} ({holiday})",
            f"the exchange trades only {sessions[1].start:%H:%M}-{sessions[1].end:%H:%M} that day",
            f"wait: {next_session_text(calendar, local)}")
    cut = cutoff_on(profile, calendar, segment, d)
    if local >= cut.at:
        broker = (f"; the broker squares off intraday positions at {cut.broker_at:%H:%M} ({cut.broker_source})"
                  if cut.broker_at is not None else "")
        return MciError(
            f"{label} refused at {local:%H:%M:%S} {local.tzname()}: after the intraday entry cut-off "
            f"{cut.at:%H:%M} ({cut.source})",
            f"a position opened now would be squared off within minutes{broker}",
            f"place it as CNC/NRML, or wait: {next_session_text(calendar, local)}")
    return None


def scan_cutoff(profile: "Profile", calendar: ExchangeCalendar, local: datetime) -> Cutoff | None:
    """The earliest entry cut-off today over the profile's segments, when it may trade intraday and today trades."""
    if not may_trade_intraday(profile):
        return None
    cuts = [cutoff_on(profile, calendar, s, local.date()) for s in profile_segments(profile) if s in calendar.segments]
    return min(cuts, key=lambda c: c.at) if cuts else None


def ignition_refusal_any(profile: "Profile", calendars: list[ExchangeCalendar], now: datetime) -> MciError | None:
    """Ignition is refused when no segment the profile trades may start now (the first calendar's reason); a
    profile of NSE and MCX starts at 21:00 for MCX (its NSE entries are refused by `mci risk check`)."""
    refusals = [ignition_refusal(profile, calendar, now) for calendar in calendars]
    return refusals[0] if refusals and all(r is not None for r in refusals) else None


def ignition_refusal(profile: "Profile", calendar: ExchangeCalendar, now: datetime) -> MciError | None:
    """Why an engine may not be started at `now` although its scan is fresh: the session ended since (or the
    intraday entry cut-off passed), or the day has none. The pre-open is allowed, as the scan allows it."""
    from mci.market.calendar import MarketPhase

    local = calendar.local(now)
    phase = calendar.phase(local)
    if phase is MarketPhase.UNKNOWN:
        return MciError(f"ignition refused: cannot know if {day_text(local.date())} is a trading day",
                        f"the {calendar.label} calendar ends {calendar.covers_until}", update_how(calendar))
    if phase not in (MarketPhase.PRE_OPEN, MarketPhase.OPEN):
        return MciError(f"ignition refused: {calendar.label} has no session now ({local:%H:%M:%S} {local.tzname()} "
                        f"on {day_text(local.date())}: {phase.value.replace('_', ' ')})",
                        "an engine started outside the session trades into a closed market",
                        f"{next_session_text(calendar, local)}; scan and ignite then")
    cut = scan_cutoff(profile, calendar, local)
    if cut is not None and local >= cut.at:
        return MciError(f"ignition refused: {local:%H:%M:%S} {local.tzname()} is after the intraday entry cut-off "
                        f"{cut.at:%H:%M} ({cut.source})",
                        f"profile {profile.name} may trade intraday products, and none may be entered from {cut.at:%H:%M}",
                        f"{next_session_text(calendar, local)}; a delivery-only profile sets risk.allowed_products "
                        "without MIS/CO/BO")
    return None
