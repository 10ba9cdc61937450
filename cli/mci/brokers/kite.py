"""The `kite` broker: the Broker protocol over the official `kiteconnect` client.

- The access token comes from the profile's encrypted token store (or
  MCI_ACCESS_TOKEN, which open_token_store honours); it lives only inside the
  client object: never in a repr, an exception text or a log line.
- Every failure becomes an MciError with WHAT / WHY / HOW: a refused token says
  "run `mci token login`", network trouble, 429 and 5xx are UnavailableError
  (exit 3, what a breaker counts), a refused request or order is FAILED.
- Only what a retry may cure is retried (tenacity: exponential backoff with
  jitter, a few attempts, short waits): network errors, 429 and 5xx. Never an
  InputException, OrderException or TokenException.
- place_order is idempotent: every order carries a unique tag (≤ 20 chars);
  after an ambiguous failure (timeout, connection reset, 5xx) the tag is looked
  up in the order book before anything is re-sent, and when the book cannot be
  read the order is reported as unknown rather than sent twice.
- Amounts arrive as JSON numbers; they become Decimal from their shortest text
  (what Kite wrote on the wire), never through float arithmetic.
- Every request, each retry and tag look-up included, is admitted by the account's
  rate limiter (mci.brokers.ratelimit: order actions, quotes, the rest), which every
  process of this user on the host shares: `broker.limiter`.
"""

from __future__ import annotations

import random
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, TypeVar

from mci.brokers import kite_rules
from mci.brokers.base import Funds, Gtt, InstrumentSpec, Order, OrderRequest, Position, SessionInfo
from mci.brokers.errors import is_kite_error, unreachable
from mci.brokers.ratelimit import ORDER, OTHER, QUOTE, RateLimiter, for_account
from mci.clock import IST, Clock, zone
from mci.errors import ConfigError, ExitCode, MciError, UnavailableError
from mci.observability.redact import redact

if TYPE_CHECKING:
    from mci.brokers.kite_stream import KiteStream
    from mci.config.model import Profile
    from mci.store.token_store import TokenRecord

T = TypeVar("T")

VARIETY = "regular"
TAG_PREFIX = "mci"
LOGIN_HOW = "run `mci token login` for this profile (a Kite token dies at 06:00 IST the next morning)"
# An order id no Kite order can have (theirs are 15-16 digits): cancelling it proves the write path without trading.
PROBE_ORDER_ID = "0"
# Kite's exact words for an unregistered IP are not published: any refused write that speaks of the IP is one,
# whatever its error_type, so the order_path probe never mistakes it for "no such order" (a false pass).
_IP_REFUSAL = re.compile(r"\bIP\b|whitelist|static ip", re.IGNORECASE)
DEFAULT_ROOT = "https://api.kite.trade"  # kiteconnect's own default
# What Kite rate-limits together (mci.brokers.ratelimit): the client's method names, by bucket.
_CATEGORY = {
    "place_order": ORDER,
    "modify_order": ORDER,
    "cancel_order": ORDER,
    "quote": QUOTE,
    "ltp": QUOTE,
    "ohlc": QUOTE,
}


def new_tag() -> str:
    """A unique order tag: 'mci' + 16 hex digits (19 chars; Kite allows 20)."""
    return TAG_PREFIX + secrets.token_hex(8)


def _dec(value: Any) -> Decimal:
    """A JSON number as Decimal, from its shortest text (repr of a float is what the wire carried)."""
    if value is None or value == "":
        return Decimal(0)
    if isinstance(value, bool):
        raise ValueError("a boolean is not an amount")
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    try:
        return Decimal(repr(value) if not isinstance(value, str) else value)
    except InvalidOperation:
        raise ValueError(f"not an amount: {value!r}") from None


def _local(value: Any, clock: Clock) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone(IST))
    if isinstance(value, str) and value:
        try:
            return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone(IST))
        except ValueError:
            pass
    return clock.now()


class NoSlot(UnavailableError):
    """The rate limiter had no slot before the caller's deadline: the request was not sent."""


def is_transient(exc: BaseException) -> bool:
    """What a retry may cure: network errors, 429 and 5xx. Never a refused input, order or token."""
    if isinstance(exc, NoSlot) or getattr(exc, "details", {}).get("rate_limit") == "day":
        return False  # the deadline has passed, or the day's budget is used: another try cannot help
    return isinstance(exc, UnavailableError) or unreachable(exc)


