"""Helpers of the kill-switch tests: the simulator's admin interface, the exchange's own book, engine pids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from testing import ROOT
from testing.kite_sim import SIM_KEY, SIM_SECRET, sim_process

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
    return (
        [p for p in kite.positions()["net"] if p["quantity"]],
        [o for o in kite.orders() if o["status"] in ("OPEN", "TRIGGER PENDING")],
    )


@pytest.fixture
def sim(mci_home):
    """`mci sim kite` in a subprocess, its clock on MONDAY."""
    with sim_process(mci_home, "--at", MONDAY) as running:
        yield running


@pytest.fixture
def kite_day(sim, run_mci):
    """Logged in through the simulator's real redirect flow; `mci(...)` runs against the kite-sim profile
    (`mci("sim", ...)` and a call with its own `-p` are left as given). Import both into a conftest."""
    env = {"KITE_API_KEY": SIM_KEY, "KITE_API_SECRET": SIM_SECRET, "MCI_SIM_URL": sim.url, "MCI_AT": MONDAY}

    def mci(*args: str, timeout: float = 120, **extra: str):
        chosen = () if "-p" in args or args[:1] == ("sim",) else ("-p", KITE_PROFILE)
        return run_mci(*args, *chosen, env={**env, **extra}, timeout=timeout)

    login = requests.get(
        f"{sim.url}/connect/login", params={"api_key": SIM_KEY, "v": 3}, allow_redirects=False, timeout=5
    )
    done = run_mci("token", "login", login.headers["Location"], "-p", KITE_PROFILE, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    mci.env = env
    return mci
