"""Fixtures: the real `mci sim kite` in a subprocess on a free 127.0.0.1 port, or the simulator in a thread."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import pytest

from testing.kite_sim import ROOT, SimProcess, frozen_monday, read_banner, sim_env, sim_exchange, sim_thread


@pytest.fixture
def start_sim(mci_home):
    """start_sim(*args, env=...) -> SimProcess listening (or ended: .url == '' and .proc.returncode set)."""
    started: list[SimProcess] = []

    def start(*args: str, env: dict[str, str] | None = None, timeout: float = 20) -> SimProcess:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mci", "sim", "kite", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
            cwd=ROOT,
            env=env if env is not None else sim_env(mci_home),
        )
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
    from mci.brokers.sim.limits import RateLimits

    with (
        sim_exchange(tmp_path / "sim.db", frozen_monday(), Decimal("10000000")) as exchange,
        sim_thread(exchange, rate_limits=RateLimits.off()) as server,
    ):
        yield server
