"""`mci kill --all` and `mci status --all`: render the desk's verdicts (mci.desk), one line per profile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mci.clock import Clock
from mci.output.console import emit, emit_json


def _desk(given: Path | None, state_dir: Path) -> Any:
    from mci.config.desk import desk_path, load_desk

    return load_desk(desk_path(given, state_dir))


def _line(v: Any) -> str:
    return f"  {v.profile:<20} {v.account[:22]:<22} exit {v.exit_code}  {v.verdict} ({v.elapsed:.1f}s)"


def kill_all(given: Path | None, clock: Clock, state_dir: Path, output: str, at: str | None) -> int:
    from mci import desk as core

    desk = _desk(given, state_dir)
    if output == "text":
        emit(f"desk {desk.name} ({desk.source}): killing {len(desk.profiles)} profile(s), accounts concurrently")
    verdicts, reports = core.kill_all(
        desk, state_dir, clock, at=at, on_verdict=(lambda v: emit(_line(v))) if output == "text" else None
    )
    code = core.worst(verdicts)
    flat = sum(1 for v in verdicts if v.exit_code == 0)
    if output == "json":
        emit_json(
            {
                "desk": desk.name,
                "source": str(desk.source),
                "exit_code": code,
                "reports": str(reports),
                "profiles": [v.as_dict() for v in verdicts],
            }
        )
        return code
    emit(f"outputs: {reports}")
    for v in verdicts:
        for item in v.detail.get("remaining") or []:
            emit(f"  {v.profile}: remaining: {item}")
    head = "DESK FLAT" if code == 0 else "DESK NOT FLAT" if flat < len(verdicts) else "DESK"
    emit(f"{head} — {flat} of {len(verdicts)} profile(s) flat and latched; exit {code} (the worst of the profiles)")
    return code


def status_all(given: Path | None, clock: Clock, state_dir: Path, output: str, at: str | None) -> int:
    from mci import desk as core

    desk = _desk(given, state_dir)
    verdicts = core.status_all(desk, state_dir, clock, at=at)
    if output == "json":
        emit_json(
            {
                "desk": desk.name,
                "source": str(desk.source),
                "profiles": [{**v.as_dict(), "status": v.detail} for v in verdicts],
            }
        )
    else:
        emit(f"desk {desk.name} ({desk.source}): {len(verdicts)} profile(s)")
        for v in verdicts:
            emit(f"  {v.profile:<20} {v.account[:22]:<22} {v.verdict}")
    return 0 if all(v.exit_code == 0 for v in verdicts) else max(v.exit_code for v in verdicts)
