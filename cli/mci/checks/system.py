"""system.health: the machine mci runs on can record what it does.

A full disk or a read-only state DB means the audit log and the lifecycle
state cannot be written — mci would trade without a record and the 15:15
shutdown would not know what the 09:15 ignite did.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Mapping

from mci.checks import int_param
from mci.checks.base import Check, CheckContext, CheckOutcome, register
from mci.errors import MciError, UnavailableError

MIB = 1024 * 1024
MIN_PYTHON = (3, 11)


def _free_bytes(path: Any) -> int:
    """shutil.disk_usage(path).free, without importing shutil (and zlib, bz2, lzma with it: ~3 ms of every scan)."""
    if hasattr(os, "statvfs"):
        st = os.statvfs(path)
        return st.f_bavail * st.f_frsize  # what shutil.disk_usage computes on POSIX
    import shutil

    return shutil.disk_usage(path).free


@register
class SystemHealth(Check):
    kind = "system.health"

    def run(self, ctx: CheckContext, params: Mapping[str, Any]) -> CheckOutcome:
        min_free_mb = int_param(params, "min_disk_free_mb", 200)
        problems: list[tuple[str, str]] = []  # (problem, remedy)
        infrastructure = False
        facts: dict[str, Any] = {"min_disk_free_mb": min_free_mb}
        passed: list[str] = []

        try:
            free_mb = _free_bytes(ctx.state_dir) // MIB
        except OSError as exc:
            infrastructure = True
            problems.append(
                (
                    f"disk: cannot read free space of {ctx.state_dir} ({exc.strerror or exc})",
                    "check the state directory exists (MCI_HOME)",
                )
            )
        else:
            facts["disk_free_mb"] = free_mb
            if free_mb < min_free_mb:
                infrastructure = True
                problems.append(
                    (
                        f"disk: {free_mb} MB free in {ctx.state_dir}, below {min_free_mb} MB",
                        "free space on that filesystem or move MCI_HOME",
                    )
                )
            else:
                passed.append(f"disk {free_mb} MB free")

        try:
            ctx.store.health_probe()
        except MciError as exc:
            infrastructure = True
            facts["state_db"] = "failed"
            problems.append((f"state DB: {exc.what} ({exc.why})", exc.how))
        else:
            facts["state_db"] = "writable"
            passed.append("state DB writable")

        version = sys.version_info[:3]
        facts["python"] = ".".join(map(str, version))
        if version[:2] < MIN_PYTHON:
            problems.append(
                (
                    f"python: {facts['python']} is older than {'.'.join(map(str, MIN_PYTHON))}",
                    "run mci with Python 3.11 or newer",
                )
            )
        else:
            passed.append(f"Python {facts['python']}")

        now = ctx.clock.now()
        facts["clock"] = now
        facts["clock_overridden"] = ctx.clock.overridden
        if not 2020 <= now.year <= 2100:
            problems.append(
                (
                    f"clock: it reads {now.isoformat()}, outside 2020..2100",
                    "set the system clock (enable NTP) or fix the --at / MCI_AT value",
                )
            )
        else:
            passed.append("clock sane" + (" (overridden)" if ctx.clock.overridden else ""))

        if problems:
            make = UnavailableError if infrastructure else MciError
            return CheckOutcome.failed(
                make(
                    f"system health: {len(problems)} problem{'s' if len(problems) > 1 else ''} "
                    f"({', '.join(p.split(':')[0] for p, _ in problems)})",
                    "; ".join(p for p, _ in problems),
                    "; ".join(h for _, h in problems),
                ),
                **facts,
            )
        return CheckOutcome.passed(", ".join(passed), **facts)
