"""Helpers of the watch tests: an instant-sleep clock, test brokers over the paper account, account seeding."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from mci.brokers.base import Position, SessionInfo
from mci.brokers.paper import PaperBroker
from mci.clock import Clock
from mci.errors import UnavailableError

from testing import ROOT

IST = ZoneInfo("Asia/Kolkata")
CAPITAL = D("1000000")  # the shipped paper profile's


class SkipClock(Clock):
    """Real time from an anchor, except that sleep() jumps both clocks forward at once instead of waiting.

    Code that waits on the real world (an engine dying, a thread finishing) still sees real time pass."""

    def __init__(self, start: datetime):
        super().__init__(start)
        self.skipped = 0.0

    def now(self) -> datetime:
        return super().now() + timedelta(seconds=self.skipped)

    def monotonic(self) -> float:
        return time.monotonic() + self.skipped

    def sleep(self, seconds: float) -> None:
        self.skipped += max(0.0, seconds)


def paper_profile(**watch: Any):
    from mci.config import load_profile

    profile = load_profile(ROOT / "profiles" / "paper.yaml")
    if watch:
        profile = replace(profile, watch=replace(profile.watch, **watch))
    return profile


def paper(home: Path, clock: Clock, profile) -> PaperBroker:
    return PaperBroker.from_profile(profile, home, clock)


def hold(home: Path, clock: Clock, profile, positions: dict[str, int], product: str = "MIS") -> dict[str, D]:
    """Seed positions at their last price, pinned so they stay put: {symbol: last price}."""
    broker = paper(home, clock, profile)
    try:
        prices = {}
        for symbol, qty in positions.items():
            ltp = broker.exchange.ltp([f"NSE:{symbol}"])[f"NSE:{symbol}"]
            broker.exchange.set_price("NSE", symbol, ltp)
            broker.exchange.seed_position("NSE", symbol, product, qty, ltp)
            prices[symbol] = ltp
        return prices
    finally:
        broker.close()


def set_price(home: Path, clock: Clock, profile, symbol: str, price: D) -> None:
    broker = paper(home, clock, profile)
    try:
        broker.exchange.set_price("NSE", symbol, price)
    finally:
        broker.close()


def open_positions(home: Path, clock: Clock, profile) -> list[Position]:
    broker = paper(home, clock, profile)
    try:
        return [p for p in broker.positions() if p.quantity]
    finally:
        broker.close()


class Wrapped:
    """The paper broker with scripted misbehaviour; everything else passes through."""

    def __init__(self, inner: PaperBroker):
        self.inner = inner
        self.name = inner.name

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class Blips(Wrapped):
    """funds() fails with UnavailableError on the calls listed (1-based), as a 5xx burst would."""

    def __init__(self, inner: PaperBroker, failing: set[int] | None = None, *, always: bool = False):
        super().__init__(inner)
        self.failing = failing or set()
        self.always = always
        self.calls = 0

    def funds(self):
        self.calls += 1
        if self.always or self.calls in self.failing:
            raise UnavailableError("Kite is unavailable: reading the margins failed", "GeneralException: 503", "retry")
        return self.inner.funds()


class Glitch(Wrapped):
    """positions() answers once with a position showing a huge loss that is not there."""

    def __init__(self, inner: PaperBroker, on_call: int):
        super().__init__(inner)
        self.on_call = on_call
        self.calls = 0

    def positions(self):
        self.calls += 1
        real = self.inner.positions()
        if self.calls != self.on_call:
            return real
        ghost = Position("NSE", "INFY", "MIS", 10, D("1500"), D("1"), D("0"), D("-999999"))
        return real + [ghost]


class Session(Wrapped):
    """A session that expires at a given instant."""

    def __init__(self, inner: PaperBroker, expires_at: datetime):
        super().__init__(inner)
        self.expires_at = expires_at

    def session(self) -> SessionInfo:
        return SessionInfo(True, "PAPER1", self.expires_at - timedelta(hours=20), self.expires_at)


class Events(list):
    def __call__(self, event) -> None:
        self.append(event)

    def kinds(self) -> list[str]:
        return [e.kind for e in self]

    def of(self, kind: str) -> list:
        return [e for e in self if e.kind == kind]


# ---------------------------------------------------------------- `mci watch` in a real process

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402


def mci_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCI_", "KITE_"))}
    env.update({"MCI_HOME": str(home), "NO_COLOR": "1"})
    env.update(extra)
    return env


class Live:
    """A running `mci ...` whose stdout lines are collected as they come, each with its arrival time (monotonic)."""

    def __init__(self, args: list[str], env: dict[str, str]):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mci", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        self.lines: list[tuple[float, str]] = []
        self.stderr = ""
        self._cond = threading.Condition()
        self._out = threading.Thread(target=self._read, daemon=True)
        self._out.start()
        self._err = threading.Thread(target=self._read_err, daemon=True)
        self._err.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def _read_err(self) -> None:
        self.stderr = self.proc.stderr.read()

    def wait_line(self, predicate, timeout: float = 20.0) -> tuple[float, str] | None:
        """The first line (arrival time, text) that satisfies predicate, waiting up to timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for seen in self.lines:
                    if predicate(seen[1]):
                        return seen
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._out.is_alive()):
                    return None
                self._cond.wait(min(left, 0.1))

    def finish(self, timeout: float = 30.0) -> int:
        code = self.proc.wait(timeout=timeout)
        self._out.join(timeout=5)
        self._err.join(timeout=5)
        return code

    @property
    def stdout(self) -> str:
        return "\n".join(text for _, text in self.lines)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
