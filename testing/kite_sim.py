"""The Kite simulator for tests: `mci sim kite` in a subprocess or in a thread, and a login through the real flow."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from testing import ROOT

SIM_KEY, SIM_SECRET = "sim-key", "sim-secret-never-printed"
BANNER = "Kite simulator listening on "


def sim_env(mci_home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCI_", "KITE_"))}
    env.update({"MCI_HOME": str(mci_home), "NO_COLOR": "1", "KITE_API_KEY": SIM_KEY, "KITE_API_SECRET": SIM_SECRET})
    env.update(extra)
    return env


@dataclass
class SimProcess:
    proc: subprocess.Popen
    url: str = ""
    stdout: str = ""
    stderr: str = field(default="", repr=False)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=timeout)
        self.stdout += out.decode()
        self.stderr += err.decode()
        return self.proc.returncode


def read_banner(proc: subprocess.Popen, timeout: float) -> tuple[str, str]:
    """The URL from the banner, and what was read; '' if the process ended first.

    os.read on the unbuffered pipe: communicate() reads the rest the same way, so nothing is lost in a buffer.
    """
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline, seen = time.monotonic() + timeout, b""
    try:
        while time.monotonic() < deadline:
            if not selector.select(timeout=max(deadline - time.monotonic(), 0.01)):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                return "", seen.decode()
            seen += chunk
            for line in seen.decode(errors="replace").splitlines():
                if line.startswith(BANNER):
                    return line[len(BANNER) :].strip(), seen.decode()
    finally:
        selector.close()
    raise TimeoutError(f"mci sim kite printed no banner within {timeout}s: {seen!r}")


@contextmanager
def sim_process(home: Path, *args: str, timeout: float = 20) -> Iterator[SimProcess]:
    """`mci sim kite --port 0 ARGS...` listening, its own state under home; stopped on the way out if still running."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mci", "sim", "kite", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
        cwd=ROOT,
        env=sim_env(home),
    )
    running = SimProcess(proc)
    running.url, running.stdout = read_banner(proc, timeout)
    assert running.url, running.stdout
    try:
        yield running
    finally:
        if proc.poll() is None:
            running.stop()


# ---------------------------------------------------------------- the simulator in-process (a thread)

MONDAY_10AM = "2026-11-23T10:00:00+05:30"  # a trading day, market open


def frozen_monday() -> Any:
    """The simulator's clock standing still at MONDAY_10AM."""
    from datetime import datetime

    from mci.brokers.sim.admin import SimClock

    return SimClock(datetime.fromisoformat(MONDAY_10AM), frozen=True)


@contextmanager
def sim_exchange(db: Path, clock: Any, capital: Decimal) -> Iterator[Any]:
    """The simulator's exchange on a real SQLite file (seed 7: the same prices every run); closed on the way out."""
    from mci.brokers.sim.exchange import Exchange

    exchange = Exchange(db, clock, seed=7, capital=capital)
    try:
        yield exchange
    finally:
        exchange.close()


@contextmanager
def sim_thread(exchange: Any, api_key: str = SIM_KEY, api_secret: str = SIM_SECRET, **options: Any) -> Iterator[Any]:
    """The Kite HTTP simulator over exchange in a thread on a free 127.0.0.1 port (options: serve()'s)."""
    from mci.brokers.sim.kite_server import serve

    server = serve("127.0.0.1", 0, exchange, api_key=api_key, api_secret=api_secret, **options)
    try:
        yield server
    finally:
        server.shutdown()


def kite_login(url: str, api_key: str = SIM_KEY, api_secret: str = SIM_SECRET, timeout: float = 5):
    """A KiteConnect logged in through the simulator's real login flow."""
    from urllib.parse import parse_qs, urlparse

    import requests
    from kiteconnect import KiteConnect

    kite = KiteConnect(api_key, root=url, timeout=timeout)
    r = requests.get(url + "/connect/login", params={"api_key": api_key, "v": 3}, allow_redirects=False, timeout=5)
    assert r.status_code == 302, r.text
    kite.generate_session(parse_qs(urlparse(r.headers["Location"]).query)["request_token"][0], api_secret=api_secret)
    return kite
