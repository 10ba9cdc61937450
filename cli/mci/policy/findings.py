"""What a comparison finds, and the approval subject of each finding.

Subjects are `policy:<file>:<key>=<value>`: <file> is the changed file relative
to the repository root, <key> the dotted path of what changed (risk.max_daily_loss,
scan.checks.balance.params.min_available, steps.clear_secrets, steps.order),
<value> the new value in compact form (8%, 10000, 30s, removed, advisory, the new
step order). The new value is part of the subject on purpose: approving 8%
does not approve 10%.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass, field
from typing import Any

from mci.errors import Location

LOOSENING, TIGHTENING, NEUTRAL = "loosening", "tightening", "neutral"
KINDS = (LOOSENING, TIGHTENING, NEUTRAL)
APPROVALS_FILE = ".mci/approvals.jsonl"
_MAX_SUBJECT = 400  # approvals._SUBJECT_RE: at most 400 characters after `policy:`

# A path into the new document that the caller turns into a location: ("risk", "max_daily_loss"),
# or for a checklist/sequence item ("item", item_id, field...) / ("items",) / ("order", item_id).
Anchor = tuple[Any, ...]


@dataclass(frozen=True)
class Change:
    kind: str
    key: str  # dotted, relative to the file: risk.max_daily_loss, checks.balance.severity
    value: str  # the new value's subject token
    what: str
    why: str
    revert: str  # how to undo it, e.g. "set it back to 6%"
    anchor: Anchor = ()


@dataclass
class Finding:
    kind: str
    file: str  # relative to the repository root (or as given, outside a repository)
    location: Location
    what: str
    why: str
    revert: str
    subject: str
    approval: Any = None  # mci.approvals.Approval covering the subject, if any
    base: str = "HEAD"  # what `mci policy diff` compared with: `policy approve` checks the subject against it

    @property
    def blocking(self) -> bool:
        return self.kind == LOOSENING and self.approval is None

    @property
    def approve_command(self) -> str:
        base = "" if self.base == "HEAD" else f" --base {shlex.quote(self.base)}"
        return f"mci policy approve {shlex.quote(self.subject)} --by NAME --note WHY --file {APPROVALS_FILE}{base}"

    @property
    def how(self) -> str:
        if self.kind != LOOSENING:
            return "nothing to do: this change does not loosen the policy"
        if self.approval is not None:
            return f"nothing to do: {self.approval.describe()}"
        return (
            f"{self.revert}; or, if it is intended, record an approval and commit "
            f"{APPROVALS_FILE} with the change: {self.approve_command}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "file": self.file,
            "line": self.location.line,
            "column": self.location.column,
            "location": self.location.as_dict(),
            "what": self.what,
            "why": self.why,
            "how": self.how,
            "subject": self.subject,
            "approved": self.approval is not None,
            "approval": self.approval.as_dict() if self.approval is not None else None,
            "approve_command": self.approve_command if self.blocking else None,
        }


def subject(file: str, key: str, value: str) -> str:
    text = f"{file}:{key}={value}"
    text = "_".join(text.split())
    if len(text) > _MAX_SUBJECT:
        # Still exact: the digest is of the whole value, so another value is another subject.
        digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:12]
        text = "_".join(f"{file}:{key}=sha256-{digest}".split())[:_MAX_SUBJECT]
    return f"policy:{text}"


def finding(change: Change, file: str, location: Location) -> Finding:
    return Finding(
        change.kind, file, location, change.what, change.why, change.revert, subject(file, change.key, change.value)
    )


@dataclass
class Report:
    base: str
    files: list[str] = field(default_factory=list)  # every file compared, relative names
    findings: list[Finding] = field(default_factory=list)

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.blocking]

    def counts(self) -> dict[str, int]:
        out = {kind: sum(1 for f in self.findings if f.kind == kind) for kind in KINDS}
        out["approved"] = sum(1 for f in self.findings if f.kind == LOOSENING and f.approval is not None)
        out["unapproved"] = len(self.blocking)
        return out
