"""`mci ignite` failing (a failed scan with --scan, an engine that never gets healthy) ends in a WHAT/WHY/HOW error
with the scan's or the run's id in its details, never in an internal error: both raised TypeError until mypy
found the stray keyword arguments to MciError."""

from __future__ import annotations

from pathlib import Path

from testing import ROOT

SATURDAY = "2026-11-21T10:00"  # NSE closed: the scan fails
WEDNESDAY = "2026-11-25T10:30"  # in session: the scan passes


def test_ignite_scan_on_a_closed_market_is_refused_with_the_scans_reason(run_mci):
    done = run_mci("ignite", "--scan", env={"MCI_AT": SATURDAY}, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "ignition refused: the scan failed" in done.stderr, done.stderr
    assert "NSE does not trade on weekends" in done.stderr
    assert "internal error" not in done.stderr


def test_an_engine_that_never_gets_healthy_aborts_the_ignition(run_mci, tmp_path: Path):
    shipped = (ROOT / "profiles" / "paper.yaml").read_text(encoding="utf-8")
    health = 'health: {http: "http://127.0.0.1:${env:MCI_ENGINE_PORT:-8787}/health", within: 30s, interval: 250ms}'
    assert health in shipped
    # An engine that starts (a sleeping process) but never answers: port 9 (discard) refuses on 127.0.0.1.
    profile = tmp_path / "paper.yaml"
    profile.write_text(
        shipped.replace(health, 'health: {http: "http://127.0.0.1:9/health", within: 1s, interval: 250ms}').replace(
            "start: {command: [python, -m, mci.demo_engine]}",
            'start: {command: [python, -c, "import time; time.sleep(60)"]}',
        ),
        encoding="utf-8",
    )
    done = run_mci("ignite", "--scan", "-p", str(profile), env={"MCI_AT": WEDNESDAY}, timeout=120)
    assert "internal error" not in done.stderr, done.stderr
    assert "ignition aborted at step health" in done.stderr, done.stdout + done.stderr
    assert done.returncode != 0
    status = run_mci("status", "-p", str(profile), "-o", "json", env={"MCI_AT": WEDNESDAY})
    assert '"blocked"' in status.stdout, status.stdout + status.stderr
