"""Fixtures of the circuit tests: `mci sim kite` in a subprocess, and `mci` logged in to it through the real flow."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from tests.killswitch.kill_support import KITE_PROFILE, MONDAY, ROOT
from tests.kite.sim_support import SIM_KEY, SIM_SECRET, SimProcess, read_banner, sim_env


@pytest.fixture
def sim(mci_home):
    proc = subprocess.Popen([sys.executable, "-m", "mci", "sim", "kite", "--port", "0", "--at", MONDAY],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0, cwd=ROOT, env=sim_env(mci_home))
    running = SimProcess(proc)
    running.url, running.stdout = read_banner(proc, 20)
    assert running.url, running.stdout
    yield running
    if proc.poll() is None:
        running.stop()


@pytest.fixture
def kite_day(sim, run_mci):
    """`mci(...)` against the kite-sim profile, logged in through the simulator's redirect flow."""
    env = {"KITE_API_KEY": SIM_KEY, "KITE_API_SECRET": SIM_SECRET, "MCI_SIM_URL": sim.url, "MCI_AT": MONDAY}

    def mci(*args: str, timeout: float = 120, **extra: str):
        chosen = () if "-p" in args or args[:1] == ("sim",) else ("-p", KITE_PROFILE)
        return run_mci(*args, *chosen, env={**env, **extra}, timeout=timeout)

    login = requests.get(f"{sim.url}/connect/login", params={"api_key": SIM_KEY, "v": 3}, allow_redirects=False,
                         timeout=5)
    done = run_mci("token", "login", login.headers["Location"], "-p", KITE_PROFILE, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return mci


@pytest.fixture
def sim_thread(tmp_path):
    """The simulator in a thread, Kite's rate limits off, its clock frozen on a Monday in session; (url, exchange)."""
    from datetime import datetime
    from decimal import Decimal

    from mci.brokers.sim.admin import SimClock
    from mci.brokers.sim.exchange import Exchange
    from mci.brokers.sim.kite_server import serve
    from mci.brokers.sim.limits import RateLimits
    from tests.kite.sim_support import MONDAY_10AM

    exchange = Exchange(tmp_path / "sim.db", SimClock(datetime.fromisoformat(MONDAY_10AM), frozen=True), seed=7,
                        capital=Decimal("10000000"))
    server = serve("127.0.0.1", 0, exchange, api_key=SIM_KEY, api_secret=SIM_SECRET, rate_limits=RateLimits.off())
    yield server.url, exchange
    server.shutdown()
    exchange.close()
