"""Fixtures of the F&O tests: the Kite simulator in a thread (frozen clock, Monday 10:00 IST) and a logged-in client."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from tests.kite.sim_support import MONDAY_10AM, SIM_KEY, SIM_SECRET, kite_login


@pytest.fixture
def sim_clock():
    from mci.brokers.sim.admin import SimClock

    return SimClock(datetime.fromisoformat(MONDAY_10AM), frozen=True)


@pytest.fixture
def exchange(tmp_path, sim_clock):
    from mci.brokers.sim.exchange import Exchange

    ex = Exchange(tmp_path / "sim.db", sim_clock, seed=7, capital=Decimal("100000000"))
    yield ex
    ex.close()


@pytest.fixture
def server(exchange):
    """Kite's own rate limits on: every test here must stay inside them, as a live account would."""
    from mci.brokers.sim.kite_server import serve

    srv = serve("127.0.0.1", 0, exchange, api_key=SIM_KEY, api_secret=SIM_SECRET)
    yield srv
    srv.shutdown()


@pytest.fixture
def kite(server):
    return kite_login(server.url)
