"""`mci sim kite` runs the Kite-protocol simulator; `mci sim price|faults|limits|requests|counters|clock|position|order|status`
drive a running one through its admin interface (/_sim/, loopback only).

Exit codes: 0 done (and `sim kite` stopped cleanly by SIGINT/SIGTERM); 2 bad input
(a fault spec, an instrument, a non-loopback host without --allow-remote); 3 the
simulator cannot be reached, or cannot listen on its port.

Neither the api_secret nor an access token is ever printed: the banner names the
variables to export, not their values.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlencode, urlsplit

from mci.clock import IST, zone
from mci.errors import ExitCode, MciError, UnavailableError, UsageError
from mci.output import console

DEFAULT_URL = "http://127.0.0.1:8765"
URL_ENV = "MCI_SIM_URL"
ADMIN_TIMEOUT = 10.0  # seconds: an admin call is one SQLite transaction, unless the host is wedged


def _emit(text: str, stream: TextIO | None = None) -> None:
    console.emit(text, stream or sys.stdout)  # looked up per call: redirected stdout is honoured


def _emit_json(payload: Any) -> None:
    console.emit_json(payload, sys.stdout)


def _money(amount: Any) -> str:
    from mci.units import format_money

    return format_money(Decimal(str(amount)))


def _local(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(zone(IST)).strftime("%Y-%m-%d %H:%M:%S %Z")


# ---------------------------------------------------------------- mci sim kite


def is_loopback_host(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_kite(
    *,
    host: str,
    port: int,
    api_key: str | None,
    api_secret: str | None,
    seed: int,
    faults: str | None,
    db: Path,
    capital: Decimal,
    at: str | None,
    rate_limits: str | None,
    allow_remote: bool,
    order_ips: str | None = None,
) -> int:
    """Serve until SIGINT or SIGTERM; 0 on a clean stop."""
    import signal

    from mci.brokers.sim.faults import parse_faults
    from mci.signals import StopRequest

    if not is_loopback_host(host) and not allow_remote:
        raise UsageError(
            f"refusing to serve the Kite simulator on {host}",
            "it is a rehearsal exchange with an unauthenticated admin API for prices and the clock; "
            "on a non-loopback address anyone on the network can reach its Kite API",
            "use --host 127.0.0.1 (the default), or pass --allow-remote if you mean it",
        )
    if not api_key or not api_secret:
        missing = " and ".join(n for n, v in (("KITE_API_KEY", api_key), ("KITE_API_SECRET", api_secret)) if not v)
        raise UsageError(
            f"{missing} not set for the simulator",
            "the simulator checks that mci signs its requests with the same api_key and api_secret "
            "as the profile reads from the environment",
            "export KITE_API_KEY=sim-key KITE_API_SECRET=sim-secret (any values; the same ones for mci)",
        )
    from mci.brokers.sim.limits import parse_rate_limits

    limits = parse_rate_limits(rate_limits)
    spec = parse_faults(faults)
    ips = _order_ips(order_ips)
    server, exchange = _start(host, port, api_key, api_secret, seed, spec, db, capital, at, limits)
    if ips is not None:
        server.app.set_order_ips(ips)
    stop = StopRequest()  # set by the handlers: a threading.Event could deadlock there (mci.signals)
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        _banner(server, exchange, api_key)
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.shutdown()
        exchange.close()
    _emit("Kite simulator stopped")
    return int(ExitCode.OK)


def _start(
    host: str,
    port: int,
    api_key: str,
    api_secret: str,
    seed: int,
    spec: Any,
    db: Path,
    capital: Decimal,
    at: str | None,
    rate_limits: Any,
) -> tuple[Any, Any]:
    from mci.brokers.sim.admin import SimClock
    from mci.brokers.sim.exchange import Exchange
    from mci.brokers.sim.kite_server import serve
    from mci.clock import parse_instant

    clock = SimClock(parse_instant(at) if at else None)
    exchange = Exchange(db, clock, seed=seed, capital=capital)
    try:
        server = serve(
            host, port, exchange, api_key=api_key, api_secret=api_secret, rate_limits=rate_limits, faults=spec
        )
    except OSError as exc:
        exchange.close()
        raise UnavailableError(
            f"the Kite simulator cannot listen on {host}:{port}",
            f"the system said: {exc}",
            "pick another --port (or stop what holds this one)",
        ) from None
    server.app.redirect_url = server.url + "/redirect"  # known only once bound (--port 0 picks one)
    return server, exchange


def _banner(server: Any, exchange: Any, api_key: str) -> None:
    from mci.store.token_store import api_key_hint

    funds = exchange.funds()
    clock = exchange.clock.now()
    hint = api_key_hint(api_key)
    _emit(
        "\n".join(
            [
                f"Kite simulator listening on {server.url}",
                f"  account {exchange.db_path}: seed {exchange.seed}, opening cash {_money(funds.opening)}",
                f"  clock {clock.astimezone(zone(IST)):%Y-%m-%d %H:%M:%S %Z} (ticking); faults: {server.app.faults.spec}",
                "  order writes (place/modify/cancel) allowed from: "
                + (", ".join(sorted(str(ip) for ip in server.app.order_ips)) or "no address (every write refused)"),
                f"  rate limits: {server.app.rate_limiter.limits}",
                f"  admin (loopback clients only): mci sim status|price|faults|limits|requests|counters|clock|position|order"
                f"|order-ips|mis-block|freeze --url {server.url}",
                "In the shell that runs mci:",
                f"  export {URL_ENV}={server.url}",
                "  export KITE_API_KEY=… KITE_API_SECRET=…   # the values this simulator runs with"
                + (f" (api_key …{hint})" if hint else ""),
                "  mci token login -p profiles/kite-sim.yaml",
                "Stop with Ctrl-C or SIGTERM.",
            ]
        )
    )


# ---------------------------------------------------------------- the admin client


def admin_call(
    url: str, method: str, path: str, body: dict[str, Any] | None = None, query: dict[str, str] | None = None
) -> Any:
    """One admin request; the `data` of its answer, or the simulator's WHAT/WHY/HOW as an MciError."""
    from urllib.error import HTTPError, URLError
    from urllib.request import Request, urlopen

    root = url.rstrip("/")
    if urlsplit(root).scheme not in ("http", "https"):
        raise UsageError(
            f"--url {url!r} is not an http URL",
            "the simulator serves HTTP",
            f"pass --url {DEFAULT_URL} (or set {URL_ENV})",
        )
    target = f"{root}/_sim/{path}" + (f"?{urlencode(query)}" if query else "")
    data = json.dumps(body, default=str).encode() if body is not None else None
    request = Request(target, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urlopen(request, timeout=ADMIN_TIMEOUT) as response:
            raw = response.read()
    except HTTPError as exc:
        raw = exc.read()
        try:
            error = json.loads(raw)["error"]
        except (ValueError, KeyError, TypeError):
            raise UnavailableError(
                f"the simulator at {root} answered HTTP {exc.code} to {method} /_sim/{path}",
                "the answer is not the admin interface's JSON: is that a Kite simulator?",
                f"check --url (or {URL_ENV}); start one with `mci sim kite`",
            ) from None
        raise MciError(error["what"], error["why"], error["how"], ExitCode(int(error.get("code", 1)))) from None
    except (URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UnavailableError(
            f"cannot reach the Kite simulator at {root}",
            f"{type(exc).__name__}: {reason}",
            f"start it with `mci sim kite` (or point --url / {URL_ENV} at the running one)",
        ) from None
    try:
        return json.loads(raw)["data"]  # money arrives as exact decimal text
    except (ValueError, KeyError, TypeError):
        raise UnavailableError(
            f"the simulator at {root} sent an unreadable answer",
            "not the admin JSON envelope",
            f"check --url (or {URL_ENV}) points at `mci sim kite`",
        ) from None


def _show(output: str, data: Any, text: str) -> int:
    if output == "json":
        _emit_json(data)
    else:
        _emit(text)
    return int(ExitCode.OK)


def price(url: str, instrument: str, value: str | None, move: str | None, clear: bool, output: str) -> int:
    given = [name for name, v in (("PRICE", value), ("--move", move), ("--clear", clear)) if v]
    if len(given) > 1:
        raise UsageError(
            f"{' and '.join(given)} given together",
            "a price is set, moved or cleared, one at a time",
            "pass one of PRICE, --move +2% or --clear (none: show the price)",
        )
    if not given:
        data = admin_call(url, "GET", "price", query={"i": instrument})
    else:
        body: dict[str, Any] = {"instrument": instrument}
        if value:
            body["price"] = value
        elif move:
            body["move"] = move
        else:
            body["clear"] = True
        data = admin_call(url, "POST", "price", body)
    return _show(output, data, f"{data['instrument']} last price {_money(data['last_price'])}")


def faults(url: str, spec: str | None, clear: bool, output: str) -> int:
    if spec and clear:
        raise UsageError(
            "a fault spec and --clear given together", "--clear turns faults off", "pass a SPEC or --clear, not both"
        )
    if clear:
        data = admin_call(url, "DELETE", "faults")
    elif spec is not None:
        from mci.brokers.sim.faults import parse_faults

        parse_faults(spec)  # a bad spec is refused here, with the same WHAT/WHY/HOW, before the network
        data = admin_call(url, "PUT", "faults", {"spec": spec})
    else:
        data = admin_call(url, "GET", "faults")
    return _show(output, data, f"faults: {data['spec']}")


def counters(url: str, reset: bool, output: str) -> int:
    data = admin_call(url, "POST" if reset else "GET", "counters/reset" if reset else "counters")
    if output == "json":
        return _show(output, data, "")
    lines = [f"counters since {_local(data['since'])}" + (" (just reset)" if reset else "")]
    width = max((len(r) for r in data["requests"]), default=0)
    for route, by_status in data["requests"].items():
        lines.append(f"  {route:<{width}}  " + "  ".join(f"{s}×{n}" for s, n in by_status.items()))
    orders = data["orders"]
    lines.append(f"orders placed: {orders['placed']} under {len(orders['by_tag'])} tag(s)")
    repeated = {t: n for t, n in orders["by_tag"].items() if n > 1}
    if repeated:
        lines.append("  tags used more than once: " + ", ".join(f"{t or '(none)'}×{n}" for t, n in repeated.items()))
    lines.append("faults injected: " + ("  ".join(f"{k}×{n}" for k, n in data["faults"].items()) or "none"))
    _emit("\n".join(lines))
    return int(ExitCode.OK)


def limits(url: str, spec: str | None, output: str) -> int:
    if spec is not None:
        from mci.brokers.sim.limits import parse_rate_limits

        parse_rate_limits(spec)  # refused here, with the same WHAT/WHY/HOW, before the network
        data = admin_call(url, "PUT", "limits", {"spec": spec})
    else:
        data = admin_call(url, "GET", "limits")
    return _show(output, data, f"rate limits: {data['spec']}")


def requests(url: str, bucket: str | None, window: float, output: str) -> int:
    """The request log, summed up per bucket: requests, 429s, and the most counted within any `window` seconds."""
    from mci.brokers.sim.limits import max_in_window

    data = admin_call(url, "GET", "requests", query={"bucket": bucket} if bucket else None)
    entries = data["entries"]
    summary: dict[str, dict[str, Any]] = {}
    for name in sorted({e["bucket"] for e in entries}):
        mine = [e for e in entries if e["bucket"] == name]
        summary[name] = {
            "requests": len(mine),
            "refused_429": sum(1 for e in mine if e["status"] == 429),
            "max_in_window": max_in_window((e["at"] for e in mine), window),
        }
    if output == "json":
        return _show(output, {"limits": data["limits"], "window": window, "summary": summary, "entries": entries}, "")
    lines = [f"rate limits: {data['limits']}; {len(entries)} request(s) in the log"]
    for name, s in summary.items():
        lines.append(
            f"  {name:<6} {s['requests']} request(s), {s['refused_429']} refused (429), "
            f"at most {s['max_in_window']} within {window:g}s"
        )
    _emit("\n".join(lines))
    return int(ExitCode.OK)


def clock(url: str, at: str | None, frozen: bool, output: str) -> int:
    if at:
        from mci.clock import parse_instant

        data = admin_call(url, "PUT", "clock", {"at": parse_instant(at).isoformat(), "frozen": frozen})
    else:
        data = admin_call(url, "GET", "clock")
    return _show(output, data, f"simulator clock: {_local(data['now'])} ({'frozen' if data['frozen'] else 'ticking'})")


def position(url: str, instrument: str, quantity: int, price_: str | None, product: str, output: str) -> int:
    body: dict[str, Any] = {"instrument": instrument, "quantity": quantity, "product": product}
    if price_:
        body["price"] = price_
    data = admin_call(url, "POST", "positions", body)
    return _show(
        output,
        data,
        f"position {data['instrument']} {data['product']} {data['quantity']:+d} "
        f"@ {_money(data['average_price'])} (last {_money(data['last_price'])})",
    )


def order(
    url: str,
    instrument: str,
    side: str,
    quantity: int,
    price_: str | None,
    trigger: str | None,
    order_type: str | None,
    product: str,
    tag: str | None,
    output: str,
) -> int:
    body: dict[str, Any] = {"instrument": instrument, "side": side, "quantity": quantity, "product": product}
    for key, value in (("price", price_), ("trigger_price", trigger), ("order_type", order_type), ("tag", tag)):
        if value:
            body[key] = value
    data = admin_call(url, "POST", "orders", body)
    return _show(output, data, f"order {data['order_id']} {data['status']} (tag {data['tag']})")


def _order_ips(text: str | None) -> tuple[str, ...] | None:
    """--order-ips / `mci sim order-ips` IP,IP -> the addresses, or UsageError naming the bad one."""
    if text is None:
        return None
    from mci.brokers.sim.kite_server import parse_order_ips

    try:
        return tuple(sorted(str(ip) for ip in parse_order_ips(text)))
    except ValueError as exc:
        raise UsageError(
            f"cannot read the order IPs {text!r}",
            str(exc),
            'pass IP addresses separated by commas, e.g. 127.0.0.1,::1 ("" refuses every order write)',
        ) from None


def order_ips(url: str, ips: str | None, output: str) -> int:
    if ips is None:
        data = admin_call(url, "GET", "order-ips")
    else:
        data = admin_call(url, "PUT", "order-ips", {"ips": ",".join(_order_ips(ips) or ())})
    shown = ", ".join(data["ips"]) or "no address: every place/modify/cancel is refused"
    return _show(output, data, f"order writes allowed from: {shown}")


def mis_blocked(url: str, instrument: str | None, unblock: bool, output: str) -> int:
    if instrument is None:
        data = admin_call(url, "GET", "mis-blocked")
    else:
        data = admin_call(url, "POST", "mis-blocked", {"instrument": instrument, "blocked": not unblock})
    return _show(output, data, "MIS (intraday) blocked: " + (", ".join(data["instruments"]) or "none"))


def freeze(url: str, instrument: str | None, quantity: int | None, clear: bool, output: str) -> int:
    if instrument is None:
        data = admin_call(url, "GET", "freeze")
    else:
        if clear == (quantity is not None):
            raise UsageError(
                "give either --quantity N or --clear",
                "the freeze fault sets or restores one instrument",
                "e.g. mci sim freeze NFO:NIFTY26DECFUT --quantity 130",
            )
        data = admin_call(url, "POST", "freeze", {"instrument": instrument, "quantity": quantity})
    lowered = ", ".join(f"{k} {v}" for k, v in sorted(data["instruments"].items())) or "none (NSE's limits)"
    return _show(output, data, "freeze quantities lowered: " + lowered)


def status(url: str, output: str) -> int:
    data = admin_call(url, "GET", "health")
    account = data["account"]
    return _show(
        output,
        data,
        "\n".join(
            [
                f"Kite simulator at {url.rstrip('/')}: up, seed {data['seed']}",
                f"  clock {_local(data['clock']['now'])} ({'frozen' if data['clock']['frozen'] else 'ticking'})",
                f"  faults: {data['faults']}",
                f"  rate limits: {data['rate_limits']}",
                f"  account: opening {_money(account['opening'])}, available {_money(account['available'])}",
            ]
        ),
    )


def circuit(
    url: str, instrument: str | None, side: str | None, lift: bool, band: str | None, cancel: bool, output: str
) -> int:
    """Show the circuits, lock an instrument at one (no counter-side), lift it, or set its band."""
    chosen = [
        name
        for name, on in (("--lower/--upper", side is not None), ("--lift", lift), ("--band", band is not None))
        if on
    ]
    if len(chosen) > 1:
        raise UsageError(
            f"{' and '.join(chosen)} given together", "one call locks, lifts or sets the band", "pass one of them"
        )
    if chosen and not instrument:
        raise UsageError("no instrument given", f"{chosen[0]} acts on one instrument", "name it, e.g. NSE:INFY")
    if side is not None:
        data = admin_call(
            url, "POST", "circuits", {"instrument": instrument, "lock": side, "on_lock": "cancel" if cancel else "rest"}
        )
    elif lift:
        data = admin_call(url, "POST", "circuits", {"instrument": instrument, "lift": True})
    elif band is not None:
        data = admin_call(
            url,
            "POST",
            "circuits",
            {"instrument": instrument, "band": None if band.lower() in ("default", "none") else band},
        )
    else:
        data = admin_call(url, "GET", "circuits")
    lines = []
    if "instrument" in data:
        lines.append(
            f"{data['instrument']}: last {data['last_price']}, circuits {data['lower_circuit_limit']} – "
            f"{data['upper_circuit_limit']}"
        )
    for c in data["circuits"]:
        state = (
            (
                f"LOCKED at its {c['locked']} circuit ({c['lower'] if c['locked'] == 'lower' else c['upper']}), "
                f"market orders {'cancelled (LPP)' if c['on_lock'] == 'cancel' else 'rest'}"
            )
            if c["locked"]
            else "trading"
        )
        band_text = f"band ±{(Decimal(str(c['band'])) * 100).normalize():f}%" if c["band"] is not None else "band ±20%"
        lines.append(f"  {c['instrument']}: {band_text}, {state}")
    if not data["circuits"]:
        lines.append("no instrument is locked or has a band of its own (±20%)")
    if data.get("partial") is not None:
        lines.append(f"partial fills: each fill takes {data['partial']} of what is left")
    return _show(output, data, "\n".join(lines))
