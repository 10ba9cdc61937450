"""`mci status`: the account panels (positions, orders, risk bars, P&L) in text and JSON, and on a broker
that cannot be read ("unavailable: WHY", exit 0, never a traceback)."""

from __future__ import annotations

from decimal import Decimal as D
import json

from mci.commands.status_view import bar

OLD_KEYS = {"profile", "broker", "lifecycle", "last_scan", "breakers", "engine", "lock", "watcher", "runs", "state_dir"}


def test_bar_is_filled_to_the_share_of_the_limit():
    assert bar(D("0"), 10) == "[----------]"
    assert bar(D("0.5"), 10) == "[#####-----]"
    assert bar(D("1"), 10) == "[##########]"
    assert bar(D("3.2"), 10) == "[##########]"  # over the limit: full, never wider


def test_json_keeps_every_key_and_adds_the_account_panels(run_mci):
    out = run_mci("status", "-o", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert OLD_KEYS <= set(data)
    assert data["account"] == {"ok": True, "error": None}
    assert data["positions"] == []
    assert data["orders"]["total"] == 0 and data["orders"]["recent"] == []
    rules = {u["rule"] for u in data["risk"]}
    assert {"daily_loss", "drawdown", "position_loss", "open_positions"} <= rules
    assert all(u["used"] == "0.0000" and u["level"] == "ok" for u in data["risk"])
    assert data["pnl"]["capital"] == data["pnl"]["equity"]


def test_text_shows_the_bars(run_mci):
    out = run_mci("status")
    assert out.returncode == 0, out.stderr
    assert "risk:      daily_loss" in out.stdout and "[--------------------]" in out.stdout
    assert "P&L:       day ₹0.00" in out.stdout and "positions: none" in out.stdout


def test_a_kite_profile_without_a_token_shows_unavailable_and_exits_0(run_mci):
    env = {"KITE_API_KEY": "k", "KITE_API_SECRET": "s"}
    text = run_mci("status", "-p", "profiles/kite-sim.yaml", env=env)
    assert text.returncode == 0, text.stderr
    assert "account:   unavailable: " in text.stdout and "token" in text.stdout
    assert "Traceback" not in text.stdout + text.stderr
    data = json.loads(run_mci("status", "-p", "profiles/kite-sim.yaml", "-o", "json", env=env).stdout)
    assert data["account"]["ok"] is False and "token" in data["account"]["error"]
    assert data["positions"] is None and data["risk"] is None and data["pnl"] is None


def test_watch_json_is_one_line_per_refresh(run_mci, mci_home):
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith("MCI_")}
    env["MCI_HOME"] = str(mci_home)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mci", "status", "--watch", "--interval", "0.2", "-o", "json"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        assert all(json.loads(line)["lifecycle"]["state"] == "idle" for line in lines)
    finally:
        time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0


def test_the_layout_says_unavailable_in_the_four_account_panels(run_mci):
    import io

    from rich.console import Console

    from mci.commands.status_view import render

    env = {"KITE_API_KEY": "k", "KITE_API_SECRET": "s"}
    data = json.loads(run_mci("status", "-p", "profiles/kite-sim.yaml", "-o", "json", env=env).stdout)
    data.update(lifecycle_since_text="never", watcher_text="none has run")
    buffer = io.StringIO()
    Console(file=buffer, width=140, color_system=None).print(render(data, "2026-11-25 10:30:00 IST"))
    screen = buffer.getvalue()
    for title in ("Session", "Engine", "Positions", "Orders", "Risk usage", "P&L"):
        assert f"─ {title} " in screen
    assert screen.count("unavailable: ") == 4 and "IDLE" in screen
