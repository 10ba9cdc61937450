"""Kite's WebSocket ticker, served by the simulator on its HTTP port: what `kiteconnect.KiteTicker` connects to.

Kite's own description (https://kite.trade/docs/connect/v3/websocket): one long-lived WebSocket to
wss://ws.kite.trade?api_key=...&access_token=...; JSON text messages from the client
({"a": "subscribe", "v": [tokens]}, "unsubscribe", {"a": "mode", "v": ["ltp"|"quote"|"full", [tokens]]});
binary messages from the server, each a 2-byte count then per packet a 2-byte length and the packet
(ltp 8 bytes, quote 44, full 184; prices in paise); a 1-byte heartbeat when there is nothing else
(https://kite.trade/forum/discussion/comment/6277: "You will keep getting 1-byte ticks even if you don't
subscribe for any token"), and order updates as text {"type": "order", "data": {...}} (the postback's
fields). A subscription without a mode is in quote mode. The exact byte layout is the one
kiteconnect/ticker.py `_parse_binary` reads.

Here the simulator's root with ws:// for http:// is the ticker's root (`KiteTicker(root="ws://127.0.0.1:8765")`):
an HTTP request asking for a WebSocket upgrade is taken over from the WSGI server (werkzeug's threaded dev
server gives every connection its own thread and the socket in `werkzeug.socket`). The api_key and the
access token are checked as for the REST API; a refused handshake is answered 403, as Kite does.

One publisher thread drives every connection from the same Exchange as the REST API: every PUBLISH_EVERY it
reads the subscribed instruments' quotes (the same matched snapshot the REST quote reads) and sends a tick
for each price that changed since that connection's last tick of it, and diffs the order book to send order
updates. Every tick sent is logged (`ticks()`, /_sim/ticks) with the monotonic instant it left: the
timestamp benches measure from. Faults (mci.brokers.sim.faults): stream=cut, stream_drop=R, stream_delay=D.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Iterable
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from mci.brokers.sim.exchange import Quote
    from mci.brokers.sim.kite_server import KiteSimApp

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
PUBLISH_EVERY = 0.05  # seconds between two reads of the book by the publisher
HEARTBEAT_EVERY = 1.0  # a connection that was sent nothing for this long gets a 1-byte heartbeat
MODES = ("ltp", "quote", "full")
DEFAULT_MODE = "quote"  # Kite: a subscription without a mode message streams quotes
TICK_LOG = 10_000
# "Single API key can have upto 3 websocket connections" (https://kite.trade/docs/connect/v3/websocket); Kite's
# answer to a fourth is not published: the simulator refuses its handshake with 429 and its own words.
MAX_CONNECTIONS = 3

# The ticker's exchange segments (the low byte of an instrument token) and their price divisors, as
# kiteconnect/ticker.py reads them: cds 1e7, bcd and nco 1e4, the rest paise.
_DIVISORS = {3: 10_000_000, 6: 10_000, 12: 10_000}

_OP_TEXT, _OP_BINARY, _OP_CLOSE, _OP_PING, _OP_PONG = 0x1, 0x2, 0x8, 0x9, 0xA


class StreamEnded(ConnectionError):
    """Raised out of the WSGI app when a ticker connection ends: the server closes the socket, writes nothing."""


def is_upgrade(environ: dict[str, Any]) -> bool:
    return (
        environ.get("HTTP_UPGRADE", "").lower() == "websocket"
        and "upgrade" in environ.get("HTTP_CONNECTION", "").lower()
    )


# ---------------------------------------------------------------- packets


def _int(price: Decimal, token: int) -> int:
    return int(price * _DIVISORS.get(token & 0xFF, 100))


def ltp_packet(token: int, price: Decimal) -> bytes:
    return struct.pack(">II", token, _int(price, token))


def quote_packet(token: int, q: "Quote") -> bytes:
    def p(v: Decimal) -> int:
        return _int(v, token)

    # last price, last traded quantity, average price, volume, total buy and sell quantity, then o/h/l/c
    return struct.pack(
        ">11I", token, p(q.last_price), 0, p(q.last_price), 0, 0, 0, p(q.open), p(q.high), p(q.low), p(q.close)
    )


def full_packet(token: int, q: "Quote") -> bytes:
    at = int(q.timestamp.timestamp())
    head = quote_packet(token, q) + struct.pack(
        ">5I", at, 0, 0, 0, at
    )  # last trade time, oi, oi high/low, exchange time
    level = struct.pack(">IIHH", 1, _int(q.last_price, token), 1, 0)  # the simulator's depth: the last price, 1 level
    empty = struct.pack(">IIHH", 0, 0, 0, 0)
    return head + level + empty * 4 + level + empty * 4


def message(packets: list[bytes]) -> bytes:
    return struct.pack(">H", len(packets)) + b"".join(struct.pack(">H", len(p)) + p for p in packets)


# ---------------------------------------------------------------- frames (RFC 6455)


def _frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([n])
    elif n < 1 << 16:
        head += bytes([126]) + struct.pack(">H", n)
    else:
        head += bytes([127]) + struct.pack(">Q", n)
    return head + payload


def _read_exact(sock: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("closed")
        out += chunk
    return out


def _read_frame(sock: socket.socket) -> tuple[int, bytes]:
    b0, b1 = _read_exact(sock, 2)
    opcode, n = b0 & 0x0F, b1 & 0x7F
    if n == 126:
        n = struct.unpack(">H", _read_exact(sock, 2))[0]
    elif n == 127:
        n = struct.unpack(">Q", _read_exact(sock, 8))[0]
    if n > 1 << 20:
        raise ConnectionError("frame too large")
    mask = _read_exact(sock, 4) if b1 & 0x80 else b""
    data = _read_exact(sock, n)
    if mask:
        data = bytes(c ^ mask[i % 4] for i, c in enumerate(data))
    return opcode, data


# ---------------------------------------------------------------- a connection


@dataclass(eq=False)
class Session:
    sock: socket.socket
    peer: str
    modes: dict[int, str] = field(default_factory=dict)  # token -> mode
    sent: dict[int, tuple[str, Decimal]] = field(default_factory=dict)  # token -> (mode, price) last sent
    last_send: float = 0.0
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, opcode: int, payload: bytes) -> bool:
        with self.lock:
            if self.closed:
                return False
            try:
                self.sock.sendall(_frame(opcode, payload))
            except OSError:
                self.closed = True
                return False
            self.last_send = time.monotonic()
            return True

    def cut(self) -> None:
        """Close with a TCP reset, no close frame: a link that died."""
        with self.lock:
            self.closed = True
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@dataclass(frozen=True)
class TickRecord:
    seq: int
    at: float  # time.monotonic() when the message left
    wall: float  # time.time() then
    token: int
    instrument: str
    mode: str
    last_price: Decimal

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "wall": self.wall,
            "token": self.token,
            "instrument": self.instrument,
            "mode": self.mode,
            "last_price": str(self.last_price),
        }


class TickerHub:
    """Every ticker connection of one simulator, and the publisher thread that feeds them."""

    def __init__(self, app: "KiteSimApp", *, publish_every: float = PUBLISH_EVERY):
        self.app = app
        self.publish_every = publish_every
        self._sessions: set[Session] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._orders: dict[str, tuple[Any, ...]] | None = None
        self._ticks: deque[TickRecord] = deque(maxlen=TICK_LOG)
        self._seq = 0
        self._rng = random.Random(app.exchange.seed)
        self.on_tick: Callable[[TickRecord], None] | None = None  # in-process observers (benches)

    # ------------------------------------------------------------ the log

    def ticks(self, since: int = 0) -> list[TickRecord]:
        with self._lock:
            return [t for t in self._ticks if t.seq > since]

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._sessions)

    # ------------------------------------------------------------ a connection's life

    def handle(self, environ: dict[str, Any]) -> None:
        """Serve one upgrade request until the connection ends; always raises StreamEnded."""
        sock: socket.socket = environ["werkzeug.socket"]
        refusal = self._refusal(environ)
        if refusal is not None:
            status, text = refusal
            body = text.encode()
            sock.sendall(
                f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "
                f"{len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            raise StreamEnded(status)
        accept = base64.b64encode(hashlib.sha1((environ["HTTP_SEC_WEBSOCKET_KEY"].strip() + GUID).encode()).digest())
        sock.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        session = Session(sock, str(environ.get("REMOTE_ADDR", "")), last_send=time.monotonic())
        with self._lock:
            self._sessions.add(session)
            if self._thread is None:
                self._stopped.clear()
                self._thread = threading.Thread(target=self._publish, name="kite-sim-ticker", daemon=True)
                self._thread.start()
        try:
            self._read(session)
        finally:
            with self._lock:
                self._sessions.discard(session)
            session.closed = True
        raise StreamEnded("ticker connection closed")

    def _refusal(self, environ: dict[str, Any]) -> tuple[str, str] | None:
        if not environ.get("HTTP_SEC_WEBSOCKET_KEY"):
            return "400 Bad Request", "Not a WebSocket handshake."
        if self.app.faults.spec.stream_cut:
            return "503 Service Unavailable", "The ticker is cut (simulated fault)."
        query = parse_qs(environ.get("QUERY_STRING", ""))
        api_key = (query.get("api_key") or [""])[0]
        token = (query.get("access_token") or [""])[0]
        record = self.app.exchange.session_for(token) if token else None
        if not api_key or not hmac.compare_digest(api_key, self.app.api_key) or record is None or not record.valid:
            return "403 Forbidden", "Incorrect `api_key` or `access_token`."
        if self.connections >= MAX_CONNECTIONS:
            return "429 Too Many Requests", f"At most {MAX_CONNECTIONS} WebSocket connections per api_key (simulator)."
        return None

    def _read(self, session: Session) -> None:
        while not session.closed:
            try:
                opcode, data = _read_frame(session.sock)
            except (OSError, ValueError):
                return
            if opcode == _OP_CLOSE:
                session.send(_OP_CLOSE, data[:2])
                return
            if opcode == _OP_PING:
                session.send(_OP_PONG, data)
            elif opcode == _OP_TEXT:
                self._command(session, data)

    def _command(self, session: Session, data: bytes) -> None:
        try:
            msg = json.loads(data.decode("utf-8"))
            action, value = msg["a"], msg["v"]
            if action == "mode":
                mode, tokens = value
                if mode not in MODES:
                    raise ValueError(mode)
            else:
                mode, tokens = DEFAULT_MODE, value
            if action not in ("subscribe", "unsubscribe", "mode") or not isinstance(tokens, list):
                raise ValueError(action)
            # Kite wants numbers: a token sent as a string streams nothing (kite.trade/forum/discussion/comment/6277).
            numbers = [t for t in tokens if isinstance(t, int) and not isinstance(t, bool)]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            session.send(_OP_TEXT, json.dumps({"type": "error", "data": "Invalid message"}).encode())
            return
        with session.lock:
            for t in numbers:
                if action == "unsubscribe":
                    session.modes.pop(t, None)
                    session.sent.pop(t, None)
                elif action == "subscribe" or t in session.modes:  # a mode for a token not subscribed is ignored
                    if action == "subscribe" and t in session.modes:
                        continue
                    session.modes[t] = mode
                    session.sent.pop(t, None)  # the new subscription or mode gets a tick at once

    # ------------------------------------------------------------ the publisher

    def close(self) -> None:
        self._stopped.set()
        with self._lock:
            sessions = list(self._sessions)
        for s in sessions:
            s.cut()

    def _publish(self) -> None:
        while not self._stopped.wait(self.publish_every):
            with self._lock:
                sessions = [s for s in self._sessions if not s.closed]
            if not sessions:
                with self._lock:
                    if not self._sessions:
                        self._thread = None
                        self._orders = None
                        return
                continue
            spec = self.app.faults.spec
            if spec.stream_cut:
                for s in sessions:
                    s.cut()
                continue
            try:
                self._cycle(sessions, spec)
            except Exception:  # noqa: BLE001 — an exchange hiccup (locked file) skips one cycle, never the ticker
                continue

    def _cycle(self, sessions: list[Session], spec: Any) -> None:
        exchange = self.app.exchange
        universe = exchange.universe
        wanted: dict[int, str] = {}
        for s in sessions:
            with s.lock:
                for t in s.modes:
                    inst = universe.by_token(t)
                    if inst is not None:
                        wanted[t] = inst.key
        quotes = exchange.quote(sorted(set(wanted.values()))) if wanted else {}
        updates = self._order_updates()
        for s in sessions:
            packets: list[bytes] = []
            sent: list[tuple[int, str, str, Decimal]] = []
            with s.lock:
                for t, mode in s.modes.items():
                    q = quotes.get(wanted.get(t, ""))
                    if q is None or s.sent.get(t) == (mode, q.last_price):
                        continue
                    s.sent[t] = (mode, q.last_price)
                    packets.append(
                        ltp_packet(t, q.last_price)
                        if mode == "ltp"
                        else quote_packet(t, q)
                        if mode == "quote"
                        else full_packet(t, q)
                    )
                    sent.append((t, wanted[t], mode, q.last_price))
            if packets and not (spec.stream_drop and self._rng.random() < spec.stream_drop):
                if spec.stream_delay:
                    time.sleep(spec.stream_delay.total_seconds())
                if s.send(_OP_BINARY, message(packets)):
                    self._log(sent)
            for text in updates:
                s.send(_OP_TEXT, text)
            if time.monotonic() - s.last_send >= HEARTBEAT_EVERY:
                s.send(_OP_BINARY, b"\x00")

    def _log(self, sent: Iterable[tuple[int, str, str, Decimal]]) -> None:
        at, wall = time.monotonic(), time.time()
        records = []
        with self._lock:
            for token, key, mode, price in sent:
                self._seq += 1
                records.append(TickRecord(self._seq, at, wall, token, key, mode, price))
            self._ticks.extend(records)
        observer = self.on_tick
        if observer is not None:
            for r in records:
                observer(r)

    def _order_updates(self) -> list[bytes]:
        """The order book's changes since the last cycle, as Kite's text order updates (the postback's fields)."""
        from mci.brokers.sim.kite_server import _order_dict, dumps

        app = self.app
        orders = app.exchange.orders()
        now = {
            o.order_id: (o.status, o.filled_quantity, o.quantity, o.price, o.trigger_price, o.average_price)
            for o in orders
        }
        before, self._orders = self._orders, now
        if before is None:  # the first look: what was already there is no update
            return []
        out = []
        for o in orders:
            if before.get(o.order_id) != now[o.order_id]:
                data = _order_dict(o, app.user_id)
                data.update(
                    {"user_id": app.user_id, "unfilled_quantity": data["pending_quantity"], "app_id": 0, "checksum": ""}
                )
                out.append(dumps({"type": "order", "id": "", "data": data}).encode())
        return out
