"""The Kite-protocol simulator: the simulated Exchange served over the Kite Connect v3 HTTP API.

The real `kiteconnect` client talks to it unchanged (`KiteConnect(root=...)`):
same routes, the `{"status": "success", "data": ...}` envelope, the
`{"status": "error", "message", "error_type"}` errors with Kite's HTTP codes,
and the field names and JSON types of the samples in shared/kite-mocks.

Money leaves as JSON numbers written from the Decimal text (no binary float is
ever made here). Timestamps are "YYYY-MM-DD HH:MM:SS" in Asia/Kolkata, as Kite
sends them.

Faults (mci.brokers.sim.faults) apply to the Kite paths only; the admin
interface (mci.brokers.sim.admin, under /_sim/) is never faulted nor counted.
Kite's rate limits (mci.brokers.sim.limits) apply to every Kite request when it
arrives, before any injected fault; each is written to the request log.

Simplifications (a simulator, not the exchange): one account and one user;
the five varieties are kept and routed, but an iceberg is one order (no legs),
an AMO (taken outside 09:00-15:45) rests like a regular order, a cover
order enters at MARKET; `positions.day` equals `positions.net`; holdings
are empty (nothing settles T+1 in the simulator); market depth is the last
price on one level.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import socket
import struct
import threading
import time
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Mapping
from urllib.parse import urlencode

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.http import http_date
from werkzeug.routing import Map, Rule
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from mci.brokers import kite_rules
from mci.brokers.base import OrderRequest
from mci.brokers.sim.admin import DROPPED, PREFIX, AdminApi, SimCounters
from mci.brokers.sim.exchange import (
    Exchange,
    ExchangeError,
    OrderEvent,
    OrderRecord,
    OrderRejectedError,
    PositionRecord,
    TradeRecord,
)
from mci.brokers.sim.faults import DropConnection, Fault, FaultInjector, FaultSpec
from mci.brokers.sim.limits import ENDPOINT_BUCKETS, TOO_MANY, RateLimits, RequestLog, SimRateLimiter
from mci.brokers.sim.ticker import StreamEnded, TickerHub, is_upgrade
from mci.clock import IST, zone
from mci.errors import ExitCode, MciError

DEFAULT_USER = "AB1234"
VARIETIES = kite_rules.VARIETIES
SEGMENTS = ("equity", "commodity")
ORDER_WRITES = ("place", "modify", "cancel")  # the endpoints Kite checks against the registered static IP
DEFAULT_ORDER_IPS = ("127.0.0.1", "::1")  # loopback: a local rehearsal's own address is registered

_STATUS = {
    "InputException": 400,
    "OrderException": 400,
    "TokenException": 403,
    "PermissionException": 403,
    "NetworkException": 503,
    "DataException": 502,
    "GeneralException": 500,
}


class KiteApiError(Exception):
    """An error the API answers with (status, error_type, message)."""

    def __init__(self, status: int, error_type: str, message: str):
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


# ---------------------------------------------------------------- JSON without floats


def _number(d: Decimal) -> str:
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def dumps(obj: Any) -> str:
    """JSON with Decimal written as a number from its exact text."""
    if isinstance(obj, Decimal):
        return _number(obj)
    if isinstance(obj, dict):
        return "{" + ",".join(json.dumps(str(k)) + ":" + dumps(v) for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in obj) + "]"
    return json.dumps(obj)


def _ts(at: datetime | None) -> str | None:
    return at.astimezone(zone(IST)).strftime("%Y-%m-%d %H:%M:%S") if at else None


# ---------------------------------------------------------------- record -> Kite dict


def _order_dict(
    o: OrderRecord, user_id: str, *, modified: bool = False, event: OrderEvent | None = None
) -> dict[str, Any]:
    status = event.status if event else o.status
    at = event.at if event else o.updated_at
    filled = event.filled_quantity if event else o.filled_quantity
    quantity = event.quantity if event else o.quantity
    cancelled = o.cancelled_quantity if status == "CANCELLED" else 0
    pending = quantity - filled - cancelled if status not in ("COMPLETE", "REJECTED", "CANCELLED") else 0
    message = (event.message if event else o.status_message) or None
    placed = status not in ("PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "REJECTED")
    return {
        "placed_by": user_id,
        "order_id": o.order_id,
        "exchange_order_id": f"1{o.order_id}" if placed else None,
        "parent_order_id": o.parent_order_id,
        "status": status,
        "status_message": message,
        "status_message_raw": message,
        "order_timestamp": _ts(at),
        "exchange_update_timestamp": _ts(at) if placed else None,
        "exchange_timestamp": _ts(o.placed_at) if placed else None,
        "variety": o.variety,
        "modified": modified,
        "exchange": o.exchange,
        "tradingsymbol": o.symbol,
        "instrument_token": o.instrument_token,
        "order_type": o.order_type,
        "transaction_type": o.side,
        "validity": o.validity,
        "product": o.product,
        "quantity": quantity,
        "disclosed_quantity": 0,
        "price": event.price if event else o.price,
        "trigger_price": event.trigger_price if event else o.trigger_price,
        "average_price": event.average_price if event else o.average_price,
        "filled_quantity": filled,
        "pending_quantity": max(pending, 0),
        "cancelled_quantity": cancelled,
        "market_protection": o.market_protection,
        "meta": {},
        "tag": o.tag,
        "tags": [o.tag] if o.tag else [],
        "guid": f"sim{o.order_id}",
    }


def _trade_dict(t: TradeRecord) -> dict[str, Any]:
    return {
        "trade_id": t.trade_id,
        "order_id": t.order_id,
        "exchange": t.exchange,
        "tradingsymbol": t.symbol,
        "instrument_token": t.instrument_token,
        "product": t.product,
        "average_price": t.price,
        "quantity": t.quantity,
        "exchange_order_id": f"1{t.order_id}",
        "transaction_type": t.side,
        "fill_timestamp": _ts(t.filled_at),
        "order_timestamp": t.filled_at.astimezone(zone(IST)).strftime("%H:%M:%S"),
        "exchange_timestamp": _ts(t.filled_at),
    }


def _avg(value: Decimal, qty: int) -> Decimal:
    return (value / qty).quantize(Decimal("0.0001")) if qty else Decimal(0)


def _position_dict(p: PositionRecord) -> dict[str, Any]:
    buy_price, sell_price = _avg(p.buy_value, p.buy_quantity), _avg(p.sell_value, p.sell_quantity)
    return {
        "tradingsymbol": p.symbol,
        "exchange": p.exchange,
        "instrument_token": p.instrument_token,
        "product": p.product,
        "quantity": p.quantity,
        "overnight_quantity": 0,
        "multiplier": 1,
        "average_price": p.average_price,
        "close_price": 0,
        "last_price": p.last_price,
        "value": p.sell_value - p.buy_value,
        "pnl": p.pnl,
        "m2m": p.pnl,
        "unrealised": p.unrealised,
        "realised": p.realised,
        "buy_quantity": p.buy_quantity,
        "buy_price": buy_price,
        "buy_value": p.buy_value,
        "buy_m2m": p.buy_value,
        "sell_quantity": p.sell_quantity,
        "sell_price": sell_price,
        "sell_value": p.sell_value,
        "sell_m2m": p.sell_value,
        "day_buy_quantity": p.buy_quantity,
        "day_buy_price": buy_price,
        "day_buy_value": p.buy_value,
        "day_sell_quantity": p.sell_quantity,
        "day_sell_price": sell_price,
        "day_sell_value": p.sell_value,
    }


def _segment(
    enabled: bool,
    net: Decimal,
    cash: Decimal,
    opening: Decimal,
    debits: Decimal,
    span: Decimal,
    realised: Decimal,
    unrealised: Decimal,
) -> dict[str, Any]:
    return {
        "enabled": enabled,
        "net": net,
        "available": {
            "adhoc_margin": 0,
            "cash": cash,
            "opening_balance": opening,
            "live_balance": net,
            "collateral": 0,
            "intraday_payin": 0,
        },
        "utilised": {
            "debits": debits,
            "exposure": 0,
            "m2m_realised": realised,
            "m2m_unrealised": unrealised,
            "option_premium": 0,
            "payout": 0,
            "span": span,
            "holding_sales": 0,
            "turnover": 0,
            "liquid_collateral": 0,
            "stock_collateral": 0,
            "delivery": 0,
        },
    }


# ---------------------------------------------------------------- the app


class KiteSimApp:
    """A WSGI app serving one Exchange over the Kite Connect v3 API."""

    def __init__(
        self,
        exchange: Exchange,
        *,
        api_key: str,
        api_secret: str,
        redirect_url: str = "http://127.0.0.1/kite/callback",
        user_id: str = DEFAULT_USER,
        rate_limits: RateLimits | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        faults: FaultSpec | None = None,
        admin_remote: bool = False,
        order_ips: Any = DEFAULT_ORDER_IPS,
    ):
        self.exchange = exchange
        self.api_key = api_key
        self._api_secret = api_secret
        self.redirect_url = redirect_url
        self.user_id = user_id
        self._monotonic = monotonic
        self.requests = RequestLog()
        self.set_rate_limits(rate_limits or RateLimits())
        self._request_tokens: set[str] = set()
        self._lock = threading.Lock()
        self.order_ips = parse_order_ips(order_ips)
        self.counters = SimCounters()
        self.faults = FaultInjector(FaultSpec(), exchange.seed)
        self.set_faults(faults or FaultSpec())
        self.admin = AdminApi(self, remote=admin_remote)
        self.stream = TickerHub(self)  # the WebSocket ticker on this port (mci.brokers.sim.ticker)
        self.url_map = Map([
            Rule("/connect/login", endpoint="login", methods=["GET"]),
            Rule("/redirect", endpoint="redirect", methods=["GET"]),
            Rule("/session/token", endpoint="session_token", methods=["POST"]),
            Rule("/session/token", endpoint="session_logout", methods=["DELETE"]),
            Rule("/user/profile", endpoint="profile", methods=["GET"]),
            Rule("/user/margins", endpoint="margins", methods=["GET"]),
            Rule("/user/margins/<segment>", endpoint="margins_segment", methods=["GET"]),
            Rule("/portfolio/positions", endpoint="positions", methods=["GET"]),
            Rule("/portfolio/holdings", endpoint="holdings", methods=["GET"]),
            Rule("/orders", endpoint="orders", methods=["GET"]),
            Rule("/orders/<order_id>", endpoint="order_history", methods=["GET"]),
            Rule("/orders/<order_id>/trades", endpoint="order_trades", methods=["GET"]),
            Rule("/trades", endpoint="trades", methods=["GET"]),
            Rule("/orders/<variety>", endpoint="place", methods=["POST"]),
            Rule("/orders/<variety>/<order_id>", endpoint="modify", methods=["PUT"]),
            Rule("/orders/<variety>/<order_id>", endpoint="cancel", methods=["DELETE"]),
            Rule("/quote", endpoint="quote", methods=["GET"]),
            Rule("/quote/ltp", endpoint="ltp", methods=["GET"]),
            Rule("/quote/ohlc", endpoint="ohlc", methods=["GET"]),
            Rule("/instruments", endpoint="instruments", methods=["GET"]),
            Rule("/instruments/<exchange>", endpoint="instruments", methods=["GET"]),
            Rule("/gtt/triggers", endpoint="gtts", methods=["GET"]),
            Rule("/gtt/triggers", endpoint="gtt_place", methods=["POST"]),
            Rule("/gtt/triggers/<int:trigger_id>", endpoint="gtt_info", methods=["GET"]),
            Rule("/gtt/triggers/<int:trigger_id>", endpoint="gtt_modify", methods=["PUT"]),
            Rule("/gtt/triggers/<int:trigger_id>", endpoint="gtt_delete", methods=["DELETE"]),
        ])  # fmt: skip

    def __repr__(self) -> str:
        return f"KiteSimApp(exchange={self.exchange!r}, user_id={self.user_id!r})"

    # ------------------------------------------------------------ WSGI

    def set_rate_limits(self, limits: RateLimits) -> RateLimits:
        """Replace the limits; their windows start empty."""
        self.rate_limiter = SimRateLimiter(
            limits, self._monotonic, lambda: self.exchange.clock.now().astimezone(zone(IST)).date()
        )
        return limits

    def set_faults(self, spec: FaultSpec) -> FaultSpec:
        """Replace the faults; the random sequence restarts from the spec's seed (default: the exchange's).

        The market's faults go to the exchange: circuits the old spec locked and the new one drops are lifted
        (locks an admin made are left alone), and partial fills follow the new spec."""
        from decimal import Decimal

        from mci.brokers.sim.faults import circuit_lock

        old = self.faults.spec
        for item in spec.circuit:  # every instrument known before anything changes: a bad spec changes nothing
            self.exchange.circuit_limits(*circuit_lock(item)[:2])
        for item in old.circuit:
            if item not in spec.circuit:
                self.exchange.lift_circuit(*circuit_lock(item)[:2])
        for item in spec.circuit:
            if item not in old.circuit or spec.on_circuit != old.on_circuit:
                exchange, symbol, side = circuit_lock(item)
                self.exchange.lock_circuit(exchange, symbol, side, on_lock=spec.on_circuit)
        if spec.partial or old.partial:
            self.exchange.set_partial(Decimal(f"{spec.partial:g}") if spec.partial else None)
        self.faults = FaultInjector(spec, self.exchange.seed)
        return self.faults.spec

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if is_upgrade(environ):
            self.stream.handle(environ)  # the connection's whole life; ends in StreamEnded
        request = Request(environ)
        if request.path.startswith(PREFIX):
            response = self.admin(request)
        else:
            response = self._kite(request)
        response.headers["Date"] = http_date(self.exchange.clock.now())
        return response(environ, start_response)

    def _kite(self, request: Request) -> Response:
        """One Kite request, with its injected fault and its count."""
        routing_error: HTTPException | None = None
        try:
            rule, args = self.url_map.bind_to_environ(request.environ).match(return_rule=True)
            endpoint, route = str(rule.endpoint), rule.rule
        except HTTPException as exc:  # answered (404 / 405) after the fault, like any other request
            routing_error, args, endpoint, route = exc, {}, "", "(no such route)"
        label = f"{request.method} {route}"  # the rule, not the path: order ids would make every key unique
        fault = self.faults.next(placement=endpoint == "place")
        if fault.delay:
            self.counters.fault("latency")
            time.sleep(fault.delay)
        buckets = ENDPOINT_BUCKETS.get(endpoint, ("other",))
        counted, at = self.rate_limiter.admit(buckets)
        logged = self.requests.add(at=at, bucket=buckets[0] if buckets else "login", route=label, counted=counted)
        if not counted:
            response = self._error(429, "NetworkException", TOO_MANY)
        elif fault.kind is not None:
            self.counters.fault(fault.kind)
            if fault.kind == "reset":
                self.counters.request(label, DROPPED)
                self.requests.answered(logged, DROPPED)
                raise DropConnection("injected connection reset")
            response = self._injected(fault)
        else:
            response = self._dispatch(request, endpoint, args, routing_error)
            if fault.lose and response.status_code == 200:
                # The order is in the book; only its answer is lost, as when a link dies mid-response.
                self.counters.fault("lost")
                self.counters.request(label, DROPPED)
                self.requests.answered(logged, DROPPED)
                raise DropConnection("injected: order accepted, response lost")
        self.counters.request(label, response.status_code)
        self.requests.answered(logged, response.status_code)
        return response

    def _injected(self, fault: Fault) -> Response:
        if fault.status == 429:
            return self._error(429, "NetworkException", "Too many requests (simulated fault)")
        if fault.status in (502, 504):
            # A gateway in front of the API answers these, in HTML: kiteconnect raises DataException.
            reason = "Bad Gateway" if fault.status == 502 else "Gateway Time-out"
            return Response(
                f"<html><body><h1>{fault.status} {reason}</h1>(simulated fault)</body></html>",
                status=fault.status,
                content_type="text/html",
            )
        if fault.status == 503:
            return self._error(503, "NetworkException", "Service unavailable (simulated fault)")
        return self._error(500, "GeneralException", "Internal server error (simulated fault)")

    def _dispatch(
        self, request: Request, endpoint: str, args: Mapping[str, Any], routing_error: HTTPException | None
    ) -> Response:
        try:
            if routing_error is not None:
                raise routing_error
            if endpoint in ORDER_WRITES:
                self._check_ip(request)
            response: Response = getattr(self, "on_" + endpoint)(request, **args)
        except KiteApiError as exc:
            response = self._error(exc.status, exc.error_type, exc.message)
        except ExchangeError as exc:
            error_type = str(exc.details.get("error_type", "GeneralException"))
            # Kite's own words where the exchange has them, else ours (WHAT: WHY).
            message = str(exc.details.get("kite_message") or exc.what + ": " + exc.why)
            response = self._error(_STATUS.get(error_type, 500), error_type, message)
        except MciError as exc:
            if exc.code == ExitCode.UNAVAILABLE:
                response = self._error(503, "NetworkException", exc.what)
            else:
                response = self._error(500, "GeneralException", exc.what)
        except MethodNotAllowed:
            response = self._error(405, "InputException", "Method not allowed")
        except NotFound:
            response = self._error(404, "GeneralException", "Route not found")
        except HTTPException as exc:
            response = self._error(exc.code or 500, "GeneralException", exc.description or "error")
        except Exception:  # a bug in the simulator: answer as Kite does, never a traceback
            response = self._error(500, "GeneralException", "Internal server error")
        return response

    @staticmethod
    def _json(status: int, body: dict[str, Any]) -> Response:
        return Response(dumps(body), status=status, content_type="application/json")

    def _ok(self, data: Any) -> Response:
        return self._json(200, {"status": "success", "data": data})

    def _error(self, status: int, error_type: str, message: str) -> Response:
        return self._json(status, {"status": "error", "message": message, "data": None, "error_type": error_type})

    # ------------------------------------------------------------ static IP

    def set_order_ips(self, ips: Any) -> tuple[str, ...]:
        self.order_ips = parse_order_ips(ips)
        return tuple(sorted(str(ip) for ip in self.order_ips))

    def _check_ip(self, request: Request) -> None:
        """Kite refuses place/modify/cancel from an address not registered for the app (see kite_rules)."""
        address = client_ip(request.remote_addr)
        if address is None or address not in self.order_ips:
            raise KiteApiError(403, "PermissionException", kite_rules.IP_NOT_ALLOWED.format(ip=request.remote_addr))

    # ------------------------------------------------------------ auth

    def _auth(self, request: Request) -> str:
        header = request.headers.get("Authorization", "")
        scheme, _, credentials = header.partition(" ")
        api_key, _, token = credentials.partition(":")
        if scheme.lower() != "token" or not api_key or not token:
            raise KiteApiError(403, "TokenException", "Incorrect `api_key` or `access_token`.")
        if not hmac.compare_digest(api_key, self.api_key):
            raise KiteApiError(403, "TokenException", "Incorrect `api_key` or `access_token`.")
        record = self.exchange.session_for(token)
        if record is None or not record.valid:
            raise KiteApiError(403, "TokenException", "Incorrect `api_key` or `access_token`.")
        return token

    # ------------------------------------------------------------ session

    def on_login(self, request: Request) -> Response:
        if request.args.get("api_key") != self.api_key:
            raise KiteApiError(400, "InputException", "Invalid `api_key`.")
        request_token = secrets.token_urlsafe(16)
        with self._lock:
            self._request_tokens.add(request_token)
        sep = "&" if "?" in self.redirect_url else "?"
        query = urlencode({"request_token": request_token, "action": "login", "status": "success"})
        return Response(status=302, headers={"Location": f"{self.redirect_url}{sep}{query}"})

    def on_redirect(self, request: Request) -> Response:
        # Where a browser lands after the simulated login (the default redirect_url of `mci sim kite`).
        if request.args.get("status") != "success" or not request.args.get("request_token"):
            raise KiteApiError(400, "InputException", "No request_token: open /connect/login?api_key=...&v=3 first.")
        return Response(
            "Logged in to the Kite simulator.\n"
            "Copy this page's address (it carries the request_token) into `mci token login`.\n",
            content_type="text/plain; charset=utf-8",
        )

    def on_session_token(self, request: Request) -> Response:
        form = request.form
        api_key, request_token, checksum = (
            form.get("api_key", ""),
            form.get("request_token", ""),
            form.get("checksum", ""),
        )
        if not api_key or not request_token or not checksum:
            raise KiteApiError(400, "InputException", "Missing api_key, request_token or checksum.")
        expected = hashlib.sha256((self.api_key + request_token + self._api_secret).encode("utf-8")).hexdigest()
        if not hmac.compare_digest(api_key, self.api_key) or not hmac.compare_digest(checksum, expected):
            raise KiteApiError(403, "TokenException", "Invalid `checksum`.")
        with self._lock:
            if request_token not in self._request_tokens:
                raise KiteApiError(403, "TokenException", "Token is invalid or has expired.")
            self._request_tokens.discard(request_token)
        token, issued, _ = self.exchange.issue_session(self.user_id)
        data = self._profile()
        data.update(
            {
                "api_key": self.api_key,
                "access_token": token,
                "public_token": secrets.token_hex(16),
                "enctoken": "",
                "refresh_token": "",
                "silo": "",
                "login_time": _ts(issued),
                "avatar_url": "",
                "meta": {"demat_consent": "physical"},
            }
        )
        return self._ok(data)

    def on_session_logout(self, request: Request) -> Response:
        if request.args.get("api_key") != self.api_key:
            raise KiteApiError(400, "InputException", "Invalid `api_key`.")
        token = request.args.get("access_token", "")
        if not token or not self.exchange.invalidate(token):
            raise KiteApiError(403, "TokenException", "Incorrect `api_key` or `access_token`.")
        return self._ok(True)

    def _profile(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "user_type": "individual",
            "email": "sim@example.invalid",
            "user_name": "Kite Simulator",
            "user_shortname": "Simulator",
            "broker": "ZERODHA",
            "exchanges": ["NSE", "BSE"],
            "products": ["CNC", "MIS"],
            "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
            "avatar_url": None,
            "meta": {"demat_consent": "physical"},
        }

    def on_profile(self, request: Request) -> Response:
        self._auth(request)
        return self._ok(self._profile())

    # ------------------------------------------------------------ account

    def _margins(self) -> dict[str, Any]:
        f = self.exchange.funds()
        cash = f.opening + f.realised
        equity = _segment(
            True, f.available, cash, f.opening, f.used, f.position_margin + f.order_margin, f.realised, f.unrealised
        )
        zero = Decimal(0)
        commodity = _segment(False, zero, zero, zero, zero, zero, zero, zero)
        return {"equity": equity, "commodity": commodity}

    def on_margins(self, request: Request) -> Response:
        self._auth(request)
        return self._ok(self._margins())

    def on_margins_segment(self, request: Request, segment: str) -> Response:
        self._auth(request)
        if segment not in SEGMENTS:
            raise KiteApiError(400, "InputException", f"Invalid segment `{segment}`.")
        return self._ok(self._margins()[segment])

    def on_positions(self, request: Request) -> Response:
        self._auth(request)
        rows = [_position_dict(p) for p in self.exchange.positions()]
        return self._ok({"net": rows, "day": rows})

    def on_holdings(self, request: Request) -> Response:
        self._auth(request)
        return self._ok([])

    # ------------------------------------------------------------ orders

    def on_orders(self, request: Request) -> Response:
        self._auth(request)
        modified = self.exchange.modified_order_ids()
        return self._ok([_order_dict(o, self.user_id, modified=o.order_id in modified) for o in self.exchange.orders()])

    def on_order_history(self, request: Request, order_id: str) -> Response:
        self._auth(request)
        order = self.exchange.order(order_id)
        events = self.exchange.order_history(order_id)
        out, modified = [], False
        for e in events:
            modified = modified or e.status == "MODIFY PENDING"
            out.append(_order_dict(order, self.user_id, modified=modified, event=e))
        return self._ok(out)

    def on_order_trades(self, request: Request, order_id: str) -> Response:
        self._auth(request)
        return self._ok([_trade_dict(t) for t in self.exchange.order_trades(order_id)])

    def on_trades(self, request: Request) -> Response:
        self._auth(request)
        return self._ok([_trade_dict(t) for t in self.exchange.trades()])

    @staticmethod
    def _variety(variety: str) -> None:
        if variety not in VARIETIES:
            raise KiteApiError(
                400, "InputException", f"Invalid `variety` {variety!r}: Kite's are {', '.join(VARIETIES)}."
            )

    @staticmethod
    def _decimal(form: Any, name: str) -> Decimal | None:
        text = form.get(name)
        if text is None or text == "":
            return None
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise KiteApiError(400, "InputException", f"Invalid `{name}`.") from None
        if not value.is_finite():
            raise KiteApiError(400, "InputException", f"Invalid `{name}`.")
        return value

    @staticmethod
    def _int(form: Any, name: str, *, required: bool) -> int | None:
        text = form.get(name)
        if text is None or text == "":
            if required:
                raise KiteApiError(400, "InputException", f"Missing `{name}`.")
            return None
        try:
            return int(text)
        except ValueError:
            raise KiteApiError(400, "InputException", f"Invalid `{name}`.") from None

    @staticmethod
    def _market_protection(form: Any) -> Decimal | None:
        text = form.get("market_protection")
        if text is None or text == "":
            return None
        try:
            return Decimal(text)
        except InvalidOperation:
            # Kite's words for a value it cannot read (see kite_rules' tradingqna source).
            raise KiteApiError(
                400,
                "InputException",
                f"Invalid request (failed to decode market_protection, got: {text} (expected decimal))",
            ) from None

    def on_place(self, request: Request, variety: str) -> Response:
        self._auth(request)
        self._variety(variety)
        form = request.form
        for name in ("exchange", "tradingsymbol", "transaction_type", "order_type", "product"):
            if not form.get(name):
                raise KiteApiError(400, "InputException", f"Missing `{name}`.")
        order = OrderRequest(
            exchange=form["exchange"],
            symbol=form["tradingsymbol"],
            side=form["transaction_type"],
            quantity=self._int(form, "quantity", required=True),  # type: ignore[arg-type]
            order_type=form["order_type"],
            product=form["product"],
            price=self._decimal(form, "price"),
            trigger_price=self._decimal(form, "trigger_price"),
            tag=form.get("tag") or None,
            market_protection=self._market_protection(form),
            variety=variety,
        )
        if form.get("autoslice") not in (None, "", "false"):
            # Not modelled: Kite slices above the freeze quantity (≤ 10 slices, kite_rules.MAX_SLICES); refused
            # here rather than placed as one order, so nothing rehearses a slicing that did not happen.
            raise KiteApiError(
                400,
                "InputException",
                "autoslice is not supported by the Kite simulator: place the slices yourself (at most 10).",
            )
        try:
            order_id = self.exchange.place_order(order)
        except OrderRejectedError as exc:
            # Kite accepts the request and the order is REJECTED in the book (status_message says why).
            if "order_id" not in exc.details:
                raise
            order_id = str(exc.details["order_id"])
        self.counters.order(order.tag)
        return self._ok({"order_id": order_id})

    def on_modify(self, request: Request, variety: str, order_id: str) -> Response:
        self._auth(request)
        self._variety(variety)
        form = request.form
        current = self.exchange.order(order_id)
        if variety != current.variety:  # routed by variety, as a cancel is (kite_rules.VARIETIES)
            raise KiteApiError(
                400,
                "InputException",
                f"order {order_id} is a {current.variety} order, not {variety}: "
                f"modify it with variety {current.variety!r}",
            )
        if form.get("order_type") and form["order_type"] != current.order_type:
            raise KiteApiError(
                400, "InputException", "The simulator cannot change an order's type: cancel and place again."
            )
        self.exchange.modify_order(
            order_id,
            quantity=self._int(form, "quantity", required=False),
            price=self._decimal(form, "price"),
            trigger_price=self._decimal(form, "trigger_price"),
            market_protection=self._market_protection(form),
        )
        return self._ok({"order_id": order_id})

    def on_cancel(self, request: Request, variety: str, order_id: str) -> Response:
        self._auth(request)
        self._variety(variety)
        # kiteconnect's exit_order/cancel_order send parent_order_id with the DELETE (a cover order's exit).
        parent = request.args.get("parent_order_id") or request.form.get("parent_order_id") or None
        self.exchange.cancel_order(order_id, variety=variety, parent_order_id=parent)
        return self._ok({"order_id": order_id})

    # ------------------------------------------------------------ GTT
    # Kite's GTT API (https://kite.trade/docs/connect/v3/gtt/; kiteconnect get_gtts/place_gtt/modify_gtt/delete_gtt):
    # the form carries `type` (single | two-leg), `condition` and `orders` as JSON text; place/modify/delete answer
    # {"trigger_id": id}; a listed GTT has id, type, status, condition, orders, created_at, updated_at, expires_at.

    def _gtt_body(self, request: Request) -> dict[str, Any]:
        form = request.form
        kind = form.get("type")
        if kind not in ("single", "two-leg"):
            raise KiteApiError(400, "InputException", "Invalid `type`: single or two-leg.")
        try:
            condition = json.loads(form.get("condition") or "", parse_float=Decimal)
            orders = json.loads(form.get("orders") or "", parse_float=Decimal)
        except ValueError:
            raise KiteApiError(400, "InputException", "Invalid `condition` or `orders` (JSON expected).") from None
        if not isinstance(condition, dict) or not isinstance(orders, list) or not orders:
            raise KiteApiError(400, "InputException", "Invalid `condition` or `orders`.")
        values = condition.get("trigger_values")
        if not isinstance(values, list) or len(values) != (1 if kind == "single" else 2):
            raise KiteApiError(400, "InputException", "Invalid `trigger_values` for the GTT type.")
        if (
            self.exchange.universe.get(str(condition.get("exchange", "")), str(condition.get("tradingsymbol", "")))
            is None
        ):
            raise KiteApiError(400, "InputException", "Invalid instrument in `condition`.")
        return {"type": kind, "condition": condition, "orders": orders}

    def _gtt_dict(self, g: dict[str, Any]) -> dict[str, Any]:
        body = g["body"]
        created: datetime = g["created_at"]
        return {
            "id": g["id"],
            "user_id": self.user_id,
            "parent_trigger": None,
            "type": body["type"],
            "created_at": _ts(created),
            "updated_at": _ts(g["updated_at"]),
            "expires_at": _ts(created.replace(year=created.year + 1)),
            "status": g["status"],
            "condition": body["condition"],
            "orders": [{**o, "result": None} for o in body["orders"]],
            "meta": {},
        }

    def on_gtts(self, request: Request) -> Response:
        self._auth(request)
        return self._ok([self._gtt_dict(g) for g in self.exchange.gtts()])

    def on_gtt_place(self, request: Request) -> Response:
        self._auth(request)
        return self._ok({"trigger_id": self.exchange.place_gtt(self._gtt_body(request))})

    def on_gtt_info(self, request: Request, trigger_id: int) -> Response:
        self._auth(request)
        return self._ok(self._gtt_dict(self.exchange.gtt(trigger_id)))

    def on_gtt_modify(self, request: Request, trigger_id: int) -> Response:
        self._auth(request)
        self.exchange.modify_gtt(trigger_id, self._gtt_body(request))
        return self._ok({"trigger_id": trigger_id})

    def on_gtt_delete(self, request: Request, trigger_id: int) -> Response:
        self._auth(request)
        self.exchange.delete_gtt(trigger_id)
        return self._ok({"trigger_id": trigger_id})

    # ------------------------------------------------------------ market data

    @staticmethod
    def _instruments(request: Request) -> list[str]:
        keys = request.args.getlist("i")
        if not keys:
            raise KiteApiError(400, "InputException", "No instruments specified.")
        return keys

    def on_ltp(self, request: Request) -> Response:
        self._auth(request)
        quotes = self.exchange.quote(self._instruments(request))
        return self._ok(
            {k: {"instrument_token": q.instrument_token, "last_price": q.last_price} for k, q in quotes.items()}
        )

    def on_instruments(self, request: Request, exchange: str | None = None) -> Response:
        # Kite serves the dump as CSV (gzip on the wire), not in the JSON envelope.
        self._auth(request)
        rows = [
            "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,"
            "instrument_type,segment,exchange"
        ]
        today = self.exchange.clock.now().astimezone(zone(IST)).date()
        for inst in self.exchange.universe:
            if inst.expiry is not None and inst.expiry < today:
                continue  # Kite's dump lists only live contracts
            if exchange is None or inst.exchange == exchange.upper():
                expiry = f"{inst.expiry:%Y-%m-%d}" if inst.expiry else ""
                rows.append(
                    f"{inst.token},{inst.exchange_token},{inst.symbol},{inst.name},0.0,{expiry},{inst.strike:.1f},"
                    f"{inst.tick_size},{inst.lot_size},{inst.instrument_type},{inst.segment},{inst.exchange}"
                )
        return Response("\n".join(rows) + "\n", status=200, content_type="text/csv")

    def on_ohlc(self, request: Request) -> Response:
        self._auth(request)
        quotes = self.exchange.quote(self._instruments(request))
        return self._ok({
            k: {"instrument_token": q.instrument_token, "last_price": q.last_price,
                "ohlc": {"open": q.open, "high": q.high, "low": q.low, "close": q.close}}
            for k, q in quotes.items()
        })  # fmt: skip

    def on_quote(self, request: Request) -> Response:
        self._auth(request)
        quotes = self.exchange.quote(self._instruments(request))
        empty = {"price": 0, "quantity": 0, "orders": 0}
        out = {}
        # The band the exchange rejects prices outside of (one rule for the quote and the RMS).
        limits = {k: self.exchange.circuit_limits(*k.split(":", 1)) for k in quotes}
        for k, q in quotes.items():
            out[k] = {
                "instrument_token": q.instrument_token,
                "timestamp": _ts(q.timestamp),
                "last_trade_time": _ts(q.timestamp),
                "last_price": q.last_price,
                "last_quantity": 0,
                "buy_quantity": 0,
                "sell_quantity": 0,
                "volume": 0,
                "average_price": q.last_price,
                "oi": 0,
                "oi_day_high": 0,
                "oi_day_low": 0,
                "net_change": q.net_change,
                "lower_circuit_limit": limits[k][0],
                "upper_circuit_limit": limits[k][1],
                "ohlc": {"open": q.open, "high": q.high, "low": q.low, "close": q.close},
                "depth": {
                    "buy": [{"price": q.last_price, "quantity": 1, "orders": 1}] + [dict(empty) for _ in range(4)],
                    "sell": [{"price": q.last_price, "quantity": 1, "orders": 1}] + [dict(empty) for _ in range(4)],
                },
            }
        return self._ok(out)


# ---------------------------------------------------------------- static IP


def client_ip(address: str | None) -> Any:
    """The client's address as an ip_address (an IPv4-mapped IPv6 address as its IPv4), or None."""
    import ipaddress

    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return None
    mapped = getattr(ip, "ipv4_mapped", None)
    return mapped or ip


