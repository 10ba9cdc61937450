"""`mci ignite`, `mci shutdown [--end-of-day | --emergency]`, `mci kill`, `mci reset`: render the core's outcomes."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, cast

from mci.clock import Clock
from mci.output.console import color_enabled, emit, emit_json

if TYPE_CHECKING:
    from mci.config.model import Profile
    from mci.engine.shutdown import ShutdownOutcome
    from mci.flatten.scope import Selection


def _printer(output: str) -> Callable[[Any], None] | None:
    if output != "text":
        return None
    from mci.output.steps_text import step_line

    color = color_enabled()
    return lambda step: emit(step_line(step, color=color))


def _profile(profile_path: Path | None, state_dir: Path) -> "Profile":
    from mci.config import load_profile

    return load_profile(profile_path, cache_dir=state_dir / "cache")


def ignite(
    profile_path: Path | None,
    clock: Clock,
    state_dir: Path,
    output: str,
    *,
    scan_first: bool,
    dry_run: bool,
    metrics_file: Path | None = None,
) -> int:
    import time

    from mci.engine.ignition import ignite as run
    from mci.observability.logs import event

    started = time.monotonic()
    profile = _profile(profile_path, state_dir)
    outcome = run(profile, clock, state_dir, scan_first=scan_first, dry_run=dry_run, on_step=_printer(output))
    event(
        "INFO" if int(outcome.exit_code) == 0 else "WARNING",
        f"ignite: lifecycle {outcome.lifecycle_state}",
        profile=profile.name,
        exit_code=int(outcome.exit_code),
        dry_run=dry_run,
    )
    if scan_first and outcome.scan is not None and int(outcome.exit_code) != 0 and outcome.lifecycle_state == "blocked":
        from mci.observability.notify import fire

        fire(
            profile,
            "scan_failed",
            f"ignite --scan of {profile.name}: the scan failed",
            {"scan_id": outcome.scan.scan_id, "exit_code": int(outcome.exit_code)},
            clock.now(),
        )
    if metrics_file is not None:
        from mci.engine.run_metrics import write_run

        scan = outcome.scan.result.as_dict() if outcome.scan is not None else None
        write_run(
            metrics_file,
            "ignite",
            profile,
            state_dir,
            clock.now(),
            started=started,
            exit_code=int(outcome.exit_code),
            checklist=str(scan.get("checklist")) if scan else None,
            checks=scan.get("checks", []) if scan else (),
        )
    if output == "json":
        emit_json(
            {
                "status": "dry-run" if dry_run else "running",
                "lifecycle": outcome.lifecycle_state,
                "plan": outcome.plan,
                "run": outcome.result.as_dict() if outcome.result else None,
                "scan_id": outcome.scan.scan_id if outcome.scan else None,
            }
        )
    elif dry_run:
        from mci.output.steps_text import plan_text

        emit(plan_text(outcome.plan))
        emit(f"lifecycle: {outcome.lifecycle_state}")
    else:
        emit(f"IGNITED — lifecycle: {outcome.lifecycle_state}")
    return int(outcome.exit_code)


def shutdown(
    profile_path: Path | None,
    clock: Clock,
    state_dir: Path,
    output: str,
    *,
    mode: str,
    metrics_file: Path | None = None,
    command: str = "shutdown",
    selection: Any = None,
) -> int:
    import time

    from mci.engine import shutdown as core
    from mci.observability.logs import event

    started = time.monotonic()
    profile = _profile(profile_path, state_dir)
    printer = _printer(output)
    if mode == "emergency":
        event(
            "INFO",
            f"emergency shutdown of {profile.name}: latch halted, cancel every order, square off",
            profile=profile.name,
            command=command,
        )
        outcome = core.emergency(profile, clock, state_dir, on_step=printer, command=command, selection=selection)
    else:
        event("INFO", f"{mode} shutdown of {profile.name}", profile=profile.name)
        outcome = core.shutdown(profile, clock, state_dir, mode=mode, on_step=printer)
    if outcome.flat is False:
        outcome = _fresh_remaining(profile, clock, state_dir, outcome)
    _observe_shutdown(profile, clock, state_dir, outcome, mode, command, started, metrics_file)
    if output == "json":
        emit_json(outcome.as_dict())
    else:
        if outcome.preempted:
            emit(f"preempted: {outcome.preempted}")
        if outcome.report:
            for line in _report_lines(outcome):
                emit(line)
        if outcome.remaining:
            emit(
                f"remaining, {(outcome.report or {}).get('remaining_as_of') or 'as read at ' + _ist(outcome.read_at)}:"
            )
        for item in outcome.remaining:
            emit(f"  remaining: {item}")
        if outcome.remaining:
            from mci.flatten.report import unclosed_line

            for unclosed in (outcome.report or {}).get("unclosed") or []:
                emit(f"  could not close: {unclosed_line(unclosed)}")
        for position in outcome.unprotected:
            emit(f"  kept WITHOUT a stop: {position}")
        if outcome.scope is not None:
            from mci.flatten.scope import describe

            emit(
                f"left open outside the scope: {len(outcome.outside)} item(s)"
                if outcome.outside
                else "left open outside the scope: nothing"
            )
            for line in describe(outcome.outside):
                emit(f"  left open: {line}")
        head = {0: "SHUTDOWN COMPLETE", 7: "SHUTDOWN UNVERIFIED"}.get(int(outcome.exit_code), "SHUTDOWN INCOMPLETE")
        emit(f"{head} — {outcome.note} (lifecycle: {outcome.lifecycle_state})")
    return int(outcome.exit_code)


def _ist(moment: datetime | None) -> str:
    from mci.clock import zone

    return moment.astimezone(zone("Asia/Kolkata")).strftime("%H:%M:%S IST") if moment else "an unknown time"


def _fresh_remaining(
    profile: "Profile", clock: Clock, state_dir: Path, outcome: "ShutdownOutcome"
) -> "ShutdownOutcome":
    """A NOT FLAT list is read again as it is shown: nobody should close by hand what already closed."""
    from dataclasses import replace

    from mci.engine.shutdown import reread
    from mci.errors import ExitCode
    from mci.flatten.scope import Selection

    scope = Selection.from_dict(outcome.scope) if outcome.scope is not None else None
    latch = "halted" if scope is None else f"scope {scope.label()} latched"
    book = reread(profile, clock, state_dir, selection=scope)
    if book.flat is None:
        stale = f"as of {_ist(outcome.read_at)} — it could be stale: the re-read failed ({book.error.what if book.error else '?'})"
        return replace(
            outcome,
            note=outcome.note + f"; the list is {stale}",
            report={**(outcome.report or {}), "remaining_as_of": stale},
        )
    if book.flat:
        return replace(
            outcome,
            flat=True,
            remaining=[],
            read_at=book.read_at,
            exit_code=ExitCode.OK,
            outside=book.outside,
            note=f"flat{'' if scope is None else ' in scope ' + scope.label()}: no open position, no open "
            f"order (as read at {_ist(book.read_at)}, after the orders sent settled); {latch} until "
            "`mci reset --confirm`",
        )
    return replace(
        outcome,
        remaining=book.remaining,
        read_at=book.read_at,
        outside=book.outside,
        note=f"NOT FLAT: {len(book.remaining)} item(s) remain (as read at {_ist(book.read_at)}); close them "
        f"at the broker now; {latch}",
    )


def _report_lines(outcome: "ShutdownOutcome") -> list[str]:
    """What the kill could do, one line each: the engine, the flatten, where it audited, the latch."""
    r = outcome.report or {}
    flat = {True: "yes", False: "NO: positions or orders remain", None: "unknown: the book could not be read"}
    lines = [
        f"engine:    {r.get('engine', '?')}",
        f"flattened: {flat[outcome.flat]}",
        f"audited:   {r.get('audited', '?')}",
        f"latched:   {_latched_text(outcome, r)}",
    ]
    lines += [f"state DB:  {note}" for note in r.get("state_db") or []]
    if r.get("siblings"):
        lines.append(f"also latched (same Kite account): {', '.join(r['siblings'])}")
    return lines


def _latched_text(outcome: "ShutdownOutcome", r: dict[str, Any]) -> str:
    if not r.get("latched"):
        return "NO — " + str(r.get("latch_error") or "?")
    if outcome.scope is not None:
        from mci.flatten.scope import Selection

        return f"yes (scope {cast('Selection', Selection.from_dict(outcome.scope)).label()}; the profile itself is not halted)"
    return "yes (halted)"


def _observe_shutdown(
    profile: "Profile",
    clock: Clock,
    state_dir: Path,
    outcome: "ShutdownOutcome",
    mode: str,
    command: str,
    started: float,
    metrics_file: Path | None,
) -> None:
    """Log, notify (kill_switch, shutdown_incomplete), write the metrics: none of it can change the outcome."""
    from mci.observability.logs import event
    from mci.observability.notify import fire

    code = int(outcome.exit_code)
    event(
        "INFO" if code == 0 else "WARNING",
        f"{mode} shutdown: {outcome.note} (lifecycle {outcome.lifecycle_state})",
        profile=profile.name,
        exit_code=code,
        flat=outcome.flat,
        remaining=len(outcome.remaining),
    )
    data = {
        "mode": mode,
        "exit_code": code,
        "lifecycle": outcome.lifecycle_state,
        "flat": outcome.flat,
        "remaining": outcome.remaining,
    }
    if mode == "emergency":
        fire(
            profile, "kill_switch", f"kill switch on {profile.name} (mci {command}): {outcome.note}", data, clock.now()
        )
    if code == 6:
        fire(
            profile,
            "shutdown_incomplete",
            f"{mode} shutdown of {profile.name} incomplete: {outcome.note}",
            data,
            clock.now(),
        )
    if metrics_file is not None:
        from mci.engine.run_metrics import write_run

        write_run(metrics_file, command, profile, state_dir, clock.now(), started=started, exit_code=code)


def reduce(profile_path: Path | None, clock: Clock, state_dir: Path, output: str, *, action: str, reason: str) -> int:
    """`mci pause` / `mci resume`: the lifecycle between running and reducing (mci.engine.reducing)."""
    from mci.engine import reducing
    from mci.observability.logs import event

    profile = _profile(profile_path, state_dir)
    if action == "pause":
        outcome = reducing.pause(profile, clock, state_dir, reason=reason)
    else:
        from mci.watch.reading import risk_read

        outcome = reducing.resume(
            profile, clock, state_dir, lambda store: risk_read(profile, clock, state_dir, store), reason=reason
        )
    event(
        "INFO",
        f"{action}: lifecycle {outcome.state}" + ("" if outcome.changed else " (unchanged)"),
        profile=profile.name,
    )
    if output == "json":
        emit_json(outcome.as_dict())
        return 0
    head = {"pause": "REDUCING", "resume": "RESUMED"}[action]
    emit(f"{head} — {outcome.note} (lifecycle: {outcome.source} → {outcome.state})")
    emit(f"engine:    {outcome.engine.get('detail') or outcome.engine.get('how')}")
    for usage in outcome.usages:
        emit(f"  {usage['rule']:<16} {usage['level']:<6} {usage['text']}")
    return 0


def reset(profile_path: Path | None, clock: Clock, state_dir: Path, output: str, *, confirm: bool, reason: str) -> int:
    from mci.engine.shutdown import reset as run

    profile = _profile(profile_path, state_dir)
    state = run(profile, clock, state_dir, confirm=confirm, reason=reason)
    if output == "json":
        emit_json({"profile": profile.name, "lifecycle": state})
    else:
        if state == "idle":
            emit(f"reset: profile {profile.name} is {state}; run `mci scan` to start a new day")
        else:  # only a scoped kill's latches were cleared (a halted profile always resets to idle)
            emit(f"reset: the scoped latches of profile {profile.name} are cleared; it stays {state}")
    return 0


def graph(profile_path: Path | None, state_dir: Path, target: str) -> int:
    from mci.engine.lifecycle import mermaid

    if target == "lifecycle":
        emit(mermaid())
        return 0
    from mci.engine.sequence import DEFAULT_RULES, sequence_mermaid, sequence_named

    # A purpose (graceful, emergency...) is the profile's; a rule name or a file stands on its own.
    profile = _profile(profile_path, state_dir) if target in DEFAULT_RULES else None
    emit(sequence_mermaid(sequence_named(target, profile, cache_dir=state_dir / "cache")))
    return 0
