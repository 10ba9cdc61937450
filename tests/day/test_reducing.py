"""Reduce-only through the real CLI, the demo engine and the paper account (issue 16).

ignite → the engine enters → `mci pause` (engine paused, lifecycle reducing) → `mci risk check` refuses an entry
and accepts an exit → `mci resume` (a fresh risk read; engine resumed) → the entry is accepted again; and
`mci kill` / `mci shutdown` from reducing.
"""

from __future__ import annotations

import json
import urllib.request
from decimal import Decimal

from tests.day.test_trading_day import WEDNESDAY, alive, day, health, lifecycle  # noqa: F401 — `day` is a fixture
from tests.enginectl.helpers import wait_for


def _infy(mci) -> tuple[int, Decimal]:
    """The INFY MIS position the demo engine opened, and its last price, as `mci status` reads them."""
    status = json.loads(mci("status", "-o", "json").stdout)
    rows = [p for p in status["positions"] if p["instrument"] == "NSE:INFY" and p["product"] == "MIS"]
    assert rows, status["positions"]
    return int(rows[0]["quantity"]), Decimal(str(rows[0]["last_price"]))


def _order(side: str, quantity: int, ltp: Decimal, **extra: str) -> str:
    order = {
        "exchange": "NSE",
        "symbol": "INFY",
        "side": side,
        "quantity": quantity,
        "order_type": "LIMIT",
        "product": "MIS",
        "price": str(ltp),
        "signal_time": WEDNESDAY + "+05:30",
        **extra,
    }
    return json.dumps(order)


def _check(mci, order: str, tmp_path) -> tuple[int, dict]:
    path = tmp_path / "order.json"
    path.write_text(order, encoding="utf-8")
    proc = mci("risk", "check", str(path), "-o", "json")
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    return proc.returncode, json.loads(proc.stdout.splitlines()[0])


def _ignited(mci, port: int) -> None:
    assert mci("scan").returncode == 0
    ignite = mci("ignite")
    assert ignite.returncode == 0, ignite.stdout + ignite.stderr
    assert wait_for(lambda: health(port)["orders_placed"] >= 2, timeout=20)  # an entry and its stop


def test_pause_refuses_entries_accepts_exits_then_resume(day, tmp_path, mci_home):  # noqa: F811 — fixture
    mci, port = day
    _ignited(mci, port)
    held, ltp = _infy(mci)
    assert held >= 1
    tick = Decimal("0.05")
    stop, target = (
        (ltp * Decimal("0.99") / tick).to_integral_value() * tick,
        (ltp * Decimal("1.03") / tick).to_integral_value() * tick,
    )
    entry = _order("BUY", 1, ltp, stop_loss=str(stop), target=str(target))
    exit_ = _order("SELL", 1, ltp)

    code, verdict = _check(mci, entry, tmp_path)
    assert code == 0, verdict["failures"]  # running: the entry is fine

    paused = mci("pause", "--reason", "test: news due", "-o", "json")
    assert paused.returncode == 0, paused.stdout + paused.stderr
    out = json.loads(paused.stdout)
    assert out["from"] == "running" and out["lifecycle"] == "reducing" and out["changed"] is True
    assert out["engine"]["paused"] is True
    assert lifecycle(mci) == "reducing"
    assert health(port)["paused"] is True

    code, verdict = _check(mci, entry, tmp_path)
    assert code == 1 and [f["rule"] for f in verdict["failures"]] == ["lifecycle"], verdict
    assert "reducing" in verdict["failures"][0]["what"] and "mci resume" in verdict["failures"][0]["how"]
    code, verdict = _check(mci, exit_, tmp_path)
    assert code == 0 and verdict["exit"] is True, verdict

    placed = health(port)["orders_placed"]
    again = mci("pause", "-o", "json")  # idempotent: exit 0, the pause delivered again, no second move
    assert again.returncode == 0 and json.loads(again.stdout)["changed"] is False
    assert lifecycle(mci) == "reducing"
    # The paused engine places no new entry (its interval is 2 s: two cycles pass), nor does it once un-paused
    # behind mci's back: it reads the lifecycle itself.
    assert not wait_for(lambda: health(port)["orders_placed"] > placed, timeout=4.5)
    request = urllib.request.Request(f"http://127.0.0.1:{port}/resume", method="POST")
    with urllib.request.urlopen(request, timeout=2) as answer:
        assert json.loads(answer.read())["paused"] is False
    assert not wait_for(lambda: health(port)["orders_placed"] > placed, timeout=4.5)
    assert "the profile is reducing: no new entries" in (mci_home / "engines" / "paper.log").read_text()

    resumed = mci("resume", "-o", "json")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    out = json.loads(resumed.stdout)
    assert out["from"] == "reducing" and out["lifecycle"] == "running" and out["changed"] is True
    assert {u["rule"] for u in out["usages"]} >= {"daily_loss", "drawdown"}  # the fresh risk read
    assert lifecycle(mci) == "running" and health(port)["paused"] is False
    code, verdict = _check(mci, entry, tmp_path)
    assert code == 0, verdict
    assert wait_for(lambda: health(port)["orders_placed"] > placed, timeout=10)  # the engine enters again
    assert mci("resume").returncode == 0  # idempotent

    audit = mci("audit", "tail", "-n", "50", "-o", "json")
    assert audit.returncode == 0, audit.stderr
    moves = [
        (r["data"].get("trigger"), r["data"].get("to"))
        for r in (json.loads(line) for line in audit.stdout.splitlines() if line.strip())
        if r.get("kind") == "lifecycle"
    ]
    assert ("pause", "reducing") in moves and ("resume", "running") in moves

    # The kill switch works from reducing.
    assert mci("pause").returncode == 0
    kill = mci("kill", "-o", "json")
    assert kill.returncode == 0, kill.stdout + kill.stderr
    assert json.loads(kill.stdout)["lifecycle"] == "halted"
    refused = mci("resume")
    assert refused.returncode == 4 and "halted" in refused.stderr and "Traceback" not in refused.stderr


