"""CR-004: a Kite access token dies at the next 06:00 Asia/Kolkata after it was issued.

Issued 09:00 IST -> dies 06:00 IST the next morning; issued 05:00 IST -> dies
06:00 the same day; issued exactly 06:00 -> the next day's 06:00. A token is
expired from 06:00:00.000 on (not a microsecond later).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Literal

from mci.clock import IST, zone

EXPIRY_TIME = time(6, 0)
DEFAULT_WARN_WITHIN = timedelta(minutes=30)

TokenState = Literal["valid", "expiring", "expired"]


def session_expiry(issued_at: datetime) -> datetime:
    """The instant (in IST) the session issued at `issued_at` expires."""
    if issued_at.tzinfo is None:
        raise ValueError("issued_at must be timezone-aware")
    tz = zone(IST)
    local = issued_at.astimezone(tz)
    day = local.date() if local.time() < EXPIRY_TIME else local.date() + timedelta(days=1)
    return datetime.combine(day, EXPIRY_TIME, tzinfo=tz)


def token_state(expires_at: datetime, now: datetime, warn_within: timedelta = DEFAULT_WARN_WITHIN) -> TokenState:
    """valid; expiring (still usable, but dies within `warn_within`, inclusive); expired (from expires_at on)."""
    left = expires_at - now
    if left <= timedelta(0):
        return "expired"
    if left <= warn_within:
        return "expiring"
    return "valid"
