"""What every phase of the drill shares: the rehearsal's profile, clock, sandbox and venue, and how a phase
says it failed.

A phase returns (detail, facts) when it met its expectation and raises
PhaseFailed with what it saw when it did not: the detail is what the operator
reads on the phase's line, so it names numbers, not feelings.
"""

from __future__ import annotations

import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from mci.clock import Clock, zone
from mci.drill import proc

if TYPE_CHECKING:
    from mci.config.model import Profile
    from mci.drill.breach import BreachPlan
    from mci.drill.sandbox import Sandbox
    from mci.drill.venue import Venue

Outcome = tuple[str, dict[str, Any]]

# Bounds, in seconds. An expectation bound fails the phase when it is exceeded; a hard bound stops waiting.
COMMAND_TIMEOUT = 90.0  # any one `mci` command (a scan with retries, an ignite waiting for health)
TRADING_BOUND = 20.0  # from ignition to an entry with its protective stop in the book
DETECT_BOUND = 5.0  # past one poll interval: the watcher's read, confirmation and retries under faults
FLATTEN_BOUND = 30.0  # from the move to flat and halted, past one poll interval
ENGINE_GONE_BOUND = 10.0  # after a shutdown or an emergency: the engine's process gone


class PhaseFailed(Exception):
    def __init__(self, detail: str, **facts: Any):
        super().__init__(detail)
        self.detail = detail
        self.facts = facts


@dataclass
class Day:
    profile: "Profile"
    profile_path: Path
    sandbox: "Sandbox"
    venue: "Venue"
    clock: Clock  # the rehearsal clock: every mci process starts its own from it (MCI_AT)
    faults: str | None = None
    watcher: "proc.Live | None" = None
    engine_pid: int | None = None
    plan: "BreachPlan | None" = None
    moved_at: float | None = None  # monotonic: when the prices were moved
    breach_at: float | None = None  # monotonic: when the watcher said so

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def bound_scale(self) -> float:
        # Injected latency and failures slow every honest retry; the bounds stretch, the expectations do not vanish.
        return 2.0 if self.faults else 1.0

    def mci(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> proc.Done:
        return proc.run(
            (*args, "-p", str(self.profile_path)), self.sandbox.env, self.clock, timeout=timeout * self.bound_scale
        )

    def lifecycle(self) -> str:
        from mci.store.state import StateStore

        store = StateStore.open(self.sandbox.home)
        try:
            return store.lifecycle(self.name).state
        finally:
            store.close()

    def expect(self, done: proc.Done, code: int, doing: str) -> Any:
        """The command's JSON when it exited `code`; PhaseFailed naming what it said otherwise."""
        if done.code != code:
            got = "timed out" if done.timed_out else f"exit {done.code}"
            raise PhaseFailed(f"{doing}: {got}, expected exit {code} — {done.error()}")
        return done.json()

    def expect_state(self, wanted: str, doing: str) -> str:
        state = self.lifecycle()
        if state != wanted:
            raise PhaseFailed(f"{doing}: lifecycle is {state}, expected {wanted}")
        return state

    def health_url(self) -> str | None:
        return (self.profile.engine.get("health") or {}).get("http")

    def healthy(self) -> bool:
        url = self.health_url()
        if not url:
            return True  # nothing to ask: ignite's own health step judged it
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                status: int = answer.status
                return status == 200
        except OSError:
            return False

    def local(self, at: datetime | None) -> str:
        if at is None:
            return "?"
        return at.astimezone(zone(self.profile.market.timezone)).strftime("%Y-%m-%d %H:%M %Z")


def wait_for(predicate: Callable[[], Any], timeout: float, step: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step)


def seconds(delta: timedelta | float) -> str:
    value = delta.total_seconds() if isinstance(delta, timedelta) else delta
    return f"{value:.2f}s"
