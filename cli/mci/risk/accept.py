"""The accept path of a stream of orders: is this order accepted, with which facts? Nothing else (issue 19).

`validate()` parses an order into an Intent, runs every rule collecting every Failure, and builds a Verdict.
A strategy's stream is almost all acceptable entries, for which none of that is shown: only the label and the
facts are. `AcceptPath` answers for one account under one model with the same Decimal expressions as
`parse()` and `check()`, everything that does not depend on the order worked out once (the limits, the
account's standing, per instrument its tick, lot, last price and band), and no object built per order.

It answers only what it can answer exactly: an entry with a stop and a target, every field of a plain type,
that passes every rule. Anything else (any broken rule, an exit, a missing stop or target, a number past
Decimal's digits, an odd type) is None, and the caller asks `validate()`, whose verdict — text, failures and
all — is the one shown. tests/risk/test_accept_path.py holds both to the same verdict line on generated orders.

It also rules out a duplicate key in the order's JSON text (json keeps the last of two equal keys): the caller
decodes the line without the duplicate check and passes how many ':' it has. Without a backslash in the line
every string literal is its decoded text, and every ':' is either a member's separator or inside a literal.
An object whose values are all scalars, with n keys whose keys and string values hold c colons, therefore has
exactly n + c colons in its text unless a member was dropped: a duplicate at any depth drops a top-level
member (a nested object that survived would be a value), which leaves at least one separator more. So when
the count is exactly n + c, no key appeared twice; otherwise None, and the caller decodes with the refusal.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Callable, Optional

from mci.brokers import kite_rules
from mci.risk.account import Account, Holding, decimal_of
from mci.risk.exposure import OTR_MIN_ORDERS
from mci.risk.intent import MAX_QUANTITY, ORDER_TYPES, SIDES, _KNOWN
from mci.risk.model import RiskModel
from mci.risk.validator import _PLAIN, _standing

ZERO = Decimal(0)
# Why an entry may not be placed now on (exchange, product), or None: the validator's SessionRule for one order.
Refusal = Callable[[str, str, datetime], Optional[Any]]
# The label and the four facts' texts (notional, risk, reward, risk:reward) of an accepted entry.
Accepted = tuple[str, str, str, str, str]
_CACHED = 4096  # routes remembered: a stream of made-up symbols must not grow it without end
_NEEDS_PROTECTION = kite_rules.NEEDS_MARKET_PROTECTION
_protection = kite_rules.market_protection_value


class _Route:
    """What an order's exchange, symbol, product, side and order type (as sent) decide once."""

    __slots__ = (
        "key",
        "product",
        "exchange",
        "tick",
        "lot",
        "ltp",
        "band",
        "held",
        "colons",
        "side",
        "direction",
        "kind",
        "at",
        "refused",
    )

    def __init__(
        self,
        key: str,
        product: str,
        exchange: str,
        tick: Decimal,
        lot: int,
        ltp: Decimal,
        band: Decimal,
        held: Holding | None,
        colons: int,
        side: str,
        kind: str | None,
    ):
        self.key, self.product, self.exchange = key, product, exchange  # "NSE:INFY", "MIS", "NSE"
        self.tick, self.lot, self.ltp, self.band = tick, lot, ltp, band  # the band in rupees either side of ltp
        self.held = held  # the position in (key, product), if any
        self.colons = colons  # the ':' in the exchange, symbol and product as sent
        self.side, self.direction = side, 1 if side == "BUY" else -1
        self.kind = kind  # the order type; None: LIMIT with a price, else MARKET
        self.at: datetime | None = None  # the instant `refused` is of
        self.refused: Any = None  # the session rule's refusal at `at`


def _price(value: Any) -> Decimal | None:
    """decimal_of(value) when it is above 0 (parse()'s rule for a price), else None; an infinite price raises
    where it meets the tick (InvalidOperation), which refuses it here as validate() does."""
    d: Decimal | None
    if type(value) is str and "_" not in value:  # decimal_of's common case, inline; NaN raises at the comparison
        d = Decimal(value.strip())
    else:
        d = decimal_of(value)
        if d is None:
            return None
    return d if d > ZERO else None  # a Decimal against ZERO, not 0: no int to convert per comparison


def _rupees(amount: Decimal) -> str:
    """f"₹{amount:,.2f}" (what Verdict.facts_text() shows) for 0 < amount < _PLAIN; without Decimal's formatting for
    an amount in paisa below ₹10,00,000 (every fact of an order priced in paisa, at a fraction of the cost)."""
    text = str(amount)
    size = len(text)
    # A '.' third from the end: plain notation (never E notation, which ends in E±digits) with exactly two
    # decimals, so the format rounds nothing and only groups the rupees by thousands.
    if 3 < size <= 9 and text[size - 3] == ".":
        if size <= 6:
            return "₹" + text
        return "₹" + text[: size - 6] + "," + text[size - 6 :]
    return f"₹{amount:,.2f}"


