"""The pre-trade validator: one order against every declared limit, every failed rule listed.

`validate(raw, model, account, now)` never raises on its input: arbitrary JSON
is a rejection with reasons. Exactly at a limit passes; one paisa over fails.

An order that only reduces a position already open (opposite side, same
product, quantity within the position) is an exit: it is held to the
instrument, price and rate rules but not to the entry rules — a stop loss,
risk:reward, the per-trade risk and the day's remaining loss must never keep
a position from being closed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Callable, Optional

from mci.units import format_duration, format_money, format_percent
from mci.risk.account import ZERO, Account, Holding
from mci.risk.exposure import OTR_MIN_ORDERS
from mci.risk.intent import Failure, Intent, parse
from mci.risk.model import RiskModel

HOW_SIZE = "reduce the quantity, or move the stop closer to the entry"
# Facts below this format as format_money (and risk_reward's quantize) would, without a quantize that could
# overflow Decimal's 28 digits: tests/risk/test_stream_fast_paths.py compares both.
_PLAIN = Decimal(10) ** 20
# Why an entry may not be placed now (closed day, after the intraday entry cut-off), or None: the session
# rule of the profile's calendar (mci.market.cutoffs.intraday_entry_refusal), bound by the caller.
SessionRule = Callable[[Intent, datetime], Optional[Any]]


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    failures: tuple[Failure, ...]
    intent: Intent | None = None
    exit: bool = False  # the order only reduces an open position
    facts: dict[str, Decimal] = field(default_factory=dict)  # notional, risk, reward (rupees), risk_reward

    def facts_text(self) -> dict[str, str]:
        # Formatted only when shown: the accept path stays free of string work.
        out = {}
        for k, v in self.facts.items():
            if ZERO < v < _PLAIN:  # the same text as below without the quantize, which only raises past 28 digits
                out[k] = f"{v:.2f}" if k == "risk_reward" else f"₹{v:,.2f}"
                continue
            try:
                out[k] = str(v.quantize(Decimal("0.01"))) if k == "risk_reward" else format_money(v)
            except ArithmeticError:  # past 28 digits (a quantity of 10^30): shown unrounded, never a crash
                out[k] = str(v)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "order": self.intent.label() if self.intent else None,
            "exit": self.exit,
            "facts": self.facts_text(),
            "failures": [f.as_dict() for f in self.failures],
        }


def validate(
    raw: Any, model: RiskModel, account: Account, now: datetime, session: SessionRule | None = None
) -> Verdict:
    intent, failures = parse(raw)
    if intent is None:
        return Verdict(False, tuple(failures))
    try:
        return check(intent, model, account, now, session)
    except ArithmeticError as exc:
        # Finite but absurd numbers (a quantity of 10^30, a price of 1e30 or 1e-999999) overflow Decimal's
        # 28 digits in the tick, band or rupee arithmetic: they cannot be judged, so they are refused.
        return Verdict(
            False,
            (
                Failure(
                    "signal",
                    f"the order's numbers are out of range: {intent.label()[:120]}",
                    f"judging them overflowed ({type(exc).__name__}); no market trades such a price or quantity",
                    "fix the signal's prices and quantity",
                ),
            ),
            intent,
        )


@dataclass(frozen=True)
class _Standing:
    """What the rules read of one account under one model: the same for every order judged against them, so a
    stream works it out once, not per order (issue 19)."""

    account: Account
    model: RiskModel
    held: dict[tuple[str, str], Holding]  # Account.position() of every (instrument, product) with a position
    open_count: int
    money: tuple[Decimal, Decimal, Decimal, Decimal] | None  # loss, peak, drawdown, drawdown limit; None: overflowed
    orders: int  # today's orders, this one included
    ratio: Decimal  # the order-to-trade ratio with this order
    symbols: frozenset[str] | None

    @classmethod
    def of(cls, account: Account, model: RiskModel) -> "_Standing":
        held: dict[tuple[str, str], Holding] = {}
        for p in account.positions:
            if p.quantity != 0:
                held.setdefault((p.instrument, p.product), p)  # the first, as Account.position() finds it
        money: tuple[Decimal, Decimal, Decimal, Decimal] | None
        try:
            money = _money(account, model)
        except ArithmeticError:
            money = None  # worked out per entry, where the overflow refuses the order as it always has
        orders = len(account.order_times) + 1
        allowed = model.limits.allowed_symbols
        return cls(
            account,
            model,
            held,
            len(account.open_positions),
            money,
            orders,
            Decimal(orders) / Decimal(max(account.trades, 1)),
            None if allowed is None else frozenset(allowed),
        )


def _money(account: Account, model: RiskModel) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """The day's loss, the equity peak, the drawdown from it and the drawdown limit in rupees."""
    # The day opens at the capital, so the peak is never below it.
    peak = max(account.peak_equity or account.capital, account.capital, account.equity)
    return max(ZERO, -account.day_pnl), peak, peak - account.equity, model.max_drawdown(peak)


