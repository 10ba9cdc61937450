"""pybreaker circuit breakers whose state lives in the state DB, so they outlive the process.

A breaker the 09:00 scan opened is still open for the 09:01 ignite: both read
the `breakers` table (name, state, fail_counter, opened_at) that
StateStore.breaker() reads, in pybreaker's own vocabulary ('closed', 'open',
'half-open'). opened_at is the breaker clock's instant, stored as ISO-8601
UTC like every instant in the DB. Every state change appends a ("breaker", {name, from, to}) audit record
in the same transaction as the change.

What counts as a failure is the caller's to say (`counts`: mci.brokers.errors.counts_against_broker
for the broker breakers): the store keeps the state and knows nothing of brokers. An excluded error
counts, as pybreaker does, as an answer from the broker (it resets the consecutive-failure count).

Breakers are judged at their own clock (real time unless a test injects one): it dates an opening and
decides when the cooldown is over, so a rehearsal's --at can neither open a breaker "hours ago" nor keep
one open for hours.

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

from mci.clock import Clock, zone
from mci.errors import BreakerOpenError as RefusedByBreaker
from mci.errors import MciError, UsageError
from mci.store.state import BreakerRecord, StateStore

T = TypeVar("T")

STATES = (pybreaker.STATE_CLOSED, pybreaker.STATE_OPEN, pybreaker.STATE_HALF_OPEN)
_COOLING = "Timeout not elapsed yet, circuit breaker still open"  # pybreaker's words for a refusal


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
        # A closed breaker has no opening instant: keeps breaker_views and pybreaker agreeing.
        self._modify(
            lambda r: replace(r, state=state, opened_at=None if state == pybreaker.STATE_CLOSED else r.opened_at)
        )

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


class _OpenState(pybreaker.CircuitOpenState):
    """pybreaker's open state, with the cooldown judged at the breaker's clock instead of datetime.now()."""

    def before_call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        breaker = self._breaker
        assert isinstance(breaker, MciCircuitBreaker)
        opened_at = breaker._state_storage.opened_at
        if opened_at and breaker.clock.now() < opened_at + timedelta(seconds=breaker.reset_timeout):
            raise pybreaker.CircuitBreakerError(_COOLING)
        breaker.half_open()
        return breaker.call(func, *args, **kwargs)


class MciCircuitBreaker(pybreaker.CircuitBreaker):
    """A pybreaker CircuitBreaker whose refusals are WHAT / WHY / HOW errors, dated by an injectable clock and
    shown in the market's time zone."""

    def __init__(self, *, clock: Clock, timezone: str, **kwargs: Any):
        self.clock = clock
        self.timezone = timezone
        super().__init__(**kwargs)

    def _create_new_state(
        self, new_state: str, prev_state: pybreaker.CircuitBreakerState | None = None, notify: bool = False
    ) -> pybreaker.CBStateType:
        if new_state == pybreaker.STATE_OPEN:
            return _OpenState(self, prev_state=prev_state, notify=notify)
        return super()._create_new_state(new_state, prev_state, notify)

    def open(self) -> bool:
        # pybreaker's open(), dated by this breaker's clock.
        with self._lock:
            self._state_storage.opened_at = self.clock.now()
            self.state = self._state_storage.state = pybreaker.STATE_OPEN
            return self._throw_new_error_on_trip

    def call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return super().call(func, *args, **kwargs)
        except BreakerOpenError:
            raise
        except pybreaker.CircuitBreakerError as exc:
            raise self._refusal(str(exc), exc.__context__) from None

    def _refusal(self, message: str, cause: BaseException | None) -> BreakerOpenError:
        timeout = timedelta(seconds=self.reset_timeout)
        if message == _COOLING:
            return self._cooling(timeout)
        last = ""
        if isinstance(cause, MciError):
            last = f"; the last failure: {cause.what}"
        elif cause is not None:
            last = f"; the last failure: {type(cause).__name__}"
        # The call that trips the breaker was made and failed: say so, and that the next ones will not be made.
        what = f"circuit breaker {self.name} opened on this failure: the next calls are not made"
        if "threshold" in message:
            why = f"the calls it guards failed {self.fail_counter} times in a row (fail_max {self.fail_max}){last}"
        elif "Trial" in message:
            why = f"it was half-open and the trial call failed{last}"
        else:
            what = f"circuit breaker {self.name} is open: the call was not made"
            why = "the calls it guards failed repeatedly and its cooldown has not elapsed"
        return BreakerOpenError(
            what,
            why,
            f"it lets a trial call through {_human(timeout)} after it opened; find why the broker calls fail "
            f"(network, broker status, token), or `mci breaker reset {self.name}` once it is fixed",
            breaker=self.name,
        )

    def _cooling(self, timeout: timedelta) -> BreakerOpenError:
        """Refused without calling: open since when, for how many failures, until when."""
        opened_at = self._state_storage.opened_at
        opened = opened_at.astimezone(zone(self.timezone)) if opened_at else None
        since = opened.strftime("%Y-%m-%d %H:%M:%S %Z") if opened else "an unknown time"
        until = (opened + timeout).strftime("%H:%M:%S %Z") if opened else "its reset timeout"
        return BreakerOpenError(
            f"circuit breaker {self.name} is open since {since}",
            f"{self.fail_counter} failures of calls it guards reached its limit of {self.fail_max}; "
            f"it refuses calls until {until} and then lets one trial call through",
            "find why the calls fail (network, broker status, token) and try again after the cooldown, "
            f"or `mci breaker reset {self.name}` once it is fixed",
            breaker=self.name,
        )


