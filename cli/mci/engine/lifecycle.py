"""The trading day as a state machine, declared as data (python `transitions`).

        token ok            scan passed           engine healthy
idle ───────────► ready ─────────────► armed ─────────────► running
  ▲                  │ scan failed        │ ignite                │ shutdown
  │                  ▼                    ▼                       ▼
  └────────────── blocked            igniting ───(abort)──► stopping ──► stopped
                                          running ◄──(pause / resume)──► reducing (exits only)
        any state ──(kill switch / breach / emergency)──► halted (latched)

The machine only decides legality; the state itself lives in the state DB, and
every move is written there with its audit record in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mci.errors import RefusedError
from mci.store.state import LifecycleRecord, StateStore

STATES = ["idle", "ready", "blocked", "armed", "igniting", "running", "reducing", "stopping", "stopped", "halted"]

# States from which a new day's scan may (re)arm. A scan while igniting/running/
# stopping is informational; while halted the latch holds.
SCANNABLE = ["idle", "ready", "blocked", "armed", "stopped"]

TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "token_ok", "source": SCANNABLE, "dest": "ready"},
    {"trigger": "scan_passed", "source": "ready", "dest": "armed"},
    {"trigger": "scan_failed", "source": SCANNABLE, "dest": "blocked"},
    {"trigger": "ignite", "source": "armed", "dest": "igniting"},
    {"trigger": "engine_healthy", "source": "igniting", "dest": "running"},
    {"trigger": "abort", "source": "igniting", "dest": "stopping"},
    # reducing: the engine is paused and only exits pass `mci risk check` (mci.engine.reducing).
    {"trigger": "pause", "source": "running", "dest": "reducing"},
    {"trigger": "resume", "source": "reducing", "dest": "running"},
    {"trigger": "shutdown", "source": ["running", "reducing", "armed", "ready", "blocked"], "dest": "stopping"},
    # An engine alive by its pidfile while the lifecycle says otherwise (a lost or replaced state DB, an engine
    # started outside mci): `mci shutdown` stops it rather than send the operator to `mci scan`.
    {"trigger": "engine_found", "source": ["idle", "stopped"], "dest": "stopping"},
    {"trigger": "stopped", "source": "stopping", "dest": "stopped"},
    {"trigger": "ignition_aborted", "source": "stopping", "dest": "blocked"},
    {"trigger": "halt", "source": [s for s in STATES if s != "halted"], "dest": "halted"},
    {"trigger": "reset", "source": "halted", "dest": "idle"},
]

_HINTS = {
    "halted": "the kill switch is latched; inspect the account, then run `mci reset --confirm`",
    "idle": "run `mci scan` first",
    "ready": "run `mci scan`; it arms the profile when every check passes",
    "blocked": "the last scan failed; fix what it reported and run `mci scan` again",
    "armed": "the profile is armed; `mci ignite` starts the engine",
    "igniting": "an ignition is in progress; wait for it or run `mci shutdown --emergency`",
    "running": "the engine is running; `mci pause` stops new entries, `mci shutdown` stops it",
    "reducing": "the engine is paused (exits only); `mci resume` resumes entries, `mci shutdown` stops it",
    "stopping": "a shutdown is in progress; let it finish (or rerun `mci shutdown` to resume it)",
    "stopped": "the day is over; `mci scan` starts a new one",
}


def _machine_class() -> Any:
    # transitions is imported on the paths that change state only.
    from transitions import Machine

    return Machine


def preload() -> None:
    """Import the machine now, for a caller that must not pay for it on its first move (a breach's latch)."""
    _machine_class()
    import transitions.core  # noqa: F401 — fire()'s MachineError


class _Model:
    state: str


def _build(initial: str) -> _Model:
    model = _Model()
    _machine_class()(
        model=model,
        states=STATES,
        transitions=TRANSITIONS,
        initial=initial,
        auto_transitions=False,
        ignore_invalid_triggers=False,
    )
    return model


def allowed_triggers(state: str) -> list[str]:
    return [
        t["trigger"] for t in TRANSITIONS if state in (t["source"] if isinstance(t["source"], list) else [t["source"]])
    ]


def destination(state: str, trigger: str) -> str | None:
    for t in TRANSITIONS:
        sources = t["source"] if isinstance(t["source"], list) else [t["source"]]
        if t["trigger"] == trigger and state in sources:
            dest: str = t["dest"]
            return dest
    return None


@dataclass(frozen=True)
class Move:
    profile: str
    trigger: str
    source: str
    dest: str
    at: datetime


class Lifecycle:
    """One profile's lifecycle, backed by the state store."""

    def __init__(self, store: StateStore, profile: str):
        self.store = store
        self.profile = profile

    def current(self) -> LifecycleRecord:
        return self.store.lifecycle(self.profile)

    def fire(self, trigger: str, now: datetime, reason: str = "", **audit: Any) -> Move:
        """Apply `trigger` or refuse it (RefusedError, exit 4). Atomic with its audit record."""
        with self.store.transaction():
            source = self.store.lifecycle(self.profile).state
            model = _build(source)
            from transitions.core import MachineError

            try:
                getattr(model, trigger)()
            except (MachineError, AttributeError):
                legal = ", ".join(allowed_triggers(source)) or "none"
                raise RefusedError(
                    f"cannot {trigger.replace('_', ' ')}: profile {self.profile!r} is {source}",
                    f"the lifecycle allows only [{legal}] from {source}",
                    _HINTS.get(source, "see `mci status`"),
                    state=source,
                    trigger=trigger,
                ) from None
            dest = model.state
            self.store.set_lifecycle(self.profile, dest, reason, now)
            self.store.append_audit(
                "lifecycle",
                {"trigger": trigger, "from": source, "to": dest, "reason": reason, **audit},
                now,
                profile=self.profile,
            )
        return Move(self.profile, trigger, source, dest, now)

    def can(self, trigger: str) -> bool:
        return destination(self.current().state, trigger) is not None


def mermaid() -> str:
    """The lifecycle as a Mermaid state diagram, from the same data the machine runs on."""
    lines = ["stateDiagram-v2", "    [*] --> idle"]
    for t in TRANSITIONS:
        sources = t["source"] if isinstance(t["source"], list) else [t["source"]]
        if t["trigger"] == "halt":
            lines.append('    state "any state" as any')
            lines.append("    any --> halted: halt")
            continue
        for s in sources:
            lines.append(f"    {s} --> {t['dest']}: {t['trigger']}")
    return "\n".join(lines)
