"""`mci breaker status | reset NAME`: the profile's circuit breakers as the state DB holds them.

Exit codes: 0 shown / reset; 2 unknown breaker name (the error lists the known ones).
A breaker shown 'half-open' is open in the DB with its cooldown over: the next
guarded call is the trial that closes or reopens it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from mci.clock import Clock, zone
from mci.errors import ExitCode
from mci.output import console

if TYPE_CHECKING:
    from mci.config.model import Profile


def _emit(text: str, stream: TextIO | None = None) -> None:
    console.emit(text, stream or sys.stdout)  # looked up per call: redirected stdout is honoured


def _emit_json(payload: Any) -> None:
    console.emit_json(payload, sys.stdout)


def status(profile: "Profile", clock: Clock, state_dir: Path, output: str = "text") -> int:
    from mci.commands.token import countdown
    from mci.store.breakers import breaker_now, breaker_views
    from mci.store.state import StateStore

    store = StateStore.open(state_dir)
    try:
        views = breaker_views(profile.breakers, store, breaker_now())
    finally:
        store.close()
    if output == "json":
        _emit_json({"profile": profile.name, "breakers": [v.as_dict() for v in views]})
        return int(ExitCode.OK)
    if not views:
        _emit(f"profile {profile.name} declares no circuit breakers")
        return int(ExitCode.OK)
    tz = zone(profile.market.timezone)
    for v in views:
        line = f"{v.name}: {v.state} ({v.fail_counter}/{v.fail_max} failures)"
        if v.opened_at is not None and v.stored_state != "closed":
            line += f", opened {v.opened_at.astimezone(tz).strftime('%Y-%m-%d %H:%M:%S %Z')}"
        if v.trial_in is not None:
            line += f", trial call in {countdown(v.trial_in)}"
        elif v.state == "half-open":
            line += ", the next call is the trial"
        _emit(line)
    return int(ExitCode.OK)


def reset(profile: "Profile", name: str, clock: Clock, state_dir: Path, output: str = "text") -> int:
    from mci.store.breakers import breaker_now, reset_breaker
    from mci.store.state import StateStore

    store = StateStore.open(state_dir)
    try:
        before, after = reset_breaker(name, profile.breakers, store, breaker_now())
    finally:
        store.close()
    if output == "json":
        _emit_json(
            {
                "profile": profile.name,
                "name": name,
                "from": before.state,
                "to": after.state,
                "failures_before": before.fail_counter,
            }
        )
    else:
        _emit(f"breaker {name}: {before.state} ({before.fail_counter} failures) -> {after.state}")
    return int(ExitCode.OK)
