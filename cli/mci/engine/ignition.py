"""Phase 2: `mci ignite` — start the engine only when it is safe, or leave everything as it was.

Refused unless the profile is armed by a passed scan younger than scan.max_age
(or `scan_first` runs one and it passes), refused while halted, and one at a
time per profile (the profile lock). The ignition sequence runs with a
journal; a crashed ignite resumes when rerun. Any failure aborts cleanly: the
engine is stopped, the lifecycle goes igniting → stopping → blocked, and the
error says WHAT / WHY / HOW.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from mci.clock import Clock
from mci.errors import ExitCode, MciError, RefusedError
from mci.results import Status

if TYPE_CHECKING:
    from mci.config.model import Profile, Sequence
    from mci.engine.scan import ScanOutcome
    from mci.engine.sequence import SequenceResult
    from mci.results import StepResult
    from mci.steps.base import StepContext


@dataclass(frozen=True)
class IgniteOutcome:
    result: "SequenceResult | None"  # None for a dry run
    scan: "ScanOutcome | None"
    plan: dict[str, Any]
    lifecycle_state: str
    exit_code: ExitCode


def describe_plan(profile: "Profile", sequence: "Sequence", purpose: str) -> dict[str, Any]:
    """What a sequence would do, for --dry-run and review: steps, limits and the engine as declared (no secrets)."""
    from mci.units import format_duration

    def shown(values: Any) -> dict[str, Any]:
        return {k: (format_duration(v) if hasattr(v, "total_seconds") else v) for k, v in values.items()}

    engine = profile.engine
    return {
        "profile": profile.name,
        "purpose": purpose,
        "sequence": sequence.name,
        "source": str(sequence.path) if sequence.path else None,
        "engine": {
            "start": engine.get("start"),
            "health": shown(engine.get("health") or {}),
            "token_via": engine.get("token_via", "env"),
        },
        "steps": [
            {
                "id": s.id,
                "kind": s.kind,
                "title": s.title,
                "timeout": format_duration(s.timeout),
                "attempts": s.retry.attempts,
                "breaker": s.breaker,
                "on_error": s.on_error,
                "params": shown(s.params),
            }
            for s in sequence.steps
        ],
    }


def require_fresh_scan(ctx: "StepContext", state: str) -> None:
    """Armed, by a scan that passed and is younger than the profile's max_age."""
    from mci.units import format_duration

    profile = ctx.profile
    scan = ctx.store.last_scan(profile.name)
    if scan is None:
        raise RefusedError(
            "ignition refused: the profile has never been scanned",
            "mci ignites only after a passed pre-ignition scan",
            "run `mci scan` (or `mci ignite --scan`)",
        )
    age = ctx.clock.now() - scan.finished_at
    if scan.status not in (Status.PASSED.value, Status.WARNED.value):
        raise RefusedError(
            f"ignition refused: the last scan (#{scan.id}) {scan.status}",
            "the engine must not start while a pre-ignition check fails",
            "fix what `mci scan` reports, then scan again",
        )
    if age > profile.scan.max_age or age.total_seconds() < -5:
        raise RefusedError(
            f"ignition refused: the last scan (#{scan.id}) is {format_duration(abs(age))} "
            + ("old" if age.total_seconds() >= 0 else "in the future"),
            f"a scan counts for scan.max_age = {format_duration(profile.scan.max_age)}; the market, the account "
            "or the token may have changed since",
            "run `mci scan` again (or `mci ignite --scan`)",
            scan_id=scan.id,
        )
    from mci.market.calendar import calendars_for
    from mci.market.cutoffs import ignition_refusal_any

    # The scan may be fresh and still from before the close or the entry cut-off (max_age 15m at 15:14).
    refusal = ignition_refusal_any(profile, [c for _, c in calendars_for(profile, ctx.state_dir)], ctx.clock.now())
    if refusal is not None:
        raise RefusedError(refusal.what, refusal.why, refusal.how, scan_id=scan.id)
    if state != "armed":
        from mci.engine.lifecycle import _HINTS

        raise RefusedError(
            f"ignition refused: profile {profile.name!r} is {state}, not armed",
            "only an armed profile (a passed scan, nothing running) may ignite",
            _HINTS.get(state, "see `mci status`"),
            state=state,
        )


