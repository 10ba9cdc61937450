"""A small demo trading engine: what `mci ignite` starts and `mci shutdown` stops on the paper profile.

    python -m mci.demo_engine [--port 8787] [--interval 2] [--max-orders 4] [--symbol INFY] [--quantity 1]

It opens the broker of the profile in MCI_PROFILE (default: the shipped paper
profile) in the state directory MCI_HOME and, while not paused, places up to
--max-orders small MIS market BUYs, each followed by a protective SL-M SELL
resting 1% below. Every entry is first put to the profile's pre-trade validator
(mci.risk) with its stop and a 2.5% target, as a real engine should: a
rejected entry is logged rule by rule and not placed. HTTP on 127.0.0.1:<port>:

    GET  /health   200 {"status": "ok", "paused": false, "orders_placed": 3}; 503 while starting or stopping
    POST /pause    no new entries (stops for filled entries are still placed); none either, paused or
                   not, while the profile's lifecycle is `reducing` (mci pause, watch.reduce_at)
    POST /resume   place entries again
    POST /stop     exit 0 (as SIGTERM / SIGINT do)

Orders are idempotent across restarts: the n-th entry of a day is tagged
`demo<yymmdd>n<n>` and its stop `...s`; a tag already in the order book is
never placed again. Tags are alphanumeric because Kite accepts only that.

A kite profile's token comes from KITE_ACCESS_TOKEN or the 0600 file named in
MCI_TOKEN_FILE (what `mci ignite` hands over), bridged to MCI_ACCESS_TOKEN, the
token store's memory-only mode, inside this process only. It is never printed.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import socket
import sys
import threading
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any, Callable

from mci.signals import StopRequest

DEFAULT_PORT = 8787
STOP_DISTANCE = Decimal("0.01")  # the protective stop rests 1% below the last price
TARGET_DISTANCE = Decimal("0.025")  # 2.5 : 1, above the shipped profiles' min_risk_reward of 2.0
TICK = Decimal("0.05")


def log(message: str) -> None:
    print(f"{datetime.now().astimezone().isoformat(timespec='seconds')} demo-engine: {message}", flush=True)


def fail(what: str, why: str, how: str, code: int = 2) -> int:
    print(f"WHAT: {what}\n  WHY: {why}\n  HOW: {how}", file=sys.stderr, flush=True)
    return code


class Engine:
    """The trading loop and the state /health reports. Only the loop's thread touches the broker."""

    def __init__(self, *, interval: float, max_orders: int, symbol: str, quantity: int, today: str):
        self.interval, self.max_orders, self.symbol, self.quantity = interval, max_orders, symbol, quantity
        self.today = today  # yymmdd in IST: tags are unique per trading day
        self.status = "starting"  # starting | ok | stopping
        self.paused = False
        self.orders_placed = 0  # by this process
        self.rejected = 0  # entries the pre-trade validator refused
        self.risk: Any = None  # the profile's RiskLimits; None: no validation (a test engine)
        self.gate: Any = None  # mci.engine.reducing.EntryGate: no entry while the profile is reducing
        self.reducing_said = False
        self.specs: Any = None  # tick and lot sizes, read once
        self.done = False
        self.broker: Any = None  # opened in the trading thread, used only there
        self.stopping = StopRequest()  # set by the signal handlers: a threading.Event could deadlock (mci.signals)
        self.wake = threading.Event()  # cuts an interval short on resume / stop
        self.error: tuple[str, str, str, int] | None = None  # WHAT / WHY / HOW and exit code that ended the loop

    def stop(self) -> None:
        self.status = "stopping"
        self.stopping.set()
        self.wake.set()

    def health(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "paused": self.paused,
            "orders_placed": self.orders_placed,
            "entries_rejected": self.rejected,
        }

    # ------------------------------------------------------------ trading

    def run(self, open_broker: Callable[[], Any]) -> None:
        from mci.errors import MciError

        try:
            broker, self.risk, self.gate = open_broker()
        except MciError as exc:
            self.error = (exc.what, exc.why, exc.how, int(exc.code))
            self.stop()
            return
        self.broker = broker
        try:
            self._loop()
        except Exception as exc:  # a bug: end the engine visibly rather than answer "ok" while idle
            self.error = ("the demo engine failed", f"{type(exc).__name__}: {exc}", "report it with the engine log", 70)
            self.stop()
        finally:
            broker.close()
            if self.gate is not None:
                self.gate.close()

    def _loop(self) -> None:
        from mci.errors import MciError

        self.status = "ok"
        log(f"ready: up to {self.max_orders} BUY {self.quantity} NSE:{self.symbol} MIS, one every {self.interval:g}s")
        first = True
        while not self.stopping.is_set():
            try:
                self._cycle(first)
                first = False
            except MciError as exc:
                log(f"an order failed, retried in {self.interval:g}s: {exc.what}: {exc.why}")
            self._idle(self.interval)

    def _idle(self, seconds: float | None) -> None:
        self.wake.wait(seconds)
        self.wake.clear()

    def _cycle(self, first: bool) -> None:
        """Protect every filled entry, then place one new entry unless paused. The order book decides, by tag."""
        prefix = f"demo{self.today}n"
        book = {o.tag: o for o in self.broker.orders() if o.tag and o.tag.startswith(prefix)}
        if first and book:
            log(f"{len(book)} orders tagged {prefix}* already in the book: they are not placed again")
        for n in range(1, self.max_orders + 1):
            # Allowed while paused: a stop completes a trade already made, it adds no risk.
            self._protect(book.get(f"{prefix}{n}"), book)
        if self.paused or self.stopping.is_set() or self._reducing():
            return
        missing = [n for n in range(1, self.max_orders + 1) if f"{prefix}{n}" not in book]
        if not missing:
            if not self.done:
                log(f"done: {self.max_orders} entries are in the book; idle until stopped")
                self.done = True
            return
        tag = f"{prefix}{missing[0]}"
        if not self._vetted(tag):
            return
        self._place("BUY", "MARKET", tag)
        self._protect(_by_tag(self.broker, tag), book)

    def _reducing(self) -> bool:
        """The lifecycle says reducing (`mci pause`, `watch.reduce_at`): a pause this engine missed (it was
        restarted, the call was lost) still stops its entries."""
        reducing = self.gate is not None and self.gate.reducing()
        if reducing and not self.reducing_said:
            log("the profile is reducing: no new entries (stops are still placed)")
        self.reducing_said = reducing
        return reducing

    def _vetted(self, tag: str) -> bool:
        """The entry with its stop and target against the profile's limits and the account as it is now."""
        if self.risk is None:
            return True
        from mci.clock import clock_from
        from mci.risk import Account, RiskModel, validate

        key = f"NSE:{self.symbol}"
        if self.specs is None:
            self.specs = self.broker.instruments(["NSE"])
        account = Account.from_broker(self.broker, instruments=[key], specs=self.specs)
        ltp = account.last_prices[key]
        order = {
            "exchange": "NSE",
            "symbol": self.symbol,
            "side": "BUY",
            "quantity": self.quantity,
            "order_type": "MARKET",
            "product": "MIS",
            "tag": tag,
            # What the broker sends with it (the profile's broker.market_protection): Kite's 2026 rule.
            "market_protection": str(self.broker.market_protection),
            "stop_loss": str(_tick(ltp * (1 - STOP_DISTANCE), ROUND_FLOOR)),
            "target": str(_tick(ltp * (1 + TARGET_DISTANCE), ROUND_CEILING)),
        }
        now = clock_from().now()
        verdict = validate(
            {**order, "signal_time": now.isoformat()}, RiskModel.of(self.risk, account.capital), account, now
        )
        if not verdict.accepted:
            self.rejected += 1
            for failure in verdict.failures:
                log(f"entry {tag} rejected by risk rule {failure.rule}: {failure.what} ({failure.why})")
        return verdict.accepted

    def _protect(self, entry: Any, book: dict[str, Any]) -> None:
        if entry is None or entry.status != "COMPLETE" or entry.tag + "s" in book or self.stopping.is_set():
            return
        key = f"NSE:{self.symbol}"
        ltp = self.broker.ltp([key])[key]
        trigger = _tick(ltp * (1 - STOP_DISTANCE), ROUND_FLOOR)
        self._place("SELL", "SL-M", entry.tag + "s", trigger)
        book[entry.tag + "s"] = entry  # placed: not again in this cycle

    def _place(self, side: str, order_type: str, tag: str, trigger: Decimal | None = None) -> str:
        from mci.brokers.base import OrderRequest

        from mci.errors import MciError

        try:
            order_id: str = self.broker.place_order(
                OrderRequest("NSE", self.symbol, side, self.quantity, order_type, "MIS", trigger_price=trigger, tag=tag)
            )
        except MciError as exc:
            if exc.details.get("order_id"):  # accepted, then REJECTED by the broker's RMS: its reason, as it gave it
                log(
                    f"REJECTED {side} {self.quantity} NSE:{self.symbol} MIS {order_type} tag={tag} "
                    f"order_id={exc.details['order_id']}: {exc.why}"
                )
            raise
        self.orders_placed += 1
        at = f" trigger={trigger}" if trigger is not None else ""
        log(f"placed {side} {self.quantity} NSE:{self.symbol} MIS {order_type}{at} tag={tag} order_id={order_id}")
        return order_id