def is_ambiguous(exc: BaseException) -> bool:
    """A failure after which an order may or may not exist (not a clean 429 refusal)."""
    return is_transient(exc) and getattr(exc, "code", None) != 429


@dataclass(frozen=True)
class RetrySettings:
    attempts: int = 3  # total tries, the first included
    initial: float = 0.2  # seconds
    max_wait: float = 2.0
    jitter: float = 0.2


class KiteBroker:
    name = "kite"
    no_token_why = "this profile has no stored session (a graceful shutdown keeps one for `mci kill` until 06:00 IST)"

    def __init__(
        self,
        api_key: str,
        *,
        clock: Clock,
        token: "TokenRecord | None",
        root: str | None = None,
        timeout: float = 7.0,
        api_secret: str | None = None,
        retry: RetrySettings = RetrySettings(),
        kite: Any = None,
        market_protection: Decimal = kite_rules.AUTO_MARKET_PROTECTION,
        limiter: RateLimiter | None = None,
    ):
        if not api_key:
            raise ConfigError(
                "the kite broker has no api_key",
                "every Kite request is signed with the app's api_key",
                "set broker.api_key: ${env:KITE_API_KEY} and export it",
            )
        if kite_rules.market_protection_value(market_protection) is None:
            raise ConfigError(
                f"market protection {market_protection} is not one Kite accepts",
                "Kite refuses MARKET and SL-M orders without market protection, and 0 too",
                "set broker.market_protection to -1 (automatic) or a percentage above 0 up to 100",
            )
        self.market_protection = Decimal(market_protection)
        self.clock = clock
        self.root = root
        self._api_key = api_key
        self._api_secret = api_secret
        self._token = token
        from mci.observability.redact import register

        register(api_secret)  # logs and notifications mask it (mci.observability.redact.scrub)
        self._retry = retry
        self._last_date: datetime | None = None
        # One limiter per account on this host (not per broker object): steps and processes share it.
        self.limiter = limiter or for_account(root or DEFAULT_ROOT, api_key, request_timeout=timeout)
        self._timeout = timeout
        self._client: Any = None
        self._client_lock = threading.Lock()  # two threads' first requests must share one client
        if kite is not None:
            self._adopt(kite)

    @property
    def _kite(self) -> Any:
        # Built on the first request: importing kiteconnect's REST client (requests, urllib3, dateutil: ~60 ms)
        # was most of a token-less Kite scan, whose token check answers without a request (issue 19).
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    from mci.brokers.kite_client import kite_connect  # heavy (requests, dateutil): only on this path

                    KiteConnect = kite_connect()
                    root, timeout = self.root, self._timeout
                    self._adopt(
                        KiteConnect(self._api_key, root=root, timeout=timeout)
                        if root
                        else KiteConnect(self._api_key, timeout=timeout)
                    )
        return self._client

    def _adopt(self, kite: Any) -> None:
        if self._token is not None:
            kite.set_access_token(self._token.access_token)
        session = getattr(kite, "reqsession", None)
        if session is not None:
            session.hooks.setdefault("response", []).append(self._remember_date)
        self._client = kite

    @classmethod
    def from_profile(
        cls, profile: "Profile", state_dir: Path, clock: Clock, *, emergency: bool = False
    ) -> "KiteBroker":
        """`emergency`: the kill switch may also use the session a graceful shutdown kept for it (token_store)."""
        from mci.store.token_store import open_token_store

        broker = profile.broker
        if broker.kind != "kite":
            raise ConfigError(
                f"profile {profile.name!r} uses the {broker.kind!r} broker, not kite",
                "only a kite profile talks to Kite Connect",
                "use the broker the profile names",
            )
        store = open_token_store(profile, Path(state_dir), clock=clock)
        token = store.load_for_emergency() if emergency else store.load()
        made = cls(
            broker.api_key or "",
            clock=clock,
            token=token,
            root=broker.root,
            timeout=broker.timeout.total_seconds(),
            api_secret=broker.api_secret,
            market_protection=broker.market_protection,
        )
        if token is None:
            revoked = store.revoked()
            if revoked:
                made.no_token_why = (
                    f"the session was revoked at Kite (DELETE /session/token) at {revoked.get('at')} "
                    f"by {revoked.get('by')}; a revoked token can never be used again"
                )
        return made

    def __repr__(self) -> str:
        return f"KiteBroker(root={self.root!r}, token={'set' if self._token else 'none'})"

    # ------------------------------------------------------------ plumbing

    @property
    def _secrets(self) -> list[str | None]:
        from mci.observability.redact import register

        register(self._api_secret, self._token.access_token if self._token else None)
        return [self._api_secret, self._token.access_token if self._token else None]

    def _remember_date(self, response: Any, *args: Any, **kwargs: Any) -> None:
        text = response.headers.get("Date")
        if text:
            from email.utils import parsedate_to_datetime  # only once a response has come

            try:
                self._last_date = parsedate_to_datetime(text)
            except (TypeError, ValueError):
                pass

    def _error(self, exc: BaseException, action: str, *, write: bool = False) -> MciError:
        """`write`: an order write (place, modify, cancel), the calls Kite checks against the registered static IP."""
        if isinstance(exc, MciError):
            return exc
        name = type(exc).__name__
        message = redact(str(exc), self._secrets) or name
        why = f"{name}: {message}"
        details: dict[str, Any] = {"error_type": name} if is_kite_error(exc) else {}
        status = getattr(exc, "code", None) if is_kite_error(exc) else None  # kiteconnect's exceptions carry it
        if status:
            details["http_status"] = int(status)  # 429 (refused, nothing placed) vs 5xx (ambiguous) for callers
        if (
            write
            and is_kite_error(exc)
            and name != "TokenException"
            and (name == "PermissionException" or _IP_REFUSAL.search(message))
        ):
            # Not the token (reads still work): Kite refuses order writes from an unregistered IP (kite_rules).
            return MciError(
                f"Kite refused the order request while {action}",
                why,
                kite_rules.IP_REGISTER_HOW,
                ExitCode.FAILED,
                details={**details, "refusal": "ip"},
            )
        if is_kite_error(exc) and name in ("TokenException", "PermissionException"):
            return MciError(
                f"Kite refused the access token while {action}", why, LOGIN_HOW, ExitCode.FAILED, details=details
            )
        if is_transient(exc):
            return UnavailableError(
                f"Kite is unavailable: {action} failed",
                why,
                "check the network and https://kite.trade status (or the simulator), then retry; "
                "the broker breaker opens if this repeats",
                **details,
            )
        if is_kite_error(exc) and name in ("InputException", "OrderException"):
            return MciError(
                f"Kite refused the request while {action}",
                why,
                "correct the request (instrument, quantity, price, product) and send it again",
                ExitCode.FAILED,
                details=details,
            )
        if is_kite_error(exc):
            return MciError(
                f"Kite answered with an error while {action}",
                why,
                "retry later; if it repeats, check the Kite status page",
                ExitCode.FAILED,
                details=details,
            )
        return MciError(f"{action} failed", why, "retry; if it repeats, report it with this message", ExitCode.FAILED)

    def _retrying(self) -> Any:
        from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential, wait_random

        r = self._retry
        return Retrying(
            stop=stop_after_attempt(max(1, r.attempts)),
            wait=wait_exponential(multiplier=r.initial, max=r.max_wait) + wait_random(0, r.jitter),
            retry=retry_if_exception(is_transient),
            reraise=True,
        )

    def _send(self, action: str, fn: Callable[..., T], *args: Any, placement: bool = False, **kwargs: Any) -> T:
        """One request, once the account's limiter admits it (a caller's covering slot admits the first)."""
        category = _CATEGORY.get(getattr(fn, "__name__", ""), OTHER)
        with self.limiter.slot(category, placement=placement) as ok:
            if not ok:
                raise NoSlot(
                    f"{action}: not sent",
                    "the deadline passed while the account's rate limit was full",
                    "nothing was sent; the caller decides whether to try again",
                )
            return fn(*args, **kwargs)

    def _call(self, action: str, fn: Callable[..., T], *args: Any, write: bool = False, **kwargs: Any) -> T:
        if self._token is None:
            raise MciError(f"no Kite access token: cannot {action}", self.no_token_why, LOGIN_HOW, ExitCode.FAILED)
        try:
            result: T = self._retrying()(self._send, action, fn, *args, **kwargs)
            return result
        except Exception as exc:
            raise self._error(exc, action, write=write) from None

    # ------------------------------------------------------------ session

    def session(self) -> SessionInfo:
        token = self._token
        if token is None:
            return SessionInfo(False, None, None, None, "no Kite access token is stored for this profile")
        now = self.clock.now()
        if now >= token.expires_at:
            return SessionInfo(
                False,
                token.user_id,
                token.issued_at,
                token.expires_at,
                f"the access token expired at {token.expires_at.astimezone(zone(IST)):%Y-%m-%d %H:%M %Z}",
            )
        try:
            profile = self._call("checking the session", self._kite.profile)
        except MciError as exc:
            if exc.code == ExitCode.UNAVAILABLE:
                raise
            return SessionInfo(False, token.user_id, token.issued_at, token.expires_at, exc.why)
        return SessionInfo(True, profile.get("user_id") or token.user_id, token.issued_at, token.expires_at)

    def ensure_session(self) -> SessionInfo:
        return self.session()

    def server_time(self) -> datetime:
        """The Date header of a cheap authenticated call (Kite's clock), else ours."""
        self._last_date = None
        self._call("reading the server time", self._kite.profile)
        return self._last_date or self.clock.now()

    # ------------------------------------------------------------ account

    def funds(self) -> Funds:
        equity = self._call("reading the margins", self._kite.margins, "equity")
        return Funds(
            available=_dec(equity.get("net")),
            used=_dec((equity.get("utilised") or {}).get("debits")),
            opening=_dec((equity.get("available") or {}).get("opening_balance")),
        )

    def positions(self) -> list[Position]:
        data = self._call("reading the positions", self._kite.positions)
        return [
            Position(exchange=p["exchange"], symbol=p["tradingsymbol"], product=p["product"], quantity=int(p["quantity"]),
                     average_price=_dec(p.get("average_price")), last_price=_dec(p.get("last_price")),
                     realised=_dec(p.get("realised")), unrealised=_dec(p.get("unrealised")),
                     m2m=_dec(p["m2m"]) if p.get("m2m") is not None else None,
                     instrument_token=int(p["instrument_token"]) if p.get("instrument_token") else None)
            for p in (data or {}).get("net", [])
        ]  # fmt: skip

    def _order(self, o: dict[str, Any]) -> Order:
        return Order(
            order_id=str(o["order_id"]),
            exchange=o["exchange"],
            symbol=o["tradingsymbol"],
            side=o["transaction_type"],
            quantity=int(o["quantity"]),
            order_type=o["order_type"],
            product=o["product"],
            price=_dec(o.get("price")),
            trigger_price=_dec(o.get("trigger_price")),
            status=o["status"],
            tag=o.get("tag"),
            placed_at=_local(o.get("order_timestamp"), self.clock),
            filled_quantity=int(o.get("filled_quantity") or 0),
            average_price=_dec(o.get("average_price")),
            variety=str(o.get("variety") or VARIETY),
            parent_order_id=str(o["parent_order_id"]) if o.get("parent_order_id") else None,
            status_message=o.get("status_message") or None,
        )

    def orders(self) -> list[Order]:
        return [self._order(o) for o in self._call("reading the order book", self._kite.orders)]

    def orders_by_tag(self, tag: str) -> list[Order]:
        return [o for o in self.orders() if o.tag == tag]

    def ltp(self, instruments: Iterable[str]) -> dict[str, Decimal]:
        keys = list(instruments)
        if not keys:
            return {}
        data = self._call("reading last prices", self._kite.ltp, keys)
        return {k: _dec(v.get("last_price")) for k, v in (data or {}).items()}

    def circuit_limits(self, instruments: Iterable[str]) -> dict[str, tuple[Decimal, Decimal]]:
        """(lower, upper) circuit limits keyed "EXCHANGE:SYMBOL", from the full quote
        (https://kite.trade/docs/connect/v3/market-quotes/: lower_circuit_limit, upper_circuit_limit)."""
        keys = list(instruments)
        if not keys:
            return {}
        data = self._call("reading circuit limits", self._kite.quote, keys)
        return {
            k: (_dec(v.get("lower_circuit_limit")), _dec(v.get("upper_circuit_limit"))) for k, v in (data or {}).items()
        }

    def instruments(self, exchanges: Iterable[str]) -> dict[str, InstrumentSpec]:
        out: dict[str, InstrumentSpec] = {}
        for exchange in sorted({e.upper() for e in exchanges}):
            rows = self._call(f"reading the {exchange} instrument list", self._kite.instruments, exchange)
            for row in rows or []:
                # kiteconnect parses tick_size as a float; repr() is its shortest exact text (0.05, not 0.0500000000000000027).
                lot = int(row["lot_size"])
                # Kite's dump has no freeze quantity: NSE's limits ship in kite_rules (rounded down to whole lots).
                limit = kite_rules.freeze_limit(row["exchange"], row["tradingsymbol"])
                freeze = kite_rules.effective_freeze(limit, lot) if limit and lot > 0 else None
                out[f"{row['exchange']}:{row['tradingsymbol']}"] = InstrumentSpec(
                    Decimal(repr(row["tick_size"])), lot, freeze
                )
        return out

    # ------------------------------------------------------------ orders

    def place_order(self, request: OrderRequest) -> str:
        """Place once: tag it, retry only what is safe, look the tag up after an ambiguous failure."""
        if self._token is None:
            raise MciError(
                "no Kite access token: cannot place the order",
                "this profile has no stored session",
                LOGIN_HOW,
                ExitCode.FAILED,
            )
        tag = request.tag or new_tag()
        params: dict[str, Any] = {
            "variety": request.variety, "exchange": request.exchange, "tradingsymbol": request.symbol,
            "transaction_type": request.side, "quantity": request.quantity, "product": request.product,
            "order_type": request.order_type, "tag": tag,
        }  # fmt: skip
        if request.price is not None:
            params["price"] = str(request.price)
        if request.trigger_price is not None:
            params["trigger_price"] = str(request.trigger_price)
        if request.order_type in kite_rules.NEEDS_MARKET_PROTECTION:
            # Every MARKET and SL-M order carries it: Kite refuses them without it since 2026-04-01 (kite_rules).
            protection = self.market_protection if request.market_protection is None else request.market_protection
            params["market_protection"] = str(protection)
        action = f"placing {request.side} {request.quantity} {request.exchange}:{request.symbol} (tag {tag})"
        attempts = max(1, self._retry.attempts)
        last: BaseException | None = None
        for attempt in range(attempts):
            if attempt:
                backoff = min(self._retry.max_wait, self._retry.initial * 2 ** (attempt - 1))
                self.clock.sleep(backoff + random.uniform(0, self._retry.jitter))
            try:
                order_id = str(self._send(action, self._kite.place_order, placement=True, **params))
                break
            except Exception as exc:
                if not is_transient(exc):
                    raise self._error(exc, action, write=True) from None
                last = exc
                if is_ambiguous(exc):
                    found = self._find_tagged(tag, action, exc)
                    if found is not None:
                        order_id = found
                        break
        else:
            assert last is not None
            raise self._error(last, action, write=True) from None
        self._raise_if_rejected(order_id, action)
        return order_id

    def _find_tagged(self, tag: str, action: str, cause: BaseException) -> str | None:
        try:
            book = self._call("looking up the order tag", self._kite.orders)
        except MciError:
            why = redact(f"{type(cause).__name__}: {cause}", self._secrets)
            raise UnavailableError(
                f"the order may or may not have been placed: {action}",
                f"{why}; and the order book could not be read to find tag {tag}",
                f"look for tag {tag} in the order book (Kite console or `mci status`) before placing it again",
                tag=tag,
            ) from None
        for o in book:
            if o.get("tag") == tag:
                return str(o["order_id"])
        return None

    def _raise_if_rejected(self, order_id: str, action: str) -> None:
        try:
            history = self._call("reading the order's status", self._kite.order_history, order_id)
        except MciError:
            return  # the order exists; its status is for the order book to tell
        if history and history[-1].get("status") == "REJECTED":
            reason = history[-1].get("status_message") or "Kite rejected the order"
            raise MciError(
                f"order {order_id} was rejected: {action}",
                reason,
                "correct the order as Kite's reason says (quantity, price, trigger, product, funds), "
                "then place it again",
                ExitCode.FAILED,
                details={"order_id": order_id, "error_type": "OrderException", "status_message": reason},
            )

    def modify_order(
        self,
        order_id: str,
        *,
        quantity: int | None = None,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
        market_protection: Decimal | None = None,
    ) -> None:
        """`market_protection`: a new protection for a MARKET/SL-M order; None keeps the one it was placed with."""
        params: dict[str, Any] = {}
        if quantity is not None:
            params["quantity"] = quantity
        if price is not None:
            params["price"] = str(price)
        if trigger_price is not None:
            params["trigger_price"] = str(trigger_price)
        if market_protection is not None:
            params["market_protection"] = str(market_protection)
        self._call(f"modifying order {order_id}", self._kite.modify_order, VARIETY, order_id, write=True, **params)

    def cancel_order(self, order_id: str, *, variety: str = VARIETY, parent_order_id: str | None = None) -> None:
        """Cancel on the order's own variety's route; with `parent_order_id`, exit a cover order's stop-loss leg
        (kiteconnect exit_order; mci.brokers.kite_rules.CO_EXIT_NEEDS_PARENT)."""
        try:
            self._call(
                f"cancelling order {order_id}",
                self._kite.cancel_order,
                variety,
                order_id,
                parent_order_id=parent_order_id,
                write=True,
            )
        except MciError as exc:
            # A retried cancel whose first try landed is refused as "already cancelled": that is success.
            if exc.details.get("error_type") != "OrderException":
                raise
            # A cover order's leg that was exited is COMPLETE, not CANCELLED: that too is the retried exit's success.
            done = ("CANCELLED", "COMPLETE") if parent_order_id else ("CANCELLED",)
            if not any(o.order_id == order_id and o.status in done for o in self.orders()):
                raise

    def gtts(self) -> list[Gtt]:
        """The account's GTTs (kiteconnect get_gtts, https://kite.trade/docs/connect/v3/gtt/)."""
        rows = self._call("reading the GTTs", self._kite.get_gtts) or []
        return [
            Gtt(
                int(g["id"]),
                str(g.get("status") or ""),
                str((g.get("condition") or {}).get("exchange") or ""),
                str((g.get("condition") or {}).get("tradingsymbol") or ""),
                str(g.get("type") or ""),
            )
            for g in rows
        ]

    def delete_gtt(self, trigger_id: int) -> None:
        """Delete a GTT; one already gone (deleted, triggered meanwhile) is not an error once the list confirms it."""
        try:
            self._call(f"deleting GTT {trigger_id}", self._kite.delete_gtt, trigger_id, write=True)
        except MciError as exc:
            if exc.code == ExitCode.UNAVAILABLE:
                raise
            if any(g.trigger_id == trigger_id and g.is_active for g in self.gtts()):
                raise

    def probe_order_path(self) -> MciError:
        """Cancel an order id that cannot exist: Kite's refusal says whether order writes from here are allowed.

        Returns the refusal (details["refusal"] == "ip" when the IP is not registered); raises what a retry may
        cure (UnavailableError). Nothing is traded: no order has this id."""
        try:
            self._call(
                "probing the order path (cancelling an order id that cannot exist)",
                self._kite.cancel_order,
                VARIETY,
                PROBE_ORDER_ID,
                write=True,
            )
        except MciError as exc:
            if exc.code == ExitCode.UNAVAILABLE:
                raise
            return exc
        raise MciError(
            f"cancelling the impossible order id {PROBE_ORDER_ID!r} succeeded",
            "the broker answered success for an order that cannot exist, so its refusals prove nothing",
            "check broker.root: it should be Kite Connect or the mci simulator",
            ExitCode.FAILED,
        )

    def logout(self) -> None:
        """Invalidate the access token at Kite (DELETE /session/token): dead for every holder, not only for mci.

        Kite's logout (https://kite.trade/docs/connect/v3/user/#logout; pykiteconnect's
        `invalidate_access_token`, "Kill the session by invalidating the access token"): afterwards the
        token is refused (TokenException, 403) and only a new login flow gives a session
        (https://www.kite.trade/forum/discussion/comment/9187/).
        """
        self._call("revoking the session", self._kite.invalidate_access_token)

    def stream(self) -> "KiteStream":
        """Kite's WebSocket ticker for this session (mci.brokers.kite_stream; not started until watched)."""
        from mci.brokers.kite_stream import KiteStream, ticker_root

        if self._token is None:
            raise MciError(
                "no Kite session to stream with", self.no_token_why, "run `mci token login`", ExitCode.FAILED
            )
        return KiteStream(self._api_key, self._token.access_token, ticker_root(self.root))

    def close(self) -> None:
        session = getattr(self._client, "reqsession", None)
        if session is not None:
            session.close()
        self._token = None