def parse_order_ips(ips: Any) -> frozenset[Any]:
    """'IP,IP' or an iterable of addresses -> the allow-list; ValueError names a bad one."""
    import ipaddress

    items = [p.strip() for p in ips.split(",")] if isinstance(ips, str) else [str(p).strip() for p in ips]
    out = set()
    for item in items:
        if not item:
            continue
        try:
            out.add(client_ip(str(ipaddress.ip_address(item))))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address (write it like 203.0.113.7 or ::1)") from None
    return frozenset(out)


# ---------------------------------------------------------------- serving


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: Any = "-", size: Any = "-") -> None:  # no access log: tests and drills stay quiet
        pass

    def send_response(self, code: int, message: str | None = None) -> None:
        # http.server adds its own wall-clock Date; the app sends the exchange clock's (one Date header).
        self.send_response_only(code, message)
        self.send_header("Server", self.version_string())

    def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
        if isinstance(error, StreamEnded):  # the ticker wrote its own answer and owns the socket's end
            self.close_connection = True
            return
        if isinstance(error, DropConnection):
            # Linger 0: close() sends a TCP reset, not a polite FIN, and no answer has been written.
            self.close_connection = True
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            except OSError:
                pass


class SimServer:
    """A running simulator: `.port`, `.url`, `.app`, `.shutdown()`."""

    def __init__(self, server: Any, app: KiteSimApp, thread: threading.Thread | None):
        self._server = server
        self.app = app
        self.host = server.host
        self.port = server.port
        self.url = f"http://[{self.host}]:{self.port}" if ":" in self.host else f"http://{self.host}:{self.port}"
        self._thread = thread

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def shutdown(self) -> None:
        self.app.stream.close()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "SimServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()


def serve(
    host: str,
    port: int,
    exchange: Exchange,
    *,
    api_key: str,
    api_secret: str,
    background: bool = True,
    **app_options: Any,
) -> SimServer:
    """Serve `exchange` on host:port (0: an ephemeral port). In a daemon thread unless background=False.

    Raises OSError when the address cannot be bound (e.g. the port is in use)."""
    app = KiteSimApp(exchange, api_key=api_key, api_secret=api_secret, **app_options)
    # Bound here, not by werkzeug: on a port in use werkzeug prints and calls sys.exit(1); we raise OSError.
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(128)
        server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler, fd=listener.fileno())
    thread = None
    if background:
        # A short poll interval: shutdown() waits for the loop's next poll.
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="kite-sim", daemon=True
        )
        thread.start()
    return SimServer(server, app, thread)
