"""Market segments, the vocabulary profiles and calendars share: the exchanges in each, the ones a profile trades.

Here, below mci.market, because a profile is judged by segment when it is built (mci.config.square_off);
mci.market.calendar re-exports these names for its own readers.
"""

from __future__ import annotations

from typing import Any

# The segments a calendar may serve (NSE's holiday list names them the same way), and the exchanges in each.
SEGMENT_EXCHANGES = {"CM": ("NSE", "BSE"), "FO": ("NFO", "BFO"), "CD": ("CDS", "BCD"), "MCX": ("MCX",)}


def segment_of(exchange: str) -> str | None:
    for segment, exchanges in SEGMENT_EXCHANGES.items():
        if exchange.upper() in exchanges:
            return segment
    return None


def profile_segments(profile: Any) -> tuple[str, ...]:
    """The segments a profile trades: those of risk.allowed_exchanges, else the cash market (market.segment: equity)."""
    exchanges = profile.risk.allowed_exchanges
    if exchanges:
        found = [s for s in (segment_of(e) for e in exchanges) if s]
        if found:
            return tuple(dict.fromkeys(found))
    return ("CM",)
