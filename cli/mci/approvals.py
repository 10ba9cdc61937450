"""Named sign-offs: who approved what, when, why, until when.

A gate's `approval` check and `mci policy diff` both ask one question: is there
a valid approval for this subject? Subjects are plain strings:

    gate:go-no-go/cto_signoff                       a gate check
    policy:profiles/live.yaml:risk.max_daily_loss=8%  one loosening, with its new value

Approvals are kept in JSON lines, append-only, one record per line — a file a
reviewer can read in a pull request. Two places are read:

  - the state directory's `approvals.jsonl` (the operator's box: go-live gates);
  - the repository's `.mci/approvals.jsonl` (or --approvals FILE), committed next to
    the config change it approves, so a CI run on a fresh clone sees it.

`mci gate approve ... --file .mci/approvals.jsonl` writes the committed kind.
Every approval written through mci is also an audit record in the state DB.
A later record for the same subject supersedes an earlier one; `revoke` is a
record too, so history is never rewritten.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable

from mci.errors import UsageError

FILE_NAME = "approvals.jsonl"
REPO_FILE = Path(".mci") / FILE_NAME
_SUBJECT_RE = re.compile(r"^(gate|policy):\S{1,400}$")


@dataclass(frozen=True)
class Approval:
    subject: str
    by: str
    note: str
    at: datetime
    expires_at: datetime | None = None
    revoked: bool = False
    source: str = ""  # the file it was read from

    def valid_at(self, now: datetime) -> bool:
        return not self.revoked and self.at <= now and (self.expires_at is None or now < self.expires_at)

    def as_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "by": self.by,
            "note": self.note,
            "at": self.at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked": self.revoked,
        }

    def describe(self) -> str:
        until = f", until {self.expires_at.isoformat(timespec='minutes')}" if self.expires_at else ""
        return f"approved by {self.by} at {self.at.isoformat(timespec='minutes')}{until}: {self.note}"


def gate_subject(gate: str, check: str) -> str:
    return f"gate:{gate}/{check}"


def check_subject(subject: str) -> str:
    if not _SUBJECT_RE.match(subject):
        raise UsageError(
            f"{subject!r} is not an approval subject",
            "a subject is gate:<gate>/<check> or policy:<file>:<key>=<value>, with no spaces",
            "copy the subject from `mci gate run` or `mci policy diff` output",
        )
    return subject


class ApprovalBook:
    """The approvals of several files; the first one is written to."""

    def __init__(self, paths: Iterable[Path]):
        self.paths = [Path(p) for p in paths]

    @classmethod
    def default(cls, state_dir: Path, extra: Iterable[Path] = (), cwd: Path | None = None) -> "ApprovalBook":
        repo = (cwd or Path.cwd()) / REPO_FILE
        return cls([state_dir / FILE_NAME, *extra, *([repo] if repo.exists() else [])])

    def records(self) -> list[Approval]:
        out: list[Approval] = []
        for path in self.paths:
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise UsageError(
                    f"cannot read the approvals file {path}",
                    exc.strerror or str(exc),
                    "fix its permissions, or point --approvals elsewhere",
                ) from None
            for number, line in enumerate(text.splitlines(), start=1):
                if line.strip():
                    out.append(_parse(line, path, number))
        return sorted(out, key=lambda a: a.at)

    def find(self, subject: str, now: datetime) -> Approval | None:
        """The latest record for the subject, if it is a valid approval now (a later revoke or expiry voids it)."""
        latest = None
        for record in self.records():
            if record.subject == subject and record.at <= now:
                latest = record
        return latest if latest is not None and latest.valid_at(now) else None

    def record(
        self,
        subject: str,
        *,
        by: str,
        note: str,
        now: datetime,
        expires_in: timedelta | None = None,
        revoke: bool = False,
        path: Path | None = None,
    ) -> Approval:
        check_subject(subject)
        if not by.strip() or not note.strip():
            raise UsageError(
                "an approval needs --by and --note",
                "a sign-off without who and why is no sign-off",
                'pass --by "A. Sharma" --note "why this is acceptable"',
            )
        approval = Approval(subject, by.strip(), note.strip(), now, now + expires_in if expires_in else None, revoke)
        target = path or self.paths[0]
        target.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(approval.as_dict(), ensure_ascii=False, sort_keys=True) + "\n"
        # O_APPEND: two approvers at once each land a whole line; fsync before the caller says "recorded".
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        return Approval(**{**approval.__dict__, "source": str(target)})


def _parse(line: str, path: Path, number: int) -> Approval:
    try:
        data = json.loads(line)
        at = datetime.fromisoformat(data["at"])
        expires = datetime.fromisoformat(data["expires_at"]) if data.get("expires_at") else None
        if at.tzinfo is None or (expires is not None and expires.tzinfo is None):
            raise ValueError("a time without an offset")
        return Approval(
            check_subject(str(data["subject"])),
            str(data["by"]),
            str(data["note"]),
            at,
            expires,
            bool(data.get("revoked", False)),
            str(path),
        )
    except (ValueError, KeyError, TypeError, UsageError) as exc:
        raise UsageError(
            f"{path}:{number} is not an approval record",
            str(exc) or type(exc).__name__,
            "fix or remove that line; records are written by `mci gate approve`",
        ) from None
