from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from mci.clock import Clock, zone
from mci.output.console import emit, emit_json

if TYPE_CHECKING:
    from rich.console import RenderableType

    from mci.config.model import Profile
    from mci.flatten.scope import Selection
    from mci.store.journal import RunRecord
    from mci.store.watchers import Liveness


def _age(then: datetime | None, now: datetime) -> str:
    if then is None:
        return "never"
    seconds = int((now - then).total_seconds())
    if seconds < 0:
        return "in the future (clock override?)"
    minutes, sec = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return (f"{hours}h{minutes:02d}m ago" if hours else f"{minutes}m{sec:02d}s ago") if seconds >= 60 else f"{sec}s ago"


def _snapshot(
    profile: "Profile", clock: Clock, state_dir: Path, account: bool = True
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Everything `mci status` shows, as JSON data; the second dict holds what only the text view needs."""
    from mci.store.day_record import read_day
    from mci.watch.stale import notify_if_stale

    now = clock.now()
    day = read_day(state_dir, profile.name, profile.breakers, Clock().now())
    life, scan, breakers, watcher = day.life, day.scan, day.breakers, day.watcher
    fresh = scan is not None and now - scan.finished_at <= profile.scan.max_age
    runs = _runs(day.runs)
    scoped = _scoped_latches(day.latches)
    notify_if_stale(profile, state_dir, watcher)
    engine, lock = _engine_and_lock(profile, state_dir)
    lifecycle = {
        "state": life.state,
        "since": life.since,
        "reason": life.reason,
        **_lifecycle_truth(life.state, engine, lock, day.emergency_run, day.error),
    }
    if scoped:  # a scoped kill's latches (mci.store.latches): entries in them are refused until `mci reset`
        lifecycle["scoped_latches"] = scoped
        text = "scoped kill latched: " + ", ".join(s["label"] for s in scoped) + " (`mci reset --confirm` clears)"
        lifecycle["note"] = f"{lifecycle['note']}; {text}" if lifecycle.get("note") else text
    data = {
        "profile": profile.name,
        "broker": profile.broker.kind,
        "lifecycle": lifecycle,
        "last_scan": None
        if scan is None
        else {
            "id": scan.id,
            "status": scan.status,
            "finished_at": scan.finished_at,
            "fresh": fresh,
        },
        "breakers": {n: {"state": b.state, "failures": b.fail_counter} for n, b in breakers.items()},
        "engine": engine,
        "lock": lock,
        "watcher": watcher.as_dict(),
        "runs": runs,
        "state_dir": str(state_dir),
    }
    if account:
        from mci.commands.status_view import read_account

        acc = read_account(profile, clock, state_dir)
        data["account"] = {"ok": acc["ok"], "error": acc["error"]}
        data.update({k: acc[k] for k in ("positions", "orders", "risk", "pnl")})
    extra = {"now": now, "life": life, "scan": scan, "fresh": fresh, "breakers": breakers, "watcher": watcher}
    return data, extra


def run(
    profile_path: Path | None, clock: Clock, state_dir: Path, output: str, watch: bool = False, interval: float = 2.0
) -> int:
    from mci.config import load_profile

    profile = load_profile(profile_path, cache_dir=state_dir / "cache")
    if watch:
        return _watch(profile, clock, state_dir, output, interval)
    data, extra = _snapshot(profile, clock, state_dir)
    if output == "json":
        emit_json(data)
        return 0
    _emit_text(profile, state_dir, data, extra)
    return 0


def _emit_text(profile: "Profile", state_dir: Path, data: dict[str, Any], extra: dict[str, Any]) -> None:
    now, life, scan, fresh = extra["now"], extra["life"], extra["scan"], extra["fresh"]
    breakers, watcher = extra["breakers"], extra["watcher"]
    engine, lock, runs = data["engine"], data["lock"], data["runs"]
    emit(f"profile:   {profile.name} ({profile.broker.kind})")
    shown = data["lifecycle"]
    emit(
        f"lifecycle: {shown['state']}"
        + (f" (recorded: {shown['recorded']})" if shown.get("recorded") else "")
        + f" since {_age(life.since, now)}"
        + (f" — {life.reason}" if life.reason else "")
    )
    if shown.get("note"):
        emit(f"           WARNING: {shown['note']}")
    if scan is None:
        emit("last scan: none")
    else:
        freshness = "fresh" if fresh else f"stale (older than {profile.scan.max_age})"
        emit(f"last scan: #{scan.id} {scan.status}, {_age(scan.finished_at, now)}, {freshness}")
    for name, b in breakers.items():
        emit(f"breaker:   {name} {b.state} ({b.fail_counter}/{profile.breakers[name].fail_max} failures)")
    if engine is None:
        emit("engine:    not running")
    else:
        emit(
            f"engine:    pid {engine['pid']} ({engine['how']}), {'healthy' if engine['healthy'] else 'NOT healthy'}"
            f" — {engine['detail']}; log {engine['log_path']}"
        )
    emit(f"watcher:   {_watcher_text(watcher)}")
    if lock is not None:
        emit(f"lock:      held by pid {lock['pid']} (mci {lock['command']}) since {lock['since']}")
    for run in runs[:1]:
        emit(
            f"last run:  {run['purpose']} {run['run_id']} {run['status']} ({run['sequence']}, started {run['started_at']})"
        )
    from mci.commands.status_view import text_lines

    for line in text_lines(
        {
            "ok": data["account"]["ok"],
            "error": data["account"]["error"],
            **{k: data[k] for k in ("positions", "orders", "risk", "pnl")},
        }
    ):
        emit(line)
    emit(f"state dir: {state_dir}")


def _watch(profile: "Profile", clock: Clock, state_dir: Path, output: str, interval: float) -> int:
    """Redraw the six panels every `interval` seconds until Ctrl-C; with -o json, one JSON line per refresh."""
    import json
    import sys
    import time

    interval = max(0.2, interval)
    try:
        if output == "json":
            while True:
                data, _ = _snapshot(profile, clock, state_dir)
                sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
                sys.stdout.flush()
                time.sleep(interval)
        if not sys.stdout.isatty():  # a pipe or a log: the text view again at each refresh
            while True:
                data, extra = _snapshot(profile, clock, state_dir)
                _emit_text(profile, state_dir, data, extra)
                emit("")
                time.sleep(interval)
        from rich.console import Console
        from rich.live import Live

        from mci.commands.status_view import render

        console = Console()

        def frame() -> "RenderableType":
            data, extra = _snapshot(profile, clock, state_dir)
            now = extra["now"]
            data["lifecycle_since_text"] = _age(extra["life"].since, now)
            data["watcher_text"] = _watcher_text(extra["watcher"])
            return render(data, now.astimezone(zone("Asia/Kolkata")).strftime("%Y-%m-%d %H:%M:%S IST"))

        with Live(frame(), console=console, screen=True, auto_refresh=False, redirect_stderr=False) as live:
            while True:
                time.sleep(interval)
                live.update(frame(), refresh=True)
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        return 0


# Recorded states in which no engine should be running: a live one means the record is wrong (a lost or
# replaced state DB, an engine started by hand), and the live engine is the truth that matters.
_ENGINELESS = ("idle", "ready", "blocked", "armed", "stopped", "unknown")


def _lifecycle_truth(
    state: str,
    engine: dict[str, Any] | None,
    lock: dict[str, Any] | None,
    emergency_run: "RunRecord | None",
    db_error: str | None,
) -> dict[str, Any]:
    """What the recorded lifecycle alone would hide: an emergency under way or cut short, a live engine."""
    out: dict[str, Any] = {}
    notes: list[str] = []
    if db_error:
        out["db_error"] = db_error
        notes.append(f"the state DB cannot be read ({db_error}); `mci kill` still works without it")
    if lock is not None and lock.get("command") == "emergency":
        out["emergency"] = "in progress"
        notes.append(f"emergency in progress (pid {lock['pid']}, since {lock['since']})")
    elif emergency_run is not None:
        out["emergency"] = "interrupted"
        notes.append(
            f"emergency interrupted: run {emergency_run.run_id} (started "
            f"{emergency_run.started_at.isoformat(timespec='seconds')}) did not finish; the latch holds; "
            "run `mci kill` again to finish the flatten"
        )
    if engine is not None and engine.get("pid") and state in _ENGINELESS:
        out["recorded"] = state
        out["state"] = "running"
        recorded = "cannot be read" if state == "unknown" else f"records {state}"
        notes.append(
            f"the lifecycle {recorded}, but engine pid {engine['pid']} is RUNNING: "
            "`mci shutdown` stops it, `mci kill` stops it and flattens"
        )
    if notes:
        out["note"] = "; ".join(notes)
    return out


def _scoped_latches(latches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from mci.flatten.scope import Selection

    return [{**x, "label": cast("Selection", Selection.from_dict(x["scope"])).label()} for x in latches]


def _runs(records: "list[RunRecord]") -> list[dict[str, Any]]:
    return [
        {
            "run_id": r.run_id,
            "purpose": r.purpose,
            "sequence": r.sequence,
            "status": r.status,
            "started_at": r.started_at.isoformat(),
            "finished_at": r.finished_at.isoformat() if r.finished_at else None,
        }
        for r in records
    ]


def _watcher_text(live: "Liveness") -> str:
    r = live.record
    if r is None:
        return "none has run (start `mci watch` to guard the limits)"
    beat = f"last beat {_age(r.last_beat, r.last_beat + cast('timedelta', live.beat_age))}"  # set with a record
    level = (r.summary or {}).get("level")
    if live.state == "alive":
        square_off = (r.summary or {}).get("square_off")  # the day's effective time, as the watcher computed it
        until = f", square-off {square_off[11:16]}" if isinstance(square_off, str) and len(square_off) >= 16 else ""
        feed = (r.summary or {}).get("feed")  # "stream", or "polling (...)": the watcher's own words
        on = f", {'on the stream' if feed == 'stream' else str(feed).upper()}" if feed else ""
        return (
            f"alive, pid {r.pid}, every {r.interval.total_seconds():g}s, {beat}"
            + (f", risk {level}" if level else "")
            + on
            + until
        )
    if live.state == "stale":
        why = "its process is gone" if not live.process_alive else "it is not beating (hung, or a slow broker)"
        return f"STALE, pid {r.pid}: {why}; {beat}; restart `mci watch`"
    return f"not running (last: {r.status}, {beat})"


def _engine_and_lock(profile: "Profile", state_dir: Path) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The engine mci started (with one health probe) and the profile lock's holder, read-only."""
    from mci.store.lock import holder

    current = holder(state_dir, profile.name)
    lock = current.as_dict() if current is not None and current.alive else None
    if not profile.engine.get("start"):
        return None, lock
    from mci.enginectl import EngineControl
    from mci.errors import MciError

    try:
        control = EngineControl(profile, state_dir)
        info = control.running()
        if info is None:
            return None, lock
        healthy, detail = control.probe()
    except MciError as exc:
        return {"pid": None, "how": "?", "healthy": False, "detail": exc.what, "log_path": ""}, lock
    return {**info.as_dict(), "healthy": healthy, "detail": detail}, lock