_last: _Standing | None = None


def _standing(account: Account, model: RiskModel) -> _Standing:
    global _last
    last = _last  # one read: another thread may replace it meanwhile
    if last is None or last.account is not account or last.model is not model:
        # Identity, not equality: the frozen account and model are kept alive by the cache, so an identical
        # object is the same account; a refreshed account (new prices, new positions) is a new object.
        last = _last = _Standing.of(account, model)
    return last


def _is_exit(i: Intent, account: Account, standing: _Standing | None = None) -> bool:
    held = (
        account.position(i.instrument, i.product) if standing is None else standing.held.get((i.instrument, i.product))
    )
    return held is not None and held.quantity * i.direction < 0 and i.quantity <= abs(held.quantity)


def check(i: Intent, model: RiskModel, account: Account, now: datetime, session: SessionRule | None = None) -> Verdict:
    r = model.limits
    failures: list[Failure] = []
    facts: dict[str, Decimal] = {}
    add = failures.append
    key = i.instrument
    standing = _standing(account, model)
    exiting = _is_exit(i, account, standing)

    # -- where it may trade
    if r.allowed_exchanges is not None and i.exchange not in r.allowed_exchanges:
        add(
            Failure(
                "allowed_exchanges",
                f"exchange {i.exchange} is not allowed",
                f"risk.allowed_exchanges is [{', '.join(r.allowed_exchanges)}]",
                "trade an allowed exchange, or add it to the profile",
            )
        )
    if r.allowed_products is not None and i.product not in r.allowed_products:
        add(
            Failure(
                "allowed_products",
                f"product {i.product} is not allowed",
                f"risk.allowed_products is [{', '.join(r.allowed_products)}]",
                "use an allowed product, or add it to the profile",
            )
        )
    if standing.symbols is not None and i.symbol not in standing.symbols:
        add(
            Failure(
                "allowed_symbols",
                f"symbol {i.symbol} is not allowed",
                f"risk.allowed_symbols has {len(r.allowed_symbols or ())} symbol(s) and not this one",
                "trade an allowed symbol, or add it to the profile",
            )
        )
    spec = None
    if account.instruments is None:
        add(
            Failure(
                "unknown_symbol",
                f"{key} cannot be verified: no instrument list",
                "without the exchange's instrument list an unknown or misspelt symbol, its tick and lot size go unchecked",
                "read the account from the broker, or pass --instruments FILE.csv (Kite's instrument dump)",
            )
        )
    else:
        spec = account.instruments.get(key)
        if spec is None:
            add(
                Failure(
                    "unknown_symbol",
                    f"{key} is not a listed instrument",
                    f"the instrument list of {i.exchange} has no {i.symbol}",
                    "check the symbol and exchange spelling",
                )
            )

    # -- the order's own numbers
    if spec is not None:
        for name in ("price", "trigger_price", "stop_loss", "target"):
            value: Decimal | None = getattr(i, name)
            if value is not None and value % spec.tick_size != 0:
                add(
                    Failure(
                        "tick_size",
                        f"{name} {value} is not a multiple of the tick size {spec.tick_size}",
                        f"{key} trades in steps of ₹{spec.tick_size}; the exchange rejects anything between",
                        f"round {name} to ₹{spec.tick_size}",
                    )
                )
        if i.quantity % spec.lot_size != 0:
            add(
                Failure(
                    "lot_size",
                    f"quantity {i.quantity} is not a multiple of the lot size {spec.lot_size}",
                    f"{key} trades in lots of {spec.lot_size}",
                    f"order a multiple of {spec.lot_size}",
                )
            )

    ltp = account.last_prices.get(key)
    if ltp is None:
        add(
            Failure(
                "price_band",
                f"no last price for {key}",
                "the price band, a market order's entry and its notional are judged against the last price",
                "read the account from the broker, or give the last price (--ltp or last_prices in the account JSON)",
            )
        )
    else:
        band = r.price_band * ltp
        for name in ("price", "trigger_price"):
            value = getattr(i, name)
            if value is not None and abs(value - ltp) > band:
                add(
                    Failure(
                        "price_band",
                        f"{name} {format_money(value)} is {format_percent(((value - ltp) / ltp).quantize(Decimal('0.0001')))} "
                        f"from the last price {format_money(ltp)}",
                        f"risk.price_band allows ±{format_percent(r.price_band)}: {format_money(ltp - band)} to {format_money(ltp + band)}",
                        "re-price the order near the market; a far price is a fat finger or a stale signal",
                    )
                )

    entry = i.price if i.order_type in ("LIMIT", "SL") else i.trigger_price if i.order_type == "SL-M" else ltp
    if entry is not None:
        notional = entry * i.quantity
        facts["notional"] = notional
        if not exiting and r.max_notional_per_order is not None and notional > r.max_notional_per_order:
            add(
                Failure(
                    "max_notional_per_order",
                    f"notional {format_money(notional)} exceeds {format_money(r.max_notional_per_order)}",
                    f"{i.quantity} × {format_money(entry)}; risk.max_notional_per_order guards against a fat finger",
                    "reduce the quantity",
                )
            )
    if not exiting and r.max_quantity_per_order is not None and i.quantity > r.max_quantity_per_order:
        add(
            Failure(
                "max_quantity_per_order",
                f"quantity {i.quantity} exceeds {r.max_quantity_per_order}",
                "risk.max_quantity_per_order guards against a fat finger",
                "reduce the quantity",
            )
        )

    # -- the signal: age, and stop and target on the right side
    if i.signal_time is not None:
        age = now - i.signal_time
        if age.total_seconds() < 0:  # never abs(): a signal from the future is a clock or replay bug
            add(
                Failure(
                    "signal_time",
                    f"signal_time is {format_duration(-age)} in the future",
                    f"the signal says {i.signal_time.isoformat()}, now is {now.isoformat()}; a clock is wrong or a signal is replayed",
                    "fix the strategy host's clock (NTP) or the signal's timestamp",
                )
            )
        elif r.max_signal_age is not None and age > r.max_signal_age:
            add(
                Failure(
                    "signal_age",
                    f"the signal is {format_duration(age)} old",
                    f"risk.max_signal_age is {format_duration(r.max_signal_age)}; the market has moved since",
                    "drop stale signals at the source; do not resend them",
                )
            )
    elif r.max_signal_age is not None and not exiting:
        add(
            Failure(
                "signal_age",
                "the order has no signal_time",
                f"risk.max_signal_age is {format_duration(r.max_signal_age)}, so every entry must say when its signal was made",
                'add "signal_time": "2026-11-23T10:00:00+05:30"',
            )
        )

    if not exiting:
        _entry_rules(i, model, account, entry, facts, add, standing)
        refusal = session(i, now) if session is not None else None
        if refusal is not None:  # an exit is never held back: closing a position is what the cut-off is for
            add(Failure("session", refusal.what, refusal.why, refusal.how))

    # -- the pace of orders
    if r.max_orders_per_second is not None:
        recent = account.orders_within(now)
        if recent + 1 > r.max_orders_per_second:
            add(
                Failure(
                    "max_orders_per_second",
                    f"this would be order {recent + 1} within one second",
                    f"risk.max_orders_per_second is {r.max_orders_per_second}; Kite rejects bursts over its rate limit",
                    "pace the orders",
                )
            )
    if r.max_order_to_trade_ratio is not None:
        orders, ratio = standing.orders, standing.ratio
        if orders >= OTR_MIN_ORDERS and ratio > r.max_order_to_trade_ratio:
            add(
                Failure(
                    "max_order_to_trade_ratio",
                    f"the order-to-trade ratio would be {ratio.quantize(Decimal('0.01'))}",
                    f"{orders} orders for {account.trades} trades today; risk.max_order_to_trade_ratio is {r.max_order_to_trade_ratio}",
                    "stop placing orders that do not trade (cancel/replace loops)",
                )
            )
    return Verdict(not failures, tuple(failures), i, exiting, facts)


