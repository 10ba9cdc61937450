"""The morning of the rehearsed day: the token, the scan that arms, the ignition, the engine's first trade."""

from __future__ import annotations

import http.client
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mci.brokers.base import OPEN_ORDER_STATUSES
from mci.drill.day import TRADING_BOUND, Day, Outcome, PhaseFailed, seconds, wait_for

if TYPE_CHECKING:
    from mci.brokers.sim.exchange import OrderRecord

# An operator whose login fails reloads the page after a moment; six failures in ~8s are not bad luck.
LOGIN_ATTEMPTS = 6
LOGIN_PAUSE = (0.25, 0.5, 1.0, 2.0, 4.0)


def token(day: Day) -> Outcome:
    if day.venue.kind == "paper":
        session = day.venue.session()  # type: ignore[attr-defined]
        if not session.valid:
            raise PhaseFailed(f"the paper broker issued no valid session: {session.reason or 'no reason given'}")
        return (
            f"paper session for {session.user_id}, valid until {day.local(session.expires_at)}",
            {"user_id": session.user_id},
        )
    return _kite_login(day)


def _redirect(login_url: str) -> str:
    """Open the login page as a browser would and return where it redirects (the URL holding the request token)."""
    parts = urlsplit(login_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=10)
    try:
        conn.request("GET", f"{parts.path}?{parts.query}")
        answer = conn.getresponse()
        answer.read()
        location = answer.getheader("Location")
        if answer.status != 302 or not location:
            raise OSError(f"the simulator's login page answered HTTP {answer.status}, not its redirect")
        return location
    finally:
        conn.close()


def _kite_login(day: Day) -> Outcome:
    from mci.brokers.kite_session import login_url

    why = ""
    faults = getattr(day.venue, "deferred_faults", None)
    for attempt in range(1, LOGIN_ATTEMPTS + 1):
        if attempt > 1:
            time.sleep(LOGIN_PAUSE[min(attempt - 2, len(LOGIN_PAUSE) - 1)])
        try:
            location = _redirect(login_url(day.profile))
        except (OSError, http.client.HTTPException) as exc:  # a 5xx or a dropped connection: the operator reloads
            why = str(exc) if "login page" in str(exc) else f"the simulator's login page failed: {exc}"
            continue
        finally:
            if faults is not None:
                faults()  # from here on the API is faulted, from the spec's first draw
                faults = None
        # The redirect URL carries a one-time request token: it goes to mci, never into the drill's output.
        done = day.mci("token", "login", location, "-o", "json", timeout=30)
        if done.code == 0:
            break
        why = done.error()
    else:
        raise PhaseFailed(f"`mci token login` failed {LOGIN_ATTEMPTS} times; last: {why}")
    status = day.mci("token", "status", "-o", "json", timeout=30)
    doc = day.expect(status, 0, "`mci token status` after the login") or {}
    expires = doc.get("expires_at") if isinstance(doc, dict) else None
    tries = f" ({attempt} attempts)" if attempt > 1 else ""
    return (
        f"logged in through the simulator's redirect flow{tries}; token {doc.get('state', 'valid')}, "
        f"expires {_shown(day, expires)}",
        {"attempts": attempt},
    )


def _shown(day: Day, iso: Any) -> str:
    from datetime import datetime

    try:
        return day.local(datetime.fromisoformat(str(iso)))
    except ValueError:
        return str(iso)


def scan(day: Day, doing: str = "`mci scan`") -> Outcome:
    done = day.mci("scan", "-o", "json")
    doc = done.json() if isinstance(done.json(), dict) else {}
    checks = doc.get("checks") or []
    if done.code != 0:
        failed = [
            f"{c['id']} ({(c.get('error') or {}).get('what', c.get('summary', ''))})"
            for c in checks
            if c.get("status") == "failed"
        ]
        raise PhaseFailed(
            f"{doing} exited {done.code if not done.timed_out else 'on its timeout'}: "
            + ("; ".join(failed) if failed else done.error())
        )
    day.expect_state("armed", doing)
    counts = doc.get("counts") or {}
    warned = [c["id"] for c in checks if c.get("status") == "warned"]
    note = f", {len(warned)} warned ({', '.join(warned)})" if warned else ""
    return (
        f"{doc.get('status', 'passed')}: {counts.get('passed', '?')} passed{note} in {seconds(done.seconds)}; armed",
        {"counts": counts, "warned": warned},
    )


def ignite(day: Day, doing: str = "`mci ignite`") -> Outcome:
    done = day.mci("ignite", "-o", "json")
    day.expect(done, 0, doing)
    day.expect_state("running", doing)
    pids = day.sandbox.engine_pids()
    if not pids:
        raise PhaseFailed(f"{doing} said running, but no engine process of the drill is alive")
    if not day.healthy():
        raise PhaseFailed(f"{doing} said running, but {day.health_url()} does not answer 200")
    day.engine_pid = pids[0]
    return (
        f"running; engine pid {pids[0]} healthy on {day.health_url() or 'its start command'} after "
        f"{seconds(done.seconds)}",
        {"engine_pid": pids[0]},
    )


def trading(day: Day) -> Outcome:
    started = time.monotonic()
    bound = TRADING_BOUND * day.bound_scale
    pair = wait_for(lambda: protected_entry(day.venue.orders()), timeout=bound, step=0.1)
    waited = time.monotonic() - started
    if not pair:
        orders = day.venue.orders()
        raise PhaseFailed(
            f"no entry with a resting protective stop within {bound:g}s of ignition "
            f"({len(orders)} order(s) in the book; see the engine log in the sandbox, --keep keeps it)"
        )
    entry, stop = pair
    when = "both in the book when ignition returned" if waited < 0.05 else f"seen {seconds(waited)} after ignition"
    return (
        f"{entry.side} {entry.quantity} {entry.exchange}:{entry.symbol} {entry.product} filled at "
        f"{entry.average_price}; stop {stop.order_type} {stop.side} trigger {stop.trigger_price} resting; "
        f"{when}",
        {"entry": entry.order_id, "stop": stop.order_id, "waited_s": round(waited, 3)},
    )


def protected_entry(orders: list["OrderRecord"]) -> tuple["OrderRecord", "OrderRecord"] | None:
    """A filled entry and a resting stop on the other side of the same instrument and product."""
    stops = [o for o in orders if o.order_type in ("SL", "SL-M") and o.status in OPEN_ORDER_STATUSES]
    for entry in orders:
        if entry.status != "COMPLETE" or entry.order_type not in ("MARKET", "LIMIT"):
            continue
        for stop in stops:
            if (stop.exchange, stop.symbol, stop.product) == (
                entry.exchange,
                entry.symbol,
                entry.product,
            ) and stop.side != entry.side:
                return entry, stop
    return None
