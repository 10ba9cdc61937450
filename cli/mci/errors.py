"""The WHAT / WHY / HOW error every layer raises (CR-003) and the exit codes.

Exit codes are a contract with cron and CI: never renumber one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Sequence


class ExitCode(IntEnum):
    OK = 0  # passed (warnings allowed)
    FAILED = 1  # a check, gate or risk rule failed
    INVALID = 2  # usage or configuration invalid
    UNAVAILABLE = 3  # infrastructure unavailable: broker, network, disk
    REFUSED = 4  # refused by the lifecycle state (e.g. ignite while halted)
    LOCKED = 5  # another mutating command holds the profile's lock
    INCOMPLETE = 6  # shutdown incomplete: positions or orders remain
    UNVERIFIED = 7  # the kill switch acted but the book could not be read back: flatness unknown
    INTERNAL = 70  # a bug in mci (EX_SOFTWARE); details in the log


@dataclass(frozen=True)
class Location:
    """A position in a YAML file, 1-based as editors show it."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "column": self.column}


@dataclass
class MciError(Exception):
    """A failure a user can act on: what failed, the root cause, the recovery."""

    what: str
    why: str
    how: str
    code: ExitCode = ExitCode.FAILED
    location: Location | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        Exception.__init__(self, self.what)

    def __str__(self) -> str:
        return self.render()

    def render(self) -> str:
        where = f"{self.location}: " if self.location else ""
        return f"{where}WHAT: {self.what}\n  WHY: {self.why}\n  HOW: {self.how}"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "what": self.what,
            "why": self.why,
            "how": self.how,
            "code": int(self.code),
            "code_name": self.code.name.lower(),
        }
        if self.location:
            out["location"] = self.location.as_dict()
        if self.details:
            out["details"] = self.details
        return out


class ConfigError(MciError):
    """A profile, checklist or sequence that cannot be used as written."""

    def __init__(self, what: str, why: str, how: str, location: Location | None = None, **details: Any):
        super().__init__(what, why, how, ExitCode.INVALID, location, details)


class UsageError(MciError):
    def __init__(self, what: str, why: str, how: str, **details: Any):
        super().__init__(what, why, how, ExitCode.INVALID, None, details)


class UnavailableError(MciError):
    """Broker, network, disk or database out of reach: retrying later may work."""

    def __init__(self, what: str, why: str, how: str, **details: Any):
        super().__init__(what, why, how, ExitCode.UNAVAILABLE, None, details)


class BreakerOpenError(UnavailableError):
    """A circuit breaker refused the call. Retrying inside the cooldown would only hammer it."""


class RefusedError(MciError):
    """The lifecycle state forbids the action (e.g. ignite while halted)."""

    def __init__(self, what: str, why: str, how: str, **details: Any):
        super().__init__(what, why, how, ExitCode.REFUSED, None, details)


class LockedError(MciError):
    def __init__(self, what: str, why: str, how: str, **details: Any):
        super().__init__(what, why, how, ExitCode.LOCKED, None, details)


class ConfigErrors(MciError):
    """Several configuration errors reported together (validate reports all, not the first)."""

    def __init__(self, errors: Sequence[MciError]):
        self.errors = errors
        first = errors[0]
        super().__init__(
            f"{len(errors)} configuration error(s); first: {first.what}",
            first.why,
            first.how,
            ExitCode.INVALID,
            first.location,
        )

    def render(self) -> str:
        return "\n".join(e.render() for e in self.errors)

    def as_dict(self) -> dict[str, Any]:
        out = super().as_dict()
        out["errors"] = [e.as_dict() for e in self.errors]
        return out
