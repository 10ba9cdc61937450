"""Helpers of the kill-switch tests: the simulator's admin interface, the exchange's own book, engine pids."""

from __future__ import annotations

import json
from pathlib import Path

import requests

from testing import ROOT

KITE_PROFILE = str(ROOT / "profiles" / "kite-sim.yaml")
MONDAY = "2026-11-23T10:00"  # a trading day, in session (IST); the simulator's clock starts there too
WEDNESDAY = "2026-11-25T10:30"


def sim_admin(url: str, method: str, path: str, **body):
    r = requests.request(method, f"{url}/_sim/{path}", json=body or None, timeout=10)
    assert r.status_code == 200, r.text
    return r.json().get("data")


def engine_pid(home: Path, profile: str) -> int | None:
    record = home / "engines" / f"{profile}.pid"
    return json.loads(record.read_text())["pid"] if record.exists() else None


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def seed_book(url: str, symbols=("RELIANCE", "INFY", "TCS", "SBIN")) -> None:
    """Four MIS positions, long and short: under the profile's max_open_positions (5), so a scan still arms."""
    for n, symbol in enumerate(symbols):
        sim_admin(url, "POST", "positions", instrument=f"NSE:{symbol}", quantity=(n + 1) * (1 if n % 2 else -1))


def book(url: str) -> tuple[list, list]:
    """The exchange's own account, read with a fresh login (never through the faults)."""
    from testing.kite_sim import kite_login

    sim_admin(url, "DELETE", "faults")
    kite = kite_login(url)
    return ([p for p in kite.positions()["net"] if p["quantity"]],
            [o for o in kite.orders() if o["status"] in ("OPEN", "TRIGGER PENDING")])