def test_shutdown_from_reducing_and_pause_refused_when_not_running(day):  # noqa: F811 — fixture
    mci, port = day
    idle = mci("pause")
    assert idle.returncode == 4 and "idle" in idle.stderr and "HOW" in idle.stderr
    assert mci("resume").returncode == 4
    _ignited(mci, port)
    assert mci("pause").returncode == 0
    pid = json.loads(mci("status", "-o", "json").stdout)["engine"]["pid"]
    down = mci("shutdown", "-o", "json")
    assert down.returncode == 0, down.stdout + down.stderr
    assert json.loads(down.stdout)["lifecycle"] == "stopped"
    assert wait_for(lambda: not alive(pid), timeout=5)


def test_an_engine_without_a_pause_adapter_is_refused_clearly(run_mci, tmp_path):
    from pathlib import Path

    from tests.enginectl.helpers import free_port

    root = Path(__file__).resolve().parents[2]
    text = (root / "profiles" / "paper.yaml").read_text(encoding="utf-8")
    port = free_port()
    # An engine mci can start and check only by its process: no HTTP health, no pause or resume declared.
    text = text.replace(
        '  health: {http: "http://127.0.0.1:${env:MCI_ENGINE_PORT:-8787}/health", within: 30s, interval: 250ms}\n',
        '  health: {command: [python, -c, "pass"], within: 30s}\n',
    )
    for line in [s for s in text.splitlines() if s.startswith(("  pause:", "  resume:"))]:
        text = text.replace(line + "\n", "")
    assert "pause:" not in text.split("engine:", 1)[1].split("\n\n", 1)[0]
    profile = tmp_path / "paper.yaml"
    profile.write_text(text, encoding="utf-8")

    def mci(*args: str):
        return run_mci(*args, "-p", str(profile), env={"MCI_ENGINE_PORT": str(port), "MCI_AT": WEDNESDAY}, timeout=90)

    assert mci("scan").returncode == 0
    ignite = mci("ignite")
    assert ignite.returncode == 0, ignite.stdout + ignite.stderr
    try:
        refused = mci("pause")
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "no pause adapter" in refused.stderr and "engine.pause" in refused.stderr
        assert "mci kill" in refused.stderr
        assert json.loads(mci("status", "-o", "json").stdout)["lifecycle"]["state"] == "running"  # unchanged
    finally:
        assert mci("shutdown").returncode == 0


def test_an_offline_risk_check_neither_needs_nor_creates_a_state_db(run_mci, mci_home, tmp_path):
    order = tmp_path / "o.json"
    order.write_text(_order("BUY", 1, Decimal("1500"), stop_loss="1490", target="1525"), encoding="utf-8")
    instruments = tmp_path / "nse.csv"
    instruments.write_text("exchange,tradingsymbol,tick_size,lot_size\nNSE,INFY,0.05,1\n", encoding="utf-8")
    proc = run_mci(
        "risk",
        "check",
        str(order),
        "--capital",
        "1000000",
        "--ltp",
        "NSE:INFY=1500",
        "--instruments",
        str(instruments),
        "--at",
        WEDNESDAY,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (mci_home / "state.db").exists()
