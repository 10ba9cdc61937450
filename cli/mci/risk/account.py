"""The account as risk sees it: capital, the day's P&L, positions, today's orders, last prices, instruments.

Read from the broker (`Account.from_broker`) or, for offline what-ifs and CI,
from a JSON document (`Account.from_mapping`):

    {"capital": "1000000", "day_pnl": "-2500", "peak_equity": "1004000",
     "positions": [{"instrument": "NSE:INFY", "product": "MIS", "quantity": 10, "pnl": "-300"}],
     "last_prices": {"NSE:INFY": "1500.00"},
     "instruments": {"NSE:INFY": {"tick_size": "0.05", "lot_size": 1}},
     "orders": [{"placed_at": "2026-11-23T10:00:00+05:30", "filled": true}],
     "at": "2026-11-23T10:00:01+05:30"}
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from mci.brokers.base import InstrumentSpec
from mci.errors import UsageError

if TYPE_CHECKING:
    from mci.brokers.base import Broker, Funds, Order, Position

ZERO = Decimal("0")
SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class Holding:
    """One position: quantity is signed (negative is short); pnl is the day's realised + unrealised."""

    instrument: str  # "EXCHANGE:SYMBOL"
    product: str
    quantity: int
    pnl: Decimal


@dataclass(frozen=True)
class Account:
    capital: Decimal  # the opening balance every percentage is of
    day_pnl: Decimal = ZERO
    positions: tuple[Holding, ...] = ()
    last_prices: Mapping[str, Decimal] = field(default_factory=dict)
    instruments: Mapping[str, InstrumentSpec] | None = None  # None: unknown (every symbol is then rejected)
    order_times: tuple[datetime, ...] = ()  # today's orders, placed_at, sorted
    trades: int = 0  # today's orders with a fill
    peak_equity: Decimal | None = None  # the intraday high of capital + day P&L; None: now is the peak
    at: datetime | None = None

    @property
    def equity(self) -> Decimal:
        return self.capital + self.day_pnl

    @property
    def open_positions(self) -> tuple[Holding, ...]:
        return tuple(p for p in self.positions if p.quantity != 0)

    def position(self, instrument: str, product: str) -> Holding | None:
        for p in self.positions:
            if p.instrument == instrument and p.product == product and p.quantity != 0:
                return p
        return None

    def orders_within(self, end: datetime, window: timedelta = SECOND) -> int:
        """Orders placed in (end - window, end]."""
        return bisect_right(self.order_times, end) - bisect_right(self.order_times, end - window)

    def peak_rate(self, window: timedelta = SECOND, since: datetime | None = None) -> int:
        """The most orders in any window of this length among orders placed after `since` (two pointers)."""
        times = self.order_times if since is None else self.order_times[bisect_right(self.order_times, since) :]
        best, lo = 0, 0
        for hi, t in enumerate(times):
            while times[lo] <= t - window:
                lo += 1
            best = max(best, hi - lo + 1)
        return best

    @classmethod
    def from_broker(
        cls,
        broker: "Broker",
        *,
        instruments: Iterable[str] = (),
        specs: Mapping[str, InstrumentSpec] | None = None,
        peak_equity: Decimal | None = None,
        at: datetime | None = None,
        quote_held: bool = True,
    ) -> "Account":
        """One consistent read: funds, positions, orders, and last prices for the positions plus `instruments`."""
        return cls.from_answers(
            broker,
            broker.funds(),
            broker.positions(),
            broker.orders(),
            instruments=instruments,
            specs=specs,
            peak_equity=peak_equity,
            at=at,
            quote_held=quote_held,
        )

    @classmethod
    def from_answers(
        cls,
        broker: "Broker",
        funds: "Funds",
        positions: "list[Position]",
        orders: "list[Order]",
        *,
        instruments: Iterable[str] = (),
        specs: Mapping[str, InstrumentSpec] | None = None,
        peak_equity: Decimal | None = None,
        at: datetime | None = None,
        quote_held: bool = True,
    ) -> "Account":
        """The account from answers already read (a caller that also shows them reads them once); only the last
        prices are asked of the broker.

        quote_held=False: a held instrument's price is the one its position carries (Kite's `last_price`), not
        asked again: a caller reading every second (the watcher, and its immediate confirming re-read) would
        otherwise spend all of the account's 1 quote a second (mci.brokers.ratelimit) and wait for it."""
        holdings = tuple(Holding(f"{p.exchange}:{p.symbol}", p.product, p.quantity, p.day_pnl) for p in positions)
        prices: dict[str, Decimal] = {}
        if not quote_held:
            prices = {f"{p.exchange}:{p.symbol}": p.last_price for p in positions if p.quantity and p.last_price > 0}
        wanted = sorted(({h.instrument for h in holdings if h.quantity} | set(instruments)) - set(prices))
        if wanted:
            prices.update(broker.ltp(wanted))
        return cls(
            capital=funds.opening,
            day_pnl=sum((p.day_pnl for p in positions), ZERO),
            positions=holdings,
            last_prices=prices,
            instruments=specs,
            order_times=tuple(sorted(o.placed_at for o in orders)),
            trades=sum(1 for o in orders if o.filled_quantity > 0),
            peak_equity=peak_equity,
            at=at,
        )

    @classmethod
    def from_mapping(cls, data: Any, *, source: str = "the account JSON") -> "Account":
        """Build from plain JSON data; anything malformed is a UsageError naming the field."""
        if not isinstance(data, Mapping):
            raise _bad(source, "", "an object", data)
        known = {"capital", "day_pnl", "peak_equity", "positions", "last_prices", "instruments", "orders", "at"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(
                f"{source} has unknown field(s): {', '.join(map(str, unknown))}",
                f"the fields are {', '.join(sorted(known))}",
                "remove or rename them",
            )
        if "capital" not in data:
            raise UsageError(
                f"{source} has no capital",
                "every risk limit is a share of capital",
                'add "capital": "1000000" (rupees)',
            )
        positions = tuple(
            _holding(p, f"{source} positions[{i}]") for i, p in enumerate(_list(data, "positions", source))
        )
        orders = _list(data, "orders", source)
        times, trades = [], 0
        for i, o in enumerate(orders):
            where = f"{source} orders[{i}]"
            if not isinstance(o, Mapping) or "placed_at" not in o:
                raise _bad(where, "", 'an object with "placed_at"', o)
            times.append(_instant(o["placed_at"], where + ".placed_at"))
            trades += 1 if o.get("filled") is True else 0
        specs = data.get("instruments")
        return cls(
            capital=_money(data["capital"], f"{source} capital", positive=True),
            day_pnl=_money(data.get("day_pnl", "0"), f"{source} day_pnl"),
            positions=positions,
            last_prices={
                str(k): _money(v, f"{source} last_prices[{k}]", positive=True)
                for k, v in _map(data, "last_prices", source).items()
            },
            instruments=None
            if specs is None
            else {str(k): _spec(v, f"{source} instruments[{k}]") for k, v in _map(data, "instruments", source).items()},
            order_times=tuple(sorted(times)),
            trades=trades,
            peak_equity=None
            if data.get("peak_equity") is None
            else _money(data["peak_equity"], f"{source} peak_equity", positive=True),
            at=None if data.get("at") is None else _instant(data["at"], f"{source} at"),
        )


def _bad(where: str, field_name: str, expected: str, got: Any) -> UsageError:
    shown = repr(got)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return UsageError(
        f"{where}{field_name} is not {expected}",
        f"it is {shown}",
        "fix the account JSON (see `mci risk check --help` for its fields)",
    )


def _list(data: Mapping[str, Any], key: str, source: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise _bad(f"{source} {key}", "", "a list", value)
    return value


def _map(data: Mapping[str, Any], key: str, source: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise _bad(f"{source} {key}", "", "an object", value)
    return value


def decimal_of(value: Any) -> Decimal | None:
    """A finite Decimal from a JSON number or numeric string; None for anything else (bool, NaN, inf, text)."""
    if type(value) is str:  # the common case first: every price of every order in a stream
        if "_" in value:
            return None
        try:
            d = Decimal(value.strip())
        except (InvalidOperation, ValueError):
            return None
        return d if d.is_finite() else None
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        value = repr(value)  # the shortest text that round-trips, not the binary expansion
    if isinstance(value, str) and "_" in value:
        return None  # Decimal() reads "1_500" as 1500; a signal that writes digit separators is malformed
    if isinstance(value, (int, str)):
        try:
            d = Decimal(value.strip() if isinstance(value, str) else value)
        except (InvalidOperation, ValueError):
            return None
        return d if d.is_finite() else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    return None


def _money(value: Any, where: str, *, positive: bool = False) -> Decimal:
    d = decimal_of(value)
    if d is None or (positive and d <= 0):
        raise _bad(where, "", "a positive finite amount" if positive else "a finite amount", value)
    return d


def _instant(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise _bad(where, "", "an ISO-8601 instant with an offset", value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(where, "", "an ISO-8601 instant with an offset", value) from None
    if moment.tzinfo is None:
        raise _bad(where, "", "an instant with an offset (+05:30 or Z)", value)
    return moment


def _holding(value: Any, where: str) -> Holding:
    if not isinstance(value, Mapping) or not isinstance(value.get("instrument"), str):
        raise _bad(where, "", 'an object with "instrument", "quantity" and "pnl"', value)
    quantity = value.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise _bad(where, ".quantity", "a whole number", quantity)
    return Holding(
        value["instrument"], str(value.get("product", "MIS")), quantity, _money(value.get("pnl", "0"), where + ".pnl")
    )


def _spec(value: Any, where: str) -> InstrumentSpec:
    if not isinstance(value, Mapping):
        raise _bad(where, "", 'an object with "tick_size" and "lot_size"', value)
    lot = value.get("lot_size", 1)
    if isinstance(lot, bool) or not isinstance(lot, int) or lot < 1:
        raise _bad(where, ".lot_size", "a whole number ≥ 1", lot)
    return InstrumentSpec(_money(value.get("tick_size", "0.05"), where + ".tick_size", positive=True), lot)
