"""`mci calendar update`: NSE's holiday JSON (a recorded-format fixture) fetched from a local server or read
from a file, merged, compared, written atomically; then the scan, validate and policy diff read the result.

Nothing here reaches the internet: the fetch is pointed at an http.server on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import date, datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mci.errors import ExitCode, MciError
from mci.market import calendar as cal
from mci.market import calendar_update, nse_holidays
from mci.resources import rules_dir

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "nse_holiday_master_2027.fixture.json"
NOW = datetime(2026, 12, 4, 10, 0, tzinfo=timezone.utc)


def _shipped() -> cal.ExchangeCalendar:
    return cal.load_calendar("nse")


def _listing(entries: dict[str, list[tuple[str, str]]]) -> bytes:
    return json.dumps(
        {
            seg: [
                {
                    "Sr_no": i,
                    "tradingDate": d,
                    "weekDay": "",
                    "description": n,
                    "morning_session": "",
                    "evening_session": "",
                }
                for i, (d, n) in enumerate(rows, 1)
            ]
            for seg, rows in entries.items()
        }
    ).encode()


class _Server:
    """NSE's endpoint, played on 127.0.0.1: it answers like nseindia.com, or refuses like it."""

    def __init__(self, body: bytes, status: int = 200, delay: float = 0.0):
        self.body, self.status, self.delay, self.headers = body, status, delay, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 — http.server's name
                if self.path == "/":  # like nseindia.com: the front page sets the cookie the API wants
                    self.send_response(200)
                    self.send_header("Set-Cookie", "nsit=abc123; Path=/")
                    self.end_headers()
                    return
                outer.headers.append(dict(self.headers))
                if outer.delay:
                    threading.Event().wait(outer.delay)
                status = outer.status if "nsit=abc123" in self.headers.get("Cookie", "") else 401
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                try:
                    self.wfile.write(outer.body)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/holiday-master?type=trading"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


# ---------------------------------------------------------------- the list


def test_the_fixture_parses_per_segment():
    listing = nse_holidays.read_file(FIXTURE, now=NOW)
    assert set(listing.segments) == {"CM", "FO", "CD"}  # NSE's COM is NSE's commodity segment, not MCX
    assert listing.segments["CM"][date(2027, 1, 26)] == "Republic Day"
    assert listing.segments["CM"] == listing.segments["FO"]
    assert date(2027, 3, 11) in listing.segments["CD"] and date(2027, 3, 11) not in listing.segments["CM"]
    assert listing.origin == str(FIXTURE) and listing.read_at == NOW


@pytest.mark.parametrize(
    "body, words",
    [
        (b"<html>Access Denied</html>", "not JSON"),
        (b"[1, 2]", "segment lists"),
        (json.dumps({"CM": [{"tradingDate": "2027-01-26"}]}).encode(), "not like 26-Jan-2027"),
        (json.dumps({"XX": []}).encode(), "none of the segments"),
    ],
)
def test_anything_else_is_what_why_how(tmp_path, body, words):
    saved = tmp_path / "saved.json"
    saved.write_bytes(body)
    with pytest.raises(MciError) as caught:
        nse_holidays.read_file(saved, now=NOW)
    assert words in caught.value.why and caught.value.code is ExitCode.INVALID
    assert "holiday-master" in caught.value.how


def test_fetch_sends_browser_headers_and_reads_the_list():
    with _Server(FIXTURE.read_bytes()) as server:
        listing = nse_holidays.fetch(server.url, timeout=5, now=NOW)
    assert listing.origin == server.url and date(2027, 12, 24) in listing.segments["CM"]
    [sent] = server.headers
    assert "Mozilla/5.0" in sent["User-Agent"] and sent["Referer"] == nse_holidays.NSE_HOLIDAY_PAGE
    assert "application/json" in sent["Accept"]


@pytest.mark.parametrize("status, words", [(403, "bots"), (500, "500")])
def test_a_refusal_is_exit_3_and_suggests_a_saved_copy(status, words):
    with _Server(b"{}", status=status) as server:
        with pytest.raises(MciError) as caught:
            nse_holidays.fetch(server.url, timeout=5, now=NOW)
    assert caught.value.code is ExitCode.UNAVAILABLE and words in caught.value.why
    assert "--from-file" in caught.value.how


def test_a_timeout_and_a_closed_port_are_exit_3():
    with _Server(FIXTURE.read_bytes(), delay=2.0) as server:
        with pytest.raises(MciError) as caught:
            nse_holidays.fetch(server.url, timeout=0.3, now=NOW)
    assert caught.value.code is ExitCode.UNAVAILABLE and "--from-file" in caught.value.how
    url = server.url  # closed now
    with pytest.raises(MciError) as caught:
        nse_holidays.fetch(url, timeout=2, now=NOW)
    assert caught.value.code is ExitCode.UNAVAILABLE


# ---------------------------------------------------------------- the plan


