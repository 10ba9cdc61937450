"""Phase 4: `mci shutdown` (graceful or end-of-day), `mci shutdown --emergency` and `mci reset`.

Graceful: running/armed/ready/blocked → stopping, the sequence, → stopped. A
crashed shutdown (lifecycle `stopping`, run unfinished in the journal) resumes
at its first unfinished step. A step with on_error: escalate hands over to the
emergency sequence under the same lock.

Emergency: from any state; preempts a stuck graceful shutdown or ignite that
holds the profile lock; always ends `halted` (latched). Its verdict is the
book re-read after the sequence: flat (exit 0) or what remains (exit 6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from mci.clock import Clock
from mci.errors import ExitCode, MciError, RefusedError, UsageError

if TYPE_CHECKING:
    from mci.config.model import Profile
    from mci.engine.sequence import SequenceResult, StepResult
    from mci.steps.base import StepContext

# The emergency may take the lock from these (a shutdown or ignition stuck on a dead broker or engine).
EMERGENCY_PREEMPTS = ("shutdown", "ignite", "watch")
MODES = ("graceful", "end_of_day")


@dataclass(frozen=True)
class ShutdownOutcome:
    mode: str  # graceful | end_of_day | emergency
    result: "SequenceResult | None"  # None: nothing to do (already stopped)
    escalation: "SequenceResult | None"
    lifecycle_state: str
    exit_code: ExitCode
    note: str
    flat: bool | None = None  # emergency: the book re-read at the end (None: could not be read)
    remaining: list[dict[str, Any]] = field(default_factory=list)
    preempted: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode, "lifecycle": self.lifecycle_state, "exit_code": int(self.exit_code), "note": self.note,
            "flat": self.flat, "remaining": self.remaining, "preempted": self.preempted,
            "run": self.result.as_dict() if self.result else None,
            "escalation": self.escalation.as_dict() if self.escalation else None,
        }


def shutdown(
    profile: "Profile",
    clock: Clock,
    state_dir: Path,
    *,
    mode: str = "graceful",
    on_step: Callable[["StepResult"], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ShutdownOutcome:
    from mci.engine.sequence import SequenceRun, context_for, new_run_id, sequence_for
    from mci.store.lock import ProfileLock

    if mode not in MODES:
        raise UsageError(f"unknown shutdown mode {mode!r}", f"the modes are {', '.join(MODES)} and emergency",
                         "use `mci shutdown`, `mci shutdown --end-of-day` or `mci shutdown --emergency`")
    sequence = sequence_for(profile, mode, cache_dir=state_dir / "cache")
    with ProfileLock(state_dir, profile.name, "shutdown"):
        ctx = context_for(profile, clock, state_dir, mode, progress=progress)
        try:
            state = ctx.lifecycle.current().state
            unfinished = ctx.journal.unfinished(mode)
            if state == "halted":
                raise RefusedError(
                    "shutdown refused: the kill switch is latched (halted)",
                    "the emergency sequence already ran for this profile; a graceful shutdown has nothing to add",
                    "inspect the account; `mci shutdown --emergency` retries the flatten, `mci reset --confirm` unlatches",
                )
            if unfinished is not None and state == "stopping":
                run_id = unfinished.run_id
            elif state == "stopped":
                engine = ctx.engine.running()
                if engine is not None:
                    raise RefusedError(
                        f"the lifecycle says stopped but an engine is running (pid {engine.pid})",
                        "something started the engine outside mci, or a stop did not take",
                        "run `mci shutdown --emergency` to stop it and flatten, or stop it by hand",
                    )
                return ShutdownOutcome(mode, None, None, state, ExitCode.OK, "already stopped: nothing to do")
            else:
                run_id = new_run_id(mode)
                with ctx.store.transaction():
                    if state != "stopping":  # a failed earlier run left it stopping: start the sequence afresh
                        ctx.lifecycle.fire("shutdown", clock.now(), f"mci shutdown ({mode})", run_id=run_id)
                    ctx.journal.start(run_id, mode, sequence.name, clock.now())
            result = SequenceRun(sequence, ctx, on_step=on_step).execute(run_id=run_id)
            if result.status == "escalated":
                ctx.close_broker()
                escalation = _emergency_run(profile, clock, state_dir, on_step=on_step, progress=progress,
                                            parent=result.run_id)
                return ShutdownOutcome(
                    mode, result, escalation.result, escalation.lifecycle_state, escalation.exit_code,
                    f"step {_failed_step(result)} failed and escalated to the emergency sequence; {escalation.note}",
                    escalation.flat, escalation.remaining)
            state = ctx.lifecycle.current().state
            if result.ok:
                return ShutdownOutcome(mode, result, None, state, ExitCode.OK, "stopped cleanly")
            return ShutdownOutcome(
                mode, result, None, state, ExitCode.INCOMPLETE,
                f"shutdown incomplete: step {_failed_step(result)} failed; rerun `mci shutdown` to resume "
                "or `mci shutdown --emergency`")
        finally:
            ctx.close_broker()
            ctx.store.close()


def emergency(
    profile: "Profile",
    clock: Clock,
    state_dir: Path,
    *,
    on_step: Callable[["StepResult"], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ShutdownOutcome:
    from mci.store.lock import ProfileLock

    with ProfileLock(state_dir, profile.name, "emergency", preempt=EMERGENCY_PREEMPTS) as lock:
        if lock.preempted is not None:
            from mci.store.state import StateStore

            store = StateStore.open(state_dir)
            try:
                store.append_audit("lock_preempted", lock.preempted.as_dict(), clock.now(), profile=profile.name)
            finally:
                store.close()
        outcome = _emergency_run(profile, clock, state_dir, on_step=on_step, progress=progress)
    if lock.preempted is not None:
        from dataclasses import replace

        outcome = replace(outcome, preempted=lock.preempted.as_dict())
    return outcome


def _emergency_run(profile: "Profile", clock: Clock, state_dir: Path, *,
                   on_step: Callable[["StepResult"], None] | None, progress: Callable[[str], None] | None,
                   parent: str | None = None) -> ShutdownOutcome:
    from mci.engine.sequence import SequenceRun, context_for, sequence_for

    sequence = sequence_for(profile, "emergency", cache_dir=state_dir / "cache")
    ectx = context_for(profile, clock, state_dir, "emergency", progress=progress)
    try:
        for purpose in ("ignite", *MODES):
            # The emergency supersedes them: a preempted or crashed run must never be resumed after it.
            stale = ectx.journal.unfinished(purpose)
            if stale is not None and stale.run_id != parent:
                ectx.journal.finish(stale.run_id, "abandoned", clock.now(), {"superseded_by": "emergency"})
        unfinished = ectx.journal.unfinished("emergency")
        run_id = unfinished.run_id if unfinished is not None and parent is None else None
        result = SequenceRun(sequence, ectx, on_step=on_step).execute(run_id=run_id, parent=parent)
        if ectx.lifecycle.current().state != "halted":
            # The latch holds whatever the steps did: an emergency never ends unlatched.
            ectx.lifecycle.fire("halt", clock.now(), "emergency shutdown", run_id=result.run_id)
        flat, remaining = _final_book(ectx)
        state = ectx.lifecycle.current().state
    finally:
        ectx.close_broker()
        ectx.store.close()
    if flat:
        return ShutdownOutcome("emergency", result, None, state, ExitCode.OK,
                               "flat: no open position, no open order; halted until `mci reset --confirm`", True, [])
    what = "the book could not be read" if flat is None else f"{len(remaining)} item(s) remain"
    return ShutdownOutcome("emergency", result, None, state, ExitCode.INCOMPLETE,
                           f"NOT FLAT: {what}; close them at the broker now; halted", flat, remaining)


def _final_book(ctx: "StepContext") -> tuple[bool | None, list[dict[str, Any]]]:
    """Re-read the account after the sequence: the verdict comes from the broker, not from the steps."""
    try:
        positions = [p for p in ctx.broker.positions() if p.quantity != 0]
        orders = [o for o in ctx.broker.orders() if o.is_open]
    except MciError:
        return None, []
    remaining = [{"type": "position", "instrument": f"{p.exchange}:{p.symbol}", "product": p.product,
                  "quantity": p.quantity} for p in positions]
    remaining += [{"type": "order", "order_id": o.order_id, "instrument": f"{o.exchange}:{o.symbol}",
                   "side": o.side, "quantity": o.quantity, "status": o.status} for o in orders]
    return not remaining, remaining


def _failed_step(result: "SequenceResult") -> str:
    return result.failed_step.id if result.failed_step else "?"


def reset(profile: "Profile", clock: Clock, state_dir: Path, *, confirm: bool, reason: str = "") -> str:
    """Unlatch `halted` on purpose: halted → idle. Without confirm it is a usage error, never a reset."""
    from mci.engine.lifecycle import Lifecycle
    from mci.store.lock import ProfileLock
    from mci.store.state import StateStore

    if not confirm:
        raise UsageError("reset needs --confirm",
                         "unlatching the kill switch lets the profile trade again after an emergency",
                         "inspect the account first (`mci status`), then run `mci reset --confirm`")
    with ProfileLock(state_dir, profile.name, "reset"):
        store = StateStore.open(state_dir)
        try:
            move = Lifecycle(store, profile.name).fire("reset", clock.now(), reason or "operator reset (mci reset --confirm)")
        finally:
            store.close()
    return move.dest
