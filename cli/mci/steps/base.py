"""What a sequence step is: a small class registered by `kind`, run by engine.sequence.

A step acts on the world (the engine process, the broker, the token store,
the lifecycle) through its StepContext and returns a StepOutcome; it raises
MciError for a failure it can explain. Every step must be idempotent — safe to
run again after a crash at any point: it recomputes what is left to do from
the broker and the engine, never from what it remembers doing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping

from mci.clock import Clock

if TYPE_CHECKING:
    from mci.brokers.base import Broker
    from mci.config.model import Profile
    from mci.engine.lifecycle import Lifecycle
    from mci.enginectl import EngineControl
    from mci.flatten.scope import Selection
    from mci.store.journal import Journal
    from mci.store.state import StateStore


@dataclass
class StepContext:
    profile: "Profile"
    clock: Clock
    state_dir: Path
    store: "StateStore"
    journal: "Journal"
    purpose: str  # ignite | graceful | end_of_day | emergency
    run_id: str = ""
    broker_factory: Callable[[], "Broker"] | None = None
    engine_factory: Callable[[], "EngineControl"] | None = None
    # The engine gives it (engine.sequence.context_for): a step acts on the lifecycle without importing the engine.
    lifecycle_factory: Callable[[], "Lifecycle"] | None = None
    progress: Callable[[str], None] = lambda message: None
    selection: "Selection | None" = None  # a scoped emergency (mci.flatten.scope); None: the whole account
    _broker: "Broker | None" = field(default=None, repr=False)
    _engine: "EngineControl | None" = field(default=None, repr=False)
    _audit_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def broker(self) -> "Broker":
        if self._broker is None:
            if self.broker_factory is None:
                from mci.brokers.factory import broker_for

                self._broker = broker_for(
                    self.profile, self.state_dir, self.clock, emergency=self.purpose == "emergency"
                )
            else:
                self._broker = self.broker_factory()
        return self._broker

    @property
    def engine(self) -> "EngineControl":
        if self._engine is None:
            if self.engine_factory is None:
                from mci.enginectl import EngineControl

                self._engine = EngineControl(self.profile, self.state_dir)
            else:
                self._engine = self.engine_factory()
        return self._engine

    @property
    def lifecycle(self) -> "Lifecycle":
        if self.lifecycle_factory is None:
            raise RuntimeError("this StepContext has no lifecycle: build it with mci.engine.sequence.context_for")
        return self.lifecycle_factory()

    def audit(self, kind: str, data: Mapping[str, Any]) -> None:
        """Append an audit record; callable from worker threads (order actions run in parallel)."""
        with self._audit_lock:
            self.store.append_audit(kind, {"run_id": self.run_id, **data}, self.clock.now(), profile=self.profile.name)

    def close_broker(self) -> None:
        if self._broker is not None:
            try:
                self._broker.close()
            finally:
                self._broker = None


@dataclass(frozen=True)
class StepOutcome:
    summary: str  # one line, e.g. "engine stopped (pid 4242, TERM, 0.3s)"
    facts: Mapping[str, Any] = field(default_factory=dict)  # JSON-able, kept in the journal


class Step:
    kind: ClassVar[str]

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> StepOutcome:
        raise NotImplementedError


REGISTRY: dict[str, type[Step]] = {}


def register(cls: type[Step]) -> type[Step]:
    from mci.registry import add

    return add(REGISTRY, cls)
