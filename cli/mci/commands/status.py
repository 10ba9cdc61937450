from __future__ import annotations

from datetime import datetime
from pathlib import Path

from mci.clock import Clock
from mci.output.console import emit, emit_json


def _age(then: datetime | None, now: datetime) -> str:
    if then is None:
        return "never"
    seconds = int((now - then).total_seconds())
    if seconds < 0:
        return "in the future (clock override?)"
    minutes, sec = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return (f"{hours}h{minutes:02d}m ago" if hours else f"{minutes}m{sec:02d}s ago") if seconds >= 60 else f"{sec}s ago"


def run(profile_path: Path | None, clock: Clock, state_dir: Path, output: str) -> int:
    from mci.config import load_profile
    from mci.store.state import StateStore

    profile = load_profile(profile_path, cache_dir=state_dir / "cache")
    store = StateStore.open(state_dir)
    now = clock.now()
    life = store.lifecycle(profile.name)
    scan = store.last_scan(profile.name)
    fresh = scan is not None and now - scan.finished_at <= profile.scan.max_age
    breakers = {name: store.breaker(name) for name in profile.breakers}
    store.close()
    if output == "json":
        emit_json({
            "profile": profile.name,
            "broker": profile.broker.kind,
            "lifecycle": {"state": life.state, "since": life.since, "reason": life.reason},
            "last_scan": None if scan is None else {
                "id": scan.id, "status": scan.status, "finished_at": scan.finished_at, "fresh": fresh,
            },
            "breakers": {n: {"state": b.state, "failures": b.fail_counter} for n, b in breakers.items()},
            "state_dir": str(state_dir),
        })
        return 0
    emit(f"profile:   {profile.name} ({profile.broker.kind})")
    emit(f"lifecycle: {life.state} since {_age(life.since, now)}" + (f" — {life.reason}" if life.reason else ""))
    if scan is None:
        emit("last scan: none")
    else:
        freshness = "fresh" if fresh else f"stale (older than {profile.scan.max_age})"
        emit(f"last scan: #{scan.id} {scan.status}, {_age(scan.finished_at, now)}, {freshness}")
    for name, b in breakers.items():
        emit(f"breaker:   {name} {b.state} ({b.fail_counter}/{profile.breakers[name].fail_max} failures)")
    emit(f"state dir: {state_dir}")
    return 0
