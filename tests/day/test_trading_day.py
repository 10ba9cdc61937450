"""A whole trading day on the paper profile, through the real CLI in real processes, with the demo engine.

scan → ignite (engine really started) → status → shutdown (engine really stopped: process gone, port closed)
→ emergency (flat, halted) → ignite refused until `mci reset --confirm`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from testing.killswitch import alive
from tests.enginectl.helpers import cmdlines_with, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
WEDNESDAY = "2026-11-25T10:30:00"  # a trading day, in market hours (IST)


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=0.5) as r:
            return r.status == 200
    except OSError:
        return False


def health(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
        return json.loads(r.read())


@pytest.fixture
def day(run_mci, mci_home):
    port = free_port()

    def mci(*args: str, timeout: float = 90):
        return run_mci(*args, env={"MCI_ENGINE_PORT": str(port), "MCI_AT": WEDNESDAY}, timeout=timeout)

    yield mci, port
    # Never leave an engine behind, whatever the test did.
    record = mci_home / "engines" / "paper.pid"
    if record.exists():
        pid = json.loads(record.read_text())["pid"]
        try:
            os.killpg(pid, 9)
        except OSError:
            pass


def lifecycle(mci) -> str:
    proc = mci("status", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["lifecycle"]["state"]


def test_a_whole_day_then_the_emergency_latch(day, mci_home):
    mci, port = day
    scan = mci("scan")
    assert scan.returncode == 0, scan.stdout + scan.stderr
    assert lifecycle(mci) == "armed"

    ignite = mci("ignite")
    assert ignite.returncode == 0, ignite.stdout + ignite.stderr
    assert "IGNITED" in ignite.stdout
    assert lifecycle(mci) == "running"
    pid = json.loads((mci_home / "engines" / "paper.pid").read_text())["pid"]
    assert alive(pid) and answers(port)
    status = json.loads(mci("status", "-o", "json").stdout)
    assert status["engine"]["pid"] == pid and status["engine"]["healthy"] is True
    assert status["runs"][0]["purpose"] == "ignite" and status["runs"][0]["status"] == "done"
    # The demo engine trades the same paper account mci reads.
    assert wait_for(lambda: health(port)["orders_placed"] >= 1, timeout=15)

    again = mci("ignite")
    assert again.returncode == 4, again.stdout + again.stderr  # running: refused, no second engine
    assert len([p for p in cmdlines_with("mci.demo_engine") if alive(p) and p == pid]) == 1

    down = mci("shutdown", "-o", "json")
    assert down.returncode == 0, down.stdout + down.stderr
    out = json.loads(down.stdout)
    steps = out["run"]["steps"]
    assert [s["id"] for s in steps] == [
        "stop_accepting",
        "complete_pending",
        "close_connections",
        "clear_secrets",
        "log_final_state",
        "finish",
    ]
    assert all(s["status"] == "passed" for s in steps)
    assert out["lifecycle"] == "stopped"
    assert wait_for(lambda: not alive(pid), timeout=5)
    assert not answers(port)
    assert json.loads(mci("status", "-o", "json").stdout)["engine"] is None
    report = Path(steps[4]["facts"]["report"])
    final = json.loads(report.read_text())
    assert final["open_positions"] >= 1  # graceful keeps positions, and records them

    # A second shutdown is a no-op, not an error (cron may call it twice).
    assert mci("shutdown").returncode == 0

    kill = mci("shutdown", "--emergency", "-o", "json")
    assert kill.returncode == 0, kill.stdout + kill.stderr
    verdict = json.loads(kill.stdout)
    assert verdict["flat"] is True and verdict["lifecycle"] == "halted"
    assert lifecycle(mci) == "halted"

    refused = mci("ignite")
    assert refused.returncode == 4 and "halted" in refused.stderr
    assert mci("reset").returncode == 2  # without --confirm: never
    assert lifecycle(mci) == "halted"
    reset = mci("reset", "--confirm", "--reason", "test")
    assert reset.returncode == 0, reset.stderr
    assert lifecycle(mci) == "idle"

    audit = mci("status", "-o", "json")
    assert audit.returncode == 0


def test_ignite_is_refused_without_a_fresh_passed_scan(day):
    mci, _ = day
    never = mci("ignite")
    assert never.returncode == 4 and "never been scanned" in never.stderr
    dry = mci("ignite", "--dry-run")
    assert dry.returncode == 0 and "dry run: nothing was done" in dry.stdout


def test_ignite_scan_first_then_two_concurrent_ignites_start_one_engine(day, run_mci, mci_home):
    mci, port = day
    assert mci("scan").returncode == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCI_")}
    env.update({"MCI_HOME": str(mci_home), "NO_COLOR": "1", "MCI_ENGINE_PORT": str(port), "MCI_AT": WEDNESDAY})
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mci", "ignite"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    codes = sorted(p.wait(timeout=60) for p in procs)
    outputs = [p.communicate() for p in procs]
    assert codes[0] == 0 and codes[1] in (4, 5), (codes, outputs)
    engines = [
        p
        for p in cmdlines_with("mci.demo_engine")
        if alive(p) and str(mci_home) in Path(f"/proc/{p}/environ").read_bytes().decode(errors="replace")
    ]
    assert len(engines) == 1
    assert mci("shutdown").returncode == 0
    assert wait_for(lambda: not any(alive(p) for p in engines), timeout=5)


def test_a_graceful_step_that_fails_escalates_to_the_emergency_flatten(run_mci, mci_home, tmp_path):
    """An engine that cannot be paused must not keep trading: the shutdown escalates, flattens and latches."""
    port = free_port()
    text = (ROOT / "profiles" / "paper.yaml").read_text(encoding="utf-8")
    text = text.replace(
        'pause: {http: {url: "http://127.0.0.1:${env:MCI_ENGINE_PORT:-8787}/pause", method: POST}}',
        'pause: {command: ["false"]}',
    )
    assert 'pause: {command: ["false"]}' in text
    profile = tmp_path / "paper.yaml"
    profile.write_text(text, encoding="utf-8")

    def mci(*args: str):
        return run_mci(*args, "-p", str(profile), env={"MCI_ENGINE_PORT": str(port), "MCI_AT": WEDNESDAY}, timeout=90)

    assert mci("scan").returncode == 0
    assert mci("ignite").returncode == 0
    pid = json.loads((mci_home / "engines" / "paper.pid").read_text())["pid"]
    assert wait_for(lambda: health(port)["orders_placed"] >= 1, timeout=15)

    down = mci("shutdown", "-o", "json")
    out = json.loads(down.stdout)
    assert down.returncode == 0, down.stdout + down.stderr  # the emergency ended flat
    assert out["run"]["status"] == "escalated"
    assert out["run"]["steps"][0]["status"] == "failed" and out["run"]["steps"][0]["attempts"] == 3
    assert out["escalation"]["purpose"] == "emergency" and out["escalation"]["status"] in ("done", "failed")
    assert out["flat"] is True and out["lifecycle"] == "halted"
    assert wait_for(lambda: not alive(pid), timeout=5) and not answers(port)


def test_graph_prints_mermaid_for_the_lifecycle_and_the_sequences(run_mci):
    life = run_mci("graph")
    assert life.returncode == 0 and life.stdout.startswith("stateDiagram-v2")
    assert "halted --> idle: reset" in life.stdout
    for target in ("graceful", "emergency", "shutdown/end-of-day", "ignite"):
        seq = run_mci("graph", target)
        assert seq.returncode == 0, seq.stderr
        assert seq.stdout.startswith("flowchart TD")
    assert "Square off every position" in run_mci("graph", "emergency").stdout
    bad = run_mci("graph", "nope")
    assert bad.returncode == 2 and "WHAT" in bad.stderr and "Traceback" not in bad.stderr
