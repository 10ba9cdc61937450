"""`mci policy approve`: one loosening signed off, by subject, in the repository's .mci/approvals.jsonl.

The committed file is the default, not the state directory: CI runs on a fresh
clone and sees only what is committed next to the change it approves.
"""

from __future__ import annotations

import subprocess
from datetime import datetime
from pathlib import Path

from mci.approvals import REPO_FILE, Approval, ApprovalBook, check_subject
from mci.errors import UsageError


def default_file(cwd: Path) -> Path:
    try:
        done = subprocess.run(["git", "-C", str(cwd), "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                              timeout=30)
        root = Path(done.stdout.strip()) if done.returncode == 0 else cwd
    except (OSError, subprocess.TimeoutExpired):
        root = cwd
    return root / REPO_FILE


def approve(subject: str, *, by: str, note: str, expires: str | None, file: Path | None, cwd: Path,
            state_dir: Path, now: datetime) -> tuple[Approval, Path]:
    from mci.config.units import parse_duration

    if not subject.startswith("policy:"):
        raise UsageError(f"{subject!r} is not a policy subject", "mci policy approve records policy:<file>:<key>=<value> "
                         "subjects, as `mci policy diff` prints them", "copy the subject from mci policy diff; "
                         "a gate check is approved with mci gate approve NAME CHECK")
    check_subject(subject)
    expires_in = None
    if expires is not None:
        try:
            expires_in = parse_duration(expires)
        except ValueError as exc:
            raise UsageError(f"--expires {expires!r} is not a duration", str(exc), "write it like 24h or 7d") from None
        if not expires_in:
            raise UsageError("--expires 0 would expire at once", "an approval must be valid for some time",
                             "pass a duration such as 7d, or leave --expires out")
    target = file if file is not None else default_file(cwd)
    target = target if target.is_absolute() else cwd / target
    try:
        approval = ApprovalBook([target]).record(subject, by=by, note=note, now=now, expires_in=expires_in, path=target)
    except OSError as exc:
        raise UsageError(f"cannot write {target}", exc.strerror or str(exc), "check the folder's permissions") from None
    from mci.store.state import StateStore

    store = StateStore.open(state_dir)
    try:
        store.append_audit("approval", {**approval.as_dict(), "file": str(target)}, now)
    finally:
        store.close()
    return approval, target