def breaker_now() -> datetime:
    """The instant breakers are judged at: always real time. A cooldown is elapsed time, and an --at
    rehearsal must neither open a breaker "hours ago" for a real run nor keep one open for hours."""
    return Clock().now()


def breaker_for(
    name: str,
    cfg: Any,
    store: StateStore,
    *,
    counts: Callable[[BaseException], bool],
    clock: Clock | None = None,
    timezone: str = "Asia/Kolkata",
) -> MciCircuitBreaker:
    """The named breaker, configured by `cfg` (a BreakerConfig), its state shared through `store`; `counts`
    says which failures count against it. One instance per thread: pybreaker serialises the calls of one."""
    clock = clock or Clock()  # real time unless a test injects its own
    return MciCircuitBreaker(
        clock=clock,
        timezone=timezone,
        fail_max=cfg.fail_max,
        reset_timeout=cfg.reset_timeout.total_seconds(),
        exclude=[lambda exc: not counts(exc)],
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
        return {
            "name": self.name,
            "state": self.state,
            "stored_state": self.stored_state,
            "failures": self.fail_counter,
            "fail_max": self.fail_max,
            "reset_timeout_s": self.reset_timeout.total_seconds(),
            "opened_at": self.opened_at.isoformat() if self.opened_at else None,
            "trial_in_s": round(self.trial_in.total_seconds(), 3) if self.trial_in is not None else None,
        }


def breaker_views(configs: Mapping[str, Any], store: StateStore, now: datetime) -> list[BreakerView]:
    views = []
    for name, cfg in sorted(configs.items()):
        record = store.breaker(name)
        state, trial_in = record.state, None
        if record.state == pybreaker.STATE_OPEN:
            # As pybreaker judges it: an open breaker with no opening instant lets its trial through.
            left = record.opened_at + cfg.reset_timeout - now if record.opened_at is not None else timedelta(0)
            if left > timedelta(0):
                trial_in = left
            else:
                state = pybreaker.STATE_HALF_OPEN
        views.append(
            BreakerView(
                name,
                state,
                record.state,
                record.fail_counter,
                cfg.fail_max,
                cfg.reset_timeout,
                record.opened_at,
                trial_in,
            )
        )
    return views


def reset_breaker(
    name: str, configs: Mapping[str, Any], store: StateStore, now: datetime, *, by: str = "operator"
) -> tuple[BreakerRecord, BreakerRecord]:
    """Close `name` and zero its failures, audited as an operator's reset even if it was closed."""
    if name not in configs:
        known = ", ".join(sorted(configs)) or "none"
        raise UsageError(
            f"no circuit breaker named {name!r} in this profile",
            f"the profile declares these breakers: {known}",
            "name one of them (see `mci breaker status`), or declare it under `breakers:` in the profile",
        )
    return store.modify_breaker(
        name,
        lambda r: BreakerRecord(name, pybreaker.STATE_CLOSED, 0, None),
        now,
        audit={"event": "reset", "by": by},
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
