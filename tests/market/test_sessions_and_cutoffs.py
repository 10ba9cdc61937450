"""Special sessions (Muhurat trading, a Budget Sunday), the intraday entry cut-off and the broker's square-off,
at their edges with an injected clock: in the calendar, the scan's market checks, `mci risk check`,
`mci validate`, and the end of the calendar's data."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mci.checks.base import CheckContext
from mci.checks.market import HolidayCheck, HoursCheck, WeekendCheck
from mci.clock import Clock
from mci.config import load_profile
from mci.market.calendar import MarketPhase, load_calendar
from mci.market.cutoffs import cutoff_on, intraday_entry_refusal
from mci.resources import rules_dir
from mci.results import Status

IST = ZoneInfo("Asia/Kolkata")
ROOT = Path(__file__).resolve().parents[2]
BUDGET_SUNDAY = date(2026, 2, 1)
MUHURAT = date(2025, 10, 21)  # Diwali Laxmi Pujan: a holiday with a 13:45-14:45 session


def ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=IST)


@pytest.fixture(scope="module")
def paper():
    return load_profile(None)  # watch.square_off 15:15, may trade MIS


@pytest.fixture(scope="module")
def delivery(paper):
    return replace(paper, risk=replace(paper.risk, allowed_products=("CNC",)))


@pytest.fixture(scope="module")
def nse():
    return load_calendar("nse")


def run(check, profile, instant, tmp_path):
    ctx = CheckContext(
        profile=profile,
        clock=Clock(start=instant, frozen=True),
        state_dir=tmp_path,
        store_factory=None,
        broker_factory=None,
    )
    return check().run(ctx, {})


# ---------------------------------------------------------------- the calendar


def test_the_budget_sunday_trades_and_the_next_sunday_does_not(nse):
    assert nse.is_weekend(BUDGET_SUNDAY) and nse.is_trading_day(BUDGET_SUNDAY)
    assert nse.phase(ist(2026, 2, 1, 9, 7, 59)) is MarketPhase.PRE_OPEN
    assert nse.phase(ist(2026, 2, 1, 15, 29, 59)) is MarketPhase.OPEN
    assert nse.phase(ist(2026, 2, 8, 10, 0)) is MarketPhase.WEEKEND
    assert nse.next_trading_day(date(2026, 1, 30)) == BUDGET_SUNDAY  # Friday -> Sunday, not Monday


def test_muhurat_bounds_are_the_days_own(nse):
    assert nse.session_bounds(MUHURAT) == (
        ist(2025, 10, 21, 13, 30),
        ist(2025, 10, 21, 13, 45),
        ist(2025, 10, 21, 14, 45),
    )
    assert nse.next_open(ist(2025, 10, 20, 16, 0)) == ist(2025, 10, 21, 13, 45)
    assert nse.phase(ist(2025, 10, 21, 14, 45)) is MarketPhase.CLOSED_AFTER


# ---------------------------------------------------------------- the scan's checks


@pytest.mark.parametrize(
    "hms, status",
    [
        ((13, 29, 59), Status.FAILED),  # before the Muhurat pre-open
        ((13, 30, 0), Status.WARNED),  # pre-open
        ((13, 44, 59), Status.WARNED),
        ((13, 45, 0), Status.PASSED),  # the session's first minute
        ((14, 44, 59), Status.PASSED),
        ((14, 45, 0), Status.FAILED),  # its end
    ],
)
def test_muhurat_session_start_and_end_minute(tmp_path, delivery, hms, status):
    out = run(HoursCheck, delivery, ist(2025, 10, 21, *hms), tmp_path)
    assert out.status is status, out
    assert "Muhurat" in out.facts.get("special", "") or status is Status.FAILED


def test_in_the_muhurat_session_every_market_check_passes(tmp_path, delivery):
    at = ist(2025, 10, 21, 14, 0)
    for check in (HoursCheck, WeekendCheck, HolidayCheck):
        assert run(check, delivery, at, tmp_path).status is Status.PASSED, check
    assert run(HolidayCheck, delivery, ist(2025, 10, 22, 10, 0), tmp_path).status is Status.FAILED  # Balipratipada


@pytest.mark.parametrize(
    "hms, status",
    [
        ((9, 7, 59), Status.WARNED),
        ((9, 15, 0), Status.PASSED),
        ((15, 14, 59), Status.PASSED),
        ((15, 15, 0), Status.FAILED),  # the paper profile's intraday entry cut-off (watch.square_off)
    ],
)
def test_the_budget_sunday_is_a_session_day(tmp_path, paper, hms, status):
    at = ist(2026, 2, 1, *hms)
    assert run(HoursCheck, paper, at, tmp_path).status is status
    weekend = run(WeekendCheck, paper, at, tmp_path)
    assert weekend.status is Status.PASSED and "Union Budget" in weekend.summary
    assert run(WeekendCheck, paper, ist(2026, 2, 8, 10, 0), tmp_path).status is Status.FAILED


def test_after_the_entry_cutoff_an_intraday_profile_is_not_armed(tmp_path, paper, delivery):
    ok = run(HoursCheck, paper, ist(2026, 11, 23, 15, 14, 59), tmp_path)
    assert ok.status is Status.PASSED
    late = run(HoursCheck, paper, ist(2026, 11, 23, 15, 15, 0), tmp_path)
    assert late.status is Status.FAILED
    assert "entry cut-off 15:15 (watch.square_off)" in late.error.what and "15:20" in late.error.why
    assert "Wednesday 2026-11-25 09:15" in late.error.how  # the 24th is a holiday
    assert run(HoursCheck, delivery, ist(2026, 11, 23, 15, 29, 59), tmp_path).status is Status.PASSED


def test_the_cutoff_keeps_its_distance_to_a_short_sessions_close(paper, nse):
    cut = cutoff_on(paper, nse, "CM", MUHURAT)  # 15:15 is 15 min before 15:30: 14:30 on a 14:45 close
    assert cut.at == ist(2025, 10, 21, 14, 30) and cut.broker_at == ist(2025, 10, 21, 14, 35)
    assert cutoff_on(paper, nse, "FO", date(2026, 11, 23)).broker_at == ist(2026, 11, 23, 15, 25)


def test_the_last_day_of_data_warns_and_the_day_after_fails(tmp_path, paper):
    last = run(HolidayCheck, paper, ist(2026, 12, 31, 10, 0), tmp_path)
    assert last.status is Status.WARNED and last.facts["days_of_coverage_left"] == 0
    assert "mci calendar update" in last.error.how
    month = run(HolidayCheck, paper, ist(2026, 12, 1, 10, 0), tmp_path)  # 30 days before: warns, never fails
    assert month.status is Status.WARNED and month.facts["days_of_coverage_left"] == 30
    after = run(HolidayCheck, paper, ist(2027, 1, 1, 10, 0), tmp_path)
    assert after.status is Status.FAILED
    assert "2026-12-31" in after.error.what and "mci calendar update" in after.error.how and after.error.why


# ---------------------------------------------------------------- mci risk check (library)


def test_an_mis_entry_at_the_cutoff_minute(paper, nse):
    assert intraday_entry_refusal(paper, nse, "NSE", "MIS", ist(2026, 11, 23, 15, 14, 59)) is None
    refusal = intraday_entry_refusal(paper, nse, "NSE", "MIS", ist(2026, 11, 23, 15, 15, 0))
    assert refusal is not None and "cut-off 15:15" in refusal.what
    assert intraday_entry_refusal(paper, nse, "NSE", "CNC", ist(2026, 11, 23, 15, 16)) is None
    closed = intraday_entry_refusal(paper, nse, "NFO", "MIS", ist(2026, 11, 24, 10, 0))
    assert closed is not None and "Guru Nanak" in closed.what
    assert intraday_entry_refusal(paper, nse, "NSE", "MIS", ist(2026, 2, 1, 10, 0)) is None  # Budget Sunday
    assert "MCX" in intraday_entry_refusal(paper, nse, "MCX", "MIS", ist(2026, 11, 23, 10, 0)).what
    beyond = intraday_entry_refusal(paper, nse, "NSE", "MIS", ist(2027, 1, 4, 10, 0))
    assert beyond is not None and "mci calendar update" in beyond.how


def test_the_session_rule_never_holds_back_an_exit(paper, nse):
    from testing.risk import account, holdings, order

    from mci.risk import RiskModel, validate

    now = ist(2026, 11, 23, 15, 16)
    model = RiskModel.of(paper.risk, account().capital)

    def session(intent, at):
        return intraday_entry_refusal(paper, nse, intent.exchange, intent.product, at)

    fresh = order(signal_time=(now - timedelta(seconds=1)).isoformat())
    entry = validate(fresh, model, account(), now, session)
    assert not entry.accepted and [f.rule for f in entry.failures] == ["session"]
    held = account(positions=holdings("NSE:INFY"))
    exit_ = validate({**fresh, "side": "SELL", "stop_loss": None, "target": None}, model, held, now, session)
    assert exit_.accepted and exit_.exit


# ---------------------------------------------------------------- end to end


def _order(at: str, product: str = "MIS") -> str:
    return json.dumps(
        {
            "exchange": "NSE",
            "symbol": "INFY",
            "side": "BUY",
            "quantity": 10,
            "order_type": "LIMIT",
            "product": product,
            "price": "1500",
            "stop_loss": "1480",
            "target": "1560",
            "signal_time": at + "+05:30",
        }
    )


def _risk(run_mci, tmp_path, at: str, product: str = "MIS"):
    path = tmp_path / "order.json"
    path.write_text(_order(at, product))
    account = tmp_path / "account.json"
    account.write_text(
        json.dumps(
            {
                "capital": "1000000",
                "last_prices": {"NSE:INFY": "1500"},
                "instruments": {"NSE:INFY": {"tick_size": "0.05", "lot_size": 1}},
            }
        )
    )
    proc = run_mci("risk", "check", str(path), "--account", str(account), "--at", at, "-o", "json")
    return proc, json.loads(proc.stdout.splitlines()[0])


def test_risk_check_of_an_mis_entry_at_1516_names_the_cutoff(run_mci, tmp_path):
    proc, verdict = _risk(run_mci, tmp_path, "2026-11-23T15:16:00")
    assert proc.returncode == 1
    [failure] = verdict["failures"]
    assert failure["rule"] == "session" and "entry cut-off 15:15 (watch.square_off)" in failure["what"]
    early, verdict = _risk(run_mci, tmp_path, "2026-11-23T15:14:00")
    assert early.returncode == 0, verdict
    cnc, verdict = _risk(run_mci, tmp_path, "2026-11-23T15:16:00", "CNC")
    assert cnc.returncode == 0, verdict
    sunday, verdict = _risk(run_mci, tmp_path, "2026-11-29T10:00:00")
    assert sunday.returncode == 1 and "closed on Sunday 2026-11-29" in verdict["failures"][0]["what"]


@pytest.mark.parametrize(
    "at, code",
    [
        ("2026-02-01T10:30", 0),
        ("2026-02-01T15:30", 1),
        ("2026-02-08T10:30", 1),  # Budget Sunday
        ("2025-10-21T13:50", 0),
        ("2025-10-21T14:30", 1),
        ("2025-10-21T10:00", 1),  # Muhurat, paper cut-off 14:30
    ],
)
def test_scan_follows_special_sessions_end_to_end(run_mci, at, code):
    proc = run_mci("scan", "--at", at, "-o", "json")
    assert proc.returncode == code, proc.stdout + proc.stderr


# ---------------------------------------------------------------- mci validate


def _profile(tmp_path: Path, square_off: str, market: str = "") -> Path:
    text = (ROOT / "profiles" / "paper.yaml").read_text(encoding="utf-8")
    text = text.replace('square_off: "15:15"', f'square_off: "{square_off}"')
    if market:
        text = text.replace(
            "  timezone: Asia/Kolkata    # market hours", market + "\n  timezone: Asia/Kolkata    # market hours"
        )
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "square_off, code, words",
    [
        ("15:17", 0, None),
        ("15:18", 0, "only 2 minute(s) before"),
        ("15:20", 2, "not before the broker's CM square-off 15:20"),
    ],
)
def test_validate_holds_watch_square_off_before_the_broker(run_mci, tmp_path, square_off, code, words):
    proc = run_mci("validate", str(_profile(tmp_path, square_off)), "-o", "json")
    assert proc.returncode == code, proc.stdout
    payload = json.loads(proc.stdout)
    found = payload["errors"] + payload["warnings"]
    if words is None:
        assert not found
    else:
        assert words in found[0]["what"] and found[0]["location"]["line"] == 42
        assert "support.zerodha.com" in found[0]["why"]


def test_validate_per_segment_and_entry_cutoff(run_mci, tmp_path):
    fo = _profile(tmp_path, "15:22", '  broker_square_off: {FO: "15:25"}')
    text = fo.read_text().replace("  warn_at: 80%", "  warn_at: 80%\n  allowed_exchanges: [NFO]")
    fo.write_text(text)
    assert run_mci("validate", str(fo)).returncode == 0  # 3 minutes before F&O's 15:25
    late = _profile(tmp_path, "15:10", '  entry_cutoff: "15:21"')
    proc = run_mci("validate", str(late))
    assert proc.returncode == 2 and "market.entry_cutoff 15:21 is after the broker's CM square-off 15:20" in proc.stdout


def test_validate_a_calendar_at_file_line(run_mci, tmp_path):
    text = (rules_dir() / "calendars" / "nse.yaml").read_text(encoding="utf-8")
    christmas = "  - {date: 2026-12-25, name: Christmas}\n"
    weekend = tmp_path / "weekend.yaml"
    weekend.write_text(text.replace(christmas, christmas + "  - {date: 2026-12-26, name: Boxing Day}\n"))
    proc = run_mci("validate", str(weekend), "-o", "json")
    assert proc.returncode == 0, proc.stdout
    [warning] = json.loads(proc.stdout)["warnings"]
    line = text[: text.index(christmas)].count("\n") + 2
    assert "falls on a Saturday" in warning["what"] and warning["location"]["line"] == line
    twice = tmp_path / "twice.yaml"
    twice.write_text(text.replace(christmas, christmas + christmas))
    proc = run_mci("validate", str(twice), "-o", "json")
    assert proc.returncode == 2
    [error] = json.loads(proc.stdout)["errors"]
    assert "listed twice" in error["why"] and error["location"]["line"] == line


def test_a_profile_may_name_a_calendar_file(run_mci, tmp_path):
    text = (rules_dir() / "calendars" / "nse.yaml").read_text(encoding="utf-8")
    (tmp_path / "cal").mkdir()
    (tmp_path / "cal" / "mine.yaml").write_text(
        text.replace("  - {date: 2026-11-23, name: X}\n", "").replace(
            "  - {date: 2026-12-25, name: Christmas}\n",
            "  - {date: 2026-12-25, name: Christmas}\n  - {date: 2026-12-24, name: Office closed}\n",
        )
    )
    profile = (
        (ROOT / "profiles" / "paper.yaml")
        .read_text(encoding="utf-8")
        .replace("calendar: nse ", "calendar: cal/mine.yaml ")
    )
    (tmp_path / "p.yaml").write_text(profile)
    assert run_mci("validate", str(tmp_path / "p.yaml")).returncode == 0
    proc = run_mci("scan", "-p", str(tmp_path / "p.yaml"), "--at", "2026-12-24T10:30", "-o", "json")
    assert proc.returncode == 1
    holiday = {c["id"]: c for c in json.loads(proc.stdout)["checks"]}["holiday"]
    assert "Office closed" in holiday["error"]["what"]
    assert run_mci("scan", "--at", "2026-12-24T10:30").returncode == 0  # the shipped profile: a trading day


@pytest.mark.parametrize(
    "scan_at, ignite_at, words",
    [
        ("2026-11-23T15:14:00", "2026-11-23T15:16:00", "after the intraday entry cut-off 15:15"),
        ("2025-10-21T14:25:00", "2025-10-21T14:31:00", "after the intraday entry cut-off 14:30"),  # Muhurat
    ],
)
def test_a_fresh_scan_does_not_ignite_after_the_cutoff(run_mci, scan_at, ignite_at, words):
    scan = run_mci("scan", "--at", scan_at)
    assert scan.returncode == 0, scan.stdout
    ignite = run_mci("ignite", "--at", ignite_at)
    assert ignite.returncode == 4, ignite.stdout + ignite.stderr
    assert words in ignite.stdout + ignite.stderr and "HOW:" in ignite.stdout + ignite.stderr


@pytest.mark.parametrize(
    "exchanges, status",
    [
        (("NSE", "NFO"), Status.PASSED),  # CM and FO: the shipped NSE calendar's own segments
        (("NSE", "MCX"), Status.PASSED),  # CM on NSE's calendar, MCX on MCX's: both known
        (("MCX", "CDS"), Status.WARNED),  # MCX known; CD's shipped list ended in 2024: said on every scan
        (("CDS",), Status.FAILED),  # nothing the profile trades is known: no "open" from NSE's days
    ],
)
def test_the_holiday_check_answers_for_each_segment_on_its_own_calendar(tmp_path, paper, exchanges, status):
    profile = replace(paper, risk=replace(paper.risk, allowed_exchanges=exchanges))
    out = run(HolidayCheck, profile, ist(2026, 11, 23, 10, 0), tmp_path)  # a Monday, NSE open
    assert out.status is status, out.summary
    if status is not Status.PASSED:
        assert "NSE-CD calendar ends 2024-12-31" in out.error.what
        assert "mci calendar update --segment CD --install" in out.error.how
