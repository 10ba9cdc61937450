"""Text, JSON and JUnit renderings of one scan result."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from mci.config.model import Checklist, CheckSpec
from mci.results import CheckResult, ScanResult
from mci.errors import ExitCode, MciError
from mci.output.json_out import scan_to_json
from mci.output.junit import scan_to_junit
from mci.output.text import LiveChecklist, render_scan
from mci.results import Status

T0 = datetime(2026, 11, 23, 5, 0, tzinfo=timezone.utc)  # 10:30 IST


def check(
    id: str, status: Status, summary: str = "", error: MciError | None = None, severity: str = "critical", **facts
) -> CheckResult:
    return CheckResult(
        id,
        f"test.{id}",
        id.replace("_", " ").capitalize(),
        severity,
        status,
        summary,
        error,
        facts,
        T0,
        T0 + timedelta(milliseconds=120),
        timedelta(milliseconds=120),
        1,
    )


BALANCE = MciError(
    "₹40,000.00 available, below the ₹50,000.00 threshold",
    "the broker reports ₹40,000.00 usable for new orders",
    "add funds to the trading account",
)
RISK = MciError(
    "5 positions each losing 2% would breach the 6% daily loss", "5 × 2% = 10% > 6%", "lower max_open_positions"
)


def scan(status: Status = Status.FAILED) -> ScanResult:
    results = (
        check("token_validity", Status.PASSED, "session valid for AB1234"),
        check(
            "risk_parameters",
            Status.WARNED,
            "2% of ₹1,000,000.00 = ₹20,000.00 per trade",
            RISK,
            capital=Decimal("1000000.00"),
        ),
        check("balance", Status.FAILED, BALANCE.what, BALANCE, available=Decimal("40000.00")),
        check(
            "order_queue",
            Status.SKIPPED,
            "needs balance, which failed",
            MciError("check order_queue did not run", "needs balance, which failed", "fix balance first"),
        ),
    )
    return ScanResult(
        "twelve-point", "paper", status, results, T0, T0 + timedelta(milliseconds=420), timedelta(milliseconds=420)
    )


def test_text_has_the_checklist_the_what_why_how_and_the_verdict():
    text = render_scan(scan(), color=False)
    lines = text.splitlines()
    assert lines[0] == "scan twelve-point · profile paper · 2026-11-23 10:30:00 IST"
    assert any(line.startswith("  ✔ Token validity") and "session valid" in line for line in lines)
    assert any(line.startswith("  ! Risk parameters") for line in lines)
    assert any(line.startswith("  ✖ Balance") for line in lines)
    assert any(line.startswith("  – Order queue") and "needs balance, which failed" in line for line in lines)
    assert "  WHAT: ₹40,000.00 available, below the ₹50,000.00 threshold" in lines
    assert "  WHY:  the broker reports ₹40,000.00 usable for new orders" in lines
    assert "  HOW:  add funds to the trading account" in lines
    assert "  WHAT: 5 positions each losing 2% would breach the 6% daily loss" in lines
    assert "  WHAT: check order_queue did not run" in lines  # a skipped critical check explains itself
    assert lines[-1] == "4 checks: 1 passed, 1 warned, 1 failed, 1 skipped — SCAN FAILED (420ms)"
    assert "\033[" not in text


def test_text_colour_only_when_asked_and_passing_verdict():
    passed = ScanResult(
        "twelve-point", "paper", Status.PASSED, (check("token_validity", Status.PASSED, "ok"),), T0, T0, timedelta(0)
    )
    plain = render_scan(passed, color=False)
    assert plain.splitlines()[-1].startswith("1 checks: 1 passed, 0 warned, 0 failed — SCAN PASSED")
    assert "WHAT:" not in plain
    assert "\033[32m✔" in render_scan(passed, color=True)


def test_text_mentions_retries():
    retried = CheckResult(
        "broker_connectivity",
        "broker.connectivity",
        "Broker API connectivity",
        "critical",
        Status.PASSED,
        "answered in 40ms",
        None,
        {},
        T0,
        T0,
        timedelta(0),
        3,
    )
    result = ScanResult("twelve-point", "paper", Status.PASSED, (retried,), T0, T0, timedelta(0))
    assert "answered in 40ms (after 3 attempts)" in render_scan(result, color=False)


def test_json_parses_with_stable_keys():
    payload = json.loads(scan_to_json(scan()))
    assert list(payload)[:8] == [
        "schema_version",
        "profile",
        "checklist",
        "status",
        "started_at",
        "finished_at",
        "duration_s",
        "counts",
    ]
    assert payload["status"] == "failed"
    assert payload["duration_s"] == 0.42
    assert payload["started_at"] == "2026-11-23T05:00:00+00:00"
    assert payload["counts"] == {"passed": 1, "warned": 1, "failed": 1, "skipped": 1}
    first, warned, failed, skipped = payload["checks"]
    for entry in payload["checks"]:
        assert {
            "id",
            "kind",
            "title",
            "severity",
            "status",
            "summary",
            "attempts",
            "duration_s",
            "error",
            "facts",
        } <= set(entry)
    assert first["error"] is None
    assert failed["error"] == {"what": BALANCE.what, "why": BALANCE.why, "how": BALANCE.how, "code": "failed"}
    assert failed["facts"] == {"available": "40000.00"}  # Decimal as an exact string, never a float
    assert warned["status"] == "warned" and warned["error"]["what"] == RISK.what
    assert skipped["status"] == "skipped"


def test_junit_parses_and_counts_failures_and_skips():
    root = ET.fromstring(scan_to_junit(scan()))
    suite = root.find("testsuite")
    assert suite.get("name") == "twelve-point"
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped"), suite.get("errors")) == (
        "4",
        "1",
        "1",
        "0",
    )
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert all(c.get("classname") == "mci.scan.twelve-point" for c in cases.values())
    failure = cases["balance"].find("failure")
    assert failure.get("message") == BALANCE.what
    assert "WHAT:" in failure.text and "WHY:" in failure.text and "HOW:" in failure.text
    assert cases["order_queue"].find("skipped") is not None
    warned = cases["risk_parameters"]
    assert warned.find("failure") is None and warned.find("skipped") is None
    assert warned.find("system-out").text.startswith("warned: ")
    props = {p.get("name"): p.get("value") for p in warned.find("properties")}
    assert props["status"] == "warned"
    assert len([c for c in cases.values() if c.find("failure") is not None]) == int(suite.get("failures"))


def test_junit_marks_crashes_by_code():
    crash = MciError(
        "check x crashed", "KeyError: 'k'", "this is a bug in mci; run with -v and report it", ExitCode.INTERNAL
    )
    result = ScanResult("t", "p", Status.FAILED, (check("x", Status.FAILED, crash.what, crash),), T0, T0, timedelta(0))
    failure = ET.fromstring(scan_to_junit(result)).find("testsuite/testcase/failure")
    assert failure.get("type") == "internal"


def test_live_checklist_draws_spinners_and_marks():
    from rich.console import Console

    checklist = Checklist(
        "t", "", (CheckSpec("a", "k", "Alpha", {}), CheckSpec("b", "k", "Beta", {}), CheckSpec("c", "k", "Gamma", {}))
    )
    sink = io.StringIO()
    console = Console(file=sink, force_terminal=True, width=80)
    live = LiveChecklist(checklist, console=console)
    with live:
        live.update(check("a", Status.PASSED, "all good"))
        live.update(CheckResult("b", "k", "Beta", "critical", Status.RUNNING, attempts=2))
        console.print(live)
    out = sink.getvalue()
    assert "✔" in out and "all good" in out and "attempt 2" in out and "Gamma" in out