def ignite(
    profile: "Profile",
    clock: Clock,
    state_dir: Path,
    *,
    scan_first: bool = False,
    dry_run: bool = False,
    on_step: Callable[["StepResult"], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> IgniteOutcome:
    from mci.engine.sequence import SequenceRun, context_for, new_run_id, sequence_for
    from mci.store import journal as jr
    from mci.store.lock import ProfileLock

    sequence = sequence_for(profile, "ignite", cache_dir=state_dir / "cache")
    plan = describe_plan(profile, sequence, "ignite")
    if dry_run:
        from mci.store.state import StateStore

        store = StateStore.open(state_dir)
        try:
            state = store.lifecycle(profile.name).state
        finally:
            store.close()
        return IgniteOutcome(None, None, plan, state, ExitCode.OK)

    with ProfileLock(state_dir, profile.name, "ignite"):
        ctx = context_for(profile, clock, state_dir, "ignite", progress=progress)
        try:
            state = ctx.lifecycle.current().state
            if state == "halted":
                raise RefusedError(
                    "ignition refused: the kill switch is latched (halted)",
                    f"profile {profile.name!r} was halted: {ctx.lifecycle.current().reason or 'see the audit log'}",
                    "inspect the account, then `mci reset --confirm`, `mci scan` and `mci ignite`",
                )
            unfinished = ctx.journal.unfinished("ignite")
            scan_outcome = None
            if unfinished is not None and state == "igniting":
                run_id = unfinished.run_id  # a crashed ignite: resume it
            else:
                if unfinished is not None:
                    ctx.journal.finish(unfinished.run_id, jr.ABANDONED, clock.now())
                if scan_first:
                    scan_outcome = _scan(profile, clock, state_dir)
                    state = ctx.lifecycle.current().state
                require_fresh_scan(ctx, state)
                run_id = new_run_id("ignite")
                with ctx.store.transaction():
                    ctx.lifecycle.fire("ignite", clock.now(), "mci ignite", run_id=run_id)
                    ctx.journal.start(run_id, "ignite", sequence.name, clock.now())
            result = SequenceRun(sequence, ctx, on_step=on_step).execute(run_id=run_id)
            if not result.ok:
                _abort(ctx, result)
            return IgniteOutcome(result, scan_outcome, plan, ctx.lifecycle.current().state, ExitCode.OK)
        finally:
            ctx.close_broker()
            ctx.store.close()


def _scan(profile: "Profile", clock: Clock, state_dir: Path) -> "ScanOutcome":
    from mci.engine.scan import run_scan

    outcome = run_scan(profile, clock, state_dir)
    if outcome.exit_code is not ExitCode.OK:
        failed = [r for r in outcome.result.results if r.status is Status.FAILED]
        first = failed[0].error if failed and failed[0].error else None
        raise MciError(
            f"ignition refused: the scan failed ({', '.join(r.id for r in failed) or 'see mci scan'})",
            first.what + (f": {first.why}" if first.why else "") if first else "a pre-ignition check failed",
            first.how if first else "run `mci scan` for the details",
            outcome.exit_code,
            details={"scan_id": outcome.scan_id},
        )
    return outcome


def _abort(ctx: "StepContext", result: "SequenceResult") -> None:
    """Stop the engine if it started, move the lifecycle to blocked, raise the step's error."""
    error = result.error or MciError("ignition failed", "a step failed", "see `mci status`", ExitCode.FAILED)
    stopped = "the engine was stopped"
    try:
        if ctx.engine.running() is not None:
            ctx.engine.stop()
    except MciError as exc:
        stopped = f"stopping the engine failed too ({exc.what}): run `mci shutdown --emergency` now"
    state = ctx.lifecycle.current().state
    now = ctx.clock.now()
    if state == "igniting":
        ctx.lifecycle.fire("abort", now, f"ignition failed: {error.what}", run_id=ctx.run_id)
        state = "stopping"
    if state == "stopping":
        ctx.lifecycle.fire(
            "ignition_aborted", ctx.clock.now(), "engine stopped after a failed ignition", run_id=ctx.run_id
        )
    failed = result.failed_step
    code = error.code if error.code in (ExitCode.UNAVAILABLE, ExitCode.REFUSED, ExitCode.INVALID) else ExitCode.FAILED
    raise MciError(
        f"ignition aborted at step {failed.id if failed else '?'}: {error.what}",
        error.why,
        f"{error.how}; {stopped} and the profile is blocked: fix the cause, then `mci scan` and `mci ignite`",
        code,
        details={"run_id": result.run_id},
    )
