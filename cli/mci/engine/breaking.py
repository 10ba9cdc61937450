"""The breakers a profile declares, as the runners use them: one pybreaker breaker (mci.store.breakers) for the
scan's checks, the sequences' steps and the watcher's polls, counting only what is the broker's fault
(mci.brokers.errors) and showing its instants in the market's time zone."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mci.clock import Clock
    from mci.store.breakers import MciCircuitBreaker
    from mci.store.state import StateStore


def declared_breaker(
    name: str, profile: Any, store: "StateStore", *, clock: "Clock | None" = None
) -> "MciCircuitBreaker":
    """The profile's breaker `name` (the defaults when it declares none of that name). A new instance per call:
    pybreaker serialises the calls of one instance, and concurrent checks share the state through the DB."""
    from mci.brokers.errors import counts_against_broker
    from mci.config.model import BreakerConfig
    from mci.store.breakers import breaker_for

    config = (getattr(profile, "breakers", None) or {}).get(name) or BreakerConfig()
    tz = getattr(getattr(profile, "market", None), "timezone", None) or "Asia/Kolkata"
    return breaker_for(name, config, store, counts=counts_against_broker, clock=clock, timezone=tz)
