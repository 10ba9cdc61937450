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
# What an order's exchange, symbol and product (as sent) decide once: the instrument's key, the product,
# the exchange, tick, lot, last price, band in rupees, the position held in it, and the ':' in the three texts.
_Route = tuple[str, str, str, Decimal, int, Decimal, Decimal, Optional[Holding], int]
_CACHED = 4096  # routes remembered: a stream of made-up symbols must not grow it without end
_SIDES = {"BUY": ("BUY", 1), "SELL": ("SELL", -1)}
_TYPES = {kind: kind for kind in ORDER_TYPES}
_NEEDS_PROTECTION = kite_rules.NEEDS_MARKET_PROTECTION
_protection = kite_rules.market_protection_value


def _price(value: Any) -> Decimal | None:
    """decimal_of(value) when it is above 0 (parse()'s rule for a price), else None."""
    if type(value) is str and "_" not in value:  # decimal_of's common case, inline
        try:
            d = Decimal(value.strip())
        except (ArithmeticError, ValueError):  # not a number: validate() words the failure
            return None
        return d if d.is_finite() and d > 0 else None
    d = decimal_of(value)
    return d if d is not None and d > 0 else None


class AcceptPath:
    """`accept(raw, now, colons)` for one account under one model: the label and facts when `validate()` would
    accept the order as an entry (not an exit), else None."""

    def __init__(self, model: RiskModel, account: Account, refusal: Refusal | None):
        r = model.limits
        self.model, self.account, self.refusal = model, account, refusal
        standing = _standing(account, model)
        self._held = standing.held
        # The rules that read only the account: failing, no order is accepted here and validate() words why.
        self._open = standing.open_count + 1 <= r.max_open_positions  # for an instrument not yet held
        otr = r.max_order_to_trade_ratio
        self._otr = otr is None or standing.orders < OTR_MIN_ORDERS or not standing.ratio > otr
        self._money = standing.money
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
        self._paced = False
        self._oldest: datetime | None = None  # now - max_signal_age
        self._aged = False  # _oldest could be worked out
        self._routes: dict[tuple[Any, Any, Any], _Route | None] = {}

    def _route(self, exchange: str, symbol: str, product: str | None) -> _Route | None:
        """The route of these texts as sent, or None when no order on it can be accepted."""
        texts = (exchange, symbol, product)
        route = self._routes.get(texts, False)
        if route is not False:
            return route  # type: ignore[return-value]
        route = self._new_route(exchange, symbol, product)
        if len(self._routes) < _CACHED:
            self._routes[texts] = route
        return route

    def _new_route(self, exchange: str, symbol: str, product: str | None) -> _Route | None:
        # parse(): a text field is stripped and upper-cased, a blank one fails; no product is MIS.
        colons = exchange.count(":") + symbol.count(":") + (product or "").count(":")
        exchange, symbol = exchange.strip().upper(), symbol.strip().upper()
        product = "MIS" if product is None else product.strip().upper()
        if not exchange or not symbol or not product:
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
        try:
            band = self._band * ltp
        except ArithmeticError:
            return None
        return key, product, exchange, spec.tick_size, spec.lot_size, ltp, band, self._held.get((key, product)), colons

    def _now(self, now: datetime) -> None:
        """The rules that read only the instant: the pace of orders, and the oldest signal still fresh."""
        self._at = now
        limit = self._pace_limit
        self._paced = limit is None or self.account.orders_within(now) + 1 <= limit
        try:
            self._oldest = None if self._max_age is None else now - self._max_age
            self._aged = True
        except OverflowError:  # before year 1: validate() ages each signal itself
            self._aged = False

    def accept(self, raw: dict[Any, Any], now: datetime, colons: int) -> Accepted | None:
        try:
            return self._accept(raw, now, colons)
        except ArithmeticError:  # validate() refuses the order as out of range
            return None

    def _accept(self, raw: dict[Any, Any], now: datetime, colons: int) -> Accepted | None:  # noqa: C901
        if not self._otr or not _KNOWN.issuperset(raw):
            return None
        if now is not self._at:
            self._now(now)
        if not self._paced or not self._aged:
            return None
        get = raw.get
        # -- parse(): the text fields (_plain_texts, and _texts' defaults for a missing order_type or product)
        exchange, symbol, side, kind, product, tag = (get("exchange"), get("symbol"), get("side"), get("order_type"),
                                                      get("product"), get("tag"))
        if type(exchange) is not str or type(symbol) is not str or type(side) is not str:
            return None
        if product is not None and type(product) is not str:
            return None
        route = self._route(exchange, symbol, product)
        if route is None:
            return None
        key, product, exchange, tick, lot, ltp, band, held, texts = route
        if tag is not None:
            if type(tag) is not str or not tag.strip():
                return None
            texts += tag.count(":")
        sided = _SIDES.get(side) or _SIDES.get(side.strip().upper())
        if sided is None:
            return None
        side, direction = sided
        price_raw = get("price")
        if kind is None:
            kind = "LIMIT" if price_raw is not None else "MARKET"
        elif type(kind) is str:
            kind = _TYPES.get(kind) or _TYPES.get(kind.strip().upper())
            if kind is None:
                return None
        else:
            return None

        quantity = get("quantity")
        if type(quantity) is not int or not 0 < quantity <= MAX_QUANTITY:
            return None  # _quantity() judges floats and strings
        if held is None:
            if not self._open:
                return None
        elif held.quantity * direction < 0 and quantity <= abs(held.quantity):
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
            try:
                signal_time = datetime.fromisoformat(raw_time.replace("Z", "+00:00"))
            except ValueError:
                return None
            if signal_time.tzinfo is None:
                return None
            # now - signal_time is negative (from the future) exactly when signal_time > now, and above
            # max_signal_age exactly when signal_time < now - max_signal_age (datetime arithmetic is exact).
            if signal_time > now or (self._oldest is not None and signal_time < self._oldest):
                return None
            texts += raw_time.count(":")
        elif self._max_age is not None:
            return None

        protection = get("market_protection")
        if protection is not None:
            if type(protection) is not int or _protection(protection) is None:
                return None  # one in text could hold a ':'; validate() judges it
        elif kind in _NEEDS_PROTECTION:
            return None
        # Every field is a plain scalar of a known key: no duplicate key unless a separator is left over.
        if colons != len(raw) + texts:
            return None

        # -- check(): the order's own numbers
        if (price is not None and (price % tick != 0 or abs(price - ltp) > band)) \
                or (trigger is not None and (trigger % tick != 0 or abs(trigger - ltp) > band)) \
                or stop % tick != 0 or target % tick != 0 or quantity % lot != 0:
            return None
        entry = price if kind == "LIMIT" or kind == "SL" else trigger if kind == "SL-M" else ltp
        assert entry is not None  # LIMIT and SL have a price, SL-M a trigger (parsed above), MARKET the last price
        notional = entry * quantity
        if self._max_notional is not None and notional > self._max_notional:
            return None
        if self._max_quantity is not None and quantity > self._max_quantity:
            return None

        # -- the entry rules: (stop - entry) * direction >= 0 without the product by ±1, which changes nothing
        to_stop, to_target = stop - entry, target - entry
        if (to_stop >= 0 or to_target <= 0) if direction == 1 else (to_stop <= 0 or to_target >= 0):
            return None
        risk = abs(entry - stop) * quantity
        if risk > self._max_risk:
            return None
        reward = abs(target - entry) * quantity
        if reward < self._min_rr * risk:
            return None
        money = self._money
        if money is None:
            return None
        loss, _, drawdown, drawdown_limit = money
        if loss + risk > self._max_loss or drawdown + risk > drawdown_limit:
            return None
        if self.refusal is not None and self.refusal(exchange, product, now) is not None:
            return None

        # -- what is shown: Intent.label() and Verdict.facts_text(), without quantize (below _PLAIN)
        ratio = reward / risk  # risk is above 0: the stop is on the entry's far side (else it raised)
        if not (ZERO < ratio < _PLAIN and reward < _PLAIN and (self._risk_plain or risk < _PLAIN)
                and (self._notional_plain or notional < _PLAIN)):
            return None  # notional and risk are above 0: entry, quantity and the distance to the stop are
        at = f" @ {price}" if price is not None else f" trigger {trigger}" if trigger else ""
        return (f"{side} {quantity} {key} {kind}{at}", f"₹{notional:,.2f}", f"₹{risk:,.2f}", f"₹{reward:,.2f}",
                f"{ratio:.2f}")
