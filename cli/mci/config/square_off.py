"""A profile's intraday times against the broker's square-off: the defaults and what a profile may not declare.

Zerodha squares off open intraday positions itself, "Equity/Cash 3:20 PM, Equity Derivatives 3:25 PM,
Currency Derivatives 4:45 PM, Commodities 25 minutes before Close" (ZERODHA_URL). A profile may name other
times (`market.broker_square_off`) and its own entry cut-off (`market.entry_cutoff`, else `watch.square_off`);
one whose `watch.square_off` or entry cut-off is not before the broker's is refused when it is built
(mci.config.build), and `mci validate` warns when the square-off is only minutes before. What the times mean
on a given day (a session that closes early) is mci.market.cutoffs'.
"""

from __future__ import annotations

from datetime import time, timedelta
from typing import TYPE_CHECKING, Any

from mci.config.segments import profile_segments
from mci.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable

    from mci.config.model import Profile

ZERODHA_URL = (
    "https://support.zerodha.com/category/trading-and-markets/margin-leverage-and-product-and-order-types/"
    "articles/intraday-auto-square-off-timings"
)
# Zerodha's published square-off times; MCX has none fixed: "Commodities: 25 minutes before the close" (same page),
# the close of that day's MCX session (23:30 or 23:55 with US summer time, 17:00 on a day without an evening).
ZERODHA_SQUARE_OFF = {"CM": time(15, 20), "FO": time(15, 25), "CD": time(16, 45)}
# MCX's earliest regular close is 23:30 (non-agricultural commodities while the US keeps summer time; 23:55
# otherwise: https://www.angelone.in/announcements/market/mcx-trade-timings-revised-from-11-mar), so Zerodha's MCX
# square-off is 23:05 at the earliest: what `validate` holds watch.square_off to (at run time, each day's own close).
MCX_EARLIEST_SQUARE_OFF = time(23, 5)
WARN_WITHIN = timedelta(minutes=2)  # a square-off this close to the broker's races it


def _minutes(t: time) -> timedelta:
    return timedelta(hours=t.hour, minutes=t.minute, seconds=t.second)


def _clock(delta: timedelta) -> time:
    seconds = int(delta.total_seconds())
    return time(seconds // 3600, seconds % 3600 // 60, seconds % 60)


def broker_square_off(profile: "Profile", segment: str) -> tuple[time | None, str]:
    """(the broker's regular-day square-off in `segment`, where it comes from); None for MCX's relative rule."""
    own = profile.market.broker_square_off.get(segment)
    if own is not None:
        return own, f"market.broker_square_off.{segment}"
    if segment in ZERODHA_SQUARE_OFF:
        return ZERODHA_SQUARE_OFF[segment], f"Zerodha's {segment} auto square-off ({ZERODHA_URL})"
    return None, f"Zerodha's commodity auto square-off, 25 minutes before the close ({ZERODHA_URL})"


def entry_cutoff(profile: "Profile", segment: str) -> tuple[time | None, str]:
    """(the profile's regular-day intraday entry cut-off in `segment`, where it comes from)."""
    own = profile.market.entry_cutoff
    if segment in own:
        return own[segment], f"market.entry_cutoff.{segment}"
    if "*" in own:
        return own["*"], "market.entry_cutoff"
    if profile.watch.square_off is not None:
        return profile.watch.square_off, "watch.square_off"
    square_off, source = broker_square_off(profile, segment)
    return square_off, source


def square_off_findings(
    profile: "Profile", location_of: "Callable[[tuple[Any, ...]], Any]"
) -> tuple[list[ConfigError], list[ConfigError]]:
    """(errors, warnings): watch.square_off and the entry cut-off against the broker's square-off.

    `location_of(path)` positions a finding in the profile file.
    """
    errors: list[ConfigError] = []
    warnings: list[ConfigError] = []
    for segment in profile_segments(profile):
        broker, source = broker_square_off(profile, segment)
        if broker is None:  # MCX: 25 minutes before each day's close; the earliest of a regular day here
            broker = MCX_EARLIEST_SQUARE_OFF
            source += ", the 23:30 close while the US keeps daylight saving time"
        mine = profile.watch.square_off
        if mine is not None:
            gap = _minutes(broker) - _minutes(mine)
            if gap <= timedelta(0):
                errors.append(
                    ConfigError(
                        f"watch.square_off {mine:%H:%M} is not before the broker's {segment} square-off {broker:%H:%M}",
                        f"the broker squares off intraday positions at {broker:%H:%M} ({source}): mci's end-of-day "
                        "sequence would find them already closed at market prices, or race the broker's own orders",
                        f'set watch.square_off before {broker:%H:%M}, e.g. "{_clock(_minutes(broker) - timedelta(minutes=5)):%H:%M}"',
                        location_of(("watch", "square_off")),
                    )
                )
            elif gap <= WARN_WITHIN:
                warnings.append(
                    ConfigError(
                        f"watch.square_off {mine:%H:%M} is only {int(gap.total_seconds() // 60)} minute(s) before the broker's "
                        f"{segment} square-off {broker:%H:%M}",
                        f"closing a book takes time (orders, fills, retries at 10 orders/s); the broker squares off at "
                        f"{broker:%H:%M} ({source})",
                        f"leave at least {int(WARN_WITHIN.total_seconds() // 60) + 1} minutes, e.g. "
                        f'"{_clock(_minutes(broker) - timedelta(minutes=5)):%H:%M}"',
                        location_of(("watch", "square_off")),
                    )
                )
        cutoff, cut_source = entry_cutoff(profile, segment)
        if cutoff is not None and cut_source.startswith("market.entry_cutoff") and cutoff > broker:
            errors.append(
                ConfigError(
                    f"{cut_source} {cutoff:%H:%M} is after the broker's {segment} square-off {broker:%H:%M}",
                    f"the broker refuses fresh intraday orders after its square-off ({source})",
                    f"set {cut_source} at or before {broker:%H:%M}",
                    location_of(("market", "entry_cutoff")),
                )
            )
    return errors, warnings
