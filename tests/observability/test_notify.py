"""Notifications: a command and a webhook fire on the declared events; a hanging or failing notifier
neither delays the command beyond a moment nor changes its exit code, and its failure is logged."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from testing.observability import MONDAY, SATURDAY, profile_with, recorder, wait_bodies, wait_log


def test_a_command_notifier_fires_on_a_failed_scan_and_on_kill(run_mci, mci_home, tmp_path):
    out = tmp_path / "notified.jsonl"
    profile = profile_with(tmp_path, [recorder(out, on=["scan_failed", "kill_switch"])])
    assert run_mci("validate", str(profile)).returncode == 0

    ok = run_mci("scan", "-p", str(profile), "--at", MONDAY)
    assert ok.returncode == 0, ok.stderr
    failed = run_mci("scan", "-p", str(profile), "--at", SATURDAY)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    (body,) = wait_bodies(out, 1)
    assert body["event"] == "scan_failed" and body["profile"] == "paper"
    assert "weekend" in body["data"]["failed"] and body["data"]["exit_code"] == 1
    assert body["at"].startswith("2026-11-21T10:00") and "failed" in body["text"]

    kill = run_mci("kill", "-p", str(profile), "--at", MONDAY)
    assert kill.returncode == 0, kill.stdout + kill.stderr
    bodies = wait_bodies(out, 2)
    assert [b["event"] for b in bodies] == ["scan_failed", "kill_switch"]
    assert bodies[1]["data"]["lifecycle"] == "halted" and bodies[1]["data"]["flat"] is True
    wait_log(mci_home, lambda m: m == "notified kill_switch by command")


@pytest.fixture
def hook():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"body": json.loads(body), "headers": dict(self.headers)})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def test_a_webhook_receives_the_json_body(run_mci, mci_home, tmp_path, hook):
    url, received = hook
    profile = profile_with(
        tmp_path, [{"on": ["kill_switch"], "webhook": url, "headers": {"X-Team": "desk-1"}, "timeout": "3s"}]
    )
    kill = run_mci("shutdown", "--emergency", "-p", str(profile), "--at", MONDAY)
    assert kill.returncode == 0, kill.stdout + kill.stderr
    deadline = time.monotonic() + 15
    while not received and time.monotonic() < deadline:
        time.sleep(0.05)
    (got,) = received
    assert got["headers"]["Content-Type"] == "application/json" and got["headers"]["X-Team"] == "desk-1"
    body = got["body"]
    assert set(body) == {"event", "profile", "at", "text", "data"}
    assert body["event"] == "kill_switch" and body["profile"] == "paper" and body["data"]["mode"] == "emergency"


def test_a_hanging_or_failing_notifier_never_delays_nor_changes_the_command(run_mci, mci_home, tmp_path):
    profile = profile_with(
        tmp_path,
        [
            {"on": ["kill_switch"], "command": ["sleep", "30"], "timeout": "1s"},
            {"on": ["kill_switch"], "command": ["false"]},
            {"on": ["kill_switch"], "webhook": "http://127.0.0.1:9/nothing-listens", "timeout": "1s"},
        ],
    )
    plain = run_mci("kill", "--at", MONDAY)  # the shipped profile: no notifier (a baseline)
    assert plain.returncode == 0
    started = time.monotonic()
    kill = run_mci("kill", "-p", str(profile), "--at", MONDAY)
    took = time.monotonic() - started
    assert kill.returncode == 0, kill.stdout + kill.stderr
    assert took < 8, took  # the notifier sleeps 30s: the command did not wait for it
    failures = wait_log(mci_home, lambda m: m.startswith("notification kill_switch"), count=3)
    assert any("TimeoutExpired" in f for f in failures) and any("exit 1" in f for f in failures)


def test_the_watcher_events_map_to_notifications_and_a_drill_pages_nobody(tmp_path, mci_home, monkeypatch):
    from mci.clock import Clock
    from mci.commands.watch import _Observer
    from mci.config import load_profile

    out = tmp_path / "notified.jsonl"
    profile = load_profile(profile_with(tmp_path, [recorder(out, on=["kill_switch", "token_expiring"])]))
    (notifier,) = profile.notifications
    assert notifier.on == {"kill_switch", "token_expiring"} and notifier.timeout.total_seconds() == 5

    observer = _Observer(profile, Clock(), mci_home, 0.0, None)
    observer.notify("risk_warning", {"text": "80% of the day's loss"})  # logged, not announced
    observer.notify("risk_breach", {"text": "daily loss over the limit"})
    observer.notify("token_expiring", {"text": "the token expires in 20m"})
    # Two detached senders: their deliveries may land in either order.
    assert sorted(b["event"] for b in wait_bodies(out, 2)) == ["kill_switch", "token_expiring"]

    monkeypatch.setenv("MCI_NOTIFY", "off")  # what `mci drill` sets for the commands it rehearses
    from mci.observability.notify import fire

    assert fire(profile, "kill_switch", "rehearsal") is False
    time.sleep(0.5)
    assert len(wait_bodies(out, 2)) == 2


def test_a_watcher_killed_outright_is_notified_once_by_the_next_status(run_mci, mci_home, tmp_path):
    """SIGKILL leaves no last word: the first `mci status` that finds the heartbeat stale says watcher_died."""
    import os
    import signal
    import subprocess
    import sys

    out = tmp_path / "notified.jsonl"
    profile = profile_with(tmp_path, [recorder(out, on=["watcher_died"])])
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCI_")}
    env.update({"MCI_HOME": str(mci_home), "NO_COLOR": "1"})
    watcher = subprocess.Popen(
        [sys.executable, "-m", "mci", "watch", "-p", str(profile), "--at", MONDAY],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while "watcher:   alive" not in run_mci("status", "-p", str(profile)).stdout:
            assert time.monotonic() < deadline, "the watcher never beat"
            time.sleep(0.2)
    finally:
        watcher.send_signal(signal.SIGKILL)
        watcher.wait(timeout=5)
    first = run_mci("status", "-p", str(profile))
    assert first.returncode == 0 and "STALE" in first.stdout, first.stdout + first.stderr
    assert run_mci("status", "-p", str(profile)).returncode == 0
    (body,) = wait_bodies(out, 1)
    assert body["event"] == "watcher_died" and body["data"]["pid"] == watcher.pid
    time.sleep(1.0)  # a second notification would have arrived by now
    assert len(out.read_text(encoding="utf-8").splitlines()) == 1
