"""Fixtures: the real `mci sim kite` in a subprocess on a free 127.0.0.1 port, or the simulator in a thread."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sim_support import MONDAY_10AM, ROOT, SIM_KEY, SIM_SECRET, SimProcess, read_banner, sim_env


@pytest.fixture
def start_sim(mci_home):
    """start_sim(*args, env=...) -> SimProcess listening (or ended: .url == '' and .proc.returncode set)."""
    started: list[SimProcess] = []

    def start(*args: str, env: dict[str, str] | None = None, timeout: float = 20) -> SimProcess:
        proc = subprocess.Popen([sys.executable, "-m", "mci", "sim", "kite", "--port", "0", *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0, cwd=ROOT,
                                env=env if env is not None else sim_env(mci_home))
        sim = SimProcess(proc)
        started.append(sim)
        sim.url, sim.stdout = read_banner(proc, timeout)
        if not sim.url:
            sim.stop()
        return sim

    yield start
    for sim in started:
        if sim.proc.poll() is None:
            sim.proc.kill()
            sim.proc.communicate(timeout=10)


@pytest.fixture
def sim_server(tmp_path):
    """A simulator in a thread: frozen clock at MONDAY_10AM, no rate limits (the fault tests send hundreds a second)."""
    from datetime import datetime
    from decimal import Decimal

    from mci.brokers.sim.admin import SimClock
    from mci.brokers.sim.exchange import Exchange
    from mci.brokers.sim.kite_server import serve
    from mci.brokers.sim.limits import RateLimits

    exchange = Exchange(tmp_path / "sim.db", SimClock(datetime.fromisoformat(MONDAY_10AM), frozen=True), seed=7,
                        capital=Decimal("10000000"))
    server = serve("127.0.0.1", 0, exchange, api_key=SIM_KEY, api_secret=SIM_SECRET, rate_limits=RateLimits.off())
    yield server
    server.shutdown()
    exchange.close()
