"""The simulator's admin interface under /_sim/: drive the exchange and read what the clients did.

JSON in and out, outside the Kite paths, so faults never touch it and its
requests are never counted. Loopback clients only (unless the app is told
otherwise): it can move prices and the clock, which nobody on the network
should be able to do to a rehearsal.

    GET  /_sim/health                     clock, faults, account
    GET  /_sim/counters                   requests by route and status, orders by tag, faults by kind
    POST /_sim/counters/reset             (the request log too)
    GET  /_sim/requests?bucket=order&since=SEQ   the request log: arrival (monotonic `at`, `wall`), bucket,
                                          route, counted by the rate limits or not, answer status
    DELETE /_sim/requests
    GET  /_sim/limits                     PUT {"spec": "order=10/s,quote=off"} | {"spec": "off"} | {"spec": "kite"}
    GET  /_sim/ticks?since=SEQ            the ticker's sent ticks: monotonic `at`, `wall`, token, instrument, mode, price
    GET  /_sim/faults                     PUT {"spec": "5xx=0.3,seed=7"}   DELETE: no faults
    GET  /_sim/clock                      PUT {"at": ISO-8601, "frozen": false}
    GET  /_sim/price?i=NSE:INFY           POST {"instrument", "price"} | {"instrument", "move": "+2%"} | {"instrument", "clear": true}
    POST /_sim/positions                  {"instrument", "quantity", "price"?, "product"?}: the position, set outright
    POST /_sim/orders                     {"instrument", "side", "quantity", "order_type"?, "price"?, "trigger_price"?, "product"?, "tag"?, "market_protection"?}
    GET  /_sim/order-ips                  PUT {"ips": "203.0.113.7,::1"}: the client IPs allowed to place/modify/cancel
    GET  /_sim/mis-blocked                POST {"instrument", "blocked": true|false}: Kite's intraday (MIS) block
    GET  /_sim/freeze                     POST {"instrument", "quantity": N|null}: the `freeze` fault, an instrument's
                                          freeze quantity lowered (whole lots) so that exits must slice; null restores NSE's
    GET  /_sim/circuits                   POST {"instrument", "lock": "lower"|"upper", "on_lock"?: "rest"|"cancel"}
                                          | {"instrument", "lift": true} | {"instrument", "band": "5%"|null}

Money leaves as exact decimal text ("2550.00"); it is read from text or JSON numbers, as Decimal, never float.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from collections import Counter, defaultdict
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Callable

from werkzeug.wrappers import Request, Response

from mci.brokers.base import OrderRequest
from mci.clock import UTC, Clock, parse_instant
from mci.errors import ExitCode, MciError, UsageError

if TYPE_CHECKING:
    from mci.brokers.sim.kite_server import KiteSimApp

PREFIX = "/_sim/"
DROPPED = "dropped"  # the status of a request whose connection was closed without an answer
ADMIN_TAG = "simadmin"


class SimClock(Clock):
    """A Clock the admin interface can move: set() re-anchors it (ticking or frozen) while it serves."""

    def __init__(self, start: datetime | None = None, *, frozen: bool = False):
        super().__init__(start, frozen=frozen)
        self._lock = threading.Lock()

    def set(self, at: datetime, *, frozen: bool = False) -> None:
        if at.tzinfo is None:
            raise ValueError("clock start must be timezone-aware")
        with self._lock:
            self._start, self._frozen, self._mono0 = at, frozen, time.monotonic()

    @property
    def frozen(self) -> bool:
        return self._frozen

    def now(self) -> datetime:
        with self._lock:
            return super().now()


class SimCounters:
    """What the clients did, thread-safe: requests by route and status, orders by tag, faults by kind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._requests: defaultdict[str, Counter[str]] = defaultdict(Counter)
            self._tags: Counter[str] = Counter()
            self._faults: Counter[str] = Counter()
            self._since = datetime.now(UTC)  # wall time: when an operator reset them, not the exchange's clock

    def request(self, route: str, status: int | str) -> None:
        with self._lock:
            self._requests[route][str(status)] += 1

    def order(self, tag: str | None) -> None:
        with self._lock:
            self._tags[tag or ""] += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "since": self._since.isoformat(),
                "requests": {route: dict(sorted(by.items())) for route, by in sorted(self._requests.items())},
                "orders": {"placed": sum(self._tags.values()), "by_tag": dict(sorted(self._tags.items()))},
                "faults": dict(sorted(self._faults.items())),
            }


