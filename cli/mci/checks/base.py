"""What a check is: a small class registered by `kind`, run by engine.runner.

A check reads the world through its CheckContext (clock, broker, store,
profile) and returns a CheckOutcome. It raises MciError for a failure it can
explain; the runner turns anything else into a failed result (never a pass)
and retries per the declared policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping

from mci.clock import Clock
from mci.errors import MciError
from mci.results import Status

if TYPE_CHECKING:
    from mci.brokers.base import Broker
    from mci.config.model import Profile
    from mci.store.state import StateStore


@dataclass
class CheckContext:
    profile: "Profile"
    clock: Clock
    state_dir: Path
    store_factory: Callable[[], "StateStore"]
    broker_factory: Callable[[], "Broker"]
    #: Breakers are judged in real time, never by the --at clock: a cooldown is elapsed time.
    breaker_clock: Clock = field(default_factory=Clock)
    _broker: "Broker | None" = field(default=None, repr=False)
    _store: "StateStore | None" = field(default=None, repr=False)

    @property
    def broker(self) -> "Broker":
        # Built on first use so checks that never need the broker never pay for it.
        if self._broker is None:
            self._broker = self.broker_factory()
        return self._broker

    @property
    def store(self) -> "StateStore":
        if self._store is None:
            self._store = self.store_factory()
        return self._store


@dataclass(frozen=True)
class CheckOutcome:
    status: Status
    summary: str  # one line for the checklist, e.g. "₹9,50,000.00 available ≥ ₹50,000.00"
    error: MciError | None = None  # set when status is FAILED or WARNED
    facts: Mapping[str, Any] = field(default_factory=dict)  # machine-readable measurements (JSON)

    @classmethod
    def passed(cls, summary: str, **facts: Any) -> "CheckOutcome":
        return cls(Status.PASSED, summary, None, facts)

    @classmethod
    def warned(cls, summary: str, error: MciError, **facts: Any) -> "CheckOutcome":
        return cls(Status.WARNED, summary, error, facts)

    @classmethod
    def failed(cls, error: MciError, **facts: Any) -> "CheckOutcome":
        return cls(Status.FAILED, error.what, error, facts)


class Check:
    kind: ClassVar[str]
    #: True if the check needs the broker (the runner makes it wait for the token checks: CR-001).
    uses_broker: ClassVar[bool] = False

    def run(self, ctx: CheckContext, params: Mapping[str, Any]) -> CheckOutcome:
        raise NotImplementedError


REGISTRY: dict[str, type[Check]] = {}


def register(cls: type[Check]) -> type[Check]:
    from mci.registry import add

    return add(REGISTRY, cls)
