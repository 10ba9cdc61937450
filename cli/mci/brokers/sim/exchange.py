"""The simulated exchange: one account, an order book, fills and positions, persisted in SQLite.

It is the core of the `paper` broker (in-process) and of the Kite-protocol
simulator, so it speaks no protocol: callers map its records to theirs.

Truth lives in the database, not in this object: every operation runs in one
`BEGIN IMMEDIATE` transaction (WAL, busy_timeout), so separate processes and
threads sharing a file see one account. Resting orders are matched lazily at
the start of every operation against the price at that instant.

Prices are a pure function of (seed, instrument, market minute): base price ×
exp(slow drift + intraday wave + minute noise), all in Decimal (no libm, so
every platform computes the same tick), rounded to the tick. Outside 09:15-15:30
IST the price stands still at the last close, as a real LTP does. Admin
overrides (`set_price`, `move_price`) are persisted so drills survive processes.

Money: every amount is Decimal; margins follow the brief (CNC 100% of
notional, MIS 20%), and unrealised losses are deducted from `available` too
(Kite does, and an overstated balance is the dangerous direction).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from contextlib import contextmanager
from functools import lru_cache
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Context, Decimal
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TypeVar

from mci.brokers import kite_rules as rules
from mci.brokers.base import OrderRequest
from mci.brokers.sim.universe import DEFAULT_UNIVERSE, Instrument, Universe
from mci.clock import IST, Clock, zone
from mci.errors import ExitCode, MciError, UnavailableError
from mci.store.wal import connect_wal

T = TypeVar("T")

SCHEMA_VERSION = 4
BUSY_TIMEOUT_MS = 5000

SIDES = ("BUY", "SELL")
ORDER_TYPES = ("MARKET", "LIMIT", "SL", "SL-M")
PRODUCTS = ("MIS", "CNC", "NRML", "CO")
MARGIN_RATE = {"CNC": Decimal(1), "MIS": Decimal("0.2"), "CO": Decimal("0.2")}  # MIS: 5x intraday leverage
# Kite's products per exchange: CNC delivers equity, NRML carries derivatives overnight, MIS is intraday on both,
# CO only as a cover order (https://kite.trade/docs/connect/v3/orders/#glossary).
EXCHANGE_PRODUCTS = {"NSE": ("MIS", "CNC"), "NFO": ("NRML", "MIS")}
# F&O margin in the simulator: a future blocks a fixed 15% of its notional (SPAN + exposure, roughly) in NRML and MIS
# alike (SEBI's peak-margin rules left no extra intraday leverage on futures); an option blocks its premium, long or
# short (a short option's real margin is far higher: the simulator understates it, see README).
FUTURE_MARGIN = Decimal("0.15")
RESTING = ("OPEN", "TRIGGER PENDING")
CIRCUIT_BAND = Decimal("0.2")  # ±20% of the previous close: the widest NSE equity price band

SESSION_OPEN = time(9, 15)
SESSION_CLOSE = time(15, 30)
_SESSION_MINUTES = 375  # 09:15 -> 15:30
_DAY0 = date(2000, 1, 1)
_MILLION = Decimal(1_000_000)
_DEC = Context(prec=28)
_SUBPAISE = Decimal("0.0001")

UTC = timezone.utc


# ---------------------------------------------------------------- errors


class ExchangeError(MciError):
    """An order the exchange refuses. `error_type` is the Kite exception name the simulator answers with."""

    error_type = "GeneralException"

    def __init__(self, what: str, why: str, how: str, **details: Any):
        details.setdefault("error_type", self.error_type)
        super().__init__(what, why, how, ExitCode.FAILED, None, details)


class OrderInputError(ExchangeError):
    """Bad order parameters: nothing was recorded."""

    error_type = "InputException"


class OrderRejectedError(ExchangeError):
    """Recorded, then REJECTED by risk management (margin, holdings); details carry order_id."""

    error_type = "OrderException"


class OrderStateError(ExchangeError):
    """The order exists but its state forbids the action (cancel a completed order)."""

    error_type = "OrderException"


class UnknownOrderError(ExchangeError):
    error_type = "InputException"


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class OrderRecord:
    order_id: str
    exchange: str
    symbol: str
    instrument_token: int
    side: str
    quantity: int
    order_type: str
    product: str
    price: Decimal
    trigger_price: Decimal
    status: str
    status_message: str | None
    tag: str | None
    placed_at: datetime
    updated_at: datetime
    filled_quantity: int
    average_price: Decimal
    cancelled_quantity: int
    validity: str = "DAY"
    variety: str = "regular"
    market_protection: Decimal = Decimal(0)  # as the order was placed (0: a LIMIT/SL order has none)
    parent_order_id: str | None = None  # a cover order's stop-loss leg points at its entry

    @property
    def pending_quantity(self) -> int:
        return self.quantity - self.filled_quantity - self.cancelled_quantity if self.status in RESTING else 0


@dataclass(frozen=True)
class OrderEvent:
    """One row of an order's history, as Kite's /orders/{id} lists them."""

    order_id: str
    status: str
    at: datetime
    quantity: int
    price: Decimal
    trigger_price: Decimal
    filled_quantity: int
    average_price: Decimal
    message: str | None


@dataclass(frozen=True)
class TradeRecord:
    trade_id: str
    order_id: str
    exchange: str
    symbol: str
    instrument_token: int
    side: str
    product: str
    quantity: int
    price: Decimal
    filled_at: datetime


@dataclass(frozen=True)
class PositionRecord:
    exchange: str
    symbol: str
    instrument_token: int
    product: str
    quantity: int  # signed: negative is short
    average_price: Decimal
    last_price: Decimal
    realised: Decimal
    unrealised: Decimal
    buy_quantity: int
    buy_value: Decimal
    sell_quantity: int
    sell_value: Decimal

    @property
    def pnl(self) -> Decimal:
        return self.realised + self.unrealised


@dataclass(frozen=True)
class FundsRecord:
    opening: Decimal
    realised: Decimal
    unrealised: Decimal
    position_margin: Decimal
    order_margin: Decimal
    used: Decimal  # position + order margin + unrealised loss
    available: Decimal  # opening + realised - used


@dataclass(frozen=True)
class Quote:
    instrument_token: int
    last_price: Decimal
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal  # the previous session's close
    timestamp: datetime

    @property
    def net_change(self) -> Decimal:
        return self.last_price - self.close


@dataclass(frozen=True)
class SessionRecord:
    """A paper access token's metadata; the token itself is never stored (only its hash)."""

    user_id: str
    issued_at: datetime
    expires_at: datetime
    invalidated_at: datetime | None
    valid: bool
    reason: str


# ---------------------------------------------------------------- pure helpers


def session_expiry(issued_at: datetime) -> datetime:
    """The next 06:00 Asia/Kolkata strictly after `issued_at` (Kite's token lifetime)."""
    tz = zone(IST)
    local = issued_at.astimezone(tz)
    day = local.date() if local.time() < time(6) else local.date() + timedelta(days=1)
    return datetime.combine(day, time(6), tzinfo=tz)


def _unit(seed: int, symbol: str, salt: str, k: int) -> Decimal:
    """A reproducible value in [-1, 1] (blake2b, so it does not depend on PYTHONHASHSEED)."""
    digest = hashlib.blake2b(f"{seed}|{symbol}|{salt}|{k}".encode(), digest_size=8).digest()
    return Decimal(int.from_bytes(digest, "big") % 2_000_001 - 1_000_000) / _MILLION


def _smooth(seed: int, symbol: str, salt: str, index: int, period: int) -> Decimal:
    """Value noise: linear between random knots every `period` steps, so O(1) at any index."""
    k, r = divmod(index, period)
    a = _unit(seed, symbol, salt, k)
    b = _unit(seed, symbol, salt, k + 1)
    return a + (b - a) * Decimal(r) / Decimal(period)


def market_minute(at: datetime) -> int:
    """Minutes of trading since 2000-01-01: frozen before the open and after the close (at the day's close)."""
    local = at.astimezone(zone(IST))
    day = (local.date() - _DAY0).days
    minutes = (local.hour * 60 + local.minute) - (SESSION_OPEN.hour * 60 + SESSION_OPEN.minute)
    if minutes < 0:
        day, minutes = day - 1, _SESSION_MINUTES  # before the open: yesterday's close
    minutes = min(minutes, _SESSION_MINUTES)
    return day * (_SESSION_MINUTES + 1) + minutes


def round_to_tick(price: Decimal, tick: Decimal, rounding: str = ROUND_HALF_UP) -> Decimal:
    return (price / tick).quantize(Decimal(1), rounding=rounding) * tick


@lru_cache(maxsize=4096)  # pure, and ~20 µs (blake2b, Decimal exp): every operation asks again
def path_price(seed: int, inst: Instrument, minute: int) -> Decimal:
    """The deterministic price of `inst` at a market minute: a pure function, O(1)."""
    s = inst.key
    offset = (
        Decimal("0.03") * _smooth(seed, s, "slow", minute, 2 * (_SESSION_MINUTES + 1))
        + Decimal("0.008") * _smooth(seed, s, "wave", minute, 30)
        + Decimal("0.0015") * _unit(seed, s, "tick", minute)
    )
    return round_to_tick(inst.base_price * offset.exp(_DEC), inst.tick_size)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text).astimezone(zone(IST)) if text else None


def _sign(n: int) -> int:
    return (n > 0) - (n < 0)


