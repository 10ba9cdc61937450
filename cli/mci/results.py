"""The one vocabulary of result states, shared by checks, steps, text, JSON and JUnit, and the result
records themselves with their JSON helpers.

A leaf: it imports nothing of mci but the error model, so the renderers (output/*), gates and sequences
read results without importing the engine that produces them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, Mapping

from mci.errors import MciError

SCHEMA_VERSION = 1
ADVISORY = "advisory"


class Status(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    PASSED = "passed"
    WARNED = "warned"
    FAILED = "failed"
    SKIPPED = "skipped"

    @property
    def done(self) -> bool:
        return self not in (Status.PENDING, Status.RUNNING)

    @property
    def ok(self) -> bool:
        """Whether this result lets a scan or gate pass (warnings do)."""
        return self in (Status.PASSED, Status.WARNED, Status.SKIPPED)


def overall(statuses: list[Status]) -> Status:
    """Failed beats warned beats passed; an empty or all-skipped list passes vacuously is NOT allowed."""
    if not statuses or all(s is Status.SKIPPED for s in statuses):
        # A checklist that checked nothing must never read as a pass.
        return Status.FAILED
    if any(s is Status.FAILED for s in statuses):
        return Status.FAILED
    if any(not s.done for s in statuses):
        return Status.RUNNING
    if any(s is Status.WARNED for s in statuses):
        return Status.WARNED
    return Status.PASSED


@dataclass(frozen=True)
class CheckResult:
    id: str
    kind: str
    title: str
    severity: str
    status: Status
    summary: str = ""
    error: MciError | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration: timedelta = timedelta(0)
    attempts: int = 0

    @property
    def blocking(self) -> bool:
        """Whether this result, on its own, fails the run."""
        if self.status is Status.FAILED:
            return True
        return self.status is Status.SKIPPED and self.severity != ADVISORY

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "title": self.title,
            "severity": self.severity,
            "status": self.status.value,
            "summary": self.summary,
            "attempts": self.attempts,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "duration_s": seconds(self.duration),
            "error": error_dict(self.error),
            "facts": jsonable(dict(self.facts)),
        }


@dataclass(frozen=True)
class ScanResult:
    checklist: str
    profile: str
    status: Status
    results: tuple[CheckResult, ...]
    started_at: datetime
    finished_at: datetime
    duration: timedelta
    timezone: str = "Asia/Kolkata"  # the market's zone, for showing instants as the operator reads them

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in (Status.PASSED, Status.WARNED, Status.FAILED, Status.SKIPPED)}
        for r in self.results:
            out[r.status.value] = out.get(r.status.value, 0) + 1
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "profile": self.profile,
            "checklist": self.checklist,
            "status": self.status.value,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "duration_s": seconds(self.duration),
            "counts": self.counts(),
            "checks": [r.as_dict() for r in self.results],
        }


@dataclass(frozen=True)
class StepResult:
    id: str
    kind: str
    title: str
    status: Status
    summary: str
    attempts: int = 0
    error: MciError | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    resumed: bool = False  # done by an earlier invocation of this run; not run again

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "title": self.title,
            "status": self.status.value,
            "summary": self.summary,
            "attempts": self.attempts,
            "resumed": self.resumed,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_s": round((self.finished_at - self.started_at).total_seconds(), 3)
            if self.started_at and self.finished_at
            else None,
            "error": error_dict(self.error),
            "facts": jsonable(dict(self.facts)),
        }


# -- JSON helpers (shared by the renderers) ---------------------------------------------


def seconds(delta: timedelta) -> float:
    # The one place a float is right: a duration for humans and dashboards, not money.
    return round(delta.total_seconds(), 3)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def error_dict(error: MciError | None) -> dict[str, str] | None:
    if error is None:
        return None
    return {"what": error.what, "why": error.why, "how": error.how, "code": error.code.name.lower()}


def jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return seconds(value)
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, float):
        return value
    return str(value)