def test_a_new_year_extends_coverage_and_leaves_weekend_days_out():
    plan = calendar_update.plan(_shipped(), nse_holidays.read_file(FIXTURE, now=NOW))
    assert plan.years == (2027,) and plan.extends and plan.covers_until == date(2027, 12, 31)
    assert [(c.kind, c.day) for c in plan.changes] == [
        ("added", date(2027, 1, 26)),
        ("added", date(2027, 3, 10)),
        ("added", date(2027, 9, 7)),
        ("added", date(2027, 12, 24)),
    ]
    assert [d for d, _ in plan.skipped] == [date(2027, 5, 1), date(2027, 8, 15), date(2027, 10, 2), date(2027, 12, 25)]
    assert "2027" in plan.text and "read 2026-12-04T10:00:00+00:00" in plan.text
    assert str(FIXTURE) in plan.text  # the source says where and when


def test_the_diff_names_added_removed_and_renamed_days():
    body = _listing(
        {
            "CM": [
                ("26-Jan-2026", "Republic Day"),
                ("03-Mar-2026", "Holi (Dhuleti)"),
                ("27-Mar-2026", "Test: moved Ram Navami"),
            ],
            "FO": [
                ("26-Jan-2026", "Republic Day"),
                ("03-Mar-2026", "Holi (Dhuleti)"),
                ("27-Mar-2026", "Test: moved Ram Navami"),
            ],
        }
    )
    listing = nse_holidays.parse(body, "saved.json", now=NOW)
    plan = calendar_update.plan(_shipped(), listing)
    kinds = {(c.kind, c.day) for c in plan.changes}
    assert ("renamed", date(2026, 3, 3)) in kinds and ("added", date(2026, 3, 27)) in kinds
    assert ("removed", date(2026, 3, 26)) in kinds and ("removed", date(2026, 12, 25)) in kinds
    assert not plan.extends
    assert all(c.day.year == 2026 for c in plan.changes)  # 2025 is untouched


def test_a_day_closed_in_one_segment_closes_the_calendar_of_both():
    listing = nse_holidays.read_file(FIXTURE, now=NOW)
    both = replace(_shipped(), segments=("CM", "CD"))
    plan = calendar_update.plan(both, listing)
    assert ("added", date(2027, 3, 11)) in {(c.kind, c.day) for c in plan.changes}
    assert any("2027-03-11" in note and "CD only" in note for note in plan.notes)


def test_another_segments_holidays_never_land_under_these_hours():
    with pytest.raises(MciError) as caught:
        calendar_update.plan(_shipped(), nse_holidays.read_file(FIXTURE, now=NOW), ("CD",))
    assert "does not serve CD" in caught.value.what and "segments" in caught.value.how


def test_a_gap_in_coverage_or_a_missing_segment_is_refused():
    far = nse_holidays.parse(_listing({"CM": [("26-Jan-2028", "Republic Day")], "FO": []}), "f.json", now=NOW)
    with pytest.raises(MciError) as caught:
        calendar_update.plan(_shipped(), far, ("CM",))
    assert "2028" in caught.value.what and "2027" in caught.value.how
    with pytest.raises(MciError) as caught:
        calendar_update.plan(_shipped(), nse_holidays.parse(_listing({"CM": [("26-Jan-2027", "R")]}), "f", now=NOW))
    assert "FO" in caught.value.what


def test_the_written_file_is_checked_and_replaced_atomically(tmp_path):
    plan = calendar_update.plan(_shipped(), nse_holidays.read_file(FIXTURE, now=NOW))
    target = tmp_path / "nse.yaml"
    target.write_text("old", encoding="utf-8")
    checked, warnings = calendar_update.check_text(plan.text, target)
    assert checked.covers_until == date(2027, 12, 31) and warnings == []
    calendar_update.write_atomic(target, plan.text)
    assert target.read_text(encoding="utf-8") == plan.text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nse.yaml"]  # no temporary file left behind
    loaded = cal.load_calendar(str(target))
    assert loaded.special == _shipped().special and loaded.segments == ("CM", "FO")
    assert loaded.holiday_name(date(2027, 1, 26)) == "Republic Day"


def test_an_updated_file_is_read_again_in_the_same_process_and_from_the_cache(tmp_path):
    target = tmp_path / "nse.yaml"
    cache_dir = tmp_path / "cache"
    target.write_bytes((rules_dir() / "calendars" / "nse.yaml").read_bytes())
    before = cal.load_calendar(str(target), cache_dir)
    assert before.covers_until == date(2026, 12, 31)
    plan = calendar_update.plan(before, nse_holidays.read_file(FIXTURE, now=NOW))
    calendar_update.write_atomic(target, plan.text)
    after = cal.load_calendar(str(target), cache_dir)
    assert after.covers_until == date(2027, 12, 31)
    cal.load_calendar.cache_clear()  # as a new process: the persistent entry is keyed by the bytes
    assert cal.load_calendar(str(target), cache_dir).covers_until == date(2027, 12, 31)
    assert len(list((cache_dir / "calendar").iterdir())) == 2


