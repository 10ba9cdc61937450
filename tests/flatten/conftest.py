"""Fixtures of the flatten tests (helpers are in testing.flatten)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest

from mci.brokers.paper import PaperBroker
from mci.clock import Clock

from testing.flatten import Events

IST = ZoneInfo("Asia/Kolkata")


@pytest.fixture
def clock():
    return Clock(datetime(2026, 11, 23, 10, 0, tzinfo=IST), frozen=True)  # a Monday, in session


@pytest.fixture
def paper(tmp_path, clock):
    broker = PaperBroker(tmp_path, "flat", clock, capital=D("100000000"), seed=7)
    yield broker
    broker.close()


@pytest.fixture
def events():
    return Events()