def _entry_rules(
    i: Intent,
    model: RiskModel,
    account: Account,
    entry: Decimal | None,
    facts: dict[str, Decimal],
    add: Any,
    standing: _Standing,
) -> None:
    r = model.limits
    stop, target = i.stop_loss, i.target
    if stop is None:
        if r.require_stop_loss:
            add(
                Failure(
                    "stop_loss",
                    "the entry has no stop_loss",
                    "risk.require_stop_loss is true: no entry without a stop",
                    'add "stop_loss"',
                )
            )
    elif entry is not None and (stop - entry) * i.direction >= 0:
        add(
            Failure(
                "stop_side",
                f"stop_loss {format_money(stop)} is on the wrong side of the entry {format_money(entry)}",
                f"a {i.side} stop must be {'below' if i.side == 'BUY' else 'above'} the entry",
                "fix the signal's direction or stop",
            )
        )
        stop = None
    if target is not None and entry is not None and (target - entry) * i.direction <= 0:
        add(
            Failure(
                "target_side",
                f"target {format_money(target)} is on the wrong side of the entry {format_money(entry)}",
                f"a {i.side} target must be {'above' if i.side == 'BUY' else 'below'} the entry",
                "fix the signal's direction or target",
            )
        )
        target = None

    risk = abs(entry - stop) * i.quantity if entry is not None and stop is not None else None
    if risk is not None:
        facts["risk"] = risk
        if risk > model.max_risk_per_trade:
            add(
                Failure(
                    "max_risk_per_trade",
                    f"risk {format_money(risk)} exceeds {model.describe(r.max_risk_per_trade)}",
                    f"|{entry} − {stop}| × {i.quantity} = {format_money(risk)}",
                    HOW_SIZE,
                )
            )
        if target is not None and entry is not None:  # entry is known whenever risk is
            reward = abs(target - entry) * i.quantity
            facts["reward"] = reward
            facts["risk_reward"] = reward / risk
            if reward < r.min_risk_reward * risk:  # no division: 1/3 must not round its way past the floor
                add(
                    Failure(
                        "min_risk_reward",
                        f"risk:reward is {(reward / risk).quantize(Decimal('0.01'))}, below {r.min_risk_reward}",
                        f"reward {format_money(reward)} for risk {format_money(risk)}",
                        "move the target further or the stop closer, or skip the trade",
                    )
                )
        elif i.target is None:
            add(
                Failure(
                    "min_risk_reward",
                    "the entry has no target",
                    f"risk.min_risk_reward {r.min_risk_reward} needs a target to judge",
                    'add "target"',
                )
            )

    # Without a stop (allowed only when require_stop_loss is false) the trade's risk is unknown; a day already
    # past its loss or drawdown limit still refuses it.
    at_risk = risk if risk is not None else ZERO

    def risk_text() -> str:  # words for a failure only: an accepted order never shows them
        return f"this trade's risk {format_money(at_risk)}" if risk is not None else "this unstopped trade"

    loss, peak, drawdown, drawdown_limit = standing.money or _money(account, model)
    if loss + at_risk > model.max_daily_loss:
        add(
            Failure(
                "max_daily_loss",
                f"the day's loss {format_money(loss)} plus {risk_text()} exceeds {model.describe(r.max_daily_loss)}",
                f"{format_money(max(ZERO, model.max_daily_loss - loss))} of daily loss room is left",
                "reduce the size, or stop trading for the day",
            )
        )
    if drawdown + at_risk > drawdown_limit:
        add(
            Failure(
                "max_drawdown",
                f"drawdown {format_money(drawdown)} plus {risk_text()} "
                f"exceeds {format_percent(r.max_drawdown)} of the peak {format_money(peak)}, {format_money(drawdown_limit)}",
                "the day has given back too much of its high",
                "reduce the size, or stop trading for the day",
            )
        )

    if (i.instrument, i.product) not in standing.held:
        count = standing.open_count
        if count + 1 > r.max_open_positions:
            add(
                Failure(
                    "max_open_positions",
                    f"this would be open position {count + 1}",
                    f"risk.max_open_positions is {r.max_open_positions} and {count} are open",
                    "close a position first",
                )
            )
