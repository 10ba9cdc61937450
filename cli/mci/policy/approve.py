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
        done = subprocess.run(
            ["git", "-C", str(cwd), "rev-parse", "--show-toplevel"], capture_output=True, text=True, timeout=30
        )
        root = Path(done.stdout.strip()) if done.returncode == 0 else cwd
    except (OSError, subprocess.TimeoutExpired):
        root = cwd
    return root / REPO_FILE


def matching(subject: str, base: str, *, cwd: Path, state_dir: Path, now: datetime) -> None:
    """Refuse a subject that names no loosening of its file since `base`: a typo, a value the file no longer
    has, or a subject copied from another change would otherwise sit in the approvals file approving nothing
    today, and whatever comes to match it tomorrow."""
    from mci.policy.diff import diff
    from mci.policy.findings import LOOSENING

    rel = subject[len("policy:") :].split(":", 1)[0]
    base_path = Path(base) if Path(base).is_absolute() else cwd / base
    root = cwd if base_path.is_file() else _root(cwd)
    target = root / rel
    if not target.exists():
        raise UsageError(
            f"{subject} matches nothing: there is no file {rel}",
            f"a subject names a file relative to the repository root ({root})",
            "copy the subject from `mci policy diff`, run from the repository",
        )
    report = diff([target], base, cwd=cwd, state_dir=state_dir, cache_dir=state_dir / "cache", now=now)
    loosenings = [f.subject for f in report.findings if f.kind == LOOSENING]
    if subject not in loosenings:
        listed = "; ".join(loosenings[:5]) + (" …" if len(loosenings) > 5 else "") if loosenings else "none"
        raise UsageError(
            f"{subject} matches no loosening of {rel} since {report.base}",
            f"the loosenings of {rel} since {report.base} are: {listed}",
            "copy the subject from `mci policy diff --base REF` and pass the same --base REF here (default HEAD)",
        )


def _root(cwd: Path) -> Path:
    return default_file(cwd).parent.parent


def approve(
    subject: str,
    *,
    by: str,
    note: str,
    expires: str | None,
    file: Path | None,
    cwd: Path,
    state_dir: Path,
    now: datetime,
    base: str = "HEAD",
) -> tuple[Approval, Path]:
    from mci.units import parse_duration

    if not subject.startswith("policy:"):
        raise UsageError(
            f"{subject!r} is not a policy subject",
            "mci policy approve records policy:<file>:<key>=<value> subjects, as `mci policy diff` prints them",
            "copy the subject from mci policy diff; a gate check is approved with mci gate approve NAME CHECK",
        )
    check_subject(subject)
    matching(subject, base, cwd=cwd, state_dir=state_dir, now=now)
    expires_in = None
    if expires is not None:
        try:
            expires_in = parse_duration(expires)
        except ValueError as exc:
            raise UsageError(f"--expires {expires!r} is not a duration", str(exc), "write it like 24h or 7d") from None
        if not expires_in:
            raise UsageError(
                "--expires 0 would expire at once",
                "an approval must be valid for some time",
                "pass a duration such as 7d, or leave --expires out",
            )
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
