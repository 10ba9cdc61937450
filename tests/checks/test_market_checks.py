from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal as D
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mci.checks.base import REGISTRY, CheckContext
from mci.checks.market import HolidayCheck, HoursCheck, WeekendCheck
from mci.clock import Clock
from mci.config.model import BrokerConfig, Checklist, MarketConfig, Profile, RiskLimits, ScanConfig
from mci.errors import ConfigError
from mci.results import Status

IST = ZoneInfo("Asia/Kolkata")


def make_profile(**market) -> Profile:
    return Profile(
        name="paper-demo",
        path=Path("profiles/paper.yaml"),
        broker=BrokerConfig(kind="paper", capital=D("1000000")),
        market=MarketConfig(**market),
        risk=RiskLimits(D("0.02"), D("0.06"), D("0.15"), D("0.05"), 5, D("2"), D("0.1")),
        breakers={},
        scan=ScanConfig(Checklist("empty", "", ())),
    )


def _never():
    raise AssertionError("market checks must not need the store or the broker")


def ctx_at(instant: datetime, tmp_path: Path, **market) -> CheckContext:
    return CheckContext(
        profile=make_profile(**market),
        clock=Clock(start=instant, frozen=True),
        state_dir=tmp_path,
        store_factory=_never,
        broker_factory=_never,
    )


def ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=IST)


def run(check, instant, tmp_path, params=None, **market):
    return check().run(ctx_at(instant, tmp_path, **market), params or {})


def test_registered_and_broker_free():
    for kind, cls in (("market.weekend", WeekendCheck), ("market.holiday", HolidayCheck), ("market.hours", HoursCheck)):
        assert REGISTRY[kind] is cls and not cls.uses_broker


# ---------------------------------------------------------------- weekend


def test_weekend_fails_on_saturday_naming_the_next_session(tmp_path):
    out = run(WeekendCheck, ist(2026, 11, 28, 10, 0), tmp_path)
    assert out.status is Status.FAILED
    assert out.error.what == "market closed: Saturday 2026-11-28"
    assert out.error.why == "NSE does not trade on weekends"
    assert "Monday 2026-11-30 09:15 IST" in out.error.how and "--at" in out.error.how


def test_weekend_passes_on_a_weekday(tmp_path):
    out = run(WeekendCheck, ist(2026, 11, 23, 10, 0), tmp_path)
    assert out.status is Status.PASSED and "Monday 2026-11-23" in out.summary


def test_weekend_decided_in_ist_not_the_callers_zone(tmp_path):
    # Friday 20:00 UTC is Saturday 01:30 IST.
    out = run(WeekendCheck, datetime(2026, 11, 27, 20, 0, tzinfo=ZoneInfo("UTC")), tmp_path)
    assert out.status is Status.FAILED and "Saturday 2026-11-28" in out.error.what


# ---------------------------------------------------------------- holiday


def test_holiday_fails_with_its_name(tmp_path):
    out = run(HolidayCheck, ist(2026, 11, 24, 9, 30), tmp_path)
    assert out.status is Status.FAILED
    assert "Prakash Gurpurb Sri Guru Nanak Dev" in out.error.what
    assert "Wednesday 2026-11-25 09:15 IST" in out.error.how
    assert out.facts["holiday"] == "Prakash Gurpurb Sri Guru Nanak Dev"


def test_2025_holiday(tmp_path):
    out = run(HolidayCheck, ist(2025, 4, 18, 10, 0), tmp_path)
    assert out.status is Status.FAILED and "Good Friday" in out.error.what


def test_a_holiday_with_a_muhurat_session_passes_the_holiday_check(tmp_path):
    out = run(HolidayCheck, ist(2025, 10, 21, 13, 50), tmp_path)
    assert out.status is Status.PASSED and "Diwali Laxmi Pujan" in out.summary
    assert "Muhurat" in out.facts["special"] and "13:45-14:45" in out.facts["special"]


def test_holiday_passes_naming_the_next_one(tmp_path):
    out = run(HolidayCheck, ist(2026, 6, 1, 10, 0), tmp_path)
    assert out.status is Status.PASSED
    assert "Muharram" in out.summary and "2026-06-26" in out.summary