# ---------------------------------------------------------------- end to end


def test_update_from_file_then_the_scan_knows_the_new_year(run_mci, mci_home):
    dry = run_mci("calendar", "update", "--from-file", str(FIXTURE))
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "+ Tue 2027-01-26  Republic Day" in dry.stdout and "nothing written" in dry.stdout
    assert not (mci_home / "calendars").exists()
    before = run_mci("scan", "--at", "2027-01-25T10:30", "-o", "json")
    assert before.returncode == 1  # beyond the shipped data: unknown, so failed
    done = run_mci("calendar", "update", "--from-file", str(FIXTURE), "--install", "-o", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    payload = json.loads(done.stdout)
    assert payload["status"] == "written" and payload["covers"]["until"] == "2027-12-31"
    assert payload["written"] == str(mci_home / "calendars" / "nse.yaml")
    normal = run_mci("scan", "--at", "2027-01-25T10:30", "-o", "json")
    assert normal.returncode == 0, normal.stdout
    checks = {c["id"]: c for c in json.loads(normal.stdout)["checks"]}
    assert checks["holiday"]["status"] == "passed"
    for holiday, name in (("2027-01-26", "Republic Day"), ("2027-03-10", "Fixture holiday A")):
        shut = run_mci("scan", "--at", f"{holiday}T10:30", "-o", "json")
        assert shut.returncode == 1
        checks = {c["id"]: c for c in json.loads(shut.stdout)["checks"]}
        assert checks["holiday"]["status"] == "failed" and name in checks["holiday"]["error"]["what"]
    doctor = run_mci("doctor", "--at", "2027-01-25T10:30", "-o", "json")
    found = {f["check"]: f for f in json.loads(doctor.stdout)["findings"]}
    assert found["calendar"]["level"] == "ok" and "2027-12-31" in found["calendar"]["detail"]


def test_fetch_write_validate_and_policy_diff(run_mci, tmp_path):
    removed = _listing({"CM": [("26-Jan-2026", "Republic Day")], "FO": [("26-Jan-2026", "Republic Day")]})
    target = tmp_path / "cal" / "nse.yaml"
    with _Server(removed) as server:
        proc = run_mci("calendar", "update", "--url", server.url, "--write", str(target))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "- Fri 2026-12-25  Christmas" in proc.stdout and "loosening" in proc.stdout
    valid = run_mci("validate", str(target))
    assert valid.returncode == 0, valid.stdout
    diff = run_mci("policy", "diff", str(target), "--base", str(rules_dir() / "calendars" / "nse.yaml"), "-o", "json")
    assert diff.returncode == 1, diff.stdout + diff.stderr
    findings = json.loads(diff.stdout)["findings"]
    assert any(f["kind"] == "loosening" and "2026-12-25" in f["what"] for f in findings)


def test_a_refused_fetch_is_exit_3_with_what_why_how(run_mci, tmp_path):
    with _Server(b"{}", status=403) as server:
        proc = run_mci("calendar", "update", "--url", server.url, "--install")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    text = proc.stdout + proc.stderr
    assert "WHAT:" in text and "WHY:" in text and "--from-file" in text and "Traceback" not in text


def test_doctor_warns_30_days_ahead_and_names_the_command(run_mci):
    for at, level in (
        ("2026-11-30T10:00", "ok"),
        ("2026-12-01T10:00", "warn"),
        ("2026-12-04T10:00", "warn"),
        ("2027-01-01T10:00", "fail"),
    ):
        proc = run_mci("doctor", "--at", at, "-o", "json")
        found = {f["check"]: f for f in json.loads(proc.stdout)["findings"]}["calendar"]
        assert found["level"] == level, (at, found)
        if level != "ok":
            assert "mci calendar update" in found["how"]


def test_doctor_says_when_a_local_copy_covers_less_than_the_shipped_calendar(run_mci, mci_home):
    import re

    text = (rules_dir() / "calendars" / "nse.yaml").read_text(encoding="utf-8")
    text = text.replace("until: 2026-12-31", "until: 2026-07-31")
    text = "".join(
        line for line in text.splitlines(keepends=True) if not re.search(r"date: 2026-(0[89]|1[0-2])-", line)
    )
    (mci_home / "calendars").mkdir()
    (mci_home / "calendars" / "nse.yaml").write_text(text, encoding="utf-8")
    proc = run_mci("doctor", "--at", "2026-05-04T10:00", "-o", "json")
    found = {f["check"]: f for f in json.loads(proc.stdout)["findings"]}["calendar"]
    assert found["level"] == "warn" and "covers until 2026-12-31" in found["detail"]
    assert str(mci_home / "calendars" / "nse.yaml") in found["how"]
    scan = run_mci("scan", "--at", "2026-08-03T10:30", "-o", "json")  # the local copy is what the scan reads
    assert scan.returncode == 1
