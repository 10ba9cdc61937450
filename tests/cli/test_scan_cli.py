"""`mci scan` end to end on the shipped paper profile: real process, real SQLite, clock at the edges."""

from __future__ import annotations

import json
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MONDAY = "2026-11-23"  # a trading day, 38 days before the calendar's data ends


def _checks(stdout: str) -> dict[str, dict]:
    return {c["id"]: c for c in json.loads(stdout)["checks"]}


def test_scan_passes_in_session_hours_and_arms_the_lifecycle(run_mci, mci_home):
    proc = run_mci("scan", "--at", f"{MONDAY}T10:30:00", "-o", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    payload = json.loads(proc.stdout)
    checks = _checks(proc.stdout)
    assert len(checks) == 12
    assert payload["status"] in {"passed", "warned"}
    assert all(c["status"] in {"passed", "warned"} for c in checks.values())
    assert checks["holiday"]["status"] == "passed"
    assert payload["lifecycle"]["state"] == "armed"
    status = run_mci("status", "-o", "json", "--at", f"{MONDAY}T10:31:00")
    assert json.loads(status.stdout)["lifecycle"]["state"] == "armed"
    assert json.loads(status.stdout)["last_scan"]["fresh"] is True
    db = sqlite3.connect(mci_home / "state.db")
    kinds = [row[0] for row in db.execute("SELECT kind FROM audit ORDER BY seq")]
    assert kinds == ["scan", "lifecycle", "lifecycle"]


@pytest.mark.parametrize(
    "at, failing, words",
    [
        ("2026-11-28T10:30:00", "weekend", "Saturday"),
        ("2026-11-24T10:30:00", "holiday", "Guru Nanak"),
        (f"{MONDAY}T15:30:00", "market_hours", "close"),
        (f"{MONDAY}T08:30:00", "market_hours", "09:00"),
    ],
)
def test_scan_fails_with_what_why_how_when_the_market_is_shut(run_mci, at, failing, words):
    proc = run_mci("scan", "--at", at)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "WHAT:" in proc.stdout and "WHY:" in proc.stdout and "HOW:" in proc.stdout
    assert words in proc.stdout
    assert "lifecycle: blocked" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    js = run_mci("scan", "--at", at, "-o", "json")
    assert _checks(js.stdout)[failing]["status"] == "failed"
    assert _checks(js.stdout)[failing]["error"]["how"]


@pytest.mark.parametrize(
    "at, code, status",
    [
        (f"{MONDAY}T09:14:59", 0, "warned"),  # pre-open warns
        (f"{MONDAY}T09:15:00", 0, "passed"),
        (f"{MONDAY}T15:14:59", 0, "passed"),
        (f"{MONDAY}T15:15:00", 1, "failed"),  # the paper profile may trade MIS: not armed after its 15:15 cut-off
        (f"{MONDAY}T15:30:00", 1, "failed"),
    ],
)
def test_market_hours_edges(run_mci, at, code, status):
    proc = run_mci("scan", "--at", at, "-o", "json")
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert _checks(proc.stdout)["market_hours"]["status"] == status


def test_near_the_end_of_the_calendar_the_holiday_check_warns_and_past_it_fails(run_mci):
    near = run_mci("scan", "--at", "2026-12-02T10:30:00", "-o", "json")
    assert near.returncode == 0, near.stdout + near.stderr
    assert _checks(near.stdout)["holiday"]["status"] == "warned"
    past = run_mci("scan", "--at", "2027-01-04T10:30:00", "-o", "json")
    assert past.returncode == 1
    assert _checks(past.stdout)["holiday"]["status"] == "failed"


def test_mci_at_environment_variable_is_the_same_clock(run_mci):
    proc = run_mci("scan", "-o", "json", env={"MCI_AT": "2026-11-28T10:30:00+05:30"})
    assert proc.returncode == 1
    assert _checks(proc.stdout)["weekend"]["status"] == "failed"


def test_scan_fails_when_capital_is_below_the_balance_threshold(run_mci, tmp_path):
    text = (ROOT / "profiles" / "paper.yaml").read_text(encoding="utf-8")
    assert "capital:" in text
    poor = tmp_path / "profiles" / "poor.yaml"
    poor.parent.mkdir()
    lines = []
    for line in text.splitlines():
        if line.strip().startswith("capital:"):
            line = line.split("capital:")[0] + "capital: ₹40,000"
        elif "broker:" in line and "capital:" in line:
            line = line.replace(line[line.index("capital:") :].split(",")[0].split("}")[0], "capital: ₹40,000")
        elif line.strip().startswith("name:"):
            line = line.split("name:")[0] + "name: poor"
        lines.append(line)
    poor.write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = run_mci("scan", "-p", str(poor), "--at", f"{MONDAY}T10:30:00", "-o", "json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    balance = _checks(proc.stdout)["balance"]
    assert balance["status"] == "failed"
    assert "₹40,000.00" in balance["error"]["what"] + balance["error"]["why"]
    assert "₹50,000.00" in balance["error"]["what"] + balance["error"]["why"]


def test_junit_output_is_valid_and_counts_failures(run_mci):
    proc = run_mci("scan", "--at", "2026-11-28T10:30:00", "-o", "junit")
    assert proc.returncode == 1
    suite = ET.fromstring(proc.stdout)
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == 12
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert any("eekend" in name for name in failed)
    assert int(suite.get("failures")) == len(failed)


def test_scan_of_an_invalid_profile_exits_2_with_a_position(run_mci, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (ROOT / "profiles" / "paper.yaml")
        .read_text(encoding="utf-8")
        .replace("max_daily_loss: 6%", "max_daily_loss: 60%"),
        encoding="utf-8",
    )
    proc = run_mci("scan", "-p", str(bad), "--at", f"{MONDAY}T10:30:00")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "bad.yaml:" in proc.stderr and "WHAT:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_flags_and_bad_clock_are_usage_errors(run_mci):
    assert run_mci("scan", "--output", "xml").returncode == 2
    proc = run_mci("scan", "--at", "next monday")
    assert proc.returncode == 2
    assert "ISO-8601" in proc.stderr and "Traceback" not in proc.stderr
