"""Fixtures of the watch tests: the shipped paper profile, a clock whose sleeps are instant, a seeded paper account."""

from __future__ import annotations

import pytest

from testing.watch import IST, SkipClock, paper_profile


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture
def clock():
    from datetime import datetime

    return SkipClock(datetime(2026, 11, 25, 10, 30, tzinfo=IST))  # a Wednesday, in session


@pytest.fixture
def profile():
    return paper_profile()
