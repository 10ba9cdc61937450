"""The forced breach: positions sized from the profile's own limits, then a price move that crosses the day's loss.

The book is spread over enough instruments that no single position reaches
max_position_loss, so it is the day's loss that trips the guard, as a bad day
would; the target is a quarter over the limit, so the engine's own small
trades cannot keep it under. Pure arithmetic here; the drill applies it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Iterable, Mapping

MOVE = Decimal("0.10")  # each seeded position falls 10%: a bad day, not a crash
OVERSHOOT = Decimal("1.25")  # the loss aimed at, as a multiple of the day's limit
POSITION_SHARE = Decimal("0.6")  # of max_position_loss: no single position should trip on its own
# Liquid names the demo engine does not trade (it buys INFY): the breach never touches the engine's position.
CANDIDATES = ("RELIANCE", "TCS", "HDFCBANK", "ICICIBANK", "SBIN", "LT", "AXISBANK", "KOTAKBANK", "ITC", "WIPRO")


@dataclass(frozen=True)
class Leg:
    instrument: str  # "NSE:TCS"
    quantity: int  # long, MIS
    entry: Decimal  # seeded at this price (the last price, pinned)
    moved: Decimal  # then moved here

    @property
    def loss(self) -> Decimal:
        return (self.entry - self.moved) * self.quantity


@dataclass(frozen=True)
class BreachPlan:
    legs: tuple[Leg, ...]
    limit: Decimal  # the day's loss limit in rupees

    @property
    def loss(self) -> Decimal:
        return sum((leg.loss for leg in self.legs), Decimal(0))


class NoRoom(ValueError):
    """The limits leave no way to cross the day's loss (no free position slot)."""


def _tick(price: Decimal, tick: Decimal, rounding: str) -> Decimal:
    return (price / tick).to_integral_value(rounding) * tick


def plan_breach(
    *,
    capital: Decimal,
    max_daily_loss: Decimal,
    max_position_loss: Decimal,
    max_open_positions: int,
    open_instruments: Iterable[str],
    day_pnl: Decimal,
    prices: Mapping[str, Decimal],
    tick: Decimal = Decimal("0.05"),
    prefer: Iterable[str] = (),
) -> BreachPlan:
    """`prices`: last price by "NSE:SYMBOL" for the candidates; limits as fractions of capital. `prefer`: instruments
    taken first (a drill's circuit= locks them: they must be legs of the breach)."""
    limit = capital * max_daily_loss
    per_position = capital * max_position_loss
    busy = set(open_instruments)
    free = [f"NSE:{s}" for s in CANDIDATES if f"NSE:{s}" not in busy and f"NSE:{s}" in prices]
    first = [i for i in prefer if i in free]
    free = first + [i for i in free if i not in first]
    slots = min(max_open_positions - len(busy), len(free))
    if slots < 1:
        raise NoRoom(f"{len(busy)} position(s) already open, max_open_positions is {max_open_positions}")
    target = limit * OVERSHOOT + max(day_pnl, Decimal(0))
    count = next((n for n in range(1, slots + 1) if target / n <= per_position * POSITION_SHARE), slots)
    share = target / count
    legs = []
    for instrument in free[:count]:
        price = prices[instrument]
        moved = _tick(price * (1 - MOVE), tick, ROUND_FLOOR)
        quantity = int((share / (price - moved)).to_integral_value(ROUND_CEILING))
        legs.append(Leg(instrument, quantity, price, moved))
    return BreachPlan(tuple(legs), limit)
