"""An order as a strategy proposes it, parsed from JSON without ever raising.

    {"exchange": "NSE", "symbol": "INFY", "side": "BUY", "quantity": 10,
     "order_type": "LIMIT", "product": "MIS", "price": "1500.00",
     "stop_loss": "1480.00", "target": "1540.00",
     "signal_time": "2026-11-23T10:00:00+05:30"}

A MARKET or SL-M order also carries "market_protection": -1 (automatic) or a
percentage above 0 up to 100: Kite refuses it without one since 2026-04-01.

Numbers may be JSON numbers or strings ("1500.05" keeps its paisa exactly).
Whatever is wrong with the shape becomes a Failure — NaN, infinities, zero or
negative prices and quantities, a naive or unparsable timestamp, an unknown
field (a misspelt "stop_los" must not silently drop the stop) — so arbitrary
JSON yields a clear rejection, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from mci.brokers import kite_rules
from mci.risk.account import decimal_of

SIDES = ("BUY", "SELL")
ORDER_TYPES = ("MARKET", "LIMIT", "SL", "SL-M")
FIELDS = (
    "exchange",
    "symbol",
    "side",
    "quantity",
    "order_type",
    "product",
    "price",
    "trigger_price",
    "stop_loss",
    "target",
    "signal_time",
    "tag",
    "market_protection",
)
_PRICES = ("price", "trigger_price", "stop_loss", "target")
_KNOWN = frozenset(FIELDS)
# Far past any exchange's order size; it keeps quantity × price inside Decimal's 28 digits, and a quantity
# such as 9e999999 from ever becoming a million-digit int.
MAX_QUANTITY = 10**12


@dataclass(frozen=True)
class Failure:
    """One broken rule, with the numbers: WHAT / WHY / HOW."""

    rule: str
    what: str
    why: str
    how: str

    def render(self) -> str:
        return f"WHAT: {self.what}\n  WHY: {self.why}\n  HOW: {self.how}"

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "what": self.what, "why": self.why, "how": self.how}


@dataclass(frozen=True)
class Intent:
    exchange: str
    symbol: str
    side: str
    quantity: int
    order_type: str
    product: str
    price: Decimal | None
    trigger_price: Decimal | None
    stop_loss: Decimal | None
    target: Decimal | None
    signal_time: datetime | None
    tag: str | None
    market_protection: Decimal | None = None

    @property
    def instrument(self) -> str:
        return f"{self.exchange}:{self.symbol}"

    @property
    def direction(self) -> int:
        return 1 if self.side == "BUY" else -1

    def label(self) -> str:
        at = (
            f" @ {self.price}"
            if self.price is not None
            else f" trigger {self.trigger_price}"
            if self.trigger_price
            else ""
        )
        return f"{self.side} {self.quantity} {self.instrument} {self.order_type}{at}"


def _shown(value: Any) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int past Python's 4300-digit str limit
        return f"an integer of {value.bit_length()} bits" if isinstance(value, int) else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _quantity(quantity: Any, failures: list[Failure]) -> int | None:
    """A whole number of shares above 0 and within MAX_QUANTITY, or None with the failure added."""
    q = None if isinstance(quantity, bool) or not isinstance(quantity, (int, float, str)) else decimal_of(quantity)
    if q is None:
        failures.append(
            Failure(
                "signal",
                f"quantity {_shown(quantity)} is not a number",
                "NaN, infinity, text or a missing quantity cannot be sized",
                "send a whole number of shares above 0",
            )
        )
        return None
    if q != q.to_integral_value() or q <= 0:
        failures.append(
            Failure(
                "signal",
                f"quantity {_shown(quantity)} is not a whole number above 0",
                "zero, negative or fractional quantities are signal bugs",
                "send a whole number of shares above 0; the side says buy or sell",
            )
        )
        return None
    if q > MAX_QUANTITY:
        failures.append(
            Failure(
                "signal",
                f"quantity {_shown(quantity)} is beyond any order size",
                f"it is above {MAX_QUANTITY:,}: a quantity this large is a signal bug",
                "send the number of shares the strategy means",
            )
        )
        return None
    return int(q)


# exchange, symbol, side, order_type, product, tag
_Texts = tuple[str | None, str | None, str | None, str | None, str | None, str | None]


def _plain_texts(raw: dict[Any, Any]) -> tuple[str, str, str, str, str, str | None] | None:
    """The six text fields when each is a string that is not blank (the tag may be absent), else None."""
    get = raw.get
    exchange, symbol, side, order_type, product, tag = (
        get("exchange"),
        get("symbol"),
        get("side"),
        get("order_type"),
        get("product"),
        get("tag"),
    )
    if not (
        type(exchange) is str
        and type(symbol) is str
        and type(side) is str
        and type(order_type) is str
        and type(product) is str
        and (tag is None or type(tag) is str and tag.strip())
    ):
        return None
    exchange, symbol, side = exchange.strip().upper(), symbol.strip().upper(), side.strip().upper()
    order_type, product = order_type.strip().upper(), product.strip().upper()
    if not (exchange and symbol and side and order_type and product):
        return None
    return exchange, symbol, side, order_type, product, tag


def _unknown_side(side: str) -> Failure:
    return Failure(
        "shape", f"side {side!r} is not BUY or SELL", "Kite knows only BUY and SELL", 'use "side": "BUY" or "SELL"'
    )


def _unknown_order_type(order_type: str) -> Failure:
    return Failure(
        "shape", f"order_type {order_type!r} is unknown", f"the types are {', '.join(ORDER_TYPES)}", "use one of them"
    )


def _texts(raw: dict[Any, Any], failures: list[Failure]) -> _Texts:
    """exchange, symbol, side, order_type, product and tag of any JSON object, each failure added."""

    # A field sent as null is a missing field: the same failure, the same default.
    def text(key: str, default: str | None = None) -> str | None:
        value = raw.get(key)
        if type(value) is str:  # the common case first
            stripped = value.strip()
            if stripped:
                return stripped.upper() if key != "tag" else value
        if value is None:
            value = default
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            failures.append(
                Failure("shape", f"{key} is not text", f"it is {_shown(value)}", f'write it like "{key}": "..."')
            )
            return None
        return value.strip().upper() if key != "tag" else value

    exchange, symbol, tag = text("exchange"), text("symbol"), text("tag")
    for key, value in (("exchange", exchange), ("symbol", symbol)):
        if value is None and raw.get(key) is None:
            failures.append(
                Failure(
                    "shape",
                    f"the order has no {key}",
                    "the instrument is EXCHANGE:SYMBOL",
                    'add "exchange": "NSE" and "symbol": "INFY"',
                )
            )
    side = text("side")
    if side is None and raw.get("side") is None:
        failures.append(
            Failure(
                "shape",
                "the order has no side",
                "BUY or SELL decides where the stop and target must lie",
                'add "side": "BUY" or "SELL"',
            )
        )
    elif side is not None and side not in SIDES:
        failures.append(_unknown_side(side))
    order_type = text("order_type", "LIMIT" if raw.get("price") is not None else "MARKET")
    if order_type is not None and order_type not in ORDER_TYPES:
        failures.append(_unknown_order_type(order_type))
    product = text("product", "MIS")
    return exchange, symbol, side, order_type, product, tag


def parse(raw: Any) -> tuple[Intent | None, list[Failure]]:
    """The intent, or None with every shape failure found (not just the first)."""
    if not isinstance(raw, dict):
        return None, [
            Failure(
                "shape",
                "the order is not a JSON object",
                f"it is {_shown(raw)}",
                'send one object per order: {"exchange": "NSE", "symbol": "INFY", ...}',
            )
        ]
    failures: list[Failure] = []
    unknown = [] if _KNOWN.issuperset(raw) else [str(k) for k in raw if k not in _KNOWN]
    if unknown:
        failures.append(
            Failure(
                "shape",
                f"unknown field(s): {', '.join(sorted(unknown))[:200]}",
                "an unknown field is most often a misspelt known one, whose value would be ignored",
                f"use only: {', '.join(FIELDS)}",
            )
        )

    plain = _plain_texts(raw)
    texts: _Texts
    if plain is not None:  # every text field a non-blank string: _texts() would return the same, failing none
        texts = plain
        if plain[2] not in SIDES:
            failures.append(_unknown_side(plain[2]))
        if plain[3] not in ORDER_TYPES:
            failures.append(_unknown_order_type(plain[3]))
    else:
        texts = _texts(raw, failures)
    exchange, symbol, side, order_type, product, tag = texts

    quantity = raw.get("quantity")
    if type(quantity) is int and 0 < quantity <= MAX_QUANTITY:  # the common case, as _quantity() accepts it
        qty: int | None = quantity
    else:
        qty = _quantity(quantity, failures)

    prices: dict[str, Decimal | None] = {}
    for key in _PRICES:
        value = raw.get(key)
        if value is None:
            prices[key] = None
            continue
        d = decimal_of(value)
        if d is None or d <= 0:
            failures.append(
                Failure(
                    "signal",
                    f"{key} {_shown(value)} is not a price above ₹0",
                    "NaN, infinite, zero or negative prices come from a broken signal, never a market",
                    f"fix the signal's {key}",
                )
            )
            prices[key] = None
        else:
            prices[key] = d

    signal_time = None
    raw_time = raw.get("signal_time")
    if raw_time is not None:
        try:
            signal_time = datetime.fromisoformat(raw_time.replace("Z", "+00:00")) if isinstance(raw_time, str) else None
        except ValueError:
            signal_time = None
        if signal_time is None or signal_time.tzinfo is None:
            failures.append(
                Failure(
                    "signal",
                    f"signal_time {_shown(raw_time)} is not an instant with an offset",
                    "a time without an offset (or not a time) cannot be aged",
                    'write it like "2026-11-23T10:00:00+05:30"',
                )
            )
            signal_time = None

    if order_type in ("LIMIT", "SL") and raw.get("price") is None:
        failures.append(
            Failure(
                "shape", f"a {order_type} order has no price", "the limit price is what it trades at", 'add "price"'
            )
        )
    if order_type in ("SL", "SL-M") and raw.get("trigger_price") is None:
        failures.append(
            Failure(
                "shape",
                f"an {order_type} order has no trigger_price",
                "the trigger is what fires it",
                'add "trigger_price"',
            )
        )
    if order_type == "MARKET" and raw.get("price") is not None:
        failures.append(
            Failure(
                "shape",
                "a MARKET order has a price",
                "a market order ignores it; the signal meant LIMIT",
                'send "order_type": "LIMIT", or drop "price"',
            )
        )

    protection = raw.get("market_protection")
    if protection is not None and kite_rules.market_protection_value(protection) is None:
        failures.append(
            Failure(
                "market_protection",
                f"market_protection {_shown(protection)} is not one Kite accepts",
                "Kite takes -1 (automatic) or a percentage above 0 up to 100; 0 is refused",
                'send "market_protection": -1, or a percentage such as 2',
            )
        )
    elif protection is None and order_type in kite_rules.NEEDS_MARKET_PROTECTION:
        # https://kite.trade/forum/discussion/comment/52316 (see mci.brokers.kite_rules)
        failures.append(
            Failure(
                "market_protection",
                f"a {order_type} order has no market_protection",
                kite_rules.MARKET_PROTECTION_REQUIRED + " (Kite, since 2026-04-01)",
                'add "market_protection": -1 (automatic) or a percentage above 0 up to 100, or send a LIMIT order',
            )
        )

    if (
        failures
        or exchange is None
        or symbol is None
        or side is None
        or qty is None
        or order_type is None
        or product is None
    ):
        return None, failures
    return Intent(
        exchange,
        symbol,
        side,
        qty,
        order_type,
        product,
        prices["price"],
        prices["trigger_price"],
        prices["stop_loss"],
        prices["target"],
        signal_time,
        tag,
        kite_rules.market_protection_value(protection),
    ), []
