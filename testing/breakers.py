"""Open a circuit breaker the way the runners do: real pybreaker calls that fail, on a real state DB."""

from __future__ import annotations

from datetime import datetime, timedelta

from mci.brokers.errors import counts_against_broker
from mci.clock import Clock
from mci.config.model import BreakerConfig
from mci.errors import UnavailableError
from mci.store.breakers import MciCircuitBreaker, breaker_for
from mci.store.state import StateStore


def broker_breaker(
    store: StateStore, name: str, config: BreakerConfig, *, at: datetime | None = None, timezone: str = "Asia/Kolkata"
) -> MciCircuitBreaker:
    """The breaker as the runners build it; `at` freezes its clock (None: real time)."""
    clock = Clock(at, frozen=True) if at is not None else Clock()
    return breaker_for(name, config, store, counts=counts_against_broker, clock=clock, timezone=timezone)


def down() -> None:
    raise UnavailableError("broker unreachable", "connection refused", "retry later")


def fail(breaker: MciCircuitBreaker, times: int) -> None:
    """`times` calls that fail for the broker's fault (the last of fail_max trips the breaker)."""
    for _ in range(times):
        try:
            breaker.call(down)
        except UnavailableError:  # the broker's failure, or the breaker's refusal (a subclass)
            pass
        else:  # pragma: no cover — down() always raises
            raise AssertionError("the guarded call did not fail")


def trip(
    store: StateStore, name: str, fail_max: int, reset_timeout: timedelta, *, at: datetime | None = None
) -> MciCircuitBreaker:
    """Open breaker `name` at `at` (real time if None) with fail_max failures; returns the breaker."""
    breaker = broker_breaker(store, name, BreakerConfig(fail_max, reset_timeout), at=at)
    fail(breaker, fail_max)
    assert store.breaker(name).state == "open"
    return breaker
