"""Fixtures of the circuit tests: `mci sim kite` in a subprocess, and `mci` logged in to it through the real flow."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from testing import kite_sim
from testing.killswitch import KITE_PROFILE, MONDAY
from testing.kite_sim import SIM_KEY, SIM_SECRET, frozen_monday, sim_exchange, sim_process


@pytest.fixture
def sim(mci_home):
    with sim_process(mci_home, "--at", MONDAY) as running:
        yield running


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
    from mci.brokers.sim.limits import RateLimits

    with sim_exchange(tmp_path / "sim.db", frozen_monday(), Decimal("10000000")) as exchange, \
            kite_sim.sim_thread(exchange, rate_limits=RateLimits.off()) as server:
        yield server.url, exchange
