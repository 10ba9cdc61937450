"""CR-004 at its edges: a Kite access token dies at the next 06:00 Asia/Kolkata."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mci.clock import zone
from mci.expiry import session_expiry, token_state

IST = zone("Asia/Kolkata")


def ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=IST)


@pytest.mark.parametrize(
    "issued, expires",
    [
        (ist(2026, 11, 23, 9, 0), ist(2026, 11, 24, 6, 0)),  # morning login: dies next morning
        (ist(2026, 11, 23, 5, 0), ist(2026, 11, 23, 6, 0)),  # before 06:00: dies the same day
        (ist(2026, 11, 23, 6, 0), ist(2026, 11, 24, 6, 0)),  # exactly 06:00: the next day's
        (ist(2026, 11, 23, 5, 59, 59, 999999), ist(2026, 11, 23, 6, 0)),
        (ist(2026, 11, 23, 23, 59), ist(2026, 11, 24, 6, 0)),
        (ist(2026, 12, 31, 23, 0), ist(2027, 1, 1, 6, 0)),  # across the year
        (datetime(2026, 11, 23, 3, 30, tzinfo=timezone.utc), ist(2026, 11, 24, 6, 0)),  # 09:00 IST given in UTC
        (datetime(2026, 11, 23, 0, 29, tzinfo=timezone.utc), ist(2026, 11, 23, 6, 0)),  # 05:59 IST given in UTC
    ],
)
def test_session_expiry(issued, expires):
    result = session_expiry(issued)
    assert result == expires
    assert result.utcoffset() == timedelta(hours=5, minutes=30)


def test_naive_issue_time_is_refused():
    with pytest.raises(ValueError):
        session_expiry(datetime(2026, 11, 23, 9, 0))


EXPIRES = ist(2026, 11, 24, 6, 0)


@pytest.mark.parametrize(
    "now, warn, state",
    [
        (ist(2026, 11, 23, 9, 0), timedelta(minutes=30), "valid"),
        (ist(2026, 11, 24, 5, 29, 59), timedelta(minutes=30), "valid"),
        (ist(2026, 11, 24, 5, 30, 0), timedelta(minutes=30), "expiring"),  # the window is inclusive
        (ist(2026, 11, 24, 5, 59, 59), timedelta(minutes=30), "expiring"),  # still usable
        (ist(2026, 11, 24, 5, 59, 59), timedelta(0), "valid"),
        (ist(2026, 11, 24, 5, 59, 59, 999999), timedelta(0), "valid"),
        (ist(2026, 11, 24, 6, 0, 0), timedelta(minutes=30), "expired"),  # dead at 06:00:00 exactly
        (ist(2026, 11, 24, 6, 0, 0), timedelta(0), "expired"),
        (ist(2026, 11, 25, 9, 0), timedelta(minutes=30), "expired"),
    ],
)
def test_token_state_edges(now, warn, state):
    assert token_state(EXPIRES, now, warn) == state
