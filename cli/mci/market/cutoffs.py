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
from typing import TYPE_CHECKING

# The profile's own times and their coherence are judged when it is built, below this package; re-exported:
# policy diff reads them from here.
from mci.config.square_off import broker_square_off as broker_square_off
from mci.config.square_off import entry_cutoff as entry_cutoff
from mci.errors import MciError
from mci.market.calendar import (
    SEGMENT_EXCHANGES,
    CalendarCoverageError,
    ExchangeCalendar,
    segment_of,
    update_how,
)
from mci.market.calendar import profile_segments as profile_segments  # re-exported: policy diff reads it from here

if TYPE_CHECKING:
    from mci.config.model import Profile

# Zerodha's MCX square-off: "Commodities: 25 minutes before the close" (mci.config.square_off.ZERODHA_URL).
MCX_BEFORE_CLOSE = timedelta(minutes=25)
INTRADAY_PRODUCTS = ("MIS", "CO", "BO")


def may_trade_intraday(profile: "Profile") -> bool:
    allowed = profile.risk.allowed_products
    return allowed is None or any(p in INTRADAY_PRODUCTS for p in allowed)


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


def intraday_entry_refusal(
    profile: "Profile", calendar: ExchangeCalendar, exchange: str, product: str, now: datetime
) -> MciError | None:
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
            f"{segment or 'that exchange'}",
        )
    local = calendar.local(now)
    d = local.date()
    try:
        sessions = calendar.sessions_on(d)
    except CalendarCoverageError as exc:
        return MciError(
            f"{label} refused: cannot know if {day_text(d)} is a trading day", exc.why, update_how(calendar)
        )
    if sessions is None:
        reason = calendar.holiday_name(d) or "a weekend day"
        return MciError(
            f"{label} refused: {calendar.label} is closed on {day_text(d)} ({reason})",
            "an intraday position can only be opened and closed inside a session",
            f"{next_session_text(calendar, local)}",
        )
    opens = datetime.combine(d, (sessions[0] or sessions[1]).start, tzinfo=calendar.tz)
    holiday = calendar.holiday_name(d)
    if holiday is not None and local < opens:
        # A holiday that keeps a session open (MCX's evening, a Muhurat hour) is closed until that session starts.
        return MciError(
            f"{label} refused: {calendar.label} is closed at {local:%H:%M} {local.tzname()} on {day_text(d)} ({holiday})",
            f"the exchange trades only {sessions[1].start:%H:%M}-{sessions[1].end:%H:%M} that day",
            f"wait: {next_session_text(calendar, local)}",
        )
    cut = cutoff_on(profile, calendar, segment, d)
    if local >= cut.at:
        broker = (
            f"; the broker squares off intraday positions at {cut.broker_at:%H:%M} ({cut.broker_source})"
            if cut.broker_at is not None
            else ""
        )
        return MciError(
            f"{label} refused at {local:%H:%M:%S} {local.tzname()}: after the intraday entry cut-off "
            f"{cut.at:%H:%M} ({cut.source})",
            f"a position opened now would be squared off within minutes{broker}",
            f"place it as CNC/NRML, or wait: {next_session_text(calendar, local)}",
        )
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
        return MciError(
            f"ignition refused: cannot know if {day_text(local.date())} is a trading day",
            f"the {calendar.label} calendar ends {calendar.covers_until}",
            update_how(calendar),
        )
    if phase not in (MarketPhase.PRE_OPEN, MarketPhase.OPEN):
        return MciError(
            f"ignition refused: {calendar.label} has no session now ({local:%H:%M:%S} {local.tzname()} "
            f"on {day_text(local.date())}: {phase.value.replace('_', ' ')})",
            "an engine started outside the session trades into a closed market",
            f"{next_session_text(calendar, local)}; scan and ignite then",
        )
    cut = scan_cutoff(profile, calendar, local)
    if cut is not None and local >= cut.at:
        return MciError(
            f"ignition refused: {local:%H:%M:%S} {local.tzname()} is after the intraday entry cut-off "
            f"{cut.at:%H:%M} ({cut.source})",
            f"profile {profile.name} may trade intraday products, and none may be entered from {cut.at:%H:%M}",
            f"{next_session_text(calendar, local)}; a delivery-only profile sets risk.allowed_products "
            "without MIS/CO/BO",
        )
    return None
