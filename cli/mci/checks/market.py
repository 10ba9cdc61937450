"""Market-time checks: weekend, exchange holiday, trading hours.

Every decision is made in the exchange calendar's own zone (IST for NSE) from
the injected clock, whatever zone the operator sits in; a date the calendar
does not cover fails, because "probably open" is not an answer. A special
session (Muhurat trading, a Budget Sunday, changed hours) is the day's
session; and a profile that may trade intraday is not armed after its entry
cut-off (mci.market.cutoffs).

Each segment the profile trades is judged on its own calendar (NSE's for
NSE/NFO, MCX's for MCX: its evening session, its holidays that close only the
morning). With several calendars, a check passes when every one passes, warns
when some segment is open and another is not (its orders are refused by
`mci risk check`), and fails when none is open.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Any, Callable, Mapping

from mci.checks import int_param
from mci.checks.base import Check, CheckContext, CheckOutcome, register
from mci.units import format_duration
from mci.errors import ConfigError, MciError
from mci.market.calendar import CalendarCoverageError, ExchangeCalendar, MarketPhase, calendars_for, update_how
from mci.market.cutoffs import day_text as _day
from mci.market.cutoffs import next_session_text as _next_session
from mci.results import Status

_TIME_RE = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?$")


Judge = Callable[[CheckContext, ExchangeCalendar, datetime], CheckOutcome]


def _per_calendar(ctx: CheckContext, judge: Judge) -> CheckOutcome:
    """`judge` on each calendar of the profile's segments, combined (see the module's docstring)."""
    groups = calendars_for(ctx.profile, ctx.state_dir)
    now = ctx.clock.now()
    outcomes = [(segments, judge(ctx, calendar, now.astimezone(calendar.tz))) for segments, calendar in groups]
    if len(outcomes) == 1:
        return outcomes[0][1]
    label = {segments: f"{'/'.join(segments)}" for segments, _ in outcomes}
    summary = "; ".join(f"{label[s]}: {o.summary}" for s, o in outcomes)
    facts = {"segments": {label[s]: {"status": o.status.value, "summary": o.summary, **o.facts} for s, o in outcomes}}
    failed = [(s, o) for s, o in outcomes if o.status is Status.FAILED]
    warned = [(s, o) for s, o in outcomes if o.status is Status.WARNED]
    if not failed and not warned:
        return CheckOutcome.passed(summary, **facts)
    segments, worst = (failed or warned)[0]
    assert worst.error is not None
    error = MciError(
        f"{label[segments]}: {worst.error.what}", worst.error.why, worst.error.how, details=worst.error.details
    )
    if len(failed) == len(outcomes):
        return CheckOutcome(Status.FAILED, summary, error, facts)
    return CheckOutcome.warned(summary, error, **facts)


def _special_text(calendar: ExchangeCalendar, d: date) -> str | None:
    special = calendar.special_session(d)
    if special is None:
        return None
    pre = f", pre-open {special.pre_open.start:%H:%M}" if special.pre_open else ""
    return f"special session: {special.name}, {special.normal.start:%H:%M}-{special.normal.end:%H:%M}{pre}"


def _stamp(at: datetime) -> str:
    return f"{at:%H:%M:%S} {at.tzname()}"


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
    if calendar.special_session(d) is not None or calendar.closed_part(d) is not None:
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
        return _per_calendar(ctx, self.judge)

    @staticmethod
    def judge(ctx: CheckContext, calendar: ExchangeCalendar, local: datetime) -> CheckOutcome:
        facts = _facts(calendar, local)
        if calendar.is_weekend(local.date()):
            error = _closed_today(calendar, local)
            if error is None:  # a weekend day the exchange declared open
                special = _special_text(calendar, local.date())
                return CheckOutcome.passed(
                    f"a weekend day, but {calendar.label} trades: {special}", special=special, **facts
                )
            return CheckOutcome.failed(error, **facts)
        return CheckOutcome.passed(f"a weekday: {_day(local.date())}", **facts)


@register
class HolidayCheck(Check):
    kind = "market.holiday"

    def run(self, ctx: CheckContext, params: Mapping[str, Any]) -> CheckOutcome:
        warn_within = int_param(params, "warn_within_days", 30)
        return _per_calendar(ctx, lambda c, cal, local: self.judge(cal, local, warn_within))

    @staticmethod
    def judge(calendar: ExchangeCalendar, local: datetime, warn_within: int) -> CheckOutcome:
        d = local.date()
        days_left = (calendar.covers_until - d).days
        facts = _facts(calendar, local, covers_until=calendar.covers_until.isoformat(), days_of_coverage_left=days_left)
        if not calendar.covers(d):
            return CheckOutcome.failed(_coverage_error(calendar, local), **facts)
        name = calendar.holiday_name(d)
        special = _special_text(calendar, d) or _part_text(calendar, d)
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
            return CheckOutcome.warned(
                f"not a holiday ({_day(d)}); calendar ends {calendar.covers_until}", error, **facts
            )
        if name:
            joined = f"a holiday with a {special}" if calendar.special_session(d) else f"a holiday: {special}"
            return CheckOutcome.passed(f"{name}, {joined} ({_day(d)})", holiday=name, **facts)
        return CheckOutcome.passed(f"not a holiday ({_day(d)}); {next_text}", **facts)


def _part_text(calendar: ExchangeCalendar, d: date) -> str | None:
    """'evening session only, 17:00-23:55' on a holiday that closes only part of the day (MCX)."""
    part = calendar.closed_part(d)
    sessions = calendar.sessions_on(d) if part is not None else None
    if sessions is None:
        return None
    kept = "evening" if part == "morning" else "morning"
    return f"{kept} session only, {sessions[1].start:%H:%M}-{sessions[1].end:%H:%M} (the {part} is closed)"


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
        return _per_calendar(ctx, lambda c, cal, local: self.judge(c, cal, local, params))

    @staticmethod
    def judge(
        ctx: CheckContext, calendar: ExchangeCalendar, local: datetime, params: Mapping[str, Any]
    ) -> CheckOutcome:
        regular_pre, regular = calendar.regular_sessions(local.date())
        pre_open = _time_param(params, "pre_open", regular_pre.start)
        opens = _time_param(params, "open", regular.start)
        closes = _time_param(params, "close", regular.end)
        special = calendar.special_session(local.date())
        if special is None and calendar.closed_part(local.date()) is not None:
            day = calendar.sessions_on(local.date())  # MCX on a holiday that closes the morning (or the evening)
            assert day is not None
            pre_open, opens, closes = (day[0] or day[1]).start, day[1].start, day[1].end
        if special is not None:  # the circular's hours for that day, whatever the params say of a regular day
            pre_open, opens, closes = (
                (special.pre_open or special.normal).start,
                special.normal.start,
                special.normal.end,
            )
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
        elif calendar.closed_part(local.date()) is not None:
            facts["special"] = _part_text(calendar, local.date())
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
                f"the {calendar.label} session ends at {closes:%H:%M} {zone_name} on {_day(d)}",
                f"{_next_session(calendar, local)}; scan again then, or use --at to rehearse",
            ),
            phase=MarketPhase.CLOSED_AFTER.value,
            **facts,
        )
