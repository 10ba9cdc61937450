"""The one vocabulary of result states, shared by checks, steps, text, JSON and JUnit."""

from __future__ import annotations

from enum import Enum


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
