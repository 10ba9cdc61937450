"""What a drill reports: one result per phase, the verdict, and the record the `drill` gate reads.

The record's shape is a contract with the gate check (`kind: drill` audit
records): {"profile", "passed", "phases": [{"name", "ok", "seconds", "detail"}],
"faults", "started_at", "finished_at", "mci_version"}. Add to it; never rename.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# The day in the order it is rehearsed; a phase's name is stable (the gate and CI logs key on it).
PHASES: tuple[tuple[str, str], ...] = (
    ("token", "token login"),
    ("scan", "scan passes and arms"),
    ("ignite", "ignite: engine running and healthy"),
    ("trading", "the engine trades: an entry with its stop"),
    ("breach", "forced breach of the day's loss limit"),
    ("emergency", "emergency flatten: flat, halted, ignite refused"),
    ("reset", "reset --confirm: idle"),
    ("reignite", "a new scan and ignite"),
    ("shutdown", "end-of-day shutdown: stopped, engine gone"),
    ("final_book", "final book flat, nothing left running"),
)
TITLES = dict(PHASES)


@dataclass
class PhaseResult:
    name: str
    ok: bool
    seconds: float
    detail: str
    skipped: bool = False
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return TITLES.get(self.name, self.name)

    def record(self) -> dict[str, Any]:
        """The four keys of the gate's contract."""
        return {"name": self.name, "ok": self.ok, "seconds": round(self.seconds, 3), "detail": self.detail}

    def as_dict(self) -> dict[str, Any]:
        return {**self.record(), "title": self.title, "skipped": self.skipped, "facts": self.facts}


@dataclass
class DrillReport:
    profile: str
    broker: str
    faults: str | None
    rehearsal_at: datetime
    started_at: datetime
    finished_at: datetime | None = None
    phases: list[PhaseResult] = field(default_factory=list)
    interrupted: bool = False
    sandbox: str | None = None  # kept with --keep: where to look
    recorded: dict[str, Any] | None = None  # {"state_dir", "seq"} or {"error": ...}

    @property
    def flat(self) -> bool:
        final = next((p for p in self.phases if p.name == "final_book"), None)
        return bool(final and final.ok)

    @property
    def passed(self) -> bool:
        names = [p.name for p in self.phases]
        return not self.interrupted and names == [n for n, _ in PHASES] and all(p.ok for p in self.phases) and self.flat

    @property
    def first_failure(self) -> PhaseResult | None:
        return next((p for p in self.phases if not p.ok and not p.skipped), None)

    @property
    def seconds(self) -> float:
        end = self.finished_at or self.started_at
        return (end - self.started_at).total_seconds()

    def record(self, version: str) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "passed": self.passed,
            "phases": [p.record() for p in self.phases],
            "faults": self.faults,
            "started_at": self.started_at.isoformat(),
            "finished_at": (self.finished_at or self.started_at).isoformat(),
            "mci_version": version,
            "rehearsal_at": self.rehearsal_at.isoformat(),
            "flat": self.flat,
            "interrupted": self.interrupted,
        }

    def as_dict(self, version: str) -> dict[str, Any]:
        failed = self.first_failure
        return {
            **self.record(version),
            "broker": self.broker,
            "seconds": round(self.seconds, 3),
            "failed_phase": failed.name if failed else None,
            "phases": [p.as_dict() for p in self.phases],
            "sandbox": self.sandbox,
            "recorded": self.recorded,
        }
