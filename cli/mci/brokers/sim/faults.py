"""Fault injection for the Kite simulator: seeded, so a failing rehearsal can be replayed.

A spec is compact text, comma-separated `key=value` items in any order:

    latency=50ms,jitter=20ms,5xx=0.3,429=0.1,burst=5,reset=0.05,lost=0.5,seed=7

    latency=D   every request waits D before it is answered (ms or s)
    jitter=D    plus a uniform random 0..D
    5xx=R       answer 500, 502, 503 or 504 without processing, at rate R
    429=R       start a burst of 429 "Too many requests" at rate R ...
    burst=N     ... that lasts N requests (default 1)
    reset=R     close the connection without processing or answering (a TCP reset)
    lost=R      order placement only: place the order at the exchange, then reset the
                connection, so the client cannot tell whether the order exists
    seed=N      the random sequence (default: the simulator's --seed)

The WebSocket ticker (mci.brokers.sim.ticker) has its own three, which touch no
HTTP request:

    stream=cut        close every ticker connection and refuse new ones (`none` restores it)
    stream_drop=R     drop a tick message (its packets are never sent) at rate R
    stream_delay=D    send every tick message D late

Faults of the market rather than of the wire (they change the exchange, for every client):

    circuit=S   lock S at its lower circuit with no buyers (S: INFY or NSE:INFY; several joined
                with +; S/upper locks at the upper circuit, no sellers): what would close there rests
    oncircuit=cancel   a MARKET order meeting the lock is cancelled by the exchange (LPP) instead
    partial=R   every fill takes at most the fraction R of what is left of its order (whole lots)

A spec that drops a circuit lifts it; one without partial= fills in full again.

A rate R is a fraction (0.3) or a percentage (30%). `none` (or empty) is no faults.

Every request draws the same number of random values whatever happens to it, so
the fate of the Nth request depends only on the seed and N: a sequential client
meets the same faults in every run with the same seed.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, fields, replace
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from mci.units import parse_duration
from mci.errors import UsageError

EXAMPLE = "latency=50ms,jitter=20ms,5xx=0.3,429=0.1,burst=5,reset=0.05,lost=0.5,seed=7"
SERVER_ERRORS = (500, 502, 503, 504)
MAX_DELAY = timedelta(seconds=60)  # past any client timeout: longer only ties up server threads
MAX_BURST = 10_000
_RATE_KEYS = {"5xx": "server_error", "429": "too_many", "reset": "reset", "lost": "lost"}
_DRAWS_PER_REQUEST = 6
ON_CIRCUIT = ("rest", "cancel")


class DropConnection(ConnectionResetError):
    """Raised by the app to have the request handler close the socket without an answer."""


@dataclass(frozen=True)
class FaultSpec:
    latency: timedelta = timedelta(0)
    jitter: timedelta = timedelta(0)
    server_error: float = 0.0
    too_many: float = 0.0
    burst: int = 1
    reset: float = 0.0
    lost: float = 0.0
    seed: int | None = None
    stream_cut: bool = False
    stream_drop: float = 0.0
    stream_delay: timedelta = timedelta(0)
    circuit: tuple[str, ...] = ()  # EXCHANGE:SYMBOL, or EXCHANGE:SYMBOL/upper
    on_circuit: str = "rest"
    partial: float = 0.0  # a fraction of the order, not money

    @property
    def market(self) -> bool:
        """Faults of the exchange itself (circuits, partial fills), applied to it rather than per request."""
        return bool(self.circuit or self.partial)

    @property
    def active(self) -> bool:
        """Whether any HTTP request is faulted (the stream's faults are read by the ticker alone)."""
        return bool(self.latency or self.jitter or self.server_error or self.too_many or self.reset or self.lost)

    @property
    def stream_active(self) -> bool:
        return bool(self.stream_cut or self.stream_drop or self.stream_delay)

    def with_default_seed(self, seed: int) -> "FaultSpec":
        return self if self.seed is not None else replace(self, seed=seed)

    def __str__(self) -> str:
        """The canonical text: parse_faults(str(spec)) == spec for any spec that injects something."""
        if not self.active and not self.stream_active and not self.market:
            return "none"
        items = []
        if self.latency:
            items.append(f"latency={_ms(self.latency)}")
        if self.jitter:
            items.append(f"jitter={_ms(self.jitter)}")
        for key, attr in _RATE_KEYS.items():
            rate = getattr(self, attr)
            if rate:
                items.append(f"{key}={rate:g}")
            if key == "429" and self.burst != 1:
                items.append(f"burst={self.burst}")
        if self.stream_cut:
            items.append("stream=cut")
        if self.stream_drop:
            items.append(f"stream_drop={self.stream_drop:g}")
        if self.stream_delay:
            items.append(f"stream_delay={_ms(self.stream_delay)}")
        if self.circuit:
            items.append("circuit=" + "+".join(self.circuit))
            if self.on_circuit != "rest":
                items.append(f"oncircuit={self.on_circuit}")
        if self.partial:
            items.append(f"partial={self.partial:g}")
        if self.seed is not None:
            items.append(f"seed={self.seed}")
        return ",".join(items)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["latency_ms"] = _millis(out.pop("latency"))
        out["jitter_ms"] = _millis(out.pop("jitter"))
        out["stream_delay_ms"] = _millis(out.pop("stream_delay"))
        out["circuit"] = list(self.circuit)
        out["spec"] = str(self)
        return out


def _millis(delta: timedelta) -> float:
    return round(delta.total_seconds() * 1000, 3)


def _ms(delta: timedelta) -> str:
    ms = _millis(delta)
    return f"{int(ms)}ms" if ms == int(ms) else f"{ms:g}ms"


def _bad(text: str, why: str) -> UsageError:
    return UsageError(
        f"cannot read the fault spec {text!r}",
        why,
        f"write comma-separated key=value items, e.g. {EXAMPLE} (rates 0-1 or %, durations in ms or s); "
        "`none` turns faults off",
    )


def _rate(text: str, key: str, value: str) -> float:
    raw = value.strip()
    try:
        rate = Decimal(raw[:-1]) / 100 if raw.endswith("%") else Decimal(raw)
    except InvalidOperation:
        raise _bad(text, f"{key}={value!r} is not a rate: write a fraction like 0.3 or a percentage like 30%") from None
    if not rate.is_finite() or not 0 <= rate <= 1:
        raise _bad(text, f"{key}={value} is outside 0..1 (0%..100%)")
    return float(rate)  # a probability compared with random(), not money


def _delay(text: str, key: str, value: str) -> timedelta:
    try:
        delay = parse_duration(value.strip())
    except ValueError as exc:
        raise _bad(text, f"{key}: {exc}") from None
    if delay > MAX_DELAY:
        raise _bad(text, f"{key}={value} is longer than {MAX_DELAY.seconds}s, past any client's timeout")
    return delay


def _int(text: str, key: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise _bad(text, f"{key}={value!r} is not a whole number") from None
    if not low <= number <= high:
        raise _bad(text, f"{key}={number} is outside {low}..{high}")
    return number


def parse_faults(text: str | None) -> FaultSpec:
    """The FaultSpec the text describes; UsageError (exit 2) naming the bad item otherwise."""
    raw = (text or "").strip()
    if raw.lower() in ("", "none", "off"):
        return FaultSpec()
    values: dict[str, Any] = {}
    seen: set[str] = set()
    for item in raw.split(","):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not key or not value:
            raise _bad(raw, f"the item {item.strip()!r} is not key=value")
        if key in seen:
            raise _bad(raw, f"{key} is given twice")
        seen.add(key)
        if key in ("latency", "jitter"):
            values[key] = _delay(raw, key, value)
        elif key in _RATE_KEYS:
            values[_RATE_KEYS[key]] = _rate(raw, key, value)
        elif key == "burst":
            values["burst"] = _int(raw, key, value, 1, MAX_BURST)
        elif key == "seed":
            values["seed"] = _int(raw, key, value, 0, 2**63 - 1)
        elif key == "stream":
            if value.lower() != "cut":
                raise _bad(raw, f"stream={value!r}: the only stream state to inject is stream=cut")
            values["stream_cut"] = True
        elif key == "stream_drop":
            values["stream_drop"] = _rate(raw, key, value)
        elif key == "stream_delay":
            values["stream_delay"] = _delay(raw, key, value)
        elif key == "circuit":
            values["circuit"] = _circuits(raw, value)
        elif key == "oncircuit":
            if value not in ON_CIRCUIT:
                raise _bad(
                    raw, f"oncircuit={value!r}: it is rest (Kite's market protection) or cancel (the exchange's LPP)"
                )
            values["on_circuit"] = value
        elif key == "partial":
            values["partial"] = _rate(raw, key, value)
            if not values["partial"]:
                raise _bad(raw, "partial=0 would fill nothing: give a fraction above 0, or leave partial= out")
        else:
            known = (
                "latency, jitter, 5xx, 429, burst, reset, lost, seed, stream, stream_drop, stream_delay, "
                "circuit, oncircuit, partial"
            )
            raise _bad(raw, f"unknown key {key!r}; the keys are {known}")
    if values.get("latency", timedelta(0)) + values.get("jitter", timedelta(0)) > MAX_DELAY:
        raise _bad(raw, f"latency + jitter is longer than {MAX_DELAY.seconds}s")
    return FaultSpec(**values)


def _circuits(text: str, value: str) -> tuple[str, ...]:
    out: list[str] = []
    for item in value.split("+"):
        name, _, side = item.strip().upper().partition("/")
        exchange, _, symbol = name.rpartition(":")
        if not symbol or not symbol.replace("-", "").replace("&", "").isalnum() or side not in ("", "LOWER", "UPPER"):
            raise _bad(
                text,
                f"circuit={value!r}: name instruments like INFY or NSE:INFY, joined with +, each optionally /upper",
            )
        out.append(f"{exchange or 'NSE'}:{symbol}" + ("/upper" if side == "UPPER" else ""))
    return tuple(dict.fromkeys(out))


def circuit_lock(item: str) -> tuple[str, str, str]:
    """(exchange, symbol, side) of one FaultSpec.circuit item."""
    name, _, side = item.partition("/")
    exchange, _, symbol = name.partition(":")
    return exchange, symbol, side or "lower"


@dataclass(frozen=True)
class Fault:
    """What happens to one request."""

    delay: float = 0.0  # seconds to wait before anything else
    kind: str | None = None  # "reset", "429" or "5xx": the request is not processed
    status: int | None = None  # the HTTP status of a 429 / 5xx answer
    lose: bool = False  # an order placement that succeeds loses its answer


NO_FAULT = Fault()


class FaultInjector:
    """Decides each request's fate from one random.Random(seed), in arrival order."""

    def __init__(self, spec: FaultSpec, default_seed: int = 0):
        self.spec = spec.with_default_seed(default_seed)
        self._rng = random.Random(self.spec.seed)
        self._burst_left = 0
        self._lock = threading.Lock()

    def next(self, *, placement: bool) -> Fault:
        spec = self.spec
        if not spec.active:
            return NO_FAULT
        with self._lock:
            # Always the same draws, used or not: the Nth request's fate depends on (seed, N) alone.
            u_jitter, u_reset, u_429, u_5xx, u_code, u_lost = (self._rng.random() for _ in range(_DRAWS_PER_REQUEST))
            delay = (spec.latency + spec.jitter * u_jitter).total_seconds()
            if u_reset < spec.reset:
                return Fault(delay, "reset")
            if self._burst_left == 0 and u_429 < spec.too_many:
                self._burst_left = spec.burst
            if self._burst_left:
                self._burst_left -= 1
                return Fault(delay, "429", 429)
            if u_5xx < spec.server_error:
                return Fault(delay, "5xx", SERVER_ERRORS[int(u_code * len(SERVER_ERRORS))])
            return Fault(delay, None, None, placement and u_lost < spec.lost)