# Schema 2 -> 3 (issue 19): incremental matching and order margin; an index and two caches, nothing to convert.
_MIGRATE_3 = (
    # The resting orders of one instrument (or one position key), in time priority, from the index alone.
    "CREATE INDEX IF NOT EXISTS orders_resting ON orders (status, exchange, symbol, product, seq)",
    # The price at which every resting order of the instrument was last matched and stayed resting:
    # at the same price again they cannot fill, so matching skips the instrument.
    "CREATE TABLE IF NOT EXISTS match_marks (instrument TEXT PRIMARY KEY, price TEXT NOT NULL)",
    # The margin the resting orders of one position key block, dropped whenever one of them or the position changes.
    "CREATE TABLE IF NOT EXISTS margin_marks (exchange TEXT NOT NULL, symbol TEXT NOT NULL, product TEXT NOT NULL,"
    " blocked TEXT NOT NULL, PRIMARY KEY (exchange, symbol, product))",
    # How many orders rest per position key: which keys have any, without a scan of the book.
    "CREATE TABLE IF NOT EXISTS resting_keys (exchange TEXT NOT NULL, symbol TEXT NOT NULL, product TEXT NOT NULL,"
    " n INTEGER NOT NULL, PRIMARY KEY (exchange, symbol, product))",
    "INSERT OR REPLACE INTO resting_keys (exchange, symbol, product, n) SELECT exchange, symbol, product, COUNT(*)"
    " FROM orders WHERE status IN ('OPEN', 'TRIGGER PENDING') GROUP BY exchange, symbol, product",
    # Triggers, not calls in Python: no write to the book, whatever its path, can leave them stale.
    "CREATE TRIGGER IF NOT EXISTS orders_rest AFTER INSERT ON orders WHEN NEW.status IN ('OPEN', 'TRIGGER PENDING')"
    " BEGIN INSERT INTO resting_keys VALUES (NEW.exchange, NEW.symbol, NEW.product, 1)"
    " ON CONFLICT (exchange, symbol, product) DO UPDATE SET n = n + 1; END",
    "CREATE TRIGGER IF NOT EXISTS orders_start_resting AFTER UPDATE OF status ON orders"
    " WHEN NEW.status IN ('OPEN', 'TRIGGER PENDING') AND OLD.status NOT IN ('OPEN', 'TRIGGER PENDING')"
    " BEGIN INSERT INTO resting_keys VALUES (NEW.exchange, NEW.symbol, NEW.product, 1)"
    " ON CONFLICT (exchange, symbol, product) DO UPDATE SET n = n + 1; END",
    "CREATE TRIGGER IF NOT EXISTS orders_stop_resting AFTER UPDATE OF status ON orders"
    " WHEN OLD.status IN ('OPEN', 'TRIGGER PENDING') AND NEW.status NOT IN ('OPEN', 'TRIGGER PENDING')"
    " BEGIN UPDATE resting_keys SET n = n - 1 WHERE (exchange, symbol, product) = (OLD.exchange, OLD.symbol, OLD.product);"
    " DELETE FROM resting_keys WHERE (exchange, symbol, product) = (OLD.exchange, OLD.symbol, OLD.product) AND n <= 0; END",
    # Only resting orders block margin: an order changing outside the book changes no amount.
    "CREATE TRIGGER IF NOT EXISTS orders_forget_margin AFTER UPDATE ON orders"
    " WHEN OLD.status IN ('OPEN', 'TRIGGER PENDING') OR NEW.status IN ('OPEN', 'TRIGGER PENDING')"
    " BEGIN DELETE FROM margin_marks WHERE (exchange, symbol, product) IN"
    " ((OLD.exchange, OLD.symbol, OLD.product), (NEW.exchange, NEW.symbol, NEW.product)); END",
    "CREATE TRIGGER IF NOT EXISTS orders_new_margin AFTER INSERT ON orders WHEN NEW.status IN ('OPEN', 'TRIGGER PENDING')"
    " BEGIN DELETE FROM margin_marks WHERE (exchange, symbol, product) = (NEW.exchange, NEW.symbol, NEW.product); END",
    "CREATE TRIGGER IF NOT EXISTS positions_new_margin AFTER INSERT ON positions"
    " BEGIN DELETE FROM margin_marks WHERE (exchange, symbol, product) = (NEW.exchange, NEW.symbol, NEW.product); END",
    "CREATE TRIGGER IF NOT EXISTS positions_forget_margin AFTER UPDATE ON positions"
    " BEGIN DELETE FROM margin_marks WHERE (exchange, symbol, product) = (OLD.exchange, OLD.symbol, OLD.product); END",
    "CREATE TRIGGER IF NOT EXISTS positions_gone_margin AFTER DELETE ON positions"
    " BEGIN DELETE FROM margin_marks WHERE (exchange, symbol, product) = (OLD.exchange, OLD.symbol, OLD.product); END",
)

_SCHEMA = """
CREATE TABLE account (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seed INTEGER NOT NULL,
    opening_cash TEXT NOT NULL,
    slippage TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE orders (
    order_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL UNIQUE,
    exchange TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    order_type TEXT NOT NULL,
    product TEXT NOT NULL,
    price TEXT NOT NULL,
    trigger_price TEXT NOT NULL,
    status TEXT NOT NULL,
    status_message TEXT,
    tag TEXT,
    placed_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    filled_quantity INTEGER NOT NULL DEFAULT 0,
    average_price TEXT NOT NULL DEFAULT '0',
    cancelled_quantity INTEGER NOT NULL DEFAULT 0,
    market_protection TEXT NOT NULL DEFAULT '0'
);
CREATE INDEX orders_by_tag ON orders (tag);
CREATE INDEX orders_by_status ON orders (status);
CREATE TABLE order_history (
    order_id TEXT NOT NULL REFERENCES orders (order_id),
    n INTEGER NOT NULL,
    status TEXT NOT NULL,
    at TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    price TEXT NOT NULL,
    trigger_price TEXT NOT NULL,
    filled_quantity INTEGER NOT NULL,
    average_price TEXT NOT NULL,
    message TEXT,
    PRIMARY KEY (order_id, n)
);
CREATE TABLE trades (
    trade_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL UNIQUE,
    order_id TEXT NOT NULL REFERENCES orders (order_id),
    exchange TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    product TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    price TEXT NOT NULL,
    filled_at TEXT NOT NULL
);
CREATE TABLE positions (
    exchange TEXT NOT NULL,
    symbol TEXT NOT NULL,
    product TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    open_cost TEXT NOT NULL,  -- signed cost of the open quantity: quantity x average price
    realised TEXT NOT NULL,
    buy_quantity INTEGER NOT NULL DEFAULT 0,
    buy_value TEXT NOT NULL DEFAULT '0',
    sell_quantity INTEGER NOT NULL DEFAULT 0,
    sell_value TEXT NOT NULL DEFAULT '0',
    PRIMARY KEY (exchange, symbol, product)
);
CREATE TABLE price_overrides (
    instrument TEXT PRIMARY KEY,  -- EXCHANGE:SYMBOL
    pinned TEXT,                  -- absolute price, or NULL to follow the path
    factor TEXT NOT NULL,         -- multiplier applied on top
    set_at TEXT NOT NULL
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,  -- sha256 of the token: the token itself is never stored
    user_id TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    invalidated_at TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id, issued_at);
CREATE TABLE mis_blocked (instrument TEXT PRIMARY KEY, set_at TEXT NOT NULL);
"""  # then _MIGRATE_3, statement by statement (its triggers hold semicolons)

# Schema 3 -> 4 (issue 13): an order's variety and parent (cover orders), the admin's freeze quantities, GTTs.
_MIGRATE_4 = (
    "ALTER TABLE orders ADD COLUMN variety TEXT NOT NULL DEFAULT 'regular'",
    "ALTER TABLE orders ADD COLUMN parent_order_id TEXT",
    "CREATE TABLE IF NOT EXISTS freeze_overrides (instrument TEXT PRIMARY KEY, quantity INTEGER NOT NULL, set_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS gtts (id INTEGER PRIMARY KEY, body TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL,"
    " updated_at TEXT NOT NULL)",
)

# Schema 1 -> 2: the order's market protection, and the intraday-blocked instruments (Kite's 2026 rules).
_MIGRATE_2 = (
    "ALTER TABLE orders ADD COLUMN market_protection TEXT NOT NULL DEFAULT '0'",
    "CREATE TABLE mis_blocked (instrument TEXT PRIMARY KEY, set_at TEXT NOT NULL)",
)


# The match_marks row of the whole book (an instrument's key always holds a colon).
_BOOK = "*"
# The resting orders of an instrument that the price can fill or trigger (a superset: see Exchange._reach).
_REACHABLE = """
SELECT * FROM orders WHERE status IN ('OPEN', 'TRIGGER PENDING') AND exchange = :exchange AND symbol = :symbol AND (
       (status = 'OPEN' AND order_type IN ('MARKET', 'SL-M'))
    OR (status = 'OPEN' AND side = 'BUY' AND CAST(price AS REAL) >= :lo)
    OR (status = 'OPEN' AND side = 'SELL' AND CAST(price AS REAL) <= :hi)
    OR (status = 'TRIGGER PENDING' AND side = 'BUY' AND CAST(trigger_price AS REAL) <= :hi)
    OR (status = 'TRIGGER PENDING' AND side = 'SELL' AND CAST(trigger_price AS REAL) >= :lo)
    OR side NOT IN ('BUY', 'SELL'))
"""


