"""Fixtures of the F&O tests: the Kite simulator in a thread (frozen clock, Monday 10:00 IST) and a logged-in client."""

from __future__ import annotations

from decimal import Decimal

import pytest

from testing.kite_sim import frozen_monday, kite_login, sim_exchange, sim_thread


@pytest.fixture
def sim_clock():
    return frozen_monday()


@pytest.fixture
def exchange(tmp_path, sim_clock):
    with sim_exchange(tmp_path / "sim.db", sim_clock, Decimal("100000000")) as ex:
        yield ex


@pytest.fixture
def server(exchange):
    """Kite's own rate limits on: every test here must stay inside them, as a live account would."""
    with sim_thread(exchange) as srv:
        yield srv


@pytest.fixture
def kite(server):
    return kite_login(server.url)
