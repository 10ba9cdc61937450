"""`mci clock set | show | clear`: one rehearsal clock for a state directory.

`MCI_AT` / `--at` start each process's clock at the same instant, so a status read a minute after a scan
says the scan is 0 s old, and an ignite can find its scan "in the future". `mci clock set T` stores the
offset between T and real time in the state directory instead: every later command there (scan, ignite,
status, the engine it starts) reads now = real time + offset, one clock ticking for the whole rehearsal.
`--at` and `MCI_AT` still win for a single command. Setting or clearing it is audited.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from mci.clock import (
    IST,
    UTC,
    StoredClock,
    clear_stored_clock,
    parse_instant,
    read_stored_clock,
    write_stored_clock,
    zone,
)
from mci.errors import ExitCode
from mci.output import console


def _audit(state_dir: Path, kind: str, data: dict[str, Any]) -> None:
    from mci.store.state import StateStore

    store = StateStore.open(state_dir)
    try:
        store.append_audit(kind, data, datetime.now(UTC))  # the real time: the record says when it really happened
    finally:
        store.close()


def _describe(stored: StoredClock | None, env_at: str | None) -> dict[str, Any]:
    real = datetime.now(UTC)
    if env_at:
        now = parse_instant(env_at)
        return {
            "source": "MCI_AT",
            "now": now.isoformat(),
            "note": "MCI_AT starts every process's clock at "
            f"{env_at}: each command sees its own clock; `mci clock set` keeps one for the state directory",
        }
    if stored is None:
        return {"source": "real", "now": real.isoformat()}
    return {"source": "state-dir", "now": (real + stored.offset).isoformat(), **stored.as_dict()}


def _render(view: dict[str, Any], output: str) -> None:
    if output == "json":
        console.emit_json(view, sys.stdout)
        return
    now = datetime.fromisoformat(view["now"]).astimezone(zone(IST)).strftime("%Y-%m-%d %H:%M:%S %Z")
    if view["source"] == "real":
        console.emit(f"clock: real time, {now}", sys.stdout)
    elif view["source"] == "MCI_AT":
        console.emit(f"clock: MCI_AT, {now} at this process's start\n  {view['note']}", sys.stdout)
    else:
        hours = view["offset_s"] / 3600
        console.emit(
            f"clock: rehearsal (mci clock set), now {now}; real time {hours:+.2f} h\n"
            "  every command in this state directory reads it; `mci clock clear` returns to real time",
            sys.stdout,
        )


def set_clock(state_dir: Path, at: str, output: str) -> int:
    instant = parse_instant(at)
    stored = write_stored_clock(state_dir, instant)
    _audit(state_dir, "clock", {"event": "set", **stored.as_dict()})
    _render(_describe(stored, None), output)
    return int(ExitCode.OK)


def show(state_dir: Path, output: str, env_at: str | None) -> int:
    _render(_describe(read_stored_clock(state_dir), env_at), output)
    return int(ExitCode.OK)


def clear(state_dir: Path, output: str) -> int:
    if clear_stored_clock(state_dir):
        _audit(state_dir, "clock", {"event": "cleared"})
    _render(_describe(None, None), output)
    return int(ExitCode.OK)