# Per-instrument circuits and partial fills (issue 13): created where missing on every open, so an older file of
# the same schema gains them without a version bump (the tables are empty until an admin or a fault sets them).
_CIRCUITS = (
    # band: the instrument's price band as a fraction of the reference (NULL: CIRCUIT_BAND). locked: 'lower' or
    # 'upper' while the instrument is locked at that limit with no counter-side; lower/upper: the limits then;
    # on_lock: what a market order that meets no counter-side does, 'rest' (Kite's market protection) or 'cancel'.
    "CREATE TABLE IF NOT EXISTS circuits (instrument TEXT PRIMARY KEY, band TEXT, locked TEXT, lower TEXT, upper TEXT,"
    " on_lock TEXT NOT NULL DEFAULT 'rest', set_at TEXT NOT NULL)",
    # name 'partial': every fill takes at most this fraction of what is left of the order (at least one lot).
    "CREATE TABLE IF NOT EXISTS fill_rules (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
ON_LOCK = ("rest", "cancel")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# ---------------------------------------------------------------- the exchange


class Exchange:
    """A thread-safe simulated exchange over one SQLite file (see the module docstring)."""

    def __init__(
        self,
        db_path: Path,
        clock: Clock,
        *,
        seed: int,
        capital: Decimal,
        slippage: Decimal = Decimal(0),
        universe: Universe | Iterable[Instrument] | None = None,
    ):
        if not isinstance(capital, (Decimal, int)) or isinstance(capital, bool) or capital < 0:
            raise ValueError("capital must be a non-negative Decimal")
        if not isinstance(slippage, (Decimal, int)) or not 0 <= slippage < 1:
            raise ValueError("slippage must be a Decimal fraction in [0, 1)")
        self.db_path = Path(db_path)
        self.clock = clock
        if universe is None:
            self.universe = DEFAULT_UNIVERSE
        else:
            self.universe = universe if isinstance(universe, Universe) else Universe(universe)
        self._lock = threading.RLock()
        self._conn = self._connect()
        with self._tx() as c:
            self._migrate(c)
            for statement in _CIRCUITS:
                c.execute(statement)
            row = c.execute("SELECT seed, opening_cash, slippage FROM account WHERE id = 1").fetchone()
            if row is None:
                c.execute(
                    "INSERT INTO account (id, seed, opening_cash, slippage, created_at) VALUES (1, ?, ?, ?, ?)",
                    (seed, str(Decimal(capital)), str(Decimal(slippage)), _iso(clock.now())),
                )
                row = (seed, str(capital), str(slippage))
        # The account's file wins over the constructor: it is the account other processes see.
        self.seed = int(row[0])
        self._slippage = Decimal(row[2])
        # What every price depends on besides the minute and the overrides (see _match).
        listed = sorted((i.key, str(i.base_price), str(i.tick_size)) for i in self.universe)
        self._prices_id = hashlib.blake2b(repr((self.seed, listed)).encode(), digest_size=8).hexdigest()

    def __repr__(self) -> str:
        return f"Exchange(db={str(self.db_path)!r}, seed={self.seed})"

    # ------------------------------------------------------------ plumbing

    def _connect(self) -> sqlite3.Connection:
        try:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            conn = connect_wal(self.db_path, BUSY_TIMEOUT_MS / 1000)
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
        except (OSError, sqlite3.Error) as exc:
            raise self._unavailable(exc) from None
        return conn

    def _unavailable(self, exc: BaseException) -> UnavailableError:
        return UnavailableError(
            f"the paper exchange database {self.db_path} cannot be used",
            f"SQLite said: {exc}",
            "check that the state directory is writable and not full; if another mci holds it, retry in a moment",
        )

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            c = self._conn
            try:
                c.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._unavailable(exc) from None
            try:
                yield c
            except BaseException:
                c.execute("ROLLBACK")
                raise
            try:
                c.execute("COMMIT")
            except sqlite3.Error as exc:
                c.execute("ROLLBACK")
                raise self._unavailable(exc) from None

    def _migrate(self, c: sqlite3.Connection) -> None:
        version = c.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise UnavailableError(
                f"the paper exchange database {self.db_path} is from a newer mci (schema {version})",
                f"this mci understands schema versions up to {SCHEMA_VERSION}",
                "upgrade mci, or move the file aside to start a fresh paper account",
            )
        if version == 0:
            # Statement by statement: executescript() would COMMIT the open transaction.
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    c.execute(statement)
            for statement in _MIGRATE_3 + _MIGRATE_4:
                c.execute(statement)
            c.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        elif version < SCHEMA_VERSION:
            steps = (_MIGRATE_2 if version < 2 else ()) + (_MIGRATE_3 if version < 3 else ()) + _MIGRATE_4
            columns = {r[1] for r in c.execute("PRAGMA table_info(orders)")}
            for statement in steps:
                added = statement.split(" ADD COLUMN ")[1].split()[0] if " ADD COLUMN " in statement else None
                if added is None or added not in columns:  # a file written by a newer schema already has it
                    c.execute(statement)
            c.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _instrument(self, exchange: str, symbol: str) -> Instrument:
        inst = self.universe.get(exchange, symbol)
        if inst is None:
            raise OrderInputError(
                f"unknown instrument {exchange}:{symbol}",
                "the simulated exchange lists only its universe of liquid NSE equities and NFO contracts on some of them",
                "use a listed symbol such as NSE:INFY or NFO:NIFTY26DECFUT (`mci sim` instruments: GET /instruments)",
            )
        return inst

    def _next(self, c: sqlite3.Connection, name: str) -> int:
        c.execute(
            "INSERT INTO counters (name, value) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET value = value + 1",
            (name,),
        )
        return int(c.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()[0])

    # ------------------------------------------------------------ prices

    def _price(self, c: sqlite3.Connection, inst: Instrument, at: datetime) -> Decimal:
        row = c.execute("SELECT pinned, factor FROM price_overrides WHERE instrument = ?", (inst.key,)).fetchone()
        return self._overridden(inst, market_minute(at), row)

    def _overridden(self, inst: Instrument, minute: int, row: tuple[str | None, str] | None) -> Decimal:
        """The price at a market minute given the instrument's override row (pinned, factor), or None for the path itself."""
        if row is None:
            return path_price(self.seed, inst, minute)
        base = Decimal(row[0]) if row[0] is not None else path_price(self.seed, inst, minute)
        return max(round_to_tick(base * Decimal(row[1]), inst.tick_size), inst.tick_size)

    def price_at(self, exchange: str, symbol: str, at: datetime) -> Decimal:
        """The price at any instant (overrides included), without touching the book."""
        inst = self._instrument(exchange, symbol)
        with self._tx() as c:
            return self._price(c, inst, at)

    def ltp(self, instruments: Iterable[str]) -> dict[str, Decimal]:
        """Last prices keyed "EXCHANGE:SYMBOL"; unknown instruments are left out, as Kite does."""
        return self._per_instrument(instruments, self._price)

    def quote(self, instruments: Iterable[str]) -> dict[str, Quote]:
        """Last price and the day's OHLC along the deterministic path (close = the previous session's)."""
        return self._per_instrument(instruments, self._quote)

    def _per_instrument(
        self, instruments: Iterable[str], read: Callable[[sqlite3.Connection, Instrument, datetime], T]
    ) -> dict[str, T]:
        """One matched snapshot of the book, read per known instrument; unknown keys are left out."""
        now = self.clock.now()
        with self._tx() as c:
            self._match(c, now)
            out: dict[str, T] = {}
            for key in instruments:
                inst = self.universe.by_key(key)
                if inst is not None:
                    out[inst.key] = read(c, inst, now)
            return out

    def _path_at(self, c: sqlite3.Connection, inst: Instrument, now: datetime) -> tuple[int, Callable[[int], Decimal]]:
        """Today's first market minute, and the path price at a minute with the admin's moves applied."""
        row = c.execute("SELECT factor FROM price_overrides WHERE instrument = ?", (inst.key,)).fetchone()
        factor = Decimal(row[0]) if row else Decimal(1)
        local = now.astimezone(zone(IST))
        day_start = ((local.date() - _DAY0).days) * (_SESSION_MINUTES + 1)

        def at(minute: int) -> Decimal:
            return round_to_tick(path_price(self.seed, inst, minute) * factor, inst.tick_size)

        return day_start, at

    def _close(self, c: sqlite3.Connection, inst: Instrument, now: datetime) -> Decimal:
        """The previous session's close."""
        day_start, at = self._path_at(c, inst, now)
        return at(day_start - 1)

    def _quote(self, c: sqlite3.Connection, inst: Instrument, now: datetime) -> Quote:
        last = self._price(c, inst, now)
        day_start, at = self._path_at(c, inst, now)
        current = market_minute(now)
        close = at(day_start - 1)
        if current < day_start:  # before today's open: no session yet, the day is flat at the last price
            return Quote(inst.token, last, last, last, last, close, now)
        path = [at(m) for m in range(day_start, current + 1)]
        return Quote(inst.token, last, path[0], max(*path, last), min(*path, last), close, now)

    def set_price(self, exchange: str, symbol: str, price: Decimal) -> None:
        """Admin: pin the price (persisted) until clear_price."""
        inst = self._instrument(exchange, symbol)
        if not isinstance(price, (Decimal, int)) or price <= 0:
            raise ValueError("price must be a positive Decimal")
        with self._tx() as c:
            c.execute(
                "INSERT INTO price_overrides (instrument, pinned, factor, set_at) VALUES (?, ?, '1', ?) "
                "ON CONFLICT (instrument) DO UPDATE SET pinned = excluded.pinned, factor = '1', set_at = excluded.set_at",
                (inst.key, str(round_to_tick(Decimal(price), inst.tick_size)), _iso(self.clock.now())),
            )

    def move_price(self, exchange: str, symbol: str, pct: Decimal) -> None:
        """Admin: move the price by `pct` percent (Decimal("-2.5") is -2.5%), on top of earlier moves."""
        inst = self._instrument(exchange, symbol)
        if not isinstance(pct, (Decimal, int)) or pct <= -100:
            raise ValueError("pct must be a Decimal percentage above -100")
        with self._tx() as c:
            row = c.execute("SELECT pinned, factor FROM price_overrides WHERE instrument = ?", (inst.key,)).fetchone()
            pinned, factor = (row[0], Decimal(row[1])) if row else (None, Decimal(1))
            factor = factor * (1 + Decimal(pct) / 100)
            c.execute(
                "INSERT OR REPLACE INTO price_overrides (instrument, pinned, factor, set_at) VALUES (?, ?, ?, ?)",
                (inst.key, pinned, str(factor), _iso(self.clock.now())),
            )

    def clear_price(self, exchange: str, symbol: str) -> None:
        inst = self._instrument(exchange, symbol)
        with self._tx() as c:
            c.execute("DELETE FROM price_overrides WHERE instrument = ?", (inst.key,))

    # ------------------------------------------------------------ orders

    def place_order(self, request: OrderRequest) -> str:
        """Validate, record and (MARKET, marketable LIMIT) fill. Raises OrderInputError or OrderRejectedError."""
        inst, price, trigger = self._validate(request)
        protection = request.market_protection if request.order_type in rules.NEEDS_MARKET_PROTECTION else None
        now = self.clock.now()
        rejection: OrderRejectedError | None = None
        with self._tx() as c:
            self._match(c, now)
            ltp = self._price(c, inst, now)
            self._check_freeze(c, inst, request.quantity)
            amo = (
                rules.amo_blocked(inst.exchange, now.astimezone(zone(IST)).time()) if request.variety == "amo" else None
            )
            if amo:  # Kite refuses an AMO in its blocked window before the book (kite_rules.AMO_BLOCKED)
                raise OrderRejectedError(
                    amo,
                    "after-market orders are taken outside the session only",
                    "place a regular order, or the AMO after 15:45",
                    kite_message=amo,
                )
            if request.order_type in ("MARKET", "SL-M") and rules.is_stock_option(inst.exchange, inst.symbol):
                raise OrderRejectedError(
                    rules.STOCK_OPTION_MARKET_BLOCKED,
                    f"{inst.key} is a stock option",
                    "place a LIMIT order",
                    kite_message=rules.STOCK_OPTION_MARKET_BLOCKED,
                )
            stop = self._cover_stop(request, ltp)
            seq = self._next(c, "order")
            order_id = f"{now.astimezone(zone(IST)):%y%m%d}{seq:09d}"
            c.execute(
                "INSERT INTO orders (order_id, seq, exchange, symbol, side, quantity, order_type, product, price,"
                " trigger_price, status, tag, placed_at, updated_at, market_protection, variety)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    order_id, seq, inst.exchange, inst.symbol, request.side, request.quantity, request.order_type,
                    request.product, str(price), str(trigger), "PUT ORDER REQ RECEIVED", request.tag, _iso(now), _iso(now),
                    str(protection if protection is not None else 0), request.variety,
                ),
            )  # fmt: skip
            self._event(c, order_id, "PUT ORDER REQ RECEIVED", now)
            self._set_status(c, order_id, "VALIDATION PENDING", now)
            reason = self._risk_rejection(c, inst, request, price, trigger, ltp)
            if reason:
                self._set_status(c, order_id, "REJECTED", now, reason)
                rejection = OrderRejectedError(
                    f"order rejected: {request.side} {request.quantity} {inst.key} {request.product}",
                    reason,
                    "correct the order as the reason says (quantity, price, trigger, product, funds), then place it again",
                    order_id=order_id,
                )
            else:
                self._set_status(c, order_id, "OPEN PENDING", now)
                resting = "TRIGGER PENDING" if request.order_type in ("SL", "SL-M") else "OPEN"
                self._set_status(c, order_id, resting, now)
                self._match_order(c, self._order_row(c, order_id), now, on_arrival=True)
                if stop is not None:
                    self._cover_leg(c, order_id, stop, now)
                self._mark_matched(c, inst, ltp)
        if rejection:
            raise rejection
        return order_id

    # ------------------------------------------------------------ freeze quantity, cover orders (issue 13)

    def _freeze(self, c: sqlite3.Connection, inst: Instrument) -> int | None:
        """The most units one order of `inst` may carry (whole lots): the admin's override, else NSE's (kite_rules)."""
        row = c.execute("SELECT quantity FROM freeze_overrides WHERE instrument = ?", (inst.key,)).fetchone()
        return int(row[0]) if row else inst.freeze_quantity

    def _check_freeze(self, c: sqlite3.Connection, inst: Instrument, quantity: int) -> None:
        # Kite refuses an F&O order above the freeze quantity before the exchange; nothing reaches the book
        # (mci.brokers.kite_rules.FREEZE_EXCEEDED and its sources).
        limit = self._freeze(c, inst)
        if limit is not None and quantity > limit:
            message = rules.FREEZE_EXCEEDED.format(segment=inst.exchange if inst.exchange != "NSE" else "NSE CASH")
            raise OrderRejectedError(
                message,
                f"{quantity} {inst.key} is above its freeze quantity of {limit} ({limit // inst.lot_size} lots of {inst.lot_size})",
                f"slice the order: at most {limit} per order, at most {rules.MAX_SLICES} slices a second",
                kite_message=message,
                freeze_quantity=limit,
            )

    def freeze_quantity(self, exchange: str, symbol: str) -> int | None:
        inst = self._instrument(exchange, symbol)
        with self._tx() as c:
            return self._freeze(c, inst)

    def freeze_overrides(self) -> dict[str, int]:
        """The admin's freeze quantities keyed "EXCHANGE:SYMBOL" (the `freeze` fault)."""
        with self._tx() as c:
            return {k: int(q) for k, q in c.execute("SELECT instrument, quantity FROM freeze_overrides")}

    def set_freeze_quantity(self, exchange: str, symbol: str, quantity: int | None) -> int | None:
        """Admin (the `freeze` fault): lower or raise an instrument's freeze quantity, rounded down to whole lots
        (at least one); None restores NSE's. Returns the quantity now in force."""
        inst = self._instrument(exchange, symbol)
        with self._tx() as c:
            if quantity is None:
                c.execute("DELETE FROM freeze_overrides WHERE instrument = ?", (inst.key,))
            else:
                if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
                    raise ValueError("a freeze quantity is a positive whole number of units")
                effective = rules.effective_freeze(quantity, inst.lot_size)
                c.execute(
                    "INSERT OR REPLACE INTO freeze_overrides (instrument, quantity, set_at) VALUES (?, ?, ?)",
                    (inst.key, effective, _iso(self.clock.now())),
                )
            return self._freeze(c, inst)

    @staticmethod
    def _cover_stop(r: OrderRequest, ltp: Decimal) -> Decimal | None:
        """A cover order's stop-loss trigger (its second leg), checked against the LTP; None for other varieties."""
        if r.variety != "co":
            return None
        if r.order_type != "MARKET":
            # Kite takes MARKET and LIMIT entries (https://kite.trade/forum/discussion/comment/14954/); the simulator
            # places the stop-loss leg when the entry fills on arrival, so it takes MARKET entries only.
            raise OrderInputError(
                "the simulator's cover orders enter at MARKET",
                "a LIMIT entry would rest without its stop-loss leg",
                "place the cover order with order_type MARKET",
            )
        stop = r.trigger_price
        if stop is None or isinstance(stop, bool) or not isinstance(stop, (Decimal, int)) or stop <= 0:
            raise OrderInputError(
                "a cover order needs its stop-loss trigger_price",
                "Kite places a cover order's stop-loss leg at the trigger price sent with the entry",
                "send trigger_price below the LTP for a BUY, above it for a SELL",
            )
        if (r.side == "BUY" and stop >= ltp) or (r.side == "SELL" and stop <= ltp):
            raise OrderInputError(
                f"the cover order's stop-loss {stop} is on the wrong side of the LTP {ltp}",
                "a BUY's stop-loss sells below the market, a SELL's buys above it",
                "move the trigger price to the protective side of the LTP",
            )
        return Decimal(stop)

    def _cover_leg(self, c: sqlite3.Connection, parent: str, stop: Decimal, now: datetime) -> None:
        """The entry of a cover order filled: its stop-loss leg rests, pointing at the entry (parent_order_id)."""
        row = self._order_row(c, parent)
        if row["status"] != "COMPLETE":
            return
        seq = self._next(c, "order")
        order_id = f"{now.astimezone(zone(IST)):%y%m%d}{seq:09d}"
        c.execute(
            "INSERT INTO orders (order_id, seq, exchange, symbol, side, quantity, order_type, product, price, trigger_price,"
            " status, tag, placed_at, updated_at, market_protection, variety, parent_order_id)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (order_id, seq, row["exchange"], row["symbol"], "SELL" if row["side"] == "BUY" else "BUY", row["filled_quantity"],
             "SL-M", row["product"], "0", str(stop), "TRIGGER PENDING", row["tag"], _iso(now), _iso(now),
             str(rules.AUTO_MARKET_PROTECTION), "co", parent),
        )  # fmt: skip
        self._event(c, order_id, "TRIGGER PENDING", now)

    def _validate(self, r: OrderRequest) -> tuple[Instrument, Decimal, Decimal]:
        def bad(what: str, why: str, how: str) -> OrderInputError:
            return OrderInputError(what, why, how)

        inst = self._instrument(r.exchange or "", r.symbol or "")
        if r.side not in SIDES:
            raise bad(f"invalid order side {r.side!r}", "a side is BUY or SELL", "use BUY or SELL")
        if isinstance(r.quantity, bool) or not isinstance(r.quantity, int) or r.quantity <= 0:
            raise bad(
                f"invalid quantity {r.quantity!r}",
                "quantity must be a whole number above zero",
                "send a positive integer",
            )
        if r.quantity % inst.lot_size:
            raise bad(
                f"quantity {r.quantity} is not a multiple of the lot size {inst.lot_size}",
                "orders trade whole lots",
                "round the quantity to a lot",
            )
        if r.order_type not in ORDER_TYPES:
            raise bad(
                f"invalid order type {r.order_type!r}", f"order types are {', '.join(ORDER_TYPES)}", "use one of them"
            )
        if r.variety not in rules.VARIETIES:
            raise bad(
                f"invalid variety {r.variety!r}",
                f"Kite's varieties are {', '.join(rules.VARIETIES)}",
                "use one of them",
            )
        allowed = ("CO", "MIS") if r.variety == "co" else EXCHANGE_PRODUCTS.get(inst.exchange, ("MIS", "CNC"))
        if r.product not in allowed:
            if r.variety == "co":
                why, how = "a cover order is intraday", "use product CO (or MIS)"
            elif inst.exchange == "NFO":
                why, how = "CNC is equity delivery: derivatives are NRML (overnight) or MIS", "use NRML or MIS"
            else:
                why = "NRML is for derivatives" if r.product == "NRML" else "products for NSE equity are MIS, CNC"
                how = "use MIS (intraday) or CNC (delivery)"
            raise bad(f"invalid product {r.product!r} for {inst.key}", why, how)
        if inst.expiry is not None and self.clock.now().astimezone(zone(IST)).date() > inst.expiry:
            raise bad(
                f"{inst.key} expired on {inst.expiry:%Y-%m-%d}",
                "an expired contract no longer trades",
                "trade a current series (the instrument list shows what is live)",
            )
        if r.tag is not None and not rules.TAG_RE.match(r.tag):
            # Kite: "alphanumeric, max 20 chars" (see mci.brokers.kite_rules).
            raise bad(
                f"invalid tag {r.tag!r}",
                "Kite accepts a tag of 1-20 letters and digits only",
                "use letters and digits, at most 20",
            )
        if r.order_type in rules.NEEDS_MARKET_PROTECTION and rules.market_protection_value(r.market_protection) is None:
            # Kite since 2026-04-01 (see mci.brokers.kite_rules): refused before anything is recorded.
            raise OrderInputError(
                rules.MARKET_PROTECTION_REQUIRED,
                f"a {r.order_type} order placed through the API needs market_protection -1 (automatic) or a "
                f"percentage above 0 up to 100; it had {r.market_protection if r.market_protection is not None else 'none'}",
                "set broker.market_protection in the profile (default -1), or place a LIMIT order",
                kite_message=rules.MARKET_PROTECTION_REQUIRED,
            )
        price = self._money(r.price, "price", inst, required=r.order_type in ("LIMIT", "SL"))
        trigger = self._money(r.trigger_price, "trigger price", inst, required=r.order_type in ("SL", "SL-M"))
        if r.order_type in ("MARKET", "SL-M"):
            price = Decimal(0)
        if r.order_type in ("MARKET", "LIMIT"):
            trigger = Decimal(0)
        if r.order_type == "SL":
            if r.side == "BUY" and trigger > price:
                raise bad(
                    "trigger price above the limit price",
                    "a stop-loss BUY triggers at or below its limit price",
                    "set trigger ≤ price",
                )
            if r.side == "SELL" and trigger < price:
                raise bad(
                    "trigger price below the limit price",
                    "a stop-loss SELL triggers at or above its limit price",
                    "set trigger ≥ price",
                )
        return inst, price, trigger

    @staticmethod
    def _money(value: Decimal | None, what: str, inst: Instrument, *, required: bool) -> Decimal:
        if value is None or (not required and value == 0):
            if required:
                raise OrderInputError(f"the {what} is missing", f"this order type needs a {what}", f"send a {what}")
            return Decimal(0)
        if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
            raise OrderInputError(
                f"the {what} {value!r} is not a Decimal", "money is exact: binary floats are refused", "send a Decimal"
            )
        amount = Decimal(value)
        if amount <= 0 or not amount.is_finite():
            raise OrderInputError(
                f"invalid {what} {value}", f"the {what} must be above zero", f"send a positive {what}"
            )
        if amount % inst.tick_size:
            raise OrderInputError(
                f"the {what} {amount} is not a multiple of the tick size {inst.tick_size}",
                f"{inst.key} trades in ticks of ₹{inst.tick_size}",
                f"round the {what} to the tick",
            )
        return amount

    @staticmethod
    def _trigger_rejection(r: OrderRequest, trigger: Decimal, ltp: Decimal) -> str | None:
        """Kite's RMS rejects a stop that would trigger at once (see mci.brokers.kite_rules.TRIGGER_VS_LTP)."""
        if r.order_type not in ("SL", "SL-M"):
            return None
        if (r.side == "BUY" and trigger <= ltp) or (r.side == "SELL" and trigger >= ltp):
            return rules.TRIGGER_VS_LTP.format(order_type=r.order_type.lower(), trigger=trigger, ltp=ltp)
        return None

    def _circuit(self, c: sqlite3.Connection, inst: Instrument, now: datetime) -> tuple[Decimal, Decimal]:
        """The day's price band: ±20% (or the instrument's own band) of the previous close, widened to hold the LTP
        (trading stops at a limit); while the instrument is locked at a limit, the limits it was locked with."""
        row = c.execute("SELECT band, locked, lower, upper FROM circuits WHERE instrument = ?", (inst.key,)).fetchone()
        if row is not None and row[1]:
            return Decimal(row[2]), Decimal(row[3])
        band_rate = Decimal(row[0]) if row is not None and row[0] else CIRCUIT_BAND
        last = self._price(c, inst, now)
        pinned = c.execute("SELECT pinned FROM price_overrides WHERE instrument = ?", (inst.key,)).fetchone()
        # An admin-pinned price has no history: its band is centred on it, as a close would be.
        reference = last if pinned and pinned[0] is not None else self._close(c, inst, now) or last
        band = reference * band_rate
        lower = max(round_to_tick(reference - band, inst.tick_size, ROUND_CEILING), inst.tick_size)
        upper = round_to_tick(reference + band, inst.tick_size, ROUND_FLOOR)
        return min(lower, last), max(upper, last)

    def circuit_limits(self, exchange: str, symbol: str) -> tuple[Decimal, Decimal]:
        inst = self._instrument(exchange, symbol)
        now = self.clock.now()
        with self._tx() as c:
            return self._circuit(c, inst, now)

    # ------------------------------------------------------------ circuits and partial fills (admin, faults)

    @staticmethod
    def _rematch(c: sqlite3.Connection, inst: Instrument | None) -> None:
        """Forget the match marks: what could fill has changed although no price did (see _match)."""
        if inst is None:
            c.execute("DELETE FROM match_marks")
        else:
            c.execute("DELETE FROM match_marks WHERE instrument IN (?, ?)", (inst.key, _BOOK))

    def set_circuit_band(self, exchange: str, symbol: str, band: Decimal | None) -> tuple[Decimal, Decimal]:
        """Admin: the instrument's price band as a fraction of its reference (NSE: 0.02, 0.05, 0.1, 0.2); None: ±20%."""
        inst = self._instrument(exchange, symbol)
        if band is not None and (not isinstance(band, (Decimal, int)) or not 0 < band < 1):
            raise ValueError("a circuit band is a Decimal fraction in (0, 1), e.g. 0.05 for ±5%")
        now = self.clock.now()
        with self._tx() as c:
            c.execute(
                "INSERT INTO circuits (instrument, band, set_at) VALUES (?, ?, ?) ON CONFLICT (instrument)"
                " DO UPDATE SET band = excluded.band, set_at = excluded.set_at",
                (inst.key, None if band is None else str(Decimal(band)), _iso(now)),
            )
            return self._circuit(c, inst, now)

    def lock_circuit(self, exchange: str, symbol: str, side: str = "lower", *, on_lock: str = "rest") -> Decimal:
        """Admin: the price falls (rises) to its lower (upper) circuit and stays there with no buyers (sellers).

        A SELL (BUY) there does not fill: a LIMIT rests, a MARKET rests as a limit at the circuit price (Kite's
        market protection, see kite_rules) or, with on_lock='cancel', is cancelled by the exchange (LPP's words).
        Returns the circuit price."""
        inst = self._instrument(exchange, symbol)
        if side not in ("lower", "upper"):
            raise ValueError("a circuit lock is at the 'lower' or the 'upper' limit")
        if on_lock not in ON_LOCK:
            raise ValueError(f"on_lock is one of {', '.join(ON_LOCK)}")
        now = self.clock.now()
        with self._tx() as c:
            c.execute(
                "UPDATE circuits SET locked = NULL WHERE instrument = ?", (inst.key,)
            )  # the band of today's close
            lower, upper = self._circuit(c, inst, now)
            at = lower if side == "lower" else upper
            c.execute(
                "INSERT INTO circuits (instrument, locked, lower, upper, on_lock, set_at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (instrument) DO UPDATE SET locked = excluded.locked, lower = excluded.lower,"
                " upper = excluded.upper, on_lock = excluded.on_lock, set_at = excluded.set_at",
                (inst.key, side, str(lower), str(upper), on_lock, _iso(now)),
            )
            c.execute(
                "INSERT INTO price_overrides (instrument, pinned, factor, set_at) VALUES (?, ?, '1', ?) "
                "ON CONFLICT (instrument) DO UPDATE SET pinned = excluded.pinned, factor = '1', set_at = excluded.set_at",
                (inst.key, str(at), _iso(now)),
            )
            self._rematch(c, inst)
            return at

    def lift_circuit(self, exchange: str, symbol: str) -> bool:
        """Admin: the counter-side is back; the price stays where it was locked and resting orders can fill there.
        False when the instrument was not locked."""
        inst = self._instrument(exchange, symbol)
        with self._tx() as c:
            changed = c.execute(
                "UPDATE circuits SET locked = NULL, set_at = ? WHERE instrument = ? AND locked IS NOT NULL",
                (_iso(self.clock.now()), inst.key),
            ).rowcount
            self._rematch(c, inst)
            return changed > 0

    def circuits(self) -> list[dict[str, Any]]:
        """Every instrument with a band of its own or a lock: {instrument, band, locked, lower, upper, on_lock}."""
        with self._tx() as c:
            rows = c.execute(
                "SELECT instrument, band, locked, lower, upper, on_lock FROM circuits"
                " WHERE band IS NOT NULL OR locked IS NOT NULL ORDER BY instrument"
            ).fetchall()
        return [
            {
                "instrument": k,
                "band": Decimal(b) if b else None,
                "locked": lk,
                "lower": Decimal(lo) if lk else None,
                "upper": Decimal(up) if lk else None,
                "on_lock": on,
            }
            for k, b, lk, lo, up, on in rows
        ]

    def set_partial(self, fraction: Decimal | None) -> None:
        """Admin: every fill takes at most `fraction` of what is left of its order (at least one lot); None: in full."""
        if fraction is not None and (not isinstance(fraction, (Decimal, int)) or not 0 < fraction <= 1):
            raise ValueError("a partial-fill fraction is a Decimal in (0, 1]")
        with self._tx() as c:
            if fraction is None or fraction == 1:
                c.execute("DELETE FROM fill_rules WHERE name = 'partial'")
            else:
                c.execute(
                    "INSERT OR REPLACE INTO fill_rules (name, value) VALUES ('partial', ?)", (str(Decimal(fraction)),)
                )
            self._rematch(c, None)

    def partial(self) -> Decimal | None:
        with self._tx() as c:
            row = c.execute("SELECT value FROM fill_rules WHERE name = 'partial'").fetchone()
        return Decimal(row[0]) if row else None

    @staticmethod
    def _locked(c: sqlite3.Connection, inst: Instrument) -> tuple[str, Decimal, str] | None:
        """(side, circuit price, on_lock) while the instrument is locked at a circuit, else None."""
        row = c.execute(
            "SELECT locked, lower, upper, on_lock FROM circuits WHERE instrument = ? AND locked IS NOT NULL",
            (inst.key,),
        ).fetchone()
        if row is None:
            return None
        return row[0], Decimal(row[1] if row[0] == "lower" else row[2]), row[3]

    @staticmethod
    def _check_trigger(side: str, trigger: Decimal, ltp: Decimal) -> None:
        # A modification that would trigger at once is refused (the order stays as it was).
        if side == "BUY" and trigger <= ltp:
            raise OrderInputError(
                f"trigger price {trigger} is not above the last price {ltp}",
                "a stop-loss BUY must trigger above the last traded price",
                "raise the trigger, or place a LIMIT/MARKET order",
            )
        if side == "SELL" and trigger >= ltp:
            raise OrderInputError(
                f"trigger price {trigger} is not below the last price {ltp}",
                "a stop-loss SELL must trigger below the last traded price",
                "lower the trigger, or place a LIMIT/MARKET order",
            )

    def _risk_rejection(
        self, c: sqlite3.Connection, inst: Instrument, r: OrderRequest, price: Decimal, trigger: Decimal, ltp: Decimal
    ) -> str | None:
        # Kite's RMS checks, in the order of its rejection article (see mci.brokers.kite_rules).
        signed = r.quantity if r.side == "BUY" else -r.quantity
        if r.quantity > rules.MAX_EQUITY_QUANTITY:
            return rules.QUANTITY_EXCEEDED
        key = (inst.exchange, inst.symbol, r.product)
        adds = self._increasing(self._projected(c, key), signed)
        # A blocked stock takes no new intraday exposure; closing what is held stays possible.
        if (
            r.product == "MIS"
            and adds > 0
            and c.execute("SELECT 1 FROM mis_blocked WHERE instrument = ?", (inst.key,)).fetchone()
        ):
            return rules.MIS_BLOCKED.format(symbol=inst.symbol)
        if price:
            lower, upper = self._circuit(c, inst, self.clock.now())
            if not lower <= price <= upper:
                return rules.CIRCUIT_EXCEEDED
        trigger_reason = self._trigger_rejection(r, trigger, ltp)
        if trigger_reason:
            return trigger_reason
        if r.product == "CNC" and r.side == "SELL":
            held = self._position_qty(c, inst.exchange, inst.symbol, "CNC")
            pending = c.execute(
                "SELECT COALESCE(SUM(quantity - filled_quantity), 0) FROM orders WHERE status IN (?, ?) AND exchange = ?"
                " AND symbol = ? AND product = 'CNC' AND side = 'SELL'",
                (*RESTING, inst.exchange, inst.symbol),
            ).fetchone()[0]
            if r.quantity + pending > held:
                return f"Insufficient holdings: {held} {inst.symbol} held in CNC, {pending} already on sell orders, {r.quantity} more asked (CNC cannot short)"
        reference = price or trigger or ltp
        required = adds * reference * self._margin_rate(inst.exchange, inst.symbol, r.product)
        if required > 0:
            available = self._funds(c, self.clock.now()).available
            if required > available:
                return rules.INSUFFICIENT_FUNDS.format(required=required, available=available)
        return None

    def _margin_rate(self, exchange: str, symbol: str, product: str) -> Decimal:
        if exchange == "NFO":
            inst = self.universe.get(exchange, symbol)
            return FUTURE_MARGIN if inst is None or inst.instrument_type == "FUT" else Decimal(1)
        return MARGIN_RATE.get(product, Decimal(1))

    @staticmethod
    def _increasing(position: int, signed: int) -> int:
        """How much of an order adds exposure, given the position it lands on."""
        if position == 0 or _sign(position) == _sign(signed):
            return abs(signed)
        return max(abs(signed) - abs(position), 0)

    def _position_qty(self, c: sqlite3.Connection, exchange: str, symbol: str, product: str) -> int:
        row = c.execute(
            "SELECT quantity FROM positions WHERE exchange = ? AND symbol = ? AND product = ?",
            (exchange, symbol, product),
        ).fetchone()
        return int(row[0]) if row else 0

    def _projected(self, c: sqlite3.Connection, key: tuple[str, str, str]) -> int:
        """The position as if every resting order of it filled: margin for a new order is what it adds beyond them."""
        pending = c.execute(
            "SELECT COALESCE(SUM(CASE side WHEN 'BUY' THEN quantity - filled_quantity ELSE filled_quantity - quantity END), 0)"
            " FROM orders WHERE status IN (?, ?) AND exchange = ? AND symbol = ? AND product = ?",
            (*RESTING, *key),
        ).fetchone()[0]
        return self._position_qty(c, *key) + int(pending)

    def _order_row(self, c: sqlite3.Connection, order_id: str) -> sqlite3.Row:
        c.row_factory = sqlite3.Row
        try:
            row: sqlite3.Row | None = c.execute("SELECT * FROM orders WHERE order_id = ?", (order_id,)).fetchone()
        finally:
            c.row_factory = None
        if row is None:
            raise UnknownOrderError(
                f"unknown order {order_id}",
                "the paper exchange has no order with that id",
                "list orders with `orders()` and use one of their ids",
                order_id=order_id,
            )
        return row

    def _set_status(
        self, c: sqlite3.Connection, order_id: str, status: str, now: datetime, message: str | None = None
    ) -> None:
        c.execute(
            "UPDATE orders SET status = ?, status_message = COALESCE(?, status_message), updated_at = ? WHERE order_id = ?",
            (status, message, _iso(now), order_id),
        )
        self._event(c, order_id, status, now, message)

    def _event(
        self, c: sqlite3.Connection, order_id: str, status: str, now: datetime, message: str | None = None
    ) -> None:
        n = c.execute("SELECT COALESCE(MAX(n), 0) + 1 FROM order_history WHERE order_id = ?", (order_id,)).fetchone()[0]
        c.execute(
            "INSERT INTO order_history (order_id, n, status, at, quantity, price, trigger_price, filled_quantity,"
            " average_price, message) SELECT order_id, ?, ?, ?, quantity, price, trigger_price, filled_quantity,"
            " average_price, ? FROM orders WHERE order_id = ?",
            (n, status, _iso(now), message, order_id),
        )

    def _resting_order(self, c: sqlite3.Connection, order_id: str, verb: str, how: str) -> sqlite3.Row:
        """The order's row, or OrderStateError when it is no longer open (only resting orders change)."""
        row = self._order_row(c, order_id)
        if row["status"] not in RESTING:
            raise OrderStateError(
                f"order {order_id} cannot be {verb}: it is {row['status']}",
                f"only open or trigger-pending orders can be {verb}",
                how,
                order_id=order_id,
            )
        return row

    def cancel_order(self, order_id: str, *, variety: str | None = None, parent_order_id: str | None = None) -> None:
        """Cancel a resting order; `variety` (when given) must be the order's own, as Kite routes it.

        A cover order's stop-loss leg is exited, not cancelled: with its parent_order_id it turns into a MARKET
        order and fills now (Kite's exit_order); without it the simulator refuses (kite_rules.CO_EXIT_NEEDS_PARENT).
        """
        now = self.clock.now()
        with self._tx() as c:
            self._match(c, now)
            row = self._resting_order(
                c, order_id, "cancelled", "check the order's status; a completed order is closed with an opposite order"
            )
            if variety is not None and variety != row["variety"]:
                # Kite routes a cancel by variety (/orders/:variety/:order_id): https://kite.trade/forum/discussion/comment/6649
                raise OrderInputError(
                    f"order {order_id} is a {row['variety']} order, not {variety}",
                    "an order is cancelled on the route of its own variety",
                    f"cancel it with variety {row['variety']!r}",
                    order_id=order_id,
                )
            if row["parent_order_id"]:
                if parent_order_id != row["parent_order_id"]:
                    raise OrderInputError(
                        rules.CO_EXIT_NEEDS_PARENT,
                        f"order {order_id} is the stop-loss leg of cover order {row['parent_order_id']}",
                        f"exit it: cancel with variety co and parent_order_id {row['parent_order_id']} (kiteconnect exit_order)",
                        order_id=order_id,
                        kite_message=rules.CO_EXIT_NEEDS_PARENT,
                    )
                c.execute(
                    "UPDATE orders SET order_type = 'MARKET', trigger_price = '0' WHERE order_id = ?", (order_id,)
                )
                self._set_status(
                    c, order_id, "OPEN", now, "exited: the cover order's stop-loss leg is squared off at market"
                )
                self._match_order(c, self._order_row(c, order_id), now, on_arrival=True)
                return
            c.execute(
                "UPDATE orders SET cancelled_quantity = quantity - filled_quantity WHERE order_id = ?", (order_id,)
            )
            self._set_status(c, order_id, "CANCELLED", now)

    def modify_order(
        self,
        order_id: str,
        *,
        quantity: int | None = None,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
        market_protection: Decimal | None = None,
    ) -> None:
        now = self.clock.now()
        with self._tx() as c:
            self._match(c, now)
            row = self._resting_order(c, order_id, "modified", "place a new order instead")
            done = c.execute(
                "SELECT COUNT(*) FROM order_history WHERE order_id = ? AND status = 'MODIFY PENDING'", (order_id,)
            ).fetchone()[0]
            if done >= rules.MAX_MODIFICATIONS:
                # Kite: at most 25 modifications per order (see mci.brokers.kite_rules).
                raise OrderStateError(
                    rules.MODIFICATIONS_EXCEEDED,
                    f"order {order_id} has been modified {done} times; Kite allows {rules.MAX_MODIFICATIONS}",
                    "cancel the order and place a new one with the changes",
                    order_id=order_id,
                    kite_message=rules.MODIFICATIONS_EXCEEDED,
                )
            request = OrderRequest(
                exchange=row["exchange"],
                symbol=row["symbol"],
                side=row["side"],
                quantity=row["quantity"] if quantity is None else quantity,
                order_type=row["order_type"],
                product=row["product"],
                price=Decimal(row["price"]) if price is None else price,
                trigger_price=Decimal(row["trigger_price"]) if trigger_price is None else trigger_price,
                market_protection=Decimal(row["market_protection"]) if market_protection is None else market_protection,
                variety=row["variety"],
            )  # no tag: a modification cannot change it
            inst, new_price, new_trigger = self._validate(request)
            if quantity is not None:
                self._check_freeze(c, inst, request.quantity)
            if row["status"] == "TRIGGER PENDING":
                self._check_trigger(request.side, new_trigger, self._price(c, inst, now))
            resting = row["status"]
            self._set_status(c, order_id, "MODIFY VALIDATION PENDING", now)
            c.execute(
                "UPDATE orders SET quantity = ?, price = ?, trigger_price = ?, market_protection = ? WHERE order_id = ?",
                (request.quantity, str(new_price), str(new_trigger), str(request.market_protection or 0), order_id),
            )
            self._set_status(c, order_id, "MODIFY PENDING", now)
            self._set_status(c, order_id, resting, now)
            self._match_order(c, self._order_row(c, order_id), now, on_arrival=True)
            self._mark_matched(c, inst, self._price(c, inst, now))

    # ------------------------------------------------------------ matching

    def match(self, now: datetime | None = None) -> None:
        """Fill or trigger resting orders whose price is touched at `now` (default: the clock)."""
        with self._tx() as c:
            self._match(c, now or self.clock.now())

    def _match(self, c: sqlite3.Connection, now: datetime) -> None:
        """Match the resting orders of every instrument whose price moved since they were last matched.

        At the price they were last matched at and stayed resting, they cannot fill or trigger (a
        resting order's fate depends on the price alone), so those instruments are skipped; the rest
        are matched together in time priority, as one scan of the whole book would. Within one market
        minute and unchanged overrides no price can have moved, and nothing is read but one row.
        """
        overrides = {
            k: (pinned, factor)
            for k, pinned, factor in c.execute("SELECT instrument, pinned, factor FROM price_overrides")
        }
        minute = market_minute(now)
        # Every price is a function of these: when the last match of the book (by any process) saw the same,
        # every instrument still stands at the price its resting orders were matched at.
        prices_at = f"{self._prices_id}|{minute}|{sorted(overrides.items())}"
        row = c.execute("SELECT price FROM match_marks WHERE instrument = ?", (_BOOK,)).fetchone()
        if row is not None and row[0] == prices_at:
            return
        marks = dict(c.execute("SELECT instrument, price FROM match_marks").fetchall())
        moved: list[tuple[Instrument, Decimal]] = []
        for exchange, symbol in c.execute("SELECT DISTINCT exchange, symbol FROM resting_keys").fetchall():
            inst = self.universe.get(exchange, symbol)
            if inst is None:  # the universe shrank under an old order: left for an operator (see _match_order)
                continue
            price = self._overridden(inst, minute, overrides.get(inst.key))
            if marks.get(inst.key) != str(price):
                moved.append((inst, price))
        if moved:
            self._match_moved(c, moved, now)
        c.execute("INSERT OR REPLACE INTO match_marks (instrument, price) VALUES (?, ?)", (_BOOK, prices_at))

    def _match_moved(self, c: sqlite3.Connection, moved: list[tuple[Instrument, Decimal]], now: datetime) -> None:
        c.row_factory = sqlite3.Row
        try:
            rows = [row for inst, price in moved for row in c.execute(_REACHABLE, self._reach(inst, price)).fetchall()]
        finally:
            c.row_factory = None
        for row in sorted(rows, key=lambda r: r["seq"]):
            self._match_order(c, row, now, on_arrival=False)
        for inst, price in moved:
            self._mark_matched(c, inst, price)

    @staticmethod
    def _reach(inst: Instrument, price: Decimal) -> dict[str, object]:
        # Binary floats only narrow the candidates, with a margin far above their error; _match_order decides exactly.
        return {
            "exchange": inst.exchange,
            "symbol": inst.symbol,
            "lo": float(price) * (1 - 1e-9),
            "hi": float(price) * (1 + 1e-9),
        }

    @staticmethod
    def _mark_matched(c: sqlite3.Connection, inst: Instrument, price: Decimal) -> None:
        """Every resting order of `inst` has just been matched at `price` (see _match)."""
        c.execute("INSERT OR REPLACE INTO match_marks (instrument, price) VALUES (?, ?)", (inst.key, str(price)))

    def _match_order(self, c: sqlite3.Connection, row: sqlite3.Row, now: datetime, *, on_arrival: bool) -> None:
        inst = self.universe.get(row["exchange"], row["symbol"])
        if inst is None:  # the universe shrank under an old order: leave it for an operator
            return
        ltp = self._price(c, inst, now)
        buy = row["side"] == "BUY"
        kind = row["order_type"]
        limit = Decimal(row["price"])
        if row["status"] == "TRIGGER PENDING":
            trigger = Decimal(row["trigger_price"])
            if not (ltp >= trigger if buy else ltp <= trigger):
                return
            self._set_status(c, row["order_id"], "OPEN", now)
            on_arrival = True  # a triggered stop arrives at the book as a fresh order
        locked = self._locked(c, inst)
        if locked is not None and (locked[0] == "lower") != buy:
            # Locked at the circuit with no counter-side: nothing on this side fills (see kite_rules, circuits).
            self._no_counter_side(c, row, locked, now, on_arrival=on_arrival)
            return
        slipped = self._slipped(ltp, buy, inst)
        if kind in ("MARKET", "SL-M") and limit:
            fill = min(limit, slipped) if buy else max(limit, slipped)  # a protected market order rests as a limit
        elif kind in ("MARKET", "SL-M"):
            fill = slipped
        elif buy and ltp <= limit:
            fill = min(limit, slipped) if on_arrival else limit
        elif not buy and ltp >= limit:
            fill = max(limit, slipped) if on_arrival else limit
        else:
            return
        self._fill(c, row, inst, fill, now)

    def _no_counter_side(
        self,
        c: sqlite3.Connection,
        row: sqlite3.Row,
        locked: tuple[str, Decimal, str],
        now: datetime,
        *,
        on_arrival: bool,
    ) -> None:
        """A market order arriving at a locked circuit becomes a limit at the circuit price (Kite's market
        protection), or, with on_lock='cancel', the exchange cancels it with the LPP message."""
        if not on_arrival or row["order_type"] not in ("MARKET", "SL-M"):
            return
        side, at, on_lock = locked
        if on_lock == "cancel":
            c.execute(
                "UPDATE orders SET cancelled_quantity = quantity - filled_quantity WHERE order_id = ?",
                (row["order_id"],),
            )
            self._set_status(c, row["order_id"], "CANCELLED", now, rules.LPP_CANCELLED)
        elif not Decimal(row["price"]):
            c.execute("UPDATE orders SET price = ? WHERE order_id = ?", (str(at), row["order_id"]))
            self._event(c, row["order_id"], row["status"], now)  # its history shows the limit it now rests at

    def _slipped(self, ltp: Decimal, buy: bool, inst: Instrument) -> Decimal:
        # The buyer pays up and the seller receives less, each rounded against them to the tick.
        if buy:
            return round_to_tick(ltp * (1 + self._slippage), inst.tick_size, ROUND_CEILING)
        return max(round_to_tick(ltp * (1 - self._slippage), inst.tick_size, ROUND_FLOOR), inst.tick_size)

    def _fill(self, c: sqlite3.Connection, row: sqlite3.Row, inst: Instrument, price: Decimal, now: datetime) -> None:
        left = row["quantity"] - row["filled_quantity"]
        qty = self._fill_quantity(c, inst, left)
        seq = self._next(c, "trade")
        c.execute(
            "INSERT INTO trades (trade_id, seq, order_id, exchange, symbol, side, product, quantity, price, filled_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                str(10_000_000 + seq),
                seq,
                row["order_id"],
                inst.exchange,
                inst.symbol,
                row["side"],
                row["product"],
                qty,
                str(price),
                _iso(now),
            ),
        )
        self._apply_fill(c, inst.exchange, inst.symbol, row["product"], qty if row["side"] == "BUY" else -qty, price)
        filled = row["filled_quantity"] + qty
        average = (
            (Decimal(row["average_price"]) * row["filled_quantity"] + price * qty) / filled
            if row["filled_quantity"]
            else price
        )
        c.execute(
            "UPDATE orders SET filled_quantity = ?, average_price = ? WHERE order_id = ?",
            (filled, str(average.quantize(_SUBPAISE) if row["filled_quantity"] else price), row["order_id"]),
        )
        # A remainder rests in the book (kite_rules: partial fills); it fills again when the price next moves.
        self._set_status(c, row["order_id"], "COMPLETE" if qty == left else "OPEN", now)

    @staticmethod
    def _fill_quantity(c: sqlite3.Connection, inst: Instrument, left: int) -> int:
        """What one fill takes of `left`: all of it, or the partial-fill fraction (whole lots, at least one)."""
        row = c.execute("SELECT value FROM fill_rules WHERE name = 'partial'").fetchone()
        if row is None:
            return left
        lots = int(left * Decimal(row[0]) / inst.lot_size)
        return min(left, max(lots, 1) * inst.lot_size)

    def _apply_fill(
        self, c: sqlite3.Connection, exchange: str, symbol: str, product: str, signed: int, price: Decimal
    ) -> None:
        """Net-position accounting at average cost; when flat, realised is exactly sells - buys."""
        row = c.execute(
            "SELECT quantity, open_cost, realised, buy_quantity, buy_value, sell_quantity, sell_value FROM positions"
            " WHERE exchange = ? AND symbol = ? AND product = ?",
            (exchange, symbol, product),
        ).fetchone()
        q0, cost, realised = (int(row[0]), Decimal(row[1]), Decimal(row[2])) if row else (0, Decimal(0), Decimal(0))
        bq, bv, sq, sv = (
            (int(row[3]), Decimal(row[4]), int(row[5]), Decimal(row[6])) if row else (0, Decimal(0), 0, Decimal(0))
        )
        if signed > 0:
            bq, bv = bq + signed, bv + signed * price
        else:
            sq, sv = sq - signed, sv - signed * price
        if q0 == 0 or _sign(q0) == _sign(signed):
            cost += signed * price
        else:
            closing = min(abs(q0), abs(signed))
            removed = cost if closing == abs(q0) else (cost * closing / abs(q0)).quantize(_SUBPAISE)
            realised += _sign(q0) * closing * price - removed
            cost -= removed
            remainder = abs(signed) - closing
            if remainder:  # the fill flipped the position: the rest opens at this price
                cost = _sign(signed) * remainder * price
        c.execute(
            "INSERT OR REPLACE INTO positions (exchange, symbol, product, quantity, open_cost, realised, buy_quantity,"
            " buy_value, sell_quantity, sell_value) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (exchange, symbol, product, q0 + signed, str(cost), str(realised), bq, str(bv), sq, str(sv)),
        )

    # ------------------------------------------------------------ reads

    def _order_record(self, row: sqlite3.Row) -> OrderRecord:
        inst = self.universe.get(row["exchange"], row["symbol"])
        return OrderRecord(
            order_id=row["order_id"],
            exchange=row["exchange"],
            symbol=row["symbol"],
            instrument_token=inst.token if inst else 0,
            side=row["side"],
            quantity=row["quantity"],
            order_type=row["order_type"],
            product=row["product"],
            price=Decimal(row["price"]),
            trigger_price=Decimal(row["trigger_price"]),
            status=row["status"],
            status_message=row["status_message"],
            tag=row["tag"],
            placed_at=_dt(row["placed_at"]),  # type: ignore[arg-type]
            updated_at=_dt(row["updated_at"]),  # type: ignore[arg-type]
            filled_quantity=row["filled_quantity"],
            average_price=Decimal(row["average_price"]),
            cancelled_quantity=row["cancelled_quantity"],
            market_protection=Decimal(row["market_protection"]),
            variety=row["variety"],
            parent_order_id=row["parent_order_id"],
        )

    def _select(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        now = self.clock.now()
        with self._tx() as c:
            self._match(c, now)
            c.row_factory = sqlite3.Row
            try:
                return c.execute(sql, args).fetchall()
            finally:
                c.row_factory = None

    def orders(self) -> list[OrderRecord]:
        return [self._order_record(r) for r in self._select("SELECT * FROM orders ORDER BY seq")]

    def order(self, order_id: str) -> OrderRecord:
        rows = self._select("SELECT * FROM orders WHERE order_id = ?", (order_id,))
        if not rows:
            with self._tx() as c:
                self._order_row(c, order_id)  # raises UnknownOrderError
        return self._order_record(rows[0])

    def orders_by_tag(self, tag: str) -> list[OrderRecord]:
        """Every order carrying `tag`, oldest first: look here before re-sending a timed-out order."""
        return [self._order_record(r) for r in self._select("SELECT * FROM orders WHERE tag = ? ORDER BY seq", (tag,))]

    def order_history(self, order_id: str) -> list[OrderEvent]:
        rows = self._select("SELECT * FROM order_history WHERE order_id = ? ORDER BY n", (order_id,))
        if not rows:
            self.order(order_id)  # raises UnknownOrderError
        return [
            OrderEvent(
                order_id=r["order_id"],
                status=r["status"],
                at=_dt(r["at"]),  # type: ignore[arg-type]
                quantity=r["quantity"],
                price=Decimal(r["price"]),
                trigger_price=Decimal(r["trigger_price"]),
                filled_quantity=r["filled_quantity"],
                average_price=Decimal(r["average_price"]),
                message=r["message"],
            )
            for r in rows
        ]

    def modified_order_ids(self) -> set[str]:
        """The orders ever modified, in one read: the order book lists hundreds of orders, one query each is slow."""
        return {
            r["order_id"]
            for r in self._select("SELECT DISTINCT order_id FROM order_history WHERE status = ?", ("MODIFY PENDING",))
        }

    def _trade_records(self, rows: list[sqlite3.Row]) -> list[TradeRecord]:
        out = []
        for r in rows:
            inst = self.universe.get(r["exchange"], r["symbol"])
            out.append(
                TradeRecord(
                    trade_id=r["trade_id"],
                    order_id=r["order_id"],
                    exchange=r["exchange"],
                    symbol=r["symbol"],
                    instrument_token=inst.token if inst else 0,
                    side=r["side"],
                    product=r["product"],
                    quantity=r["quantity"],
                    price=Decimal(r["price"]),
                    filled_at=_dt(r["filled_at"]),  # type: ignore[arg-type]
                )
            )
        return out

    def trades(self) -> list[TradeRecord]:
        return self._trade_records(self._select("SELECT * FROM trades ORDER BY seq"))

    def order_trades(self, order_id: str) -> list[TradeRecord]:
        rows = self._select("SELECT * FROM trades WHERE order_id = ? ORDER BY seq", (order_id,))
        if not rows:
            self.order(order_id)  # raises UnknownOrderError
        return self._trade_records(rows)

    def _position_records(self, c: sqlite3.Connection, now: datetime) -> list[PositionRecord]:
        out = []
        for e, s, p, q, cost, realised, bq, bv, sq, sv in c.execute(
            "SELECT exchange, symbol, product, quantity, open_cost, realised, buy_quantity, buy_value, sell_quantity,"
            " sell_value FROM positions ORDER BY exchange, symbol, product"
        ).fetchall():
            inst = self.universe.get(e, s)
            qty, open_cost = int(q), Decimal(cost)
            # An instrument no longer listed is valued at cost: no invented profit.
            last = self._price(c, inst, now) if inst else (open_cost / qty if qty else Decimal(0))
            out.append(
                PositionRecord(
                    exchange=e,
                    symbol=s,
                    instrument_token=inst.token if inst else 0,
                    product=p,
                    quantity=qty,
                    average_price=(open_cost / qty).quantize(_SUBPAISE) if qty else Decimal(0),
                    last_price=last,
                    realised=Decimal(realised),
                    unrealised=qty * last - open_cost,
                    buy_quantity=int(bq),
                    buy_value=Decimal(bv),
                    sell_quantity=int(sq),
                    sell_value=Decimal(sv),
                )
            )
        return out

    def positions(self) -> list[PositionRecord]:
        """Every position of the account, flat ones included (their realised P&L stays, as in Kite's `net`)."""
        now = self.clock.now()
        with self._tx() as c:
            self._match(c, now)
            return self._position_records(c, now)

    def _order_margin(self, c: sqlite3.Connection, now: datetime) -> Decimal:
        """What the resting orders block: per position key, what each adds beyond the position and the orders before it.

        A key's amount is kept in margin_marks until one of its orders or its position changes (the
        sums are exact, so adding them key by key gives the amount one pass over the book would).
        """
        kept = {
            (e, s, p): blocked
            for e, s, p, blocked in c.execute("SELECT exchange, symbol, product, blocked FROM margin_marks")
        }
        blocked = Decimal(0)
        for key in c.execute(
            "SELECT exchange, symbol, product FROM resting_keys ORDER BY exchange, symbol, product"
        ).fetchall():
            if key in kept:
                blocked += Decimal(kept[key])
                continue
            amount, priced = self._key_margin(c, key, now)
            if not priced:  # an amount that leans on the market price changes with it: never kept
                c.execute(
                    "INSERT OR REPLACE INTO margin_marks (exchange, symbol, product, blocked) VALUES (?, ?, ?, ?)",
                    (*key, str(amount)),
                )
            blocked += amount
        return blocked

    def _key_margin(self, c: sqlite3.Connection, key: tuple[str, str, str], now: datetime) -> tuple[Decimal, bool]:
        """The margin the resting orders of one position key block, and whether it used the market price."""
        exchange, symbol, product = key
        projected, blocked, priced = self._position_qty(c, *key), Decimal(0), False
        for side, quantity, filled, price, trigger in c.execute(
            "SELECT side, quantity, filled_quantity, price, trigger_price FROM orders"
            " WHERE status IN (?, ?) AND exchange = ? AND symbol = ? AND product = ? ORDER BY seq",
            (*RESTING, *key),
        ).fetchall():
            left = quantity - filled
            signed = left if side == "BUY" else -left
            reference = Decimal(price) or Decimal(trigger)
            if not reference:
                inst = self.universe.get(exchange, symbol)
                reference, priced = (self._price(c, inst, now) if inst else Decimal(0)), True
            blocked += self._increasing(projected, signed) * reference * self._margin_rate(exchange, symbol, product)
            projected += signed
        return blocked, priced

    def _funds(self, c: sqlite3.Connection, now: datetime) -> FundsRecord:
        opening = Decimal(c.execute("SELECT opening_cash FROM account WHERE id = 1").fetchone()[0])
        positions = self._position_records(c, now)
        realised = sum((p.realised for p in positions), Decimal(0))
        unrealised = sum((p.unrealised for p in positions), Decimal(0))
        loss = sum((-p.unrealised for p in positions if p.unrealised < 0), Decimal(0))
        position_margin = sum(
            (
                abs(Decimal(cost)) * self._margin_rate(exchange, symbol, product)
                for exchange, symbol, product, cost in c.execute(
                    "SELECT exchange, symbol, product, open_cost FROM positions WHERE quantity != 0"
                )
            ),
            Decimal(0),
        )
        order_margin = self._order_margin(c, now)
        used = position_margin + order_margin + loss
        return FundsRecord(
            opening, realised, unrealised, position_margin, order_margin, used, opening + realised - used
        )

    def funds(self) -> FundsRecord:
        now = self.clock.now()
        with self._tx() as c:
            self._match(c, now)
            return self._funds(c, now)

    # ------------------------------------------------------------ admin (tests and drills)

    @property
    def slippage(self) -> Decimal:
        return self._slippage

    def set_cash(self, amount: Decimal) -> None:
        """Admin: set the account's opening cash."""
        if not isinstance(amount, (Decimal, int)) or amount < 0:
            raise ValueError("cash must be a non-negative Decimal")
        with self._tx() as c:
            c.execute("UPDATE account SET opening_cash = ? WHERE id = 1", (str(Decimal(amount)),))

    def set_slippage(self, slippage: Decimal) -> None:
        if not isinstance(slippage, (Decimal, int)) or not 0 <= slippage < 1:
            raise ValueError("slippage must be a Decimal fraction in [0, 1)")
        with self._tx() as c:
            c.execute("UPDATE account SET slippage = ? WHERE id = 1", (str(Decimal(slippage)),))
        self._slippage = Decimal(slippage)

    def set_mis_blocked(self, exchange: str, symbol: str, blocked: bool) -> None:
        """Admin: block (or unblock) new intraday (MIS) exposure in an instrument, as Kite's RMS does for some stocks."""
        inst = self._instrument(exchange, symbol)
        with self._tx() as c:
            if blocked:
                c.execute(
                    "INSERT OR REPLACE INTO mis_blocked (instrument, set_at) VALUES (?, ?)",
                    (inst.key, _iso(self.clock.now())),
                )
            else:
                c.execute("DELETE FROM mis_blocked WHERE instrument = ?", (inst.key,))

    def mis_blocked(self) -> list[str]:
        with self._tx() as c:
            return [r[0] for r in c.execute("SELECT instrument FROM mis_blocked ORDER BY instrument")]

    def seed_position(
        self,
        exchange: str,
        symbol: str,
        product: str,
        quantity: int,
        average_price: Decimal,
        *,
        realised: Decimal = Decimal(0),
    ) -> None:
        """Admin: set a position outright (e.g. an overnight holding for a shutdown drill); no trade is recorded."""
        inst = self._instrument(exchange, symbol)
        if product not in PRODUCTS:
            raise ValueError(f"product must be one of {PRODUCTS}")
        if not isinstance(average_price, (Decimal, int)) or average_price < 0:
            raise ValueError("average_price must be a non-negative Decimal")
        cost = quantity * Decimal(average_price)
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO positions (exchange, symbol, product, quantity, open_cost, realised, buy_quantity,"
                " buy_value, sell_quantity, sell_value) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    inst.exchange, inst.symbol, product, quantity, str(cost), str(Decimal(realised)),
                    max(quantity, 0), str(cost if quantity > 0 else 0), max(-quantity, 0), str(-cost if quantity < 0 else 0),
                ),
            )  # fmt: skip

    # ------------------------------------------------------------ GTTs (issue 13)

    def place_gtt(self, body: dict[str, Any]) -> int:
        """Record a GTT (Kite's `type`, `condition`, `orders`) as active; returns its trigger id.

        The simulator keeps and serves GTTs; it does not fire them (a GTT's orders are never placed here)."""
        import json

        now = _iso(self.clock.now())
        with self._tx() as c:
            cur = c.execute(
                "INSERT INTO gtts (body, status, created_at, updated_at) VALUES (?, 'active', ?, ?)",
                (json.dumps(body, default=str), now, now),
            )
            return int(cur.lastrowid or 0)

    def gtts(self) -> list[dict[str, Any]]:
        """Every GTT of the account, newest first: {id, status, created_at, updated_at, body}."""
        import json

        with self._tx() as c:
            rows = c.execute("SELECT id, body, status, created_at, updated_at FROM gtts ORDER BY id DESC").fetchall()
        return [
            {
                "id": i,
                "status": st,
                "created_at": _dt(ca),
                "updated_at": _dt(ua),
                "body": json.loads(b, parse_float=Decimal),
            }
            for i, b, st, ca, ua in rows
        ]

    def gtt(self, trigger_id: int) -> dict[str, Any]:
        for g in self.gtts():
            if g["id"] == trigger_id:
                return g
        raise UnknownOrderError(
            f"unknown GTT {trigger_id}",
            "the account has no GTT with that id",
            "list the GTTs (GET /gtt/triggers) and use one of their ids",
            trigger_id=trigger_id,
        )

    def modify_gtt(self, trigger_id: int, body: dict[str, Any]) -> None:
        import json

        self._gtt_active(trigger_id, "modified")
        with self._tx() as c:
            c.execute(
                "UPDATE gtts SET body = ?, updated_at = ? WHERE id = ?",
                (json.dumps(body, default=str), _iso(self.clock.now()), trigger_id),
            )

    def delete_gtt(self, trigger_id: int) -> None:
        """Delete an active GTT (its status becomes `deleted`, as Kite lists it)."""
        self._gtt_active(trigger_id, "deleted")
        with self._tx() as c:
            c.execute(
                "UPDATE gtts SET status = 'deleted', updated_at = ? WHERE id = ?", (_iso(self.clock.now()), trigger_id)
            )

    def _gtt_active(self, trigger_id: int, verb: str) -> None:
        status = self.gtt(trigger_id)["status"]
        if status != "active":
            raise OrderStateError(
                f"GTT {trigger_id} cannot be {verb}: it is {status}",
                "only an active GTT changes",
                "list the GTTs and act on the active ones",
                trigger_id=trigger_id,
            )

    # ------------------------------------------------------------ sessions

    def issue_session(self, user_id: str) -> tuple[str, datetime, datetime]:
        """A new access token, valid until the next 06:00 IST. Only its hash is stored."""
        import secrets  # here, not at the top: random & co. are a few ms of every paper scan that issues nothing

        token = secrets.token_urlsafe(24)
        issued = self.clock.now().astimezone(zone(IST))
        expires = session_expiry(issued)
        with self._tx() as c:
            c.execute(
                "INSERT INTO sessions (token_hash, user_id, issued_at, expires_at) VALUES (?, ?, ?, ?)",
                (_token_hash(token), user_id, _iso(issued), _iso(expires)),
            )
        return token, issued, expires

    def _session_record(self, row: tuple[Any, ...], now: datetime) -> SessionRecord:
        user_id, issued_s, expires_s, invalidated_s = row
        issued, expires, invalidated = _dt(issued_s), _dt(expires_s), _dt(invalidated_s)
        assert issued is not None and expires is not None
        if invalidated is not None:
            valid, reason = False, f"the session was invalidated at {invalidated:%Y-%m-%d %H:%M:%S %Z}"
        elif now >= expires:
            valid, reason = False, f"the session expired at {expires:%Y-%m-%d %H:%M:%S %Z}"
        elif now < issued:
            valid, reason = False, f"the session is issued in the future ({issued:%Y-%m-%d %H:%M:%S %Z})"
        else:
            valid, reason = True, ""
        return SessionRecord(user_id, issued, expires, invalidated, valid, reason)

    def session_for(self, token: str) -> SessionRecord | None:
        """The session of an access token, valid or not; None for a token never issued."""
        with self._tx() as c:
            row = c.execute(
                "SELECT user_id, issued_at, expires_at, invalidated_at FROM sessions WHERE token_hash = ?",
                (_token_hash(token),),
            ).fetchone()
        return self._session_record(row, self.clock.now()) if row else None

    def latest_session(self, user_id: str) -> SessionRecord | None:
        """The newest session issued to `user_id` at or before now (another process may have issued it)."""
        now = self.clock.now()
        with self._tx() as c:
            row = c.execute(
                "SELECT user_id, issued_at, expires_at, invalidated_at FROM sessions WHERE user_id = ? AND issued_at <= ?"
                " ORDER BY issued_at DESC LIMIT 1",
                (user_id, _iso(now)),
            ).fetchone()
        return self._session_record(row, now) if row else None

    def invalidate(self, token: str) -> bool:
        """End a session (logout). False if the token was never issued."""
        with self._tx() as c:
            cur = c.execute(
                "UPDATE sessions SET invalidated_at = COALESCE(invalidated_at, ?) WHERE token_hash = ?",
                (_iso(self.clock.now()), _token_hash(token)),
            )
            return cur.rowcount > 0

    def invalidate_user(self, user_id: str) -> int:
        with self._tx() as c:
            cur = c.execute(
                "UPDATE sessions SET invalidated_at = ? WHERE user_id = ? AND invalidated_at IS NULL",
                (_iso(self.clock.now()), user_id),
            )
            return cur.rowcount