def _tick(price: Decimal, rounding: str) -> Decimal:
    return (price / TICK).to_integral_value(rounding) * TICK


def _by_tag(broker: Any, tag: str) -> Any:
    lookup = getattr(broker, "orders_by_tag", None)
    found = lookup(tag) if lookup else [o for o in broker.orders() if o.tag == tag]
    return found[0] if found else None


# ---------------------------------------------------------------- broker


def bridge_token(env: dict[str, str]) -> None:
    """KITE_ACCESS_TOKEN or MCI_TOKEN_FILE (what ignite hands over) -> MCI_ACCESS_TOKEN (the token store's memory-only mode)."""
    token = env.get("KITE_ACCESS_TOKEN")
    if not token and env.get("MCI_TOKEN_FILE"):
        token = Path(env["MCI_TOKEN_FILE"]).read_text(encoding="utf-8").strip()
    if token:
        env["MCI_ACCESS_TOKEN"] = token


def open_broker() -> tuple[Any, Any, Any]:
    """The profile's broker with a valid session, its risk limits, and the gate that reads whether it is reducing."""
    from mci.brokers.factory import broker_for
    from mci.clock import clock_from
    from mci.config import load_profile
    from mci.errors import MciError, UnavailableError
    from mci.paths import state_dir

    profile_path = os.environ.get("MCI_PROFILE")
    profile = load_profile(Path(profile_path) if profile_path else None)
    if profile.broker.kind == "kite":
        try:
            bridge_token(os.environ)  # type: ignore[arg-type]
        except OSError as exc:
            raise UnavailableError(
                "cannot read the access token file named in MCI_TOKEN_FILE",
                exc.strerror or str(exc),
                "start the engine with `mci ignite`, which writes it",
            ) from None
    broker = broker_for(profile, state_dir(), clock_from())
    session = broker.ensure_session()
    if not session.valid:
        raise MciError(
            f"the {profile.broker.kind} session of profile {profile.name!r} is not valid",
            session.reason or "the broker refused the session",
            "run `mci token login`, then start again",
        )
    log(f"broker {broker.name} of profile {profile.name} open (user {session.user_id})")
    from mci.engine.reducing import EntryGate

    return broker, profile.risk, EntryGate(state_dir(), profile.name)


