"""pybreaker circuit breakers whose state lives in the state DB, so they outlive the process.

A breaker the 09:00 scan opened is still open for the 09:01 ignite: both read
the `breakers` table (name, state, fail_counter, opened_at) that
StateStore.breaker() reads, in pybreaker's own vocabulary ('closed', 'open',
'half-open'). opened_at is pybreaker's wall-clock UTC instant, stored as
ISO-8601 UTC like every instant in the DB, because a cooldown is real elapsed
time. Every state change appends a ("breaker", {name, from, to}) audit record
in the same transaction as the change.

Only failures that are the broker's fault count: UnavailableError (an MciError
with exit code UNAVAILABLE), OS / network errors (requests' errors are
OSErrors) and Kite's NetworkException / DataException / 5xx GeneralException.
An order rejected for bad input, a bad token or a bug in mci does not open a
breaker — and, as pybreaker does for excluded errors, counts as an answer from
the broker (it resets the consecutive-failure count).

A refused call raises BreakerOpenError: both a pybreaker.CircuitBreakerError
and an UnavailableError with WHAT / WHY / HOW (exit 3).

pybreaker serialises calls through one CircuitBreaker instance (it holds its
lock while the guarded function runs); use one instance per thread if calls
must overlap — they share the state through the DB.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping, TypeVar

import pybreaker

from mci.clock import Clock
from mci.errors import BreakerOpenError as RefusedByBreaker
from mci.errors import ExitCode, MciError, UsageError
from mci.store.state import BreakerRecord, StateStore

T = TypeVar("T")

STATES = (pybreaker.STATE_CLOSED, pybreaker.STATE_OPEN, pybreaker.STATE_HALF_OPEN)

# Kite errors that mean the broker (or the road to it) is unwell, not that the request was wrong.
_KITE_OUTAGES = {"NetworkException", "DataException"}


def counts_against_broker(exc: BaseException) -> bool:
    """True for failures a breaker should count: the broker is down or unreachable."""
    if isinstance(exc, MciError):
        return exc.code == ExitCode.UNAVAILABLE
    if isinstance(exc, OSError):  # ConnectionError, TimeoutError, socket errors, requests' RequestException
        return True
    if type(exc).__module__.startswith("kiteconnect"):
        name = type(exc).__name__
        code = getattr(exc, "code", 0) or 0
        return name in _KITE_OUTAGES or (name == "GeneralException" and (code >= 500 or code == 429))
    return False


def _excluded(exc: BaseException) -> bool:
    return not counts_against_broker(exc)


class BreakerOpenError(RefusedByBreaker, pybreaker.CircuitBreakerError):
    """The breaker refused the call (or just tripped): retry after its cooldown.

    A subclass of the runner's BreakerOpenError, so one `except` and one retry rule cover both: a
    tenacity retry inside the cooldown would only hammer the open breaker."""


class DbCircuitBreakerStorage(pybreaker.CircuitBreakerStorage):
    """pybreaker's storage interface over one row of the `breakers` table.

    The success counter (consecutive successes in half-open) stays in memory: the
    table has no column for it and with success_threshold=1 it never outlives a call.
    """

    def __init__(self, breaker_name: str, store: StateStore, clock: Clock | None = None):
        super().__init__("state-db")
        self.breaker_name = breaker_name
        self._store = store
        self._clock = clock or Clock()  # real time unless a test injects its own
        self._successes = 0

    def _modify(self, change: Callable[[BreakerRecord], BreakerRecord]) -> BreakerRecord:
        return self._store.modify_breaker(self.breaker_name, change, self._clock.now())[1]

    @property
    def state(self) -> str:
        return self._store.breaker(self.breaker_name).state

    @state.setter
    def state(self, state: str) -> None:
        if state not in STATES:
            raise ValueError(f"unknown breaker state {state!r}")
        # A closed breaker has no opening instant: keeps StateStore.breaker_is_open and pybreaker agreeing.
        self._modify(lambda r: replace(r, state=state, opened_at=None if state == pybreaker.STATE_CLOSED else r.opened_at))

    def increment_counter(self) -> None:
        self._modify(lambda r: replace(r, fail_counter=r.fail_counter + 1))

    def reset_counter(self) -> None:
        if self._store.breaker(self.breaker_name).fail_counter:  # the common success path stays read-only
            self._modify(lambda r: replace(r, fail_counter=0))

    def increment_success_counter(self) -> None:
        self._successes += 1

    def reset_success_counter(self) -> None:
        self._successes = 0

    @property
    def counter(self) -> int:
        return self._store.breaker(self.breaker_name).fail_counter

    @property
    def success_counter(self) -> int:
        return self._successes

    @property
    def opened_at(self) -> datetime | None:
        return self._store.breaker(self.breaker_name).opened_at

    @opened_at.setter
    def opened_at(self, moment: datetime) -> None:
        self._modify(lambda r: replace(r, opened_at=moment))


class MciCircuitBreaker(pybreaker.CircuitBreaker):
    """A pybreaker CircuitBreaker whose refusals are WHAT / WHY / HOW errors."""

    def call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return super().call(func, *args, **kwargs)
        except BreakerOpenError:
            raise
        except pybreaker.CircuitBreakerError as exc:
            raise self._refusal(str(exc), exc.__context__) from None

    def _refusal(self, message: str, cause: BaseException | None) -> BreakerOpenError:
        timeout = timedelta(seconds=self.reset_timeout)
        last = ""
        if isinstance(cause, MciError):
            last = f"; the last failure: {cause.what}"
        elif cause is not None:
            last = f"; the last failure: {type(cause).__name__}"
        if "threshold" in message:
            why = f"the calls it guards failed {self.fail_counter} times in a row (fail_max {self.fail_max}){last}"
        elif "Trial" in message:
            why = f"it was half-open and the trial call failed{last}"
        else:
            why = "the calls it guards failed repeatedly and its cooldown has not elapsed"
        return BreakerOpenError(
            f"circuit breaker {self.name} is open: the call was not made",
            why,
            f"it lets a trial call through {_human(timeout)} after it opened; find why the broker calls fail "
            f"(network, broker status, token), or `mci breaker reset {self.name}` once it is fixed",
            breaker=self.name,
        )


def breaker_now() -> datetime:
    """The instant breakers are judged at: always real time. A cooldown is elapsed time, and an --at
    rehearsal must neither open a breaker "hours ago" for a real run nor keep one open for hours."""
    return Clock().now()


def breaker_for(name: str, cfg: Any, store: StateStore, *, clock: Clock | None = None) -> MciCircuitBreaker:
    """The named breaker, configured by `cfg` (a BreakerConfig), its state shared through `store`."""
    return MciCircuitBreaker(
        fail_max=cfg.fail_max,
        reset_timeout=cfg.reset_timeout.total_seconds(),
        exclude=[_excluded],
        state_storage=DbCircuitBreakerStorage(name, store, clock),
        name=name,
    )


# -- what `mci breaker status / reset` show ---------------------------------------------------


@dataclass(frozen=True)
class BreakerView:
    name: str
    state: str  # as a call would meet it: an open breaker past its cooldown shows 'half-open'
    stored_state: str
    fail_counter: int
    fail_max: int
    reset_timeout: timedelta
    opened_at: datetime | None
    trial_in: timedelta | None  # open and cooling down: time until a trial call is let through

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "stored_state": self.stored_state,
                "failures": self.fail_counter, "fail_max": self.fail_max,
                "reset_timeout_s": self.reset_timeout.total_seconds(),
                "opened_at": self.opened_at.isoformat() if self.opened_at else None,
                "trial_in_s": round(self.trial_in.total_seconds(), 3) if self.trial_in is not None else None}


def breaker_views(configs: Mapping[str, Any], store: StateStore, now: datetime) -> list[BreakerView]:
    views = []
    for name, cfg in sorted(configs.items()):
        record = store.breaker(name)
        state, trial_in = record.state, None
        if record.state == pybreaker.STATE_OPEN and record.opened_at is not None:
            left = record.opened_at + cfg.reset_timeout - now
            if left > timedelta(0):
                trial_in = left
            else:
                state = pybreaker.STATE_HALF_OPEN
        views.append(BreakerView(name, state, record.state, record.fail_counter, cfg.fail_max, cfg.reset_timeout,
                                 record.opened_at, trial_in))
    return views


def reset_breaker(name: str, configs: Mapping[str, Any], store: StateStore, now: datetime,
                  *, by: str = "operator") -> tuple[BreakerRecord, BreakerRecord]:
    """Close `name` and zero its failures, audited as an operator's reset even if it was closed."""
    if name not in configs:
        known = ", ".join(sorted(configs)) or "none"
        raise UsageError(
            f"no circuit breaker named {name!r} in this profile",
            f"the profile declares these breakers: {known}",
            "name one of them (see `mci breaker status`), or declare it under `breakers:` in the profile",
        )
    return store.modify_breaker(
        name, lambda r: BreakerRecord(name, pybreaker.STATE_CLOSED, 0, None), now, audit={"event": "reset", "by": by},
    )


def _human(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds < 1:
        return f"{seconds:.1f}s"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
