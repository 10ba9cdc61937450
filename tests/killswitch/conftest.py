"""Fixtures of the kill-switch tests: real `mci` processes against the paper account or `mci sim kite`."""

from __future__ import annotations

import os

import pytest
import requests

from testing.killswitch import KITE_PROFILE, MONDAY, WEDNESDAY, engine_pid
from tests.enginectl.helpers import free_port
from testing.kite_sim import SIM_KEY, SIM_SECRET, sim_process


@pytest.fixture
def paper_day(run_mci, mci_home):
    """`mci` on the shipped paper profile, its demo engine on a free port; no engine outlives the test."""
    port = free_port()

    def mci(*args: str, timeout: float = 120, **env: str):
        return run_mci(*args, env={"MCI_ENGINE_PORT": str(port), "MCI_AT": WEDNESDAY, **env}, timeout=timeout)

    yield mci
    pid = engine_pid(mci_home, "paper")
    if pid:
        try:
            os.killpg(pid, 9)
        except OSError:
            pass


@pytest.fixture
def sim(mci_home):
    with sim_process(mci_home, "--at", MONDAY) as running:
        yield running


@pytest.fixture
def kite_day(sim, run_mci):
    """Logged in through the simulator's real redirect flow; `mci(...)` runs against the kite-sim profile."""
    env = {"KITE_API_KEY": SIM_KEY, "KITE_API_SECRET": SIM_SECRET, "MCI_SIM_URL": sim.url, "MCI_AT": MONDAY}

    def mci(*args: str, timeout: float = 120, **extra: str):
        chosen = () if "-p" in args else ("-p", KITE_PROFILE)
        return run_mci(*args, *chosen, env={**env, **extra}, timeout=timeout)

    login = requests.get(f"{sim.url}/connect/login", params={"api_key": SIM_KEY, "v": 3}, allow_redirects=False,
                         timeout=5)
    done = run_mci("token", "login", login.headers["Location"], "-p", KITE_PROFILE, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    mci.env = env
    return mci


