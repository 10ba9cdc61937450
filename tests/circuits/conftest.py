"""Fixtures of the circuit tests: `mci sim kite` in a subprocess, and `mci` logged in to it through the real flow."""

from __future__ import annotations

from decimal import Decimal

import pytest

from testing import kite_sim
from testing.killswitch import kite_day, sim  # noqa: F401 (fixtures)
from testing.kite_sim import frozen_monday, sim_exchange


@pytest.fixture
def sim_thread(tmp_path):
    """The simulator in a thread, Kite's rate limits off, its clock frozen on a Monday in session; (url, exchange)."""
    from mci.brokers.sim.limits import RateLimits

    with (
        sim_exchange(tmp_path / "sim.db", frozen_monday(), Decimal("10000000")) as exchange,
        kite_sim.sim_thread(exchange, rate_limits=RateLimits.off()) as server,
    ):
        yield server.url, exchange
