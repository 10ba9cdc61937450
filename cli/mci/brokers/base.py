"""The one broker interface. `paper` (in-process simulated exchange) and `kite` implement it.

Every amount is Decimal; every instant is timezone-aware. Failures are MciError:
UnavailableError for what a retry may cure (network, 5xx, 429), MciError with
exit code FAILED for what it will not (rejected order, bad token).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Iterable, Protocol


@dataclass(frozen=True)
class SessionInfo:
    """The broker session (the Kite access token, or paper's own)."""

    valid: bool
    user_id: str | None
    issued_at: datetime | None
    expires_at: datetime | None
    reason: str = ""  # why not valid, for WHAT / WHY / HOW


@dataclass(frozen=True)
class Funds:
    available: Decimal  # cash usable for new orders
    used: Decimal  # margin blocked by open orders and positions
    opening: Decimal  # start-of-day balance


@dataclass(frozen=True)
class Position:
    exchange: str
    symbol: str
    product: str  # MIS | CNC | NRML
    quantity: int  # signed: negative is short
    average_price: Decimal
    last_price: Decimal
    realised: Decimal
    unrealised: Decimal
    m2m: Decimal | None = None  # the day's mark-to-market (Kite's m2m); None: the position is today's alone
    instrument_token: int | None = None  # the broker's id of the instrument (what the ticker streams by)

    @property
    def pnl(self) -> Decimal:
        return self.realised + self.unrealised

    @property
    def day_pnl(self) -> Decimal:
        """Today's P&L: for a position carried from an earlier day, pnl would count that day's losses too."""
        return self.pnl if self.m2m is None else self.m2m


@dataclass(frozen=True)
class Order:
    order_id: str
    exchange: str
    symbol: str
    side: str  # BUY | SELL
    quantity: int
    order_type: str  # MARKET | LIMIT | SL | SL-M
    product: str
    price: Decimal
    trigger_price: Decimal
    status: str  # Kite vocabulary: OPEN, COMPLETE, CANCELLED, REJECTED, TRIGGER PENDING, ...
    tag: str | None
    placed_at: datetime
    filled_quantity: int = 0
    average_price: Decimal = Decimal("0")
    variety: str = "regular"  # cancelled on its own variety's route (mci.brokers.kite_rules.VARIETIES)
    parent_order_id: str | None = None  # a cover order's stop-loss leg: exited with it, never cancelled alone
    status_message: str | None = None  # Kite's reason for REJECTED, or for a CANCELLED the exchange cancelled

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_ORDER_STATUSES


OPEN_ORDER_STATUSES = frozenset(
    {
        "OPEN",
        "TRIGGER PENDING",
        "OPEN PENDING",
        "VALIDATION PENDING",
        "PUT ORDER REQ RECEIVED",
        "MODIFY PENDING",
        "AMO REQ RECEIVED",
    }
)


@dataclass(frozen=True)
class OrderRequest:
    exchange: str
    symbol: str
    side: str
    quantity: int
    order_type: str = "MARKET"
    product: str = "MIS"
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    tag: str | None = None  # idempotency key: ≤ 20 letters and digits, unique per order
    # MARKET and SL-M only: -1 (Kite picks the band) or a percentage in (0, 100]. Since 2026-04-01 Kite refuses
    # an API MARKET/SL-M order without it; None lets the broker fill in the profile's broker.market_protection.
    market_protection: Decimal | None = None
    # Kite's order variety (regular, amo, co, iceberg, auction: mci.brokers.kite_rules.VARIETIES); a cover order ("co")
    # sends its stop-loss as trigger_price.
    variety: str = "regular"


@dataclass(frozen=True)
class Gtt:
    """A GTT (good-till-triggered) trigger at the broker: while `active`, it places its orders when the price crosses."""

    trigger_id: int
    status: str  # Kite: active, triggered, disabled, expired, cancelled, rejected, deleted
    exchange: str
    symbol: str
    kind: str  # single | two-leg

    @property
    def is_active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True)
class InstrumentSpec:
    """What the pre-trade validator needs of a listed instrument."""

    tick_size: Decimal
    lot_size: int
    # The most units one order may carry (whole lots), for F&O: Kite's dump has none, mci.brokers.kite_rules has
    # NSE's limits. None: no freeze quantity known (cash equity: Kite's 1,00,000 per order).
    freeze_quantity: int | None = None


class Broker(Protocol):
    name: str

    def session(self) -> SessionInfo:
        """The current session, without side effects."""

    def ensure_session(self) -> SessionInfo:
        """Paper issues its own session when none is valid; Kite returns session()."""

    def server_time(self) -> datetime:
        """The broker's idea of now (for clock-skew checks)."""

    def funds(self) -> Funds: ...

    def positions(self) -> list[Position]: ...

    def orders(self) -> list[Order]: ...

    def ltp(self, instruments: Iterable[str]) -> dict[str, Decimal]:
        """Last prices keyed "EXCHANGE:SYMBOL"."""

    def instruments(self, exchanges: Iterable[str]) -> dict[str, "InstrumentSpec"]:
        """Tick and lot size keyed "EXCHANGE:SYMBOL", for every instrument listed on these exchanges."""

    def place_order(self, request: OrderRequest) -> str: ...

    def cancel_order(self, order_id: str) -> None: ...

    def close(self) -> None: ...