def test_holiday_warns_near_the_end_of_coverage(tmp_path):
    out = run(HolidayCheck, ist(2026, 12, 2, 10, 0), tmp_path)
    assert out.status is Status.WARNED
    assert "2026-12-31" in out.error.what and "mci calendar update" in out.error.how
    assert out.facts["days_of_coverage_left"] == 29
    assert run(HolidayCheck, ist(2026, 11, 30, 10, 0), tmp_path).status is Status.PASSED  # 31 days left
    assert run(HolidayCheck, ist(2026, 11, 30, 10, 0), tmp_path, {"warn_within_days": 45}).status is Status.WARNED
    assert run(HolidayCheck, ist(2026, 11, 30, 10, 0), tmp_path, {"warn_within_days": D("45")}).status is Status.WARNED


def test_holiday_fails_beyond_coverage(tmp_path):
    out = run(HolidayCheck, ist(2027, 1, 4, 10, 0), tmp_path)
    assert out.status is Status.FAILED
    assert "cannot know if today" in out.error.what and "2026-12-31" in out.error.what
    assert "mci calendar update" in out.error.how


def test_holiday_rejects_bad_params(tmp_path):
    with pytest.raises(ConfigError):
        run(HolidayCheck, ist(2026, 6, 1, 10, 0), tmp_path, {"warn_within_days": "soon"})


# ---------------------------------------------------------------- hours


@pytest.mark.parametrize(
    "hms, status",
    [
        ((8, 59, 59), Status.FAILED),
        ((9, 0, 0), Status.WARNED),
        ((9, 14, 59), Status.WARNED),
        ((9, 15, 0), Status.PASSED),
        ((15, 19, 59), Status.PASSED),
        ((15, 20, 0), Status.FAILED),  # may trade MIS: Zerodha's CM square-off is the entry cut-off by default
        ((15, 30, 0), Status.FAILED),
        ((23, 0, 0), Status.FAILED),
    ],
)
def test_hours_edges(tmp_path, hms, status):
    out = run(HoursCheck, ist(2026, 11, 23, *hms), tmp_path)
    assert out.status is status, out


def test_hours_messages(tmp_path):
    pre = run(HoursCheck, ist(2026, 11, 23, 9, 14, 59), tmp_path)
    assert "pre-open; normal session opens 09:15" in pre.error.what
    opened = run(HoursCheck, ist(2026, 11, 23, 9, 15, 0), tmp_path)
    assert "6h15m to the 15:30 close" in opened.summary
    assert opened.facts["seconds_to_close"] == 6 * 3600 + 15 * 60
    after = run(HoursCheck, ist(2026, 11, 23, 15, 30, 0), tmp_path)
    assert "after the close" in after.error.what
    assert "Wednesday 2026-11-25 09:15 IST" in after.error.how  # the 24th is a holiday


def test_hours_fail_on_weekend_holiday_and_unknown_days(tmp_path):
    for instant in (ist(2026, 11, 28, 10, 0), ist(2026, 11, 24, 10, 0), ist(2027, 1, 4, 10, 0)):
        out = run(HoursCheck, instant, tmp_path)
        assert out.status is Status.FAILED, instant


def test_hours_params_accept_strings_and_times(tmp_path):
    instant = ist(2026, 11, 23, 15, 10, 0)
    assert run(HoursCheck, instant, tmp_path).status is Status.PASSED
    assert run(HoursCheck, instant, tmp_path, {"close": "15:10"}).status is Status.FAILED
    assert run(HoursCheck, instant, tmp_path, {"close": time(15, 10, 1)}).status is Status.PASSED
    assert run(HoursCheck, instant, tmp_path, {"close": "15:10:00"}).status is Status.FAILED
    for bad in ({"open": "9.15"}, {"open": 555}, {"open": "16:00"}):
        with pytest.raises(ConfigError):
            run(HoursCheck, instant, tmp_path, bad)


def test_a_ticking_clock_is_used_not_the_wall_clock(tmp_path):
    ctx = CheckContext(
        profile=make_profile(),
        clock=Clock(start=ist(2026, 11, 23, 10, 0)),
        state_dir=tmp_path,
        store_factory=_never,
        broker_factory=_never,
    )
    assert HoursCheck().run(ctx, {}).status is Status.PASSED