# ---------------------------------------------------------------- request helpers


def _loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def _json(status: int, body: dict[str, Any]) -> Response:
    # Money leaves as exact decimal text ("2550.00"), as in mci's own JSON output; never a binary float.
    return Response(json.dumps(body, default=str), status=status, content_type="application/json")


def _ok(data: Any) -> Response:
    return _json(200, {"status": "success", "data": data})


def _error(status: int, error: MciError) -> Response:
    return _json(status, {"status": "error", "error": error.as_dict()})


def _bad(what: str, why: str, how: str) -> UsageError:
    return UsageError(what, why, how)


def _body(request: Request) -> dict[str, Any]:
    raw = request.get_data(cache=True)
    if not raw:
        return {}
    try:
        body = json.loads(raw, parse_float=Decimal)
    except ValueError as exc:
        raise _bad("the admin request body is not JSON", str(exc), "send a JSON object") from None
    if not isinstance(body, dict):
        raise _bad("the admin request body is not a JSON object", f"got {type(body).__name__}", "send a JSON object")
    return body


def _decimal(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise _bad(f"{name} is missing or not a number", f"got {value!r}", f'send {name} as a decimal, e.g. "2500.50"')
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _bad(
            f"{name} {value!r} is not a number", "amounts are exact decimals", f'send {name} like "2500.50"'
        ) from None
    if not number.is_finite():
        raise _bad(f"{name} {value!r} is not finite", "amounts are exact decimals", f'send {name} like "2500.50"')
    return number


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise _bad(f"{name} {value!r} is not a whole number", "quantities are whole shares", f"send {name} like 10")
    try:
        return int(value)
    except ValueError:
        raise _bad(
            f"{name} {value!r} is not a whole number", "quantities are whole shares", f"send {name} like 10"
        ) from None


def _instrument(body: dict[str, Any]) -> tuple[str, str]:
    key = str(body.get("instrument") or "").strip().upper()
    exchange, _, symbol = key.rpartition(":")
    if not symbol:
        raise _bad("no instrument given", "the admin call acts on one instrument", "send instrument like NSE:INFY")
    return exchange or "NSE", symbol


def parse_move(text: str) -> Decimal:
    """'+2%', '-1.5%' or '2' -> the percentage as Decimal (2, -1.5, 2)."""
    raw = str(text).strip().removesuffix("%")
    try:
        pct = Decimal(raw)
    except InvalidOperation:
        raise _bad(f"cannot read the move {text!r}", "a move is a percentage", "write it like +2% or -1.5%") from None
    if not pct.is_finite() or pct <= -100:
        raise _bad(
            f"the move {text!r} is out of range",
            "a price cannot fall by 100% or more",
            "write a move above -100%, like -5%",
        )
    return pct


# ---------------------------------------------------------------- the interface


class AdminApi:
    """Dispatches /_sim/ requests against one KiteSimApp (its exchange, counters and faults)."""

    def __init__(self, app: "KiteSimApp", *, remote: bool = False):
        self.app = app
        self.remote = remote
        self._routes: dict[tuple[str, str], Callable[[Request], Any]] = {
            ("GET", "health"): self.health,
            ("GET", "counters"): lambda r: app.counters.snapshot(),
            ("POST", "counters/reset"): self.reset_counters,
            ("GET", "requests"): self.requests,
            ("DELETE", "requests"): self.clear_requests,
            ("GET", "ticks"): self.ticks,
            ("GET", "limits"): lambda r: self._limits_dict(),
            ("PUT", "limits"): self.set_limits,
            ("POST", "limits"): self.set_limits,
            ("GET", "faults"): lambda r: app.faults.spec.as_dict(),
            ("PUT", "faults"): self.set_faults,
            ("POST", "faults"): self.set_faults,
            ("DELETE", "faults"): self.clear_faults,
            ("GET", "clock"): lambda r: self._clock_dict(),
            ("PUT", "clock"): self.set_clock,
            ("POST", "clock"): self.set_clock,
            ("GET", "price"): self.get_price,
            ("POST", "price"): self.set_price,
            ("POST", "positions"): self.set_position,
            ("POST", "orders"): self.place_order,
            ("GET", "order-ips"): lambda r: {"ips": sorted(str(ip) for ip in app.order_ips)},
            ("PUT", "order-ips"): self.set_order_ips,
            ("POST", "order-ips"): self.set_order_ips,
            ("GET", "mis-blocked"): lambda r: {"instruments": app.exchange.mis_blocked()},
            ("POST", "mis-blocked"): self.set_mis_blocked,
            ("GET", "freeze"): lambda r: {"instruments": app.exchange.freeze_overrides()},
            ("POST", "freeze"): self.set_freeze,
            ("GET", "circuits"): lambda r: self._circuits(),
            ("POST", "circuits"): self.set_circuit,
        }

    def __call__(self, request: Request) -> Response:
        if not self.remote and not _loopback(request.remote_addr):
            return _error(
                403,
                UsageError(
                    "the simulator's admin interface answers loopback clients only",
                    f"this request came from {request.remote_addr}; /_sim/ can move prices and the clock",
                    "run `mci sim ...` on the simulator's machine",
                ),
            )
        name = request.path[len(PREFIX) :].strip("/")
        handler = self._routes.get((request.method, name))
        if handler is None:
            known = sorted({f"{m} {PREFIX}{n}" for m, n in self._routes})
            return _error(
                404,
                UsageError(
                    f"no admin call {request.method} {request.path}",
                    "the admin interface has: " + ", ".join(known),
                    "use `mci sim --help` for the commands that call it",
                ),
            )
        try:
            return _ok(handler(request))
        except MciError as exc:
            if exc.details.get("error_type") == "InputException":  # an unknown instrument, a bad tick: usage (2)
                exc = UsageError(exc.what, exc.why, exc.how)
            return _error(400 if exc.code in (ExitCode.INVALID, ExitCode.FAILED) else 503, exc)
        except ValueError as exc:
            return _error(400, _bad("the admin call was refused", str(exc), "correct the value and send it again"))
        except Exception as exc:  # a bug in the simulator: a JSON answer, never a traceback on the wire
            return _error(
                500,
                MciError(
                    f"the simulator failed on {request.method} {request.path}",
                    type(exc).__name__,
                    "report it with the admin call that caused it",
                    ExitCode.INTERNAL,
                ),
            )

    # ------------------------------------------------------------ calls

    def _clock_dict(self) -> dict[str, Any]:
        clock = self.app.exchange.clock
        return {
            "now": clock.now().isoformat(),
            "settable": isinstance(clock, SimClock),
            "frozen": bool(getattr(clock, "_frozen", False)),
        }

    def health(self, request: Request) -> dict[str, Any]:
        funds = self.app.exchange.funds()
        return {
            "clock": self._clock_dict(),
            "faults": str(self.app.faults.spec),
            "seed": self.app.exchange.seed,
            "rate_limits": str(self.app.rate_limiter.limits),
            "account": {"opening": funds.opening, "available": funds.available},
        }

    def reset_counters(self, request: Request) -> dict[str, Any]:
        self.app.counters.reset()
        self.app.requests.clear()
        return self.app.counters.snapshot()

    def requests(self, request: Request) -> dict[str, Any]:
        bucket = request.args.get("bucket") or None
        try:
            since = int(request.args.get("since") or 0)
        except ValueError:
            raise _bad(
                "since must be a sequence number",
                f"got {request.args.get('since')!r}",
                "pass the last seq you read, or nothing",
            ) from None
        return {"limits": str(self.app.rate_limiter.limits), "entries": self.app.requests.snapshot(bucket, since)}

    def ticks(self, request: Request) -> dict[str, Any]:
        try:
            since = int(request.args.get("since") or 0)
        except ValueError:
            raise _bad(
                "since must be a sequence number",
                f"got {request.args.get('since')!r}",
                "pass the last seq you read, or nothing",
            ) from None
        stream = self.app.stream
        return {"connections": stream.connections, "ticks": [t.as_dict() for t in stream.ticks(since)]}

    def clear_requests(self, request: Request) -> dict[str, Any]:
        self.app.requests.clear()
        return {"entries": []}

    def _limits_dict(self) -> dict[str, Any]:
        limits = self.app.rate_limiter.limits
        return {
            "spec": str(limits),
            "rules": [{"bucket": r.bucket, "limit": r.limit, "per": r.unit} for r in limits.rules],
        }

    def set_limits(self, request: Request) -> dict[str, Any]:
        from mci.brokers.sim.limits import parse_rate_limits

        spec = _body(request).get("spec", "")
        if not isinstance(spec, str):
            raise _bad(
                "the rate-limit spec must be text",
                f"got {type(spec).__name__}",
                'send {"spec": "order=10/s,quote=1/s"} (or "off", or "kite")',
            )
        self.app.set_rate_limits(parse_rate_limits(spec))
        return self._limits_dict()

    def set_faults(self, request: Request) -> dict[str, Any]:
        from mci.brokers.sim.faults import parse_faults

        spec = _body(request).get("spec", "")
        if not isinstance(spec, str):
            raise _bad("the fault spec must be text", f"got {type(spec).__name__}", 'send {"spec": "5xx=0.3,seed=7"}')
        return self.app.set_faults(parse_faults(spec)).as_dict()

    def clear_faults(self, request: Request) -> dict[str, Any]:
        from mci.brokers.sim.faults import FaultSpec

        return self.app.set_faults(FaultSpec()).as_dict()

    def set_clock(self, request: Request) -> dict[str, Any]:
        clock = self.app.exchange.clock
        if not isinstance(clock, SimClock):
            raise MciError(
                "this simulator's clock cannot be set",
                "it was started with a fixed clock",
                "start it with `mci sim kite` (its clock can be set)",
                ExitCode.FAILED,
            )
        body = _body(request)
        at = body.get("at")
        if not isinstance(at, str) or not at.strip():
            raise _bad(
                "no instant given",
                "the clock is set to an ISO-8601 instant",
                'send {"at": "2026-11-23T09:20"} (no offset means IST)',
            )
        clock.set(parse_instant(at), frozen=bool(body.get("frozen", False)))
        return self._clock_dict()

    def _ltp(self, exchange: str, symbol: str) -> dict[str, Any]:
        key = f"{exchange}:{symbol}"
        price = self.app.exchange.ltp([key]).get(key)
        if price is None:
            raise _bad(
                f"unknown instrument {key}",
                "the simulated exchange lists only its universe",
                "use a listed symbol such as NSE:INFY or NSE:RELIANCE",
            )
        return {"instrument": key, "last_price": price}

    def get_price(self, request: Request) -> dict[str, Any]:
        return self._ltp(*_instrument({"instrument": request.args.get("i", "")}))

    def set_price(self, request: Request) -> dict[str, Any]:
        body = _body(request)
        exchange, symbol = _instrument(body)
        given = [k for k in ("price", "move", "clear") if body.get(k) not in (None, False, "")]
        if len(given) != 1:
            raise _bad(
                "say one of price, move or clear",
                f"got {', '.join(given) or 'none of them'}",
                'send {"instrument": "NSE:INFY", "price": "1500"} or {"move": "+2%"} or {"clear": true}',
            )
        if given == ["price"]:
            price = _decimal(body["price"], "price")
            if price <= 0:
                raise _bad(f"price {price} is not above zero", "a price is positive", "send a positive price")
            self.app.exchange.set_price(exchange, symbol, price)
        elif given == ["move"]:
            self.app.exchange.move_price(exchange, symbol, parse_move(body["move"]))
        else:
            self.app.exchange.clear_price(exchange, symbol)
        return self._ltp(exchange, symbol)

    def set_position(self, request: Request) -> dict[str, Any]:
        body = _body(request)
        exchange, symbol = _instrument(body)
        quantity = _int(body.get("quantity"), "quantity")
        product = str(body.get("product") or "MIS").upper()
        ltp = self._ltp(exchange, symbol)["last_price"]
        price = ltp if body.get("price") in (None, "") else _decimal(body["price"], "price")
        if price <= 0:
            raise _bad(
                f"price {price} is not above zero",
                "a position's average price is positive",
                "send a positive price (or none for the last price)",
            )
        self.app.exchange.seed_position(exchange, symbol, product, quantity, price)
        return {
            "instrument": f"{exchange}:{symbol}",
            "product": product,
            "quantity": quantity,
            "average_price": price,
            "last_price": ltp,
        }

    def place_order(self, request: Request) -> dict[str, Any]:
        body = _body(request)
        exchange, symbol = _instrument(body)
        order = OrderRequest(
            exchange=exchange, symbol=symbol, side=str(body.get("side") or "").upper(),
            quantity=_int(body.get("quantity"), "quantity"),
            order_type=str(body.get("order_type") or ("LIMIT" if body.get("price") not in (None, "") else "MARKET")).upper(),
            product=str(body.get("product") or "MIS").upper(),
            price=None if body.get("price") in (None, "") else _decimal(body["price"], "price"),
            trigger_price=None if body.get("trigger_price") in (None, "") else _decimal(body["trigger_price"], "trigger_price"),
            tag=str(body.get("tag") or ADMIN_TAG),
            # The admin's MARKET/SL-M orders get Kite's automatic protection unless told otherwise.
            market_protection=_decimal(body.get("market_protection", -1), "market_protection"),
        )  # fmt: skip
        order_id = self.app.exchange.place_order(order)
        record = self.app.exchange.order(order_id)
        return {"order_id": order_id, "status": record.status, "tag": record.tag}

    def set_order_ips(self, request: Request) -> dict[str, Any]:
        ips = _body(request).get("ips")
        if not isinstance(ips, (str, list)):
            raise _bad(
                "no IPs given",
                "the allow-list is the client IPs Kite accepts order writes from",
                'send {"ips": "203.0.113.7,::1"} (an empty string refuses every order write)',
            )
        return {"ips": list(self.app.set_order_ips(ips))}

    def set_mis_blocked(self, request: Request) -> dict[str, Any]:
        body = _body(request)
        exchange, symbol = _instrument(body)
        blocked = body.get("blocked", True)
        if not isinstance(blocked, bool):
            raise _bad(
                "blocked must be true or false", f"got {blocked!r}", 'send {"instrument": "NSE:INFY", "blocked": true}'
            )
        self.app.exchange.set_mis_blocked(exchange, symbol, blocked)
        return {"instruments": self.app.exchange.mis_blocked()}

    def set_freeze(self, request: Request) -> dict[str, Any]:
        body = _body(request)
        exchange, symbol = _instrument(body)
        quantity = body.get("quantity")
        if quantity is not None:
            quantity = _int(quantity, "quantity")
        now = self.app.exchange.set_freeze_quantity(exchange, symbol, quantity)
        return {
            "instrument": f"{exchange}:{symbol}",
            "freeze_quantity": now,
            "instruments": self.app.exchange.freeze_overrides(),
        }

    def _circuits(self) -> dict[str, Any]:
        partial = self.app.exchange.partial()
        return {"circuits": self.app.exchange.circuits(), "partial": partial}

    def set_circuit(self, request: Request) -> dict[str, Any]:
        """Lock an instrument at a circuit (no counter-side), lift the lock, or set its price band."""
        body = _body(request)
        exchange, symbol = _instrument(body)
        given = [k for k in ("lock", "lift", "band") if k in body and body[k] not in (False, "")]
        if len(given) != 1:
            raise _bad(
                "say one of lock, lift or band",
                f"got {', '.join(given) or 'none of them'}",
                'send {"instrument": "NSE:INFY", "lock": "lower"} or {"lift": true} or {"band": "5%"}',
            )
        if given == ["lock"]:
            self.app.exchange.lock_circuit(
                exchange, symbol, str(body["lock"]).lower(), on_lock=str(body.get("on_lock") or "rest").lower()
            )
        elif given == ["lift"]:
            self.app.exchange.lift_circuit(exchange, symbol)
        else:
            band = None if body["band"] is None else _decimal(str(body["band"]).strip().removesuffix("%"), "band") / 100
            self.app.exchange.set_circuit_band(exchange, symbol, band)
        lower, upper = self.app.exchange.circuit_limits(exchange, symbol)
        return {
            **self._ltp(exchange, symbol),
            "lower_circuit_limit": lower,
            "upper_circuit_limit": upper,
            **self._circuits(),
        }