class AcceptPath:
    """`accept(raw, now, colons)` for one account under one model: the label and facts when `validate()` would
    accept the order as an entry (not an exit), else None."""

    def __init__(self, model: RiskModel, account: Account, refusal: Refusal | None):
        r = model.limits
        self.model, self.account, self.refusal = model, account, refusal
        standing = _standing(account, model)
        self._held = standing.held
        # The rules that read only the account: failing, no entry is accepted here and validate() words why.
        self._open = standing.open_count + 1 <= r.max_open_positions  # for an instrument not yet held
        otr = r.max_order_to_trade_ratio
        self._able = (
            standing.money is not None  # None: the day's money overflowed; each entry is out of range
            and (otr is None or standing.orders < OTR_MIN_ORDERS or not standing.ratio > otr)
        )
        self._loss, _, self._drawdown, self._drawdown_limit = standing.money or (ZERO, ZERO, ZERO, ZERO)
        self._symbols = standing.symbols
        self._exchanges = r.allowed_exchanges
        self._products = r.allowed_products
        self._band = r.price_band
        self._max_notional = r.max_notional_per_order
        self._max_quantity = r.max_quantity_per_order
        self._max_age = r.max_signal_age
        self._max_risk = model.max_risk_per_trade
        self._max_loss = model.max_daily_loss
        self._min_rr = r.min_risk_reward
        self._pace_limit = r.max_orders_per_second
        # facts_text() shows a fact without quantize below _PLAIN: a limit below it bounds the fact already.
        self._notional_plain = self._max_notional is not None and self._max_notional < _PLAIN
        self._risk_plain = self._max_risk < _PLAIN
        self._at: datetime | None = None  # the instant the two below are of
        self._ready = False  # _able, and at _at the pace allows one more order and _oldest could be worked out
        self._oldest: datetime | None = None  # _at - max_signal_age
        self._routes: dict[tuple[Any, Any, Any, Any, Any], _Route | None] = {}

    def _route(self, texts: tuple[Any, Any, Any, Any, Any]) -> _Route | None:
        """The route of (exchange, symbol, product, side, order_type) as sent, or None when no entry on it can be
        accepted here; remembered."""
        route = self._new_route(*texts)
        if len(self._routes) < _CACHED:
            self._routes[texts] = route
        return route

    def _new_route(self, exchange: Any, symbol: Any, product: Any, side: Any, kind: Any) -> _Route | None:
        # parse(): a text field is a string, stripped and upper-cased, a blank one fails; no product is MIS, no
        # order type is LIMIT or MARKET by the price. A str never equals a value of another type: the cache
        # cannot mix them up.
        if (
            type(exchange) is not str
            or type(symbol) is not str
            or type(side) is not str
            or (product is not None and type(product) is not str)
            or (kind is not None and type(kind) is not str)
        ):
            return None
        colons = exchange.count(":") + symbol.count(":") + (product or "").count(":")  # side and type: none
        exchange, symbol, side = exchange.strip().upper(), symbol.strip().upper(), side.strip().upper()
        product = "MIS" if product is None else product.strip().upper()
        if kind is not None:
            kind = kind.strip().upper()
            if kind not in ORDER_TYPES:
                return None
        if not exchange or not symbol or not product or side not in SIDES:
            return None
        # check(): where it may trade
        if self._exchanges is not None and exchange not in self._exchanges:
            return None
        if self._products is not None and product not in self._products:
            return None
        if self._symbols is not None and symbol not in self._symbols:
            return None
        key = f"{exchange}:{symbol}"
        specs, ltp = self.account.instruments, self.account.last_prices.get(key)
        spec = specs.get(key) if specs is not None else None
        if spec is None or ltp is None:
            return None
        held = self._held.get((key, product))
        if held is None and not self._open:
            return None  # no position may open, and an entry on this route would open one
        try:
            band = self._band * ltp
        except ArithmeticError:
            return None
        return _Route(key, product, exchange, spec.tick_size, spec.lot_size, ltp, band, held, colons, side, kind)

    def _now(self, now: datetime) -> None:
        """The rules that read only the instant: the pace of orders, and the oldest signal still fresh."""
        self._at = now
        limit = self._pace_limit
        self._ready = self._able and (limit is None or self.account.orders_within(now) + 1 <= limit)
        try:
            self._oldest = None if self._max_age is None else now - self._max_age
        except OverflowError:  # before year 1: validate() ages each signal itself
            self._ready = False

    def accept(self, raw: dict[Any, Any], now: datetime, colons: int) -> Accepted | None:  # noqa: C901
        try:
            if now is not self._at:
                self._now(now)
            if not self._ready or not _KNOWN.issuperset(raw):
                return None
            get = raw.get
            # -- parse(): the text fields (_plain_texts, and _texts' defaults for a missing order_type or product)
            texts = (get("exchange"), get("symbol"), get("product"), get("side"), get("order_type"))
            try:
                route = self._routes[texts]
            except KeyError:
                route = self._route(texts)
            # TypeError: an object or an array as a text field (unhashable) is left to validate()
            if route is None:
                return None
            count = route.colons
            tag = get("tag")
            if tag is not None:
                if type(tag) is not str or not tag.strip():
                    return None
                count += tag.count(":")
            price_raw = get("price")
            kind = route.kind or ("LIMIT" if price_raw is not None else "MARKET")

            quantity = get("quantity")
            if type(quantity) is not int or not 0 < quantity <= MAX_QUANTITY:
                return None  # _quantity() judges floats and strings
            held = route.held
            if held is not None and held.quantity * route.direction < 0 and quantity <= abs(held.quantity):
                return None  # an exit: held to fewer rules, shown with [exit]

            price = trigger = None
            if price_raw is not None:
                if kind == "MARKET":
                    return None
                price = _price(price_raw)
                if price is None:
                    return None
            elif kind == "LIMIT" or kind == "SL":
                return None
            trigger_raw = get("trigger_price")
            if trigger_raw is not None:
                trigger = _price(trigger_raw)
                if trigger is None:
                    return None
            elif kind == "SL" or kind == "SL-M":
                return None
            stop, target = _price(get("stop_loss")), _price(get("target"))
            if stop is None or target is None:
                return None  # absent or not a price: validate() words it, or accepts an entry without their facts

            raw_time = get("signal_time")
            if raw_time is not None:
                if type(raw_time) is not str:
                    return None
                signal_time = datetime.fromisoformat(raw_time.replace("Z", "+00:00"))  # ValueError: not an instant
                if signal_time.tzinfo is None:
                    return None
                # now - signal_time is negative (from the future) exactly when signal_time > now, and above
                # max_signal_age exactly when signal_time < now - max_signal_age (datetime arithmetic is exact).
                if signal_time > now or (self._oldest is not None and signal_time < self._oldest):
                    return None
                count += raw_time.count(":")
            elif self._max_age is not None:
                return None

            protection = get("market_protection")
            if protection is not None:
                if type(protection) is not int or _protection(protection) is None:
                    return None  # one in text could hold a ':'; validate() judges it
            elif kind in _NEEDS_PROTECTION:
                return None
            # Every field is a plain scalar of a known key: no duplicate key unless a separator is left over.
            if colons != len(raw) + count:
                return None

            # -- check(): the order's own numbers
            tick, ltp, band = route.tick, route.ltp, route.band
            if (
                (price is not None and (price % tick != ZERO or abs(price - ltp) > band))
                or (trigger is not None and (trigger % tick != ZERO or abs(trigger - ltp) > band))
                or stop % tick != ZERO
                or target % tick != ZERO
                or quantity % route.lot != 0
            ):
                return None
            entry = price if kind == "LIMIT" or kind == "SL" else trigger if kind == "SL-M" else ltp
            assert entry is not None  # LIMIT and SL have a price, SL-M a trigger (parsed above), MARKET the ltp
            notional = entry * quantity
            if self._max_notional is not None and notional > self._max_notional:
                return None
            if self._max_quantity is not None and quantity > self._max_quantity:
                return None

            # -- the entry rules: (stop - entry) * direction >= 0 without the product by ±1, which changes nothing
            to_stop, to_target = stop - entry, target - entry
            if (
                (to_stop >= ZERO or to_target <= ZERO)
                if route.direction == 1
                else (to_stop <= ZERO or to_target >= ZERO)
            ):
                return None
            risk = abs(to_stop) * quantity  # abs(entry - stop): rounding to 28 digits is the same either way round
            if risk > self._max_risk:
                return None
            reward = abs(to_target) * quantity
            if (
                reward < self._min_rr * risk
                or self._loss + risk > self._max_loss
                or self._drawdown + risk > self._drawdown_limit
            ):
                return None
            if self.refusal is not None:
                if route.at is not now:  # a pure function of (exchange, product, instant)
                    route.at, route.refused = now, self.refusal(route.exchange, route.product, now)
                if route.refused is not None:
                    return None

            # -- what is shown: Intent.label() and Verdict.facts_text(), without quantize (below _PLAIN)
            ratio = reward / risk  # risk is above 0: the stop is on the entry's far side (else this raised)
            if not (
                ZERO < ratio < _PLAIN
                and reward < _PLAIN
                and (self._risk_plain or risk < _PLAIN)
                and (self._notional_plain or notional < _PLAIN)
            ):
                return None  # notional and risk are above 0: entry, quantity and the distance to the stop are
            if price is not None:
                label = f"{route.side} {quantity} {route.key} {kind} @ {price}"
            else:
                label = f"{route.side} {quantity} {route.key} {kind}{f' trigger {trigger}' if trigger else ''}"
            return label, _rupees(notional), _rupees(risk), _rupees(reward), f"{ratio:.2f}"
        except (ArithmeticError, ValueError, TypeError):
            # Out of range (validate() refuses it so), not a number or an instant (it words the failure), or an
            # unhashable text field: validate() judges the order.
            return None
