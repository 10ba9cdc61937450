"""Market-time checks: weekend, exchange holiday, trading hours.

Every decision is made in the exchange calendar's own zone (IST for NSE) from
the injected clock, whatever zone the operator sits in; a date the calendar
does not cover fails, because "probably open" is not an answer. A special
session (Muhurat trading, a Budget Sunday, changed hours) is the day's
session; and a profile that may trade intraday is not armed after its entry
cut-off (mci.market.cutoffs).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Any, Mapping

from mci.checks import int_param
from mci.checks.base import Check, CheckContext, CheckOutcome, register
from mci.config.units import format_duration
from mci.errors import ConfigError, MciError
from mci.market.calendar import CalendarCoverageError, ExchangeCalendar, MarketPhase, calendar_for, update_how

_TIME_RE = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?$")


def _now(ctx: CheckContext) -> tuple[ExchangeCalendar, datetime]:
    calendar = calendar_for(ctx.profile, ctx.state_dir)
    return calendar, ctx.clock.now().astimezone(calendar.tz)


def _special_text(calendar: ExchangeCalendar, d: date) -> str | None:
    special = calendar.special_session(d)
    if special is None:
        return None
    pre = f", pre-open {special.pre_open.start:%H:%M}" if special.pre_open else ""
    return f"special session: {special.name}, {special.normal.start:%H:%M}-{special.normal.end:%H:%M}{pre}"


def _stamp(at: datetime) -> str:
    return f"{at:%H:%M:%S} {at.tzname()}"


def _day(d: date) -> str:
    return f"{d:%A %Y-%m-%d}"


def _next_session(calendar: ExchangeCalendar, local: datetime) -> str:
    opens = calendar.next_open(local)
    if opens is None:
        return f"the next session is unknown (the {calendar.label} calendar ends {calendar.covers_until})"
    return f"the next session is {_day(opens.date())} {opens:%H:%M} {opens.tzname()}"


def _facts(calendar: ExchangeCalendar, local: datetime, **more: Any) -> dict[str, Any]:
    return {"calendar": calendar.name, "local_time": local.isoformat(), "weekday": f"{local:%A}", **more}


def _coverage_error(calendar: ExchangeCalendar, local: datetime) -> MciError:
    d = local.date()
    edge = f"ends {calendar.covers_until}" if d > calendar.covers_until else f"starts {calendar.covers_from}"
    cause = CalendarCoverageError(calendar, d)
    return MciError(
        f"cannot know if today ({_day(d)}) is a holiday: the {calendar.label} calendar {edge}",
        cause.why,
        cause.how,
        details=cause.details,
    )


def _closed_today(calendar: ExchangeCalendar, local: datetime) -> MciError | None:
    """The failure for a day with no session (weekend, holiday, beyond coverage), else None."""
    d = local.date()
    rehearse = "scan again then, or use --at to rehearse"
    if calendar.special_session(d) is not None:
        return None
    if calendar.is_weekend(d):
        return MciError(
            f"market closed: {_day(d)}",
            f"{calendar.label} does not trade on weekends",
            f"{_next_session(calendar, local)}; {rehearse}",
        )
    if not calendar.covers(d):
        return _coverage_error(calendar, local)
    name = calendar.holiday_name(d)
    if name:
        return MciError(
            f"market closed: {_day(d)} is an {calendar.label} trading holiday ({name})",
            f"{calendar.label} lists {d} as a trading holiday: {name} (source: {calendar.source})",
            f"{_next_session(calendar, local)}; {rehearse}",
        )
    return None


@register
class WeekendCheck(Check):
    kind = "market.weekend"

    def run(self, ctx: CheckContext, params: Mapping[str, Any]) -> CheckOutcome:
        calendar, local = _now(ctx)
        facts = _facts(calendar, local)
        if calendar.is_weekend(local.date()):
            error = _closed_today(calendar, local)
            if error is None:  # a weekend day the exchange declared open
                special = _special_text(calendar, local.date())
                return CheckOutcome.passed(f"a weekend day, but {calendar.label} trades: {special}", special=special, **facts)
            return CheckOutcome.failed(error, **facts)
        return CheckOutcome.passed(f"a weekday: {_day(local.date())}", **facts)


@register
class HolidayCheck(Check):
    kind = "market.holiday"

    def run(self, ctx: CheckContext, params: Mapping[str, Any]) -> CheckOutcome:
        warn_within = int_param(params, "warn_within_days", 30)
        calendar, local = _now(ctx)
        d = local.date()
        days_left = (calendar.covers_until - d).days
        facts = _facts(calendar, local, covers_until=calendar.covers_until.isoformat(), days_of_coverage_left=days_left)
        if not calendar.covers(d):
            return CheckOutcome.failed(_coverage_error(calendar, local), **facts)
        unserved = _unserved(ctx, calendar)
        if unserved is not None and unserved[0]:
            return CheckOutcome.failed(unserved[1], **facts)
        name = calendar.holiday_name(d)
        special = _special_text(calendar, d)
        if name and special is None:
            error = _closed_today(calendar, local)
            assert error is not None
            return CheckOutcome.failed(error, holiday=name, **facts)
        if special is not None:
            facts["special"] = special
        upcoming = calendar.next_holiday(d)
        next_text = f"next holiday: {upcoming[1]} on {_day(upcoming[0])}" if upcoming else "no further holiday listed"
        if upcoming:
            facts["next_holiday"] = {"date": upcoming[0].isoformat(), "name": upcoming[1]}
        if days_left <= warn_within:
            error = MciError(
                f"the {calendar.label} holiday calendar ends in {days_left} day(s), on {calendar.covers_until}",
                f"after {calendar.covers_until} mci cannot tell holidays from trading days, and every scan will fail",
                update_how(calendar),
            )
            return CheckOutcome.warned(f"not a holiday ({_day(d)}); calendar ends {calendar.covers_until}", error, **facts)
        if unserved is not None:
            return CheckOutcome.warned(f"not a {calendar.label} holiday ({_day(d)}); {unserved[1].what}", unserved[1],
                                       **facts)
        if name:
            return CheckOutcome.passed(f"{name}, a holiday with a {special} ({_day(d)})", holiday=name, **facts)
        return CheckOutcome.passed(f"not a holiday ({_day(d)}); {next_text}", **facts)


def _unserved(ctx: CheckContext, calendar: ExchangeCalendar) -> tuple[bool, MciError] | None:
    """(none of the profile's segments is served, why) when the calendar does not know some of them, else None.

    A calendar answers for its own segments only: MCX and the currency segment keep other holidays and hours (MCX
    trades an evening session on most equity holidays), so a profile trading them cannot be told "open" by it.
    """
    from mci.market.calendar import SEGMENT_EXCHANGES
    from mci.market.cutoffs import profile_segments, unserved_segments

    missing = unserved_segments(ctx.profile, calendar)
    if not missing:
        return None
    exchanges = ", ".join(e for s in missing for e in SEGMENT_EXCHANGES[s])
    every = len(missing) == len(profile_segments(ctx.profile))
    return every, MciError(
        f"the {calendar.label} calendar has no holidays or sessions for {', '.join(missing)} ({exchanges})",
        f"profile {ctx.profile.name} trades {exchanges} (risk.allowed_exchanges); {calendar.path or calendar.name} serves "
        f"{', '.join(calendar.segments)} only, whose days and hours are not those of {', '.join(missing)}"
        + ("" if every else f"; this scan answers for {', '.join(s for s in calendar.segments)} alone, and "
           "`mci risk check` refuses intraday entries there"),
        f"drop {exchanges} from risk.allowed_exchanges, or point market.calendar at a calendar file whose `segments` "
        f"include {', '.join(missing)} (from the exchange's own holiday circular)")


def _time_param(params: Mapping[str, Any], key: str, default: time) -> time:
    raw = params.get(key)
    if raw is None:
        return default
    if isinstance(raw, time):
        return raw.replace(tzinfo=None)
    match = _TIME_RE.match(raw) if isinstance(raw, str) else None
    if not match:
        raise ConfigError(
            f"market.hours: invalid {key} {raw!r}",
            'a time of day is a quoted "HH:MM" or "HH:MM:SS" (unquoted, YAML reads 09:15 as the number 555)',
            f'write it like {key}: "{default:%H:%M}"',
        )
    return time(int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))


@register
class HoursCheck(Check):
    kind = "market.hours"

    def run(self, ctx: CheckContext, params: Mapping[str, Any]) -> CheckOutcome:
        calendar, local = _now(ctx)
        pre_open = _time_param(params, "pre_open", calendar.pre_open.start)
        opens = _time_param(params, "open", calendar.normal.start)
        closes = _time_param(params, "close", calendar.normal.end)
        special = calendar.special_session(local.date())
        if special is not None:  # the circular's hours for that day, whatever the params say of a regular day
            pre_open, opens, closes = (special.pre_open or special.normal).start, special.normal.start, special.normal.end
        if not pre_open <= opens < closes:
            raise ConfigError(
                "market.hours: the session times are out of order",
                f"pre_open {pre_open}, open {opens} and close {closes} must satisfy pre_open ≤ open < close",
                "fix the check's params (or leave them out to use the calendar's sessions)",
            )
        facts = _facts(
            calendar, local, pre_open=f"{pre_open:%H:%M:%S}", open=f"{opens:%H:%M:%S}", close=f"{closes:%H:%M:%S}"
        )
        if special is not None:
            facts["special"] = _special_text(calendar, local.date())
        closed = _closed_today(calendar, local)
        if closed is not None:
            return CheckOutcome.failed(closed, phase=calendar.phase(local).value, **facts)

        d, now_t = local.date(), local.time().replace(tzinfo=None)
        tz = calendar.tz
        open_at = datetime.combine(d, opens, tzinfo=tz)
        close_at = datetime.combine(d, closes, tzinfo=tz)
        zone_name = local.tzname()
        if now_t < pre_open:
            return CheckOutcome.failed(
                MciError(
                    f"market not open yet: {_stamp(local)} on {_day(d)}",
                    f"pre-open starts {pre_open:%H:%M} and the normal session {opens:%H:%M} {zone_name}",
                    f"pre-open starts in {format_duration(datetime.combine(d, pre_open, tzinfo=tz) - local)} and the session"
                    f" opens in {format_duration(open_at - local)}; scan again then, or use --at to rehearse",
                ),
                phase=MarketPhase.BEFORE_PRE_OPEN.value,
                **facts,
            )
        if now_t < opens:
            error = MciError(
                f"pre-open; normal session opens {opens:%H:%M} {zone_name} (now {_stamp(local)})",
                f"{calendar.label} runs its pre-open call auction {pre_open:%H:%M}-{opens:%H:%M}; orders do not match continuously yet",
                f"ignite at or after {opens:%H:%M} {zone_name}, in {format_duration(open_at - local)}",
            )
            return CheckOutcome.warned(error.what, error, phase=MarketPhase.PRE_OPEN.value, **facts)
        if now_t < closes:
            from mci.market.cutoffs import scan_cutoff

            cut = scan_cutoff(ctx.profile, calendar, local)
            if cut is not None and local >= cut.at:
                return CheckOutcome.failed(
                    MciError(
                        f"intraday entries are closed: {_stamp(local)} is after the entry cut-off {cut.at:%H:%M}"
                        f" ({cut.source}) on {_day(d)}",
                        f"profile {ctx.profile.name} may trade intraday products (MIS/CO/BO) in {cut.segment}, and no new "
                        f"intraday entry is made from {cut.at:%H:%M}"
                        + (f"; the broker squares them off at {cut.broker_at:%H:%M}" if cut.broker_at else ""),
                        f"{_next_session(calendar, local)}; a delivery-only profile sets risk.allowed_products"
                        " without MIS/CO/BO",
                    ),
                    phase=MarketPhase.OPEN.value,
                    entry_cutoff=f"{cut.at:%H:%M}",
                    **facts,
                )
            remaining = close_at - local
            return CheckOutcome.passed(
                f"open: {_stamp(local)}, {format_duration(remaining)} to the {closes:%H:%M} close",
                phase=MarketPhase.OPEN.value,
                seconds_to_close=int(remaining.total_seconds()),
                **facts,
            )
        return CheckOutcome.failed(
            MciError(
                f"market closed: {_stamp(local)} is after the close ({closes:%H:%M} {zone_name}) on {_day(d)}",
                f"the {calendar.label} normal session ends at {closes:%H:%M} {zone_name}",
                f"{_next_session(calendar, local)}; scan again then, or use --at to rehearse",
            ),
            phase=MarketPhase.CLOSED_AFTER.value,
            **facts,
        )
