"""The emergency flatten: cancel every open order, square off every position, until flat or the deadline.

One round:

1. read the order book, then the positions (in that order: an order of ours
   that completes between the two reads is then seen in both, never in
   neither, so it cannot be counted as "not yet placed");
2. cancel every open order that is not one of this run's square-off orders
   (plus any of ours that would now over-close its position);
3. at the same time, square off every non-zero position that has no order to
   cancel: close the net quantity left after this run's open square-offs with
   MARKET orders of the opposite side (a marketable LIMIT for a stock option,
   whose MARKET orders Kite blocks), sliced at the instrument's freeze
   quantity, each tagged
   `square_off_tag(run_id, round, instrument, slice)`;
4. an instrument with orders to cancel is squared off only once all its
   cancels are done and the book has been read again (a cancelled order may
   have filled first, and a stop-loss left open could fill beside the
   square-off); while a foreign order on its closing side is still open it
   waits for the next round;
5. re-read, and repeat until flat or the deadline.

Exits that cannot fill (issue 13): a square-off this run sent that rests with no new fill for
`REPRICE_AFTER` seconds (a partial fill's remainder, a market order turned limit by Kite's
market protection) is cancelled and its remainder placed again at the market of the next round.
An instrument whose square-offs of this run ended `GIVE_UP_AFTER` times with nothing filled
(rejected by the RMS, cancelled by the exchange, or rested unfilled: locked at its circuit) gets
no more orders from this run: its last resting order is left in the queue, and once nothing else
can be done the run ends without waiting for the deadline. The report names every position left
open with its reasons and numbers (report.unclosed): at its lower circuit ₹X, rejected by RMS with
Kite's text, partially filled n of m. A rerun (the same run id, or a new one) tries it again.

Steps 2-4 stream through one rate limiter: the re-read for instruments whose
cancels are done happens while the other actions go on, so no phase waits for
the slowest action of another.

Idempotency: every tag is derived, never remembered, so a rerun after a crash
(same run_id) finds the orders the dead run placed, counts the open ones as
closing their position and sees the completed ones in the positions; it starts
at the round after the highest round it finds, so no tag is ever reused. After
an ambiguous failure (timeout, reset, 5xx, lost response) the tag is looked up
in the book before the order is sent again; when the book cannot be read the
order is left to the next round, which decides from a fresh read. A 429 is a
clean refusal (nothing was recorded): backed off and sent again, never counted
as a failure.

Rate limits: every order action is admitted first by the run's own cap (`rate`,
the profile's risk.max_orders_per_second, in this process), then, when the
broker has one (`broker.limiter`: KiteBroker), by the account's limiter that
every step and every process on the host shares (mci.brokers.ratelimit): a
watcher's emergency and an operator's `mci kill` together stay under Kite's
10/s. The flatten's slot covers the broker's request; KiteBroker's own retries
are admitted anew by the same limiter, within the flatten's deadline. A day
whose placement budget is used ends the placements at once (reported).

Threads: cancels and placements run in a pool sized to the limiters' burst;
the limiters (shared by both) keep them under the broker's rate. `on_event(kind,
data)` is called from those worker threads, one call at a time (a lock
serialises them), before and after every order action; the data is JSON-able.
An exception from `on_event` is recorded in report.errors and the flatten goes
on: in an emergency, closing the account matters more than the log line.

Known limit: a request the client gave up on (timeout) may still be in flight
at the server when the tag is looked up. The flatten waits `settle` seconds
before the next read when an outcome stayed unknown, and an order that lands
later is found by the next round's read (its tag is ours), but an order landing
after that read could still double a close; the next round would then see the
position flipped and close it again (flat, but with an extra order).
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import AbstractSet, Any, Callable, Iterable, Iterator

from mci.brokers import kite_rules
from mci.brokers.base import Order, OrderRequest, Position
from mci.brokers.ratelimit import ORDER, DayBudgetExhausted, Limits, RateLimiter
from mci.clock import Clock
from mci.errors import ExitCode, MciError, UnavailableError
from mci.flatten.report import FlattenReport
from mci.flatten.scope import Selection
from mci.flatten.tags import MAX_ROUND, MAX_SLICES, Key, parse_own_tag, square_off_tag

EventSink = Callable[[str, dict[str, Any]], None]

POLL = 0.2  # seconds between re-reads while waiting (own orders to fill, a failing broker): doubles up to MAX_BACKOFF
MAX_BACKOFF = 2.0
THROTTLE_BACKOFF = 0.5  # a 429 asks for a short pause (the window is about a second), not an ever longer one
RETRY_INITIAL = 0.1
LOOKUP_ATTEMPTS = 3  # reads of the book to find one tag before its order is left to the next round
PLACE_ATTEMPTS = 3  # ambiguous failures of one order within a round; then the next round decides from a re-read
CANCEL_ATTEMPTS = 3
READ_SPACING = 0.2  # seconds between the re-reads made within a round for instruments whose cancels are done
SETTLE = 0.25  # seconds to wait before re-reading after an order's outcome stayed unknown
LAG_GRACE = 2.0  # seconds to distrust a position that has not moved although our square-off filled
MAX_WORKERS = 16
REPRICE_AFTER = 1.0  # seconds a square-off of ours may rest without a new fill before it is cancelled and re-placed
GIVE_UP_AFTER = 3  # square-offs of one instrument ending with nothing filled before this run stops sending more

_LOOKUP_FAILED = object()
# An order of ours in any other status (OPEN, OPEN PENDING, MODIFY VALIDATION PENDING, a status we do not know)
# may still fill: it is counted as closing its position, so that it never gets a second order beside it.
FINAL_STATUSES = frozenset({"COMPLETE", "CANCELLED", "REJECTED"})


def _key(x: Order | Position) -> Key:
    return Key(x.exchange, x.symbol, x.product)


def _sign(n: int) -> int:
    return (n > 0) - (n < 0)


def _signed_pending(o: Order) -> int:
    pending = max(o.quantity - o.filled_quantity, 0)
    return pending if o.side == "BUY" else -pending


def _as_mci(exc: BaseException, action: str) -> MciError:
    if isinstance(exc, MciError):
        return exc
    # Not a broker error: a bug or an unexpected library error. Its outcome is unknown, like a timeout.
    return UnavailableError(
        f"{action} failed unexpectedly",
        f"{type(exc).__name__}: {exc}",
        "report this with the message; the flatten looked the order up before sending it again",
    )


def _throttled(err: MciError) -> bool:
    return err.details.get("http_status") == 429


def _transient(err: MciError) -> bool:
    return err.code == ExitCode.UNAVAILABLE


def _rupees(amount: Any) -> str:
    """A price as an operator reads it: 1230.60, not 1230.6 (kiteconnect parses quotes as floats)."""
    from decimal import Decimal

    d = Decimal(str(amount))
    return f"{d:.2f}" if d == d.quantize(Decimal("0.01")) else str(d)


def _seconds(deadline: timedelta | float) -> float:
    return deadline.total_seconds() if isinstance(deadline, timedelta) else float(deadline)


@dataclass
class _Book:
    orders: list[Order]
    positions: list[Position]


@dataclass
class _Expect:
    """What a round left behind for a key: to catch positions that lag behind fills."""

    quantity: int  # the position when the square-off was planned
    tags: frozenset[str]
    since: float


class _Flatten:
    def __init__(
        self,
        broker: Any,
        *,
        run_id: str,
        rate: float,
        end: float,
        monotonic: Callable[[], float],
        sleep: Callable[[float], None],
        on_event: EventSink | None,
        products: Iterable[str] | None,
        workers: int | None,
        freeze_quantity: int | None,
        settle: float,
        scope: str,
        keep: Iterable[str] = (),
        select: Selection | None = None,
    ):
        if not run_id:
            raise ValueError("a flatten needs a run_id: the same one on a rerun, so it finds its own orders")
        if freeze_quantity is not None and freeze_quantity < 1:
            raise ValueError("freeze_quantity must be a positive number of shares")
        self.broker = broker
        self.run_id = run_id
        self.end = end
        self.monotonic = monotonic
        self._sleep = sleep
        self.on_event = on_event
        self.products = None if products is None else frozenset(products)
        self.freeze_quantity = freeze_quantity
        self.settle = settle
        self.scope = scope
        self.keep = frozenset(keep)  # order ids left alone (the protective stops of kept positions)
        self.select = select  # a scoped emergency (mci.flatten.scope): only its orders and its part of positions
        self.pace = RateLimiter(Limits.per_second(rate), monotonic=monotonic, name="this run")
        self.account: RateLimiter | None = getattr(broker, "limiter", None)
        burst = min(self.pace.burst(), self.account.burst() if self.account else MAX_WORKERS)
        self.workers = workers or max(2, min(MAX_WORKERS, burst))
        self._event_lock = threading.Lock()
        self._lock = threading.Lock()
        self._errors: dict[str, None] = {}
        self.cancelled: list[str] = []
        self.placed: list[str] = []
        self.throttled = 0
        self.unknown = False  # an action this round ended with an unknown outcome
        self.progress = False  # an action this round succeeded
        self._expect: dict[Key, _Expect] = {}
        # Per instrument: the most units one square-off may carry (the broker's instrument data: NSE's freeze
        # quantity in whole lots), and its lot size; lowered when the broker refuses a slice as over the freeze.
        self._caps: dict[Key, int] = {}
        self._lots: dict[Key, int] = {}
        self._ticks: dict[Key, Decimal] = {}
        self._refused: dict[Key, int] = {}  # the smallest slice refused as over the freeze quantity
        self._spec_lists: dict[str, dict[str, Any]] = {}  # the broker's instrument list per exchange, read once
        self._start: dict[Key, int] = {}  # the positions at the first read: "partially filled n of m"
        self._mine: dict[Key, set[str]] = defaultdict(set)  # square-offs this run sent (placed or rejected)
        self._resting: dict[str, tuple[int, float]] = {}  # own open order -> (filled, since when unchanged)

    # ------------------------------------------------------------ plumbing

    def time_left(self) -> float:
        return self.end - self.monotonic()

    def sleep(self, seconds: float) -> None:
        seconds = min(seconds, self.time_left())
        if seconds > 0:
            self._sleep(seconds)

    @contextmanager
    def slot(self, *, placement: bool) -> Iterator[bool]:
        """One order action: admitted by the run's cap, then by the account's shared limiter (False: the deadline).

        Both end when the broker's request for the action ends, not after its follow-up reads (the order's
        status, a tag look-up): those are other requests, and holding the slot through them slows the run."""
        token = self.pace.acquire(ORDER, self.end)
        if token is None:
            yield False
            return
        end = functools.partial(self.pace.release, token, ORDER)
        try:
            if self.account is None:
                yield True
                return
            deadline = self.account.now() + self.time_left()  # the account limiter's clock is the host's
            with self.account.slot(ORDER, deadline, placement=placement, cover=True, on_end=end) as ok:
                yield ok
        finally:
            end()

    def bounded(self, fn: Callable[..., Any], *args: Any) -> Any:
        """fn(*args) with every broker request it makes (reads, look-ups, retries) given up at the deadline."""
        if self.account is None:
            return fn(*args)
        with self.account.until(self.account.now() + self.time_left()):
            return fn(*args)

    def error(self, what: str) -> None:
        with self._lock:
            self._errors.setdefault(what, None)

    def emit(self, kind: str, data: dict[str, Any]) -> None:
        if kind.endswith(".after"):  # every order action, in the JSON log too (mci.observability.logs scrubs it)
            from mci.observability.logs import event

            event(
                "INFO",
                f"{kind[:-6]}: {data.get('result', '')}",
                run_id=self.run_id,
                **{
                    k: v
                    for k, v in data.items()
                    if k
                    in (
                        "order_id",
                        "tag",
                        "symbol",
                        "tradingsymbol",
                        "quantity",
                        "side",
                        "transaction_type",
                        "attempt",
                        "result",
                        "error",
                    )
                },
            )
        if self.on_event is None:
            return
        payload = {"run_id": self.run_id, **data}
        with self._event_lock:
            try:
                self.on_event(kind, payload)
            except Exception as exc:  # the audit sink failed: record it, keep closing the account
                self.error(f"the event sink failed on {kind}: {type(exc).__name__}: {exc}")

    def in_scope(self, product: str) -> bool:
        return self.products is None or product in self.products

    def own(self, o: Order) -> bool:
        return parse_own_tag(o.tag, self.run_id, _key(o)) is not None

    def open_orders(self, book: _Book) -> list[Order]:
        return [
            o
            for o in book.orders
            if o.is_open
            and self.in_scope(o.product)
            and o.order_id not in self.keep
            and (self.select is None or self.select.order_in(o) or self.own(o))
        ]

    def live_positions(self, book: _Book) -> list[Position]:
        live = [p for p in book.positions if p.quantity != 0 and self.in_scope(p.product)]
        return live if self.select is None else self.select.positions(live, book.orders)

    def is_flat(self, book: _Book) -> bool:
        return not self.open_orders(book) and (self.scope == "cancel" or not self.live_positions(book))

    # ------------------------------------------------------------ reads

    def read(self, *, first: bool = False) -> _Book | None:
        """Orders, then positions; retried while the broker is unavailable and time is left."""
        delay = RETRY_INITIAL
        what = "reading the order book" if self.scope == "cancel" else "reading the order book and positions"
        while True:
            try:
                orders = list(self.broker.orders())
                positions = [] if self.scope == "cancel" else list(self.broker.positions())
                return _Book(orders, positions)
            except Exception as exc:
                err = _as_mci(exc, what)
                if not _throttled(err):  # a 429 is a pause, not a failure
                    self.error(err.what)
                if not _transient(err) or self.time_left() <= delay:
                    break
            self.sleep(delay)
            delay = min(delay * 2, THROTTLE_BACKOFF if _throttled(err) else MAX_BACKOFF)
        if first:
            raise UnavailableError(
                f"emergency {'cancel' if self.scope == 'cancel' else 'flatten'}: the {self.broker.name} account "
                "could not be read, nothing was done",
                f"{err.what}: {err.why}",
                err.how + "; then run it again with the same run id",
                cause=err.as_dict(),
            )
        return None

    def first_round(self, book: _Book) -> int:
        """One past the highest round of this run found in the book: a rerun never reuses a tag."""
        rounds = [t.round_no for o in book.orders if (t := parse_own_tag(o.tag, self.run_id, _key(o)))]
        return max(rounds) + 1 if rounds else 1

    # ------------------------------------------------------------ planning

    def plan_cancels(self, book: _Book) -> list[Order]:
        opened = self.open_orders(book)
        if self.scope == "cancel":
            return opened
        cancels = [o for o in opened if not self.own(o)]
        positions: dict[Key, int] = defaultdict(int)
        for p in book.positions:
            positions[_key(p)] += p.quantity
        ours: dict[Key, list[Order]] = defaultdict(list)
        for o in opened:
            if self.own(o):
                ours[_key(o)].append(o)
        now = self.monotonic()
        for key, orders in ours.items():
            q = positions.get(key, 0)
            projected = q + sum(_signed_pending(o) for o in orders)
            if q == 0 or _sign(projected) == -_sign(q):
                cancels.extend(orders)  # they would open a position the other way: take them back
            elif not self.hopeless(key, book):
                # re-priced at the next round's market; a dead run's resting orders are kept (they count as closing)
                cancels.extend(o for o in orders if o.order_id in self._mine.get(key, ()) and self.stale(o, now))
        return cancels

    def stale(self, o: Order, now: float) -> bool:
        """A square-off of ours OPEN at the exchange (not still on its way there) for REPRICE_AFTER seconds, as
        this run read it, without a new fill: a market with a counter-side fills a market order at once."""
        if o.status != "OPEN":
            return False
        filled, since = self._resting.get(o.order_id, (-1, now))
        if filled != o.filled_quantity:
            self._resting[o.order_id] = (o.filled_quantity, now)
            return False
        return now - since >= REPRICE_AFTER

    def unproductive(self, key: Key, book: _Book) -> list[Order]:
        """This run's square-offs of `key` with nothing filled that ended (rejected, cancelled, re-priced) or rest
        stale: at the GIVE_UP_AFTER-th the run stops, and that last one, if resting, stays in the queue."""
        mine, now = self._mine.get(key, set()), self.monotonic()
        return [
            o
            for o in book.orders
            if o.order_id in mine
            and not o.filled_quantity
            and (o.status in FINAL_STATUSES or (o.is_open and self.stale(o, now)))
        ]

    def hopeless(self, key: Key, book: _Book) -> bool:
        return len(self.unproductive(key, book)) >= GIVE_UP_AFTER

    def stuck(self, book: _Book) -> bool:
        """Nothing left this run can do: every open position is hopeless, every open order is our resting exit."""
        keys = {_key(p) for p in self.live_positions(book)}
        return (
            self.scope == "flatten"
            and bool(keys)
            and all(self.hopeless(k, book) for k in keys)
            and all(self.own(o) and _key(o) in keys for o in self.open_orders(book))
        )

    def plan_places(
        self, book: _Book, round_no: int, *, only: set[Key] | None = None, skip: AbstractSet[Key] = frozenset()
    ) -> list[OrderRequest]:
        self.read_specs(book)
        positions: dict[Key, int] = defaultdict(int)
        for p in self.live_positions(book):
            key = _key(p)
            if key not in skip and (only is None or key in only):
                positions[key] += p.quantity
        ours: dict[Key, int] = defaultdict(int)
        foreign_closing: set[Key] = set()
        for o in book.orders:
            key = _key(o)
            if not self.in_scope(o.product):
                continue
            if self.own(o):
                if o.status not in FINAL_STATUSES:
                    ours[key] += _signed_pending(o)
            elif (
                o.is_open
                and positions.get(key)
                and _sign(_signed_pending(o)) == -_sign(positions[key])
                and (self.select is None or self.select.order_in(o))
            ):  # one outside the scope is not cancelled
                foreign_closing.add(key)
        by_tag: dict[str, list[Order]] = defaultdict(list)
        for o in book.orders:
            if o.tag:
                by_tag[o.tag.lower()].append(o)
        requests: list[OrderRequest] = []
        limits = self.limit_prices([k for k, q in positions.items() if q], round_no)
        now = self.monotonic()
        for key, q in sorted(positions.items()):
            if q == 0:
                continue
            if self.hopeless(key, book):
                continue  # it cannot fill now (report.unclosed says why); a rerun tries it again
            if key in foreign_closing:
                self.emit(
                    "flatten.wait",
                    {"round": round_no, "instrument": str(key), "reason": "an order on the closing side is still open"},
                )
                continue
            projected = q + ours.get(key, 0)
            if projected == 0 or _sign(projected) != _sign(q):
                continue  # our open square-offs already close it (or are being taken back)
            if self.lagging(key, q, book, now):
                self.emit(
                    "flatten.wait",
                    {
                        "round": round_no,
                        "instrument": str(key),
                        "reason": "our square-off filled but the position has not moved yet",
                    },
                )
                continue
            if key not in limits and kite_rules.is_stock_option(key.exchange, key.symbol):
                continue  # no price to place its LIMIT at this round (recorded in limit_prices)
            side = "SELL" if q > 0 else "BUY"
            tags = []
            for slice_no, qty in enumerate(self.slices(abs(projected), key)):
                tag = square_off_tag(self.run_id, round_no, key, slice_no)
                if by_tag.get(tag):
                    continue  # already in the book under this very tag: never a second order with it
                tags.append(tag)
                if key in limits:  # a stock option: Kite blocks MARKET orders, a marketable LIMIT closes it
                    price = limits[key][0 if side == "SELL" else 1]
                    requests.append(
                        OrderRequest(key.exchange, key.symbol, side, qty, "LIMIT", key.product, price=price, tag=tag)
                    )
                else:
                    requests.append(OrderRequest(key.exchange, key.symbol, side, qty, "MARKET", key.product, tag=tag))
            if tags:
                self._expect[key] = _Expect(q, frozenset(tags), now)
        return requests

    def read_specs(self, book: _Book) -> None:
        """Learn the lot and freeze quantity of the derivative positions that may need slicing, from the broker's
        instrument data: those above NSE's raw limit (kite_rules), of an underlying it has no limit for, or refused
        once as over the freeze quantity. Each exchange's list is read at most once a run (Kite's NFO dump is large:
        a kill that needs no slicing never waits for it); cash equity needs none (Kite's 1,00,000 per order). A
        broker without the data, or one that cannot be read now, leaves the default."""
        need: dict[Key, str] = {}
        for p in self.live_positions(book):
            key = _key(p)
            if p.exchange in ("NSE", "BSE") or key in self._lots:
                continue
            limit = kite_rules.freeze_limit(p.exchange, p.symbol)
            if key in self._refused or limit is None or abs(p.quantity) > limit:
                need[key] = p.exchange
        if not need or not hasattr(self.broker, "instruments"):
            return
        missing = sorted(set(need.values()) - set(self._spec_lists))
        if missing:
            try:
                specs = self.broker.instruments(missing)
            except Exception as exc:
                self.error(f"the instrument list of {', '.join(missing)} could not be read (freeze quantities): {exc}")
                specs = {}
            for exchange in missing:
                self._spec_lists[exchange] = specs
        for key, exchange in need.items():
            spec = self._spec_lists[exchange].get(f"{key.exchange}:{key.symbol}")
            if spec is None:
                continue
            self._lots[key] = max(int(spec.lot_size), 1)
            self._ticks[key] = spec.tick_size
            if spec.freeze_quantity:
                self._caps[key] = int(spec.freeze_quantity)

    def limit_prices(self, keys: list[Key], round_no: int) -> dict[Key, tuple[Decimal, Decimal]]:
        """(sell, buy) marketable LIMIT prices for the stock options among `keys` (Kite blocks their MARKET orders:
        kite_rules.STOCK_OPTION_MARKET_BLOCKED): the LTP moved STOCK_OPTION_LIMIT_AWAY against the closer, on the
        tick. One quote read per round; a key without a price is left for the next round (an error is recorded)."""
        wanted = [k for k in keys if kite_rules.is_stock_option(k.exchange, k.symbol)]
        if not wanted:
            return {}
        try:
            last = self.broker.ltp(sorted({f"{k.exchange}:{k.symbol}" for k in wanted}))
        except Exception as exc:
            self.error(f"the last prices of {len(wanted)} stock option(s) could not be read: {exc}")
            last = {}
        away = kite_rules.STOCK_OPTION_LIMIT_AWAY
        out: dict[Key, tuple[Decimal, Decimal]] = {}
        for key in wanted:
            ltp = last.get(f"{key.exchange}:{key.symbol}")
            if not ltp:
                self.error(f"no last price for {key.exchange}:{key.symbol}: its LIMIT square-off waits a round")
                continue
            tick = self._ticks.get(key, Decimal("0.05"))
            sell = max((ltp * (1 - away) / tick).to_integral_value(rounding=ROUND_FLOOR) * tick, tick)
            buy = (ltp * (1 + away) / tick).to_integral_value(rounding=ROUND_CEILING) * tick
            out[key] = (sell, buy)
        return out

    def lower_cap(self, key: Key, refused: int) -> None:
        """The broker refused `refused` units as over the freeze quantity: next time, half of it in whole lots
        (the lot is read with the instrument list at the next plan, read_specs)."""
        with self._lock:
            self._refused[key] = min(self._refused.get(key, refused), refused)

    def cap(self, key: Key | None, quantity: int) -> int:
        """The most units one square-off of `key` (closing `quantity`) may carry."""
        caps = [c for c in (self._caps.get(key) if key else None, self.freeze_quantity) if c]
        refused = self._refused.get(key) if key else None
        if refused is not None and key is not None:
            # Without the instrument list (it could not be read), the gcd of two whole-lot quantities is a whole
            # number of lots too; when it says nothing (the same quantity), halve by units and let Kite answer.
            lot = self._lots.get(key) or math.gcd(quantity, refused)
            lot = lot if lot < refused else 1
            caps.append(max(lot, (refused // 2) // lot * lot))
        return min(caps) if caps else kite_rules.MAX_EQUITY_QUANTITY

    def slices(self, quantity: int, key: Key | None = None) -> list[int]:
        # The instrument's freeze quantity (F&O), else the caller's, else Kite's own ceiling: 1,00,000 shares
        # per equity order (kite_rules); a larger close is sliced.
        cap = self.cap(key, quantity)
        if quantity <= cap:
            return [quantity]
        full, rest = divmod(quantity, cap)
        out = [cap] * full + ([rest] if rest else [])
        # Kite: at most 10 slices (kite_rules.MAX_SLICES; the tag has room for 36); the rest is closed next round.
        return out[: min(MAX_SLICES, kite_rules.MAX_SLICES)]

    def lagging(self, key: Key, q: int, book: _Book, now: float) -> bool:
        """Our last square-off for `key` shows fills but the position has not moved: the positions lag."""
        expect = self._expect.get(key)
        if expect is None or q != expect.quantity or now - expect.since > LAG_GRACE:
            return False
        return any(o.filled_quantity > 0 for o in book.orders if o.tag and o.tag.lower() in expect.tags)

    # ------------------------------------------------------------ actions (worker threads)

    def cancel(self, order: Order, round_no: int) -> None:
        base = {
            "round": round_no,
            "order_id": order.order_id,
            "exchange": order.exchange,
            "symbol": order.symbol,
            "product": order.product,
            "side": order.side,
            "quantity": order.quantity,
            "order_type": order.order_type,
            "status": order.status,
            "tag": order.tag,
            "own": self.own(order),
        }
        failures, attempt, backoff = 0, 0, RETRY_INITIAL
        while True:
            with self.slot(placement=False) as ok:
                if not ok:
                    self.error(f"the deadline passed before order {order.order_id} could be cancelled")
                    return
                attempt += 1
                self.emit("order.cancel.before", {**base, "attempt": attempt})
                err: MciError | None = None
                try:
                    self.cancel_call(order)
                except Exception as exc:
                    err = _as_mci(exc, f"cancelling order {order.order_id}")
            if err is None:
                self.emit("order.cancel.after", {**base, "attempt": attempt, "result": "cancelled"})
                with self._lock:
                    self.cancelled.append(order.order_id)
                    self.progress = True
                return
            if _throttled(err):
                self.emit("order.cancel.after", {**base, "attempt": attempt, "result": "throttled", "error": err.what})
                with self._lock:
                    self.throttled += 1
            elif not _transient(err):
                # OrderException: it is no longer open (filled or cancelled meanwhile); the re-read confirms.
                gone = err.details.get("error_type") == "OrderException"
                self.emit(
                    "order.cancel.after",
                    {**base, "attempt": attempt, "result": "not_open" if gone else "failed", "error": err.what},
                )
                if not gone:
                    self.error(err.what)
                return
            else:
                failures += 1
                self.emit("order.cancel.after", {**base, "attempt": attempt, "result": "failed", "error": err.what})
                self.error(err.what)
                if failures >= CANCEL_ATTEMPTS:
                    return  # the next round re-reads and tries again
            if self.time_left() <= 0:
                return
            self.sleep(backoff)
            backoff = min(backoff * 2, THROTTLE_BACKOFF if _throttled(err) else MAX_BACKOFF)

    def cancel_call(self, order: Order) -> None:
        """Cancel on the order's own variety; a cover order's stop-loss leg is exited with its parent (Kite's rule,
        mci.brokers.kite_rules.CO_EXIT_NEEDS_PARENT): the exit squares its position off at market."""
        extra: dict[str, Any] = {}
        if order.variety != "regular":
            extra["variety"] = order.variety
        if order.parent_order_id:
            extra["parent_order_id"] = order.parent_order_id
        self.broker.cancel_order(order.order_id, **extra)

    def place(self, request: OrderRequest, round_no: int) -> None:
        tag = request.tag or ""
        base = {
            "round": round_no,
            "tag": tag,
            "exchange": request.exchange,
            "symbol": request.symbol,
            "product": request.product,
            "side": request.side,
            "quantity": request.quantity,
            "order_type": request.order_type,
        }
        what = f"square-off {request.side} {request.quantity} {request.exchange}:{request.symbol} {request.product}"
        ambiguous, attempt, backoff = 0, 0, RETRY_INITIAL
        while True:
            try:
                with self.slot(placement=True) as ok:
                    if not ok:
                        self.error(f"the deadline passed before {what} (tag {tag}) could be sent")
                        return
                    attempt += 1
                    self.emit("order.place.before", {**base, "attempt": attempt})
                    err: MciError | None = None
                    try:
                        order_id = self.broker.place_order(request)
                    except Exception as exc:
                        err = _as_mci(exc, f"placing {what} (tag {tag})")
            except DayBudgetExhausted as exc:  # no placement can succeed today: stop, and say so
                self.error(exc.what)
                return
            key = Key(request.exchange, request.symbol, request.product)
            if err is None:
                self.emit("order.place.after", {**base, "attempt": attempt, "result": "placed", "order_id": order_id})
                self._placed(order_id, key)
                return
            if err.details.get("rate_limit") == "day":  # the broker's own retry found the day's budget used
                self.emit("order.place.after", {**base, "attempt": attempt, "result": "failed", "error": err.what})
                self.error(err.what)
                return
            if _throttled(err):  # refused before anything was recorded: send again after a pause
                self.emit("order.place.after", {**base, "attempt": attempt, "result": "throttled", "error": err.what})
                with self._lock:
                    self.throttled += 1
                if self.time_left() <= 0:
                    return
                self.sleep(backoff)
                backoff = min(backoff * 2, THROTTLE_BACKOFF)
                continue
            if not _transient(err):  # refused or rejected: a new tag in the next round
                result = "rejected" if err.details.get("order_id") else "failed"
                if kite_rules.is_freeze_rejection(f"{err.what} {err.why}"):
                    # Over the freeze quantity (the data was stale, or the exchange lowered it): slice finer.
                    self.lower_cap(key, request.quantity)
                if err.details.get("order_id"):
                    with self._lock:
                        self._mine[key].add(str(err.details["order_id"]))
                # The broker's reason (Kite's status_message for an RMS rejection) goes into the report as given.
                self.emit(
                    "order.place.after",
                    {
                        **base,
                        "attempt": attempt,
                        "result": result,
                        "error": err.what,
                        "reason": err.why,
                        "order_id": err.details.get("order_id"),
                    },
                )
                self.error(f"{what} (tag {tag}) was {result}: {err.why}")
                return
            # Ambiguous: the order may exist. Look the tag up before anything is sent again.
            ambiguous += 1
            self.emit("order.place.after", {**base, "attempt": attempt, "result": "unknown", "error": err.what})
            self.error(err.what)
            self.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
            found = self.lookup(tag, base)
            if found is _LOOKUP_FAILED:
                with self._lock:
                    self.unknown = True
                return  # the next round's read decides
            if found is not None:
                assert isinstance(found, Order)
                if found.status == "REJECTED":
                    self.error(f"{what} (tag {tag}) was rejected: order {found.order_id}")
                    with self._lock:
                        self._mine[key].add(found.order_id)
                else:
                    self._placed(found.order_id, key)
                return
            if ambiguous >= PLACE_ATTEMPTS or self.time_left() <= 0:
                with self._lock:
                    self.unknown = True
                return

    def lookup(self, tag: str, base: dict[str, Any]) -> Order | None | object:
        """The order carrying `tag`, None when the book has none, _LOOKUP_FAILED when the book stays unreadable."""
        delay = RETRY_INITIAL
        for attempt in range(1, LOOKUP_ATTEMPTS + 1):
            try:
                book = [o for o in self.broker.orders() if (o.tag or "").lower() == tag]
                break
            except Exception as exc:
                err = _as_mci(exc, f"looking up tag {tag}")
                if not _throttled(err):
                    self.error(err.what)
                self.emit("order.place.lookup", {**base, "result": "failed", "error": err.what, "attempt": attempt})
                if not _transient(err) or attempt == LOOKUP_ATTEMPTS or self.time_left() <= 0:
                    return _LOOKUP_FAILED
                self.sleep(delay)
                delay = min(delay * 2, THROTTLE_BACKOFF)
        if len(book) > 1:
            self.error(f"{len(book)} orders carry the square-off tag {tag}: {', '.join(o.order_id for o in book)}")
        live = [o for o in book if o.status != "REJECTED" and o.status != "CANCELLED"]
        found: Order | None = (live or book or [None])[0]
        self.emit(
            "order.place.lookup",
            {
                **base,
                "result": "found" if found else "absent",
                "order_id": found.order_id if found else None,
                "status": found.status if found else None,
            },
        )
        return found

    def _placed(self, order_id: str, key: Key) -> None:
        with self._lock:
            self.placed.append(order_id)
            self._mine[key].add(order_id)
            self.progress = True

    # ------------------------------------------------------------ the loop

    def one_round(self, pool: ThreadPoolExecutor, book: _Book, round_no: int) -> tuple[bool, _Book | None]:
        """Cancel and square off what `book` shows; (whether anything was sent, the latest book or None).

        An instrument with an order to cancel is squared off only after all its cancels are done and
        the book has been read again (a cancelled order may have filled first); the others at once.
        Everything streams through the same rate limiters: a read for the instruments whose cancels are done is
        made while the other actions go on, so no phase waits for the slowest action of another.
        """
        cancels = self.plan_cancels(book)
        waiting: dict[Key, int] = defaultdict(int)  # cancels still running, per instrument
        for o in cancels:
            waiting[_key(o)] += 1
        early = self.plan_places(book, round_no, skip=set(waiting)) if self.scope == "flatten" else []
        futures: dict[Future[None], Key | None] = {}
        for o in cancels:
            futures[pool.submit(self.bounded, self.cancel, o, round_no)] = _key(o)
        for q in early:
            futures[pool.submit(self.bounded, self.place, q, round_no)] = None
        acted = bool(futures)
        ready: set[Key] = set()
        last_read = -math.inf
        current: _Book | None = book
        try:
            while futures:
                done, _ = wait(futures, timeout=READ_SPACING, return_when=FIRST_COMPLETED)
                for f in done:
                    key = futures.pop(f)
                    exc = f.exception()
                    if exc is not None and not isinstance(exc, Exception):
                        raise exc  # interrupted (KeyboardInterrupt, SystemExit, a crash): send nothing more
                    if exc is not None:  # a bug in a task must not stop the other closes
                        self.error(f"a flatten task failed: {type(exc).__name__}: {exc}")
                    if key is not None:
                        waiting[key] -= 1
                        if waiting[key] == 0:
                            ready.add(key)
                spaced = self.monotonic() - last_read >= READ_SPACING or not futures
                if ready and spaced and current is not None and self.scope == "flatten" and self.time_left() > 0:
                    last_read = self.monotonic()
                    current = self.read()
                    if current is not None:
                        late = self.plan_places(current, round_no, only=ready)
                        for q in late:
                            futures[pool.submit(self.bounded, self.place, q, round_no)] = None
                        acted = acted or bool(late)
                        ready = set()
        except BaseException:
            for f in futures:
                f.cancel()
            raise
        return acted, current

    def run(self) -> FlattenReport:
        report: FlattenReport = self.bounded(self._run)
        return report

    def _run(self) -> FlattenReport:
        start = self.monotonic()
        book = self.read(first=True)
        assert book is not None
        round_no = self.first_round(book) if self.scope == "flatten" else 1
        for p in self.live_positions(book):
            self._start[_key(p)] = self._start.get(_key(p), 0) + p.quantity
        rounds, idle, final_read = 0, POLL, True
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="flatten")
        try:
            while not self.is_flat(book) and self.time_left() > 0:
                if round_no > MAX_ROUND:
                    self.error(f"the flatten ran out of tag rounds ({MAX_ROUND})")
                    break
                if self.stuck(book):
                    break  # every exit left cannot fill now: say so at once rather than at the deadline
                rounds += 1
                self.progress = self.unknown = False
                self.emit(
                    "flatten.round",
                    {
                        "round": round_no,
                        "scope": self.scope,
                        "open_orders": len(self.open_orders(book)),
                        "positions": len(self.live_positions(book)),
                    },
                )
                acted, fresh = self.one_round(pool, book, round_no)
                if fresh is None:
                    final_read = False
                    break
                book = fresh
                round_no += 1
                if self.unknown:
                    self.sleep(self.settle)
                if not acted or not self.progress:
                    self.sleep(idle)  # waiting for fills, or the broker keeps failing: back off
                    idle = min(idle * 2, MAX_BACKOFF)
                else:
                    idle = POLL
                fresh = self.read()
                if fresh is None:
                    final_read = False
                    break
                book = fresh
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        flat = final_read and self.is_flat(book)
        unclosed = () if self.scope == "cancel" or flat else self.unclosed(book)
        return FlattenReport(
            flat=flat,
            rounds=rounds,
            cancelled=tuple(self.cancelled),
            placed=tuple(self.placed),
            remaining_positions=() if self.scope == "cancel" else tuple(self.live_positions(book)),
            remaining_orders=tuple(self.open_orders(book)),
            errors=tuple(self._errors),
            elapsed=timedelta(seconds=self.monotonic() - start),
            run_id=self.run_id,
            scope=self.scope,
            final_read=final_read,
            throttled=self.throttled,
            unclosed=unclosed,
        )

    def unclosed(self, book: _Book) -> tuple[dict[str, Any], ...]:
        """Why each position left open could not be closed, with the numbers (see report.unclosed_line)."""
        positions = self.live_positions(book)
        limits: dict[str, tuple[Any, Any]] = {}
        read_limits = getattr(self.broker, "circuit_limits", None)
        if positions and read_limits is not None:
            try:  # one quote for them all, after the deadline too: where the price stands against its circuits
                limits = read_limits(sorted({f"{p.exchange}:{p.symbol}" for p in positions}))
            except Exception as exc:
                self.error(f"the circuit limits could not be read: {_as_mci(exc, 'reading circuit limits').what}")
        out = []
        for p in positions:
            key = _key(p)
            start = self._start.get(key, p.quantity)
            closed = abs(start) - abs(p.quantity) if _sign(start) == _sign(p.quantity) else 0
            reasons: list[dict[str, Any]] = []
            lower_upper = limits.get(f"{p.exchange}:{p.symbol}")
            if lower_upper is not None:
                lower, upper = lower_upper
                if p.quantity > 0 and lower and p.last_price <= lower:
                    reasons.append(
                        {
                            "kind": "lower_circuit",
                            "price": _rupees(lower),
                            "text": f"at lower circuit ₹{_rupees(lower)}: no buyers",
                        }
                    )
                elif p.quantity < 0 and upper and p.last_price >= upper:
                    reasons.append(
                        {
                            "kind": "upper_circuit",
                            "price": _rupees(upper),
                            "text": f"at upper circuit ₹{_rupees(upper)}: no sellers",
                        }
                    )
            mine = [o for o in book.orders if o.order_id in self._mine.get(key, set())]
            last = mine[-1] if mine else None
            if last is not None and last.status == "REJECTED":
                reasons.append(
                    {
                        "kind": "rejected",
                        "order_id": last.order_id,
                        "message": last.status_message,
                        "text": f"rejected by RMS: {last.status_message or 'no reason given'}",
                    }
                )
            elif last is not None and last.status == "CANCELLED" and last.status_message:
                reasons.append(
                    {
                        "kind": "cancelled_by_exchange",
                        "order_id": last.order_id,
                        "message": last.status_message,
                        "text": f"cancelled: {last.status_message}",
                    }
                )
            elif last is not None and last.is_open:
                reasons.append(
                    {
                        "kind": "resting",
                        "order_id": last.order_id,
                        "price": _rupees(last.price),
                        "text": f"exit order {last.order_id} rests unfilled"
                        + (f" at ₹{_rupees(last.price)}" if last.price else ""),
                    }
                )
            if closed > 0:
                reasons.append(
                    {
                        "kind": "partial",
                        "filled": closed,
                        "of": abs(start),
                        "text": f"partially filled {closed} of {abs(start)}",
                    }
                )
            if not reasons:
                reasons.append(
                    {
                        "kind": "deadline",
                        "text": "not closed before the deadline" if self.time_left() <= 0 else "not closed",
                    }
                )
            out.append(
                {
                    "instrument": f"{p.exchange}:{p.symbol}",
                    "product": p.product,
                    "quantity": p.quantity,
                    "start_quantity": start,
                    "closed": max(closed, 0),
                    "last_price": str(p.last_price),
                    "reasons": reasons,
                }
            )
        return tuple(out)


def _timing(
    clock: Clock | None, monotonic: Callable[[], float] | None
) -> tuple[Callable[[], float], Callable[[float], None]]:
    mono = monotonic or (clock.monotonic if clock is not None and hasattr(clock, "monotonic") else time.monotonic)
    sleep = clock.sleep if clock is not None else time.sleep
    return mono, sleep


def flatten(
    broker: Any,
    *,
    deadline: timedelta,
    run_id: str,
    rate: float = 10.0,
    products: Iterable[str] | None = None,
    clock: Clock | None = None,
    monotonic: Callable[[], float] | None = None,
    on_event: EventSink | None = None,
    freeze_quantity: int | None = None,
    workers: int | None = None,
    settle: float = SETTLE,
    select: Selection | None = None,
) -> FlattenReport:
    """Cancel every open order and square off every non-zero position, until flat or `deadline` has passed.

    - `run_id`: the idempotency scope. Rerun with the same run_id after a crash: the orders
      the dead run placed are found by their tags and never placed twice.
    - `rate`: this run's own cap on order actions (cancels and placements together) per second, e.g. the
      profile's risk.max_orders_per_second. A broker with a `limiter` (KiteBroker) also admits every
      action through its account's limiter, shared with every step and process on the host (Kite: 10/s).
    - `products`: only these products (e.g. {"MIS"} at the end of the day); None: all.
      Orders and positions of other products are neither cancelled nor closed nor reported.
    - `select`: a scoped emergency (mci.flatten.scope.Selection): only the orders in scope are cancelled and
      only the part of each position in scope is closed; the rest is neither touched nor reported.
    - `freeze_quantity`: the most shares one square-off order may carry (larger closes are sliced);
      default Kite's 1,00,000 per equity order. A derivative's own freeze quantity (the broker's
      `instruments()`: NSE's limits in whole lots, mci.brokers.kite_rules) applies too, and a slice the broker
      refuses as over the freeze quantity halves that instrument's cap. At most 10 slices per round (Kite's
      cap), the rest in the next rounds, each slice under its own tag.
    - `on_event(kind, data)`: before and after every order action, from worker threads, one at a
      time; kinds: flatten.round, flatten.wait, order.cancel.before/after,
      order.place.before/after, order.place.lookup. `data` is JSON-able and always has run_id.
    - `clock`/`monotonic`: injected time (sleeps through clock.sleep, deadlines on monotonic).

    Returns a FlattenReport once flat or when the deadline passes (plus at most one in-flight
    broker call). Raises UnavailableError only when the account could not be read at all.
    """
    mono, sleep = _timing(clock, monotonic)
    end = mono() + _seconds(deadline)
    return _Flatten(
        broker,
        run_id=run_id,
        rate=rate,
        end=end,
        monotonic=mono,
        sleep=sleep,
        on_event=on_event,
        products=products,
        workers=workers,
        freeze_quantity=freeze_quantity,
        settle=settle,
        scope="flatten",
        select=select,
    ).run()


def cancel_open_orders(
    broker: Any,
    *,
    rate: float,
    deadline: float | timedelta,
    run_id: str,
    monotonic: Callable[[], float] | None = None,
    products: Iterable[str] | None = None,
    clock: Clock | None = None,
    on_event: EventSink | None = None,
    workers: int | None = None,
    keep: Iterable[str] = (),
    select: Selection | None = None,
) -> FlattenReport:
    """Cancel every open order (OPEN, TRIGGER PENDING, ...), re-read, repeat until none is open or the deadline.

    `keep`: order ids that are neither cancelled nor counted as open (a graceful shutdown's protective stops).

    `deadline` is either a `monotonic()` instant (float, e.g. `time.monotonic() + 30`) or a timedelta
    from now. Positions are not touched or read: the report's scope is "cancel" and `flat` means no
    open order remains. Every open order is cancelled, this run's square-off orders included.
    """
    mono, sleep = _timing(clock, monotonic)
    end = mono() + deadline.total_seconds() if isinstance(deadline, timedelta) else float(deadline)
    return _Flatten(
        broker,
        run_id=run_id,
        rate=rate,
        end=end,
        monotonic=mono,
        sleep=sleep,
        on_event=on_event,
        products=products,
        workers=workers,
        freeze_quantity=None,
        settle=SETTLE,
        scope="cancel",
        keep=keep,
        select=select,
    ).run()
