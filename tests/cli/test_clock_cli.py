"""`mci clock set | show | clear`: one rehearsal clock per state directory, read by every later process."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta


def test_a_stored_clock_is_one_clock_across_processes(run_mci):
    assert run_mci("clock", "set", "2026-11-25T09:20").returncode == 0
    scan = run_mci("scan", "-o", "json")
    assert scan.returncode == 0, scan.stdout + scan.stderr
    time.sleep(1.5)
    status = json.loads(run_mci("status", "-o", "json").stdout)
    finished = datetime.fromisoformat(status["last_scan"]["finished_at"])
    assert (
        finished.astimezone().isoformat()[:16]
        == datetime.fromisoformat("2026-11-25T09:20+05:30").astimezone().isoformat()[:16]
    )
    now = datetime.fromisoformat(json.loads(run_mci("clock", "show", "-o", "json").stdout)["now"])
    # A later process reads the same ticking clock: the scan is as old as the real time that passed since it.
    assert timedelta(seconds=1.5) <= now - finished < timedelta(seconds=30)
    assert status["lifecycle"]["state"] == "armed"


def test_at_and_mci_at_still_win_for_one_command_and_say_what_they_are(run_mci):
    run_mci("clock", "set", "2026-11-25T09:20")
    shown = json.loads(run_mci("clock", "show", "-o", "json", env={"MCI_AT": "2026-11-27T10:00"}).stdout)
    assert shown["source"] == "MCI_AT" and "each command sees its own clock" in shown["note"]
    assert shown["now"].startswith("2026-11-27T10:00")


def test_clear_returns_to_real_time_and_both_changes_are_audited(run_mci):
    run_mci("clock", "set", "2026-11-25T09:20")
    cleared = json.loads(run_mci("clock", "clear", "-o", "json").stdout)
    assert cleared["source"] == "real"
    assert abs(datetime.fromisoformat(cleared["now"]) - datetime.now().astimezone()) < timedelta(seconds=30)
    records = [
        json.loads(line) for line in run_mci("audit", "tail", "--kind", "clock", "-o", "json").stdout.splitlines()
    ]
    assert [r["data"]["event"] for r in records] == ["set", "cleared"]


def test_a_damaged_clock_file_is_refused_never_silently_real_time(run_mci, mci_home):
    (mci_home / "clock.json").write_text("{\n")
    done = run_mci("scan")
    assert done.returncode == 2 and "rehearsal clock" in done.stderr and "mci clock clear" in done.stderr
    assert run_mci("clock", "clear").returncode == 0
    assert run_mci("clock", "set", "not-a-time").returncode == 2