# ---------------------------------------------------------------- HTTP


def make_app(engine: Engine) -> Callable[..., Any]:
    from werkzeug.wrappers import Request, Response

    def reply(body: dict[str, Any], status: int = 200) -> Response:
        return Response(json.dumps(body), status, mimetype="application/json")

    @Request.application
    def app(request: Request) -> Response:
        route = (request.method, request.path.rstrip("/") or "/")
        if route == ("GET", "/health"):
            return reply(engine.health(), 200 if engine.status == "ok" else 503)
        if route == ("POST", "/pause"):
            if not engine.paused:
                log("paused: no new orders")
            engine.paused = True
            return reply(engine.health())
        if route == ("POST", "/resume"):
            if engine.paused:
                log("resumed")
            engine.paused = False
            engine.wake.set()
            return reply(engine.health())
        if route == ("POST", "/stop"):
            log("stop requested over HTTP")
            engine.stop()
            return reply(engine.health())
        return reply({"status": "error", "message": f"no route {request.method} {request.path}"}, 404)

    return app


def bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # SO_REUSEADDR lets a restart bind past TIME_WAIT; on Linux it never allows two listeners.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen(64)
    except OSError:
        sock.close()
        raise
    return sock


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mci.demo_engine", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=None, help=f"default: $MCI_ENGINE_PORT, else {DEFAULT_PORT}")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between entries (default 2)")
    parser.add_argument("--max-orders", type=int, default=4, help="entries to place in all (default 4)")
    parser.add_argument("--symbol", default="INFY", help="NSE symbol to trade (default INFY)")
    parser.add_argument("--quantity", type=int, default=1, help="shares per entry (default 1)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    port = args.port if args.port is not None else int(os.environ.get("MCI_ENGINE_PORT") or DEFAULT_PORT)
    try:
        sock = bind(port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return fail(
                f"the demo engine cannot listen on 127.0.0.1:{port}",
                "the port is in use by another program (another engine, or a copy of this one)",
                f"stop that program (ss -ltnp 'sport = :{port}'), or pass --port / set MCI_ENGINE_PORT",
            )
        return fail(
            f"the demo engine cannot listen on 127.0.0.1:{port}",
            exc.strerror or str(exc),
            "choose another port with --port",
        )

    from werkzeug.serving import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, code: Any = "-", size: Any = "-") -> None:  # health polls would flood the engine log
            pass

    from mci.clock import IST, clock_from
    from mci.errors import MciError

    try:
        today = clock_from().now_in(IST).strftime("%y%m%d")
    except MciError as exc:
        sock.close()
        return fail(exc.what, exc.why, exc.how, int(exc.code))
    engine = Engine(
        interval=args.interval, max_orders=args.max_orders, symbol=args.symbol, quantity=args.quantity, today=today
    )
    server = make_server(
        "127.0.0.1", port, make_app(engine), threaded=True, request_handler=QuietHandler, fd=sock.fileno()
    )
    sock.close()  # the server holds its own duplicate of the socket

    def on_signal(num: int, _frame: object) -> None:
        log(f"SIG{signal.Signals(num).name[3:]}: stopping")
        engine.stop()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    http = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="http", daemon=True)
    http.start()
    log(f"listening on http://127.0.0.1:{port} (pid {os.getpid()})")
    trader = threading.Thread(target=engine.run, args=(open_broker,), name="trader", daemon=True)
    trader.start()
    while not engine.stopping.wait(0.2):
        pass
    # Exit promptly: an order call in flight is not waited for long; its tag makes a restart safe.
    trader.join(timeout=0.5)
    server.shutdown()
    server.server_close()
    if engine.error:
        return fail(*engine.error)
    log("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
