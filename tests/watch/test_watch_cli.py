"""`mci watch` as cron and systemd run it: real processes, signals, the lock, `mci status`, exit codes."""

from __future__ import annotations

import json
import signal
from datetime import datetime
from decimal import Decimal as D

import pytest

from mci.clock import Clock
from testing.watch import IST, Live, hold, mci_env, open_positions, paper_profile, set_price

AT = "2026-11-25T10:30:00"  # a Wednesday, in session (IST)


@pytest.fixture
def live(mci_home):
    started: list[Live] = []

    def start(*args: str) -> Live:
        proc = Live(["watch", *args], mci_env(mci_home, MCI_AT=AT))
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()


def polled(line: str) -> bool:
    return " OK " in line or " WARN " in line or line.startswith('{"event":"poll"')


def status(run_mci) -> dict:
    done = run_mci("status", "-o", "json", env={"MCI_AT": AT})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_it_cleanly_between_polls(live, run_mci, sig):
    watcher = live("--interval", "200ms")
    assert watcher.wait_line(polled), watcher.stdout + watcher.stderr
    seen = status(run_mci)["watcher"]
    assert seen["state"] == "alive" and seen["pid"] == watcher.proc.pid and seen["status"] == "running"
    text = run_mci("status", env={"MCI_AT": AT}).stdout
    assert f"watcher:   alive, pid {watcher.proc.pid}, every 0.2s" in text
    assert text.split("watcher:")[1].splitlines()[0].endswith(", square-off 15:15")  # a regular day's: the profile's
    assert watcher.wait_line(lambda line: "square-off at 15:15 IST" in line), watcher.stdout

    watcher.proc.send_signal(sig)
    assert watcher.finish(timeout=10) == 0, watcher.stdout + watcher.stderr
    assert "stopped on request" in watcher.stdout and "Traceback" not in watcher.stderr
    after = status(run_mci)["watcher"]
    assert after["state"] == "absent" and after["status"] == "stopped"
    assert "watcher:   not running (last: stopped" in run_mci("status", env={"MCI_AT": AT}).stdout


def test_a_second_watcher_exits_5_and_mci_kill_still_works_then_stops_the_first(live, run_mci):
    first = live("--interval", "200ms", "-o", "json")
    assert first.wait_line(polled), first.stdout + first.stderr
    second = run_mci("watch", env={"MCI_AT": AT})
    assert second.returncode == 5, second.stdout + second.stderr
    assert f"already watched by pid {first.proc.pid}" in second.stderr and "Traceback" not in second.stderr

    # The watcher does not hold the profile's lock: the operator's kill switch goes through at once.
    kill = run_mci("kill", env={"MCI_AT": AT})
    assert kill.returncode == 0, kill.stdout + kill.stderr
    assert first.finish(timeout=10) == 4  # halted under it: nothing left to guard
    events = [json.loads(line) for line in first.stdout.splitlines()]
    assert events[-1]["event"] == "report" and events[-1]["status"] == "halted"
    assert any(e["event"] == "halted" for e in events)

    refused = run_mci("watch", env={"MCI_AT": AT})
    assert refused.returncode == 4 and "halted" in refused.stderr and "WHAT" in refused.stderr


def test_once_reports_and_acts_on_nothing(mci_home, run_mci):
    profile = paper_profile()
    clock = Clock(datetime.fromisoformat(AT).replace(tzinfo=IST))
    (ltp,) = hold(mci_home, clock, profile, {"INFY": 100}).values()

    ok = run_mci("watch", "--once", env={"MCI_AT": AT})
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "profile paper: OK" in ok.stdout and "daily_loss" in ok.stdout

    set_price(mci_home, clock, profile, "INFY", ltp - D("700"))  # -₹70,000: over the day's ₹60,000
    breach = run_mci("watch", "--once", "-o", "json", env={"MCI_AT": AT})
    assert breach.returncode == 1, breach.stdout + breach.stderr
    report = json.loads(breach.stdout)
    assert report["level"] == "breach" and report["day_pnl"] == "-70000.00"
    assert {u["rule"] for u in report["usages"] if u["level"] == "breach"} == {"daily_loss", "position_loss"}
    assert len(open_positions(mci_home, clock, profile)) == 1  # nothing was done
    assert status(run_mci)["lifecycle"]["state"] == "idle"


def test_bad_flags_are_usage_errors(run_mci):
    bad = run_mci("watch", "--interval", "soon")
    assert bad.returncode == 2 and "WHAT" in bad.stderr and "Traceback" not in bad.stderr
    short = run_mci("watch", "--interval", "10ms", "-o", "json")
    assert short.returncode == 2 and json.loads(short.stdout)["error"]["what"].startswith("the watch interval")
