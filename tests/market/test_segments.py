"""Segments on their own calendars: MCX (a morning and an evening session, a close that follows US daylight
saving time, holidays that close only the morning) and NSE's currency derivatives, chosen by the exchanges a
profile trades; through the real CLI with an injected clock (--at): scan, ignite, `mci risk check`, doctor and
`mci calendar update --segment`."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mci.config import load_profile
from mci.market.calendar import MarketPhase, calendars_for, load_calendar
from mci.market.cutoffs import cutoff_on, watch_square_off_on

IST = ZoneInfo("Asia/Kolkata")
ROOT = Path(__file__).resolve().parents[2]
MCX_CSV = ROOT / "tests" / "fixtures" / "mcx_holidays_2027.fixture.csv"
NSE_JSON = ROOT / "tests" / "fixtures" / "nse_holiday_master_2027.fixture.json"
SUMMER = "2026-07-15"  # a Wednesday while New York keeps daylight saving time: MCX closes 23:30
WINTER = "2026-12-09"  # a Wednesday on US standard time: MCX closes 23:55
HOLI = "2026-03-03"  # MCX: morning closed, evening open
REPUBLIC = "2026-01-26"  # MCX: both sessions closed


def ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=IST)


def _profile(tmp_path: Path, exchanges: str, square_off: str | None = '"23:00"') -> Path:
    text = (ROOT / "profiles" / "paper.yaml").read_text(encoding="utf-8")
    text = text.replace("  warn_at: 80%", f"  allowed_exchanges: [{exchanges}]\n  warn_at: 80%", 1)
    line = next(x for x in text.splitlines() if x.strip().startswith("square_off:"))
    text = text.replace(line, f"  square_off: {square_off}" if square_off else "", 1)
    path = tmp_path / f"p-{exchanges.replace(', ', '-').lower()}-{bool(square_off)}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _checks(proc) -> dict:
    return {c["id"]: c for c in json.loads(proc.stdout)["checks"]}


@pytest.fixture(scope="module")
def mcx():
    return load_calendar("mcx")


# ---------------------------------------------------------------- the calendar


def test_the_evening_close_follows_us_daylight_saving(mcx):
    assert mcx.session_bounds(date(2026, 7, 15))[2] == ist(2026, 7, 15, 23, 30)
    assert mcx.session_bounds(date(2026, 12, 9))[2] == ist(2026, 12, 9, 23, 55)
    # The US changes on Sundays (2026-03-08, 2026-11-01); MCX's Monday after is the first day of the new close.
    assert mcx.session_bounds(date(2026, 3, 6))[2] == ist(2026, 3, 6, 23, 55)
    assert mcx.session_bounds(date(2026, 3, 9))[2] == ist(2026, 3, 9, 23, 30)
    assert mcx.session_bounds(date(2026, 10, 30))[2] == ist(2026, 10, 30, 23, 30)
    assert mcx.session_bounds(date(2026, 11, 2))[2] == ist(2026, 11, 2, 23, 55)
    assert mcx.phase(ist(2026, 7, 15, 23, 40)) is MarketPhase.CLOSED_AFTER
    assert mcx.phase(ist(2026, 12, 9, 23, 40)) is MarketPhase.OPEN


def test_a_holiday_may_close_the_morning_or_the_evening_alone(mcx):
    assert mcx.phase(ist(2026, 3, 3, 10, 0)) is MarketPhase.BEFORE_PRE_OPEN  # Holi: morning closed
    assert mcx.phase(ist(2026, 3, 3, 17, 0)) is MarketPhase.OPEN
    assert mcx.next_open(ist(2026, 3, 3, 10, 0)) == ist(2026, 3, 3, 17, 0)
    assert mcx.phase(ist(2026, 1, 1, 16, 59)) is MarketPhase.OPEN  # New Year: evening closed
    assert mcx.phase(ist(2026, 1, 1, 17, 0)) is MarketPhase.CLOSED_AFTER
    assert mcx.phase(ist(2026, 1, 26, 21, 0)) is MarketPhase.HOLIDAY  # both closed


def test_a_profile_s_exchanges_choose_its_calendars(tmp_path):
    paper = load_profile(None)
    mixed = replace(paper, risk=replace(paper.risk, allowed_exchanges=("NSE", "NFO", "MCX", "CDS")))
    assert [(segments, c.name) for segments, c in calendars_for(mixed, tmp_path)] == [
        (("CM", "FO"), "nse"),
        (("MCX",), "mcx"),
        (("CD",), "nse-cd"),
    ]
    assert [c.name for _, c in calendars_for(paper, tmp_path)] == ["nse"]


def test_the_mcx_square_off_is_25_minutes_before_each_day_s_close(tmp_path, mcx):
    paper = load_profile(None)
    profile = replace(
        paper, risk=replace(paper.risk, allowed_exchanges=("MCX",)), watch=replace(paper.watch, square_off=None)
    )
    assert cutoff_on(profile, mcx, "MCX", date(2026, 7, 15)).broker_at == ist(2026, 7, 15, 23, 5)
    assert cutoff_on(profile, mcx, "MCX", date(2026, 12, 9)).broker_at == ist(2026, 12, 9, 23, 30)
    assert cutoff_on(profile, mcx, "MCX", date(2026, 1, 1)).broker_at == ist(2026, 1, 1, 16, 35)  # no evening
    at_23 = replace(profile, watch=replace(paper.watch, square_off=time(23, 0)))
    assert watch_square_off_on(at_23, mcx, date(2026, 7, 15)) == ist(2026, 7, 15, 23, 0)  # the regular close moved
    assert watch_square_off_on(at_23, mcx, date(2026, 12, 9)) == ist(2026, 12, 9, 23, 0)
    assert watch_square_off_on(at_23, mcx, date(2026, 1, 1)) == ist(2026, 1, 1, 16, 5)  # 17:00 close, same distance


# ---------------------------------------------------------------- end to end


@pytest.mark.parametrize(
    "at, code, status",
    [
        (f"{SUMMER}T21:00", 0, "passed"),  # the evening session of a normal day
        (f"{REPUBLIC}T21:00", 1, "failed"),  # MCX closed for both sessions
        (f"{HOLI}T10:30", 1, "failed"),  # the morning is closed ...
        (f"{HOLI}T21:00", 0, "passed"),  # ... the evening trades
        (f"{SUMMER}T23:40", 1, "failed"),  # after the 23:30 summer close
        (f"{WINTER}T23:20", 1, "failed"),  # open, but after the profile's 23:00 entry cut-off
    ],
)
def test_the_scan_of_an_mcx_profile_follows_mcx(run_mci, tmp_path, at, code, status):
    proc = run_mci("scan", "-p", str(_profile(tmp_path, "MCX")), "--at", at, "-o", "json")
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert _checks(proc)["market_hours"]["status"] == status
    if at.startswith(REPUBLIC):
        assert "MCX trading holiday (Republic Day)" in _checks(proc)["holiday"]["error"]["what"]


def test_the_evening_close_moves_with_us_dst_in_the_scan(run_mci, tmp_path):
    profile = str(_profile(tmp_path, "MCX", square_off=None))
    summer = run_mci("scan", "-p", profile, "--at", f"{SUMMER}T23:40", "-o", "json")
    assert summer.returncode == 1 and "23:30" in _checks(summer)["market_hours"]["error"]["what"]
    winter = run_mci("scan", "-p", profile, "--at", f"{WINTER}T23:20", "-o", "json")
    assert winter.returncode == 0, winter.stdout  # the broker's 23:30 square-off still ahead
    assert "23:55 close" in _checks(winter)["market_hours"]["summary"]


def test_a_profile_of_nse_and_mcx_warns_when_one_is_closed(run_mci, tmp_path):
    proc = run_mci(
        "scan", "-p", str(_profile(tmp_path, "NSE, MCX", square_off=None)), "--at", f"{SUMMER}T21:00", "-o", "json"
    )
    assert proc.returncode == 0, proc.stdout
    hours = _checks(proc)["market_hours"]
    assert hours["status"] == "warned" and hours["error"]["what"].startswith("CM: market closed")
    assert "MCX: open" in hours["summary"]


def test_ignite_follows_the_mcx_session(run_mci, tmp_path):
    profile = str(_profile(tmp_path, "MCX"))
    assert run_mci("scan", "-p", profile, "--at", f"{WINTER}T22:50").returncode == 0
    late = run_mci("ignite", "-p", profile, "--at", f"{WINTER}T23:01")
    assert late.returncode == 4 and "entry cut-off 23:00" in late.stdout + late.stderr


def _risk(run_mci, tmp_path, profile: Path, at: str, exchange: str = "MCX", symbol: str = "CRUDEOIL26DECFUT"):
    order = tmp_path / "order.json"
    order.write_text(
        json.dumps(
            {
                "exchange": exchange,
                "symbol": symbol,
                "side": "BUY",
                "quantity": 1,
                "order_type": "LIMIT",
                "product": "MIS",
                "price": "6000",
                "stop_loss": "5990",
                "target": "6030",
                "signal_time": at + "+05:30",
            }
        )
    )
    account = tmp_path / "account.json"
    key = f"{exchange}:{symbol}"
    account.write_text(
        json.dumps(
            {
                "capital": "1000000",
                "last_prices": {key: "6000"},
                "instruments": {key: {"tick_size": "1", "lot_size": 1}},
            }
        )
    )
    proc = run_mci("risk", "check", str(order), "-p", str(profile), "--account", str(account), "--at", at, "-o", "json")
    return proc, json.loads(proc.stdout.splitlines()[0])


def test_risk_check_judges_an_mcx_entry_on_mcx_s_session(run_mci, tmp_path):
    profile = _profile(tmp_path, "NSE, MCX", square_off=None)
    evening, verdict = _risk(run_mci, tmp_path, profile, f"{SUMMER}T21:00:00")
    assert evening.returncode == 0, verdict  # NSE is closed; MCX trades its evening
    summer, verdict = _risk(run_mci, tmp_path, profile, f"{SUMMER}T23:10:00")
    assert summer.returncode == 1 and "cut-off 23:05" in verdict["failures"][0]["what"]
    winter, verdict = _risk(run_mci, tmp_path, profile, f"{WINTER}T23:10:00")
    assert winter.returncode == 0, verdict
    morning, verdict = _risk(run_mci, tmp_path, profile, f"{HOLI}T10:30:00")
    assert morning.returncode == 1 and "MCX is closed at 10:30 IST" in verdict["failures"][0]["what"]
    assert "17:00" in verdict["failures"][0]["how"]
    holi_evening, verdict = _risk(run_mci, tmp_path, profile, f"{HOLI}T21:00:00")
    assert holi_evening.returncode == 0, verdict
    closed, verdict = _risk(run_mci, tmp_path, profile, f"{REPUBLIC}T21:00:00")
    assert (
        closed.returncode == 1 and "MCX is closed on Monday 2026-01-26 (Republic Day)" in verdict["failures"][0]["what"]
    )
    nse, verdict = _risk(run_mci, tmp_path, profile, f"{SUMMER}T21:00:00", "NSE", "INFY")
    assert nse.returncode == 1 and "after the intraday entry cut-off" in verdict["failures"][0]["what"]


def test_validate_holds_watch_square_off_to_the_earliest_mcx_square_off(run_mci, tmp_path):
    late = run_mci("validate", str(_profile(tmp_path, "MCX", square_off='"23:10"')), "-o", "json")
    assert late.returncode == 2 and "MCX square-off 23:05" in late.stdout


def test_a_currency_profile_fails_until_its_list_is_installed(run_mci, tmp_path):
    profile = str(_profile(tmp_path, "CDS", square_off='"16:30"'))
    proc = run_mci("scan", "-p", profile, "--at", "2026-12-09T11:00", "-o", "json")
    assert proc.returncode == 1
    holiday = _checks(proc)["holiday"]["error"]
    assert "NSE-CD calendar ends 2024-12-31" in holiday["what"]
    assert "mci calendar update --segment CD --install" in holiday["how"]
    doctor = run_mci("doctor", "-p", profile, "--at", "2026-12-09T11:00", "-o", "json")
    [finding] = [f for f in json.loads(doctor.stdout)["findings"] if f["check"] == "calendar"]
    assert finding["level"] == "fail" and "EXPIRED" in finding["detail"]


def test_doctor_and_scan_warn_30_days_before_the_data_ends(run_mci, tmp_path):
    profile = str(_profile(tmp_path, "NSE, MCX", square_off=None))
    doctor = run_mci("doctor", "-p", profile, "--at", "2026-12-04T10:30", "-o", "json")
    [finding] = [f for f in json.loads(doctor.stdout)["findings"] if f["check"] == "calendar"]
    assert finding["level"] == "warn" and "27 day(s) left" in finding["detail"]
    assert "MCX holidays known until 2026-12-31 (MCX; 27 day(s) left" in finding["detail"]
    assert "mci calendar update --install" in finding["how"] and "--segment MCX --from-file" in finding["how"]
    scan = run_mci("scan", "-p", profile, "--at", "2026-12-04T10:30", "-o", "json")
    holiday = _checks(scan)["holiday"]
    assert holiday["status"] == "warned" and "ends in 27 day(s)" in holiday["error"]["what"]
    assert "mci calendar update" in holiday["error"]["how"]
    early = run_mci("doctor", "-p", profile, "--at", "2026-11-30T10:30", "-o", "json")  # 31 days left
    [finding] = [f for f in json.loads(early.stdout)["findings"] if f["check"] == "calendar"]
    assert finding["level"] == "ok", finding


def test_calendar_update_segment_mcx_from_a_saved_table(run_mci, tmp_path, mci_home):
    profile = str(_profile(tmp_path, "MCX"))
    before = run_mci("scan", "-p", profile, "--at", "2027-03-10T21:00", "-o", "json")
    assert before.returncode == 1  # beyond the shipped data
    done = run_mci(
        "calendar", "update", "-p", profile, "--segment", "MCX", "--from-file", str(MCX_CSV), "--install", "-o", "json"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    payload = json.loads(done.stdout)
    assert payload["calendar"] == "mcx" and payload["covers"]["until"] == "2027-12-31"
    added = {c["date"]: c["new"] for c in payload["changes"]}
    assert added["2027-03-10"].endswith("(morning session closed)") and "2027-03-11" not in added
    assert "2027-08-15" not in added  # a Sunday: left out
    written = (mci_home / "calendars" / "mcx.yaml").read_text(encoding="utf-8")
    assert "dst_close: {zone: America/New_York" in written and "closed: morning" in written
    assert run_mci("validate", str(mci_home / "calendars" / "mcx.yaml")).returncode == 0
    for at, code in (
        ("2027-03-10T10:30", 1),
        ("2027-03-10T21:00", 0),
        ("2027-01-26T21:00", 1),
        ("2027-01-01T21:00", 1),
        ("2027-01-01T10:30", 0),
        ("2027-03-11T10:30", 0),
    ):
        proc = run_mci("scan", "-p", profile, "--at", at, "-o", "json")
        assert proc.returncode == code, (at, proc.stdout)


def test_calendar_update_segment_cd_starts_the_expired_calendar_again(run_mci, tmp_path, mci_home):
    profile = str(_profile(tmp_path, "CDS", square_off='"16:30"'))
    done = run_mci(
        "calendar",
        "update",
        "-p",
        profile,
        "--segment",
        "CD",
        "--from-file",
        str(NSE_JSON),
        "--install",
        "--at",
        "2027-01-04T10:00",
        "-o",
        "json",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    payload = json.loads(done.stdout)
    assert payload["calendar"] == "nse-cd" and any("now covers from 2027-01-01" in n for n in payload["notes"])
    assert run_mci("scan", "-p", profile, "--at", "2027-03-11T11:00").returncode == 1  # a CD-only holiday
    assert run_mci("scan", "-p", profile, "--at", "2027-03-12T11:00").returncode == 0
    assert run_mci("scan", "-p", profile, "--at", "2027-03-12T17:00").returncode == 1  # CD closes at 17:00


def test_calendar_update_refuses_mcx_mixed_with_nse_or_without_a_file(run_mci, tmp_path):
    mixed = run_mci("calendar", "update", "--segment", "CM,MCX", "--from-file", str(NSE_JSON))
    assert mixed.returncode == 2 and "MCX publishes its own" in mixed.stdout + mixed.stderr
    bare = run_mci("calendar", "update", "--segment", "MCX")
    assert bare.returncode == 2 and "--from-file" in bare.stdout + bare.stderr


def test_policy_diff_reads_a_morning_only_holiday_and_the_dst_close():
    from mci.policy.compare_calendar import compare_calendars

    base = {
        "sessions": {"dst_close": {"zone": "America/New_York", "end": "23:30"}},
        "holidays": [{"date": "2026-01-26", "name": "Republic Day"}],
    }
    looser = {
        "sessions": {"dst_close": {"zone": "America/New_York", "end": "23:45"}},
        "holidays": [{"date": "2026-01-26", "name": "Republic Day", "closed": "morning"}],
    }
    assert {c.key: c.kind for c in compare_calendars(base, looser)} == {
        "holidays.2026-01-26.closed": "loosening",
        "sessions.dst_close.end": "loosening",
    }
    assert {c.key: c.kind for c in compare_calendars(looser, base)} == {
        "holidays.2026-01-26.closed": "tightening",
        "sessions.dst_close.end": "tightening",
    }


def test_a_part_closed_is_checked_at_file_and_line(run_mci, tmp_path):
    from mci.resources import rules_dir

    text = (rules_dir() / "calendars" / "mcx.yaml").read_text(encoding="utf-8")
    holi = "  - {date: 2026-03-03, name: Holi, closed: morning}\n"
    line = text[: text.index(holi)].count("\n") + 1
    wrong = tmp_path / "mcx.yaml"
    wrong.write_text(text.replace(holi, holi.replace("morning", "afternoon")), encoding="utf-8")
    proc = run_mci("validate", str(wrong), "-o", "json")
    assert proc.returncode == 2
    assert all(e["location"]["line"] == line for e in json.loads(proc.stdout)["errors"])
    nse = (rules_dir() / "calendars" / "nse.yaml").read_text(encoding="utf-8")
    christmas = "  - {date: 2026-12-25, name: Christmas}\n"
    partial = tmp_path / "nse.yaml"
    partial.write_text(nse.replace(christmas, christmas.replace("}", ", closed: morning}")), encoding="utf-8")
    proc = run_mci("validate", str(partial), "-o", "json")
    assert proc.returncode == 2 and "evening_start" in proc.stdout


@pytest.mark.parametrize(
    "body, words",
    [
        (b"Date,Holiday\n01-Jan-2027,New Year\n", "no column Morning Session, Evening Session"),
        (b"Date,Holiday,Morning Session,Evening Session\n2027/01/26,Republic Day,Closed,Closed\n", "not a date"),
        (b"Date,Holiday,Morning Session,Evening Session\n26-Jan-2027,Republic Day,Shut,Closed\n", "not Open or Closed"),
    ],
)
def test_a_saved_mcx_table_that_is_not_one_is_what_why_how(tmp_path, body, words):
    from datetime import timezone

    from mci.errors import ExitCode, MciError
    from mci.market import mcx_holidays

    saved = tmp_path / "mcx.csv"
    saved.write_bytes(body)
    with pytest.raises(MciError) as caught:
        mcx_holidays.read_file(saved, now=datetime(2026, 12, 4, tzinfo=timezone.utc))
    assert words in caught.value.why and caught.value.code is ExitCode.INVALID and "CSV" in caught.value.how


def test_the_watcher_of_an_mcx_profile_reads_mcx(tmp_path):
    from mci.market.calendar import calendar_for

    paper = load_profile(None)
    profile = replace(paper, risk=replace(paper.risk, allowed_exchanges=("MCX",)))
    assert calendar_for(profile, tmp_path).name == "mcx" and calendar_for(paper, tmp_path).name == "nse"
