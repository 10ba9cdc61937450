"""lifecycle.confirm / exit.clean / lifecycle.halt: the sequence's verdict, written to the lifecycle."""

from __future__ import annotations

from typing import Any, Mapping

from mci.errors import ExitCode, MciError
from mci.steps.base import Step, StepContext, StepOutcome, register


def _move(ctx: StepContext, trigger: str, expected_from: str, reason: str) -> str:
    """Fire `trigger` when the lifecycle is in `expected_from`; a rerun that finds it already moved is fine."""
    state = ctx.lifecycle.current().state
    if state == expected_from:
        return ctx.lifecycle.fire(trigger, ctx.clock.now(), reason, run_id=ctx.run_id).dest
    return state


@register
class LifecycleConfirm(Step):
    kind = "lifecycle.confirm"

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> StepOutcome:
        state = _move(ctx, "engine_healthy", "igniting", "engine healthy")
        if state != "running":
            raise MciError(
                f"cannot confirm ignition: the lifecycle is {state}",
                "another command moved the profile while the engine was starting",
                "see `mci status`; stop the engine with `mci shutdown` if it should not run",
                ExitCode.REFUSED,
            )
        return StepOutcome("lifecycle running")


@register
class ExitClean(Step):
    kind = "exit.clean"

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> StepOutcome:
        engine = ctx.engine.running()
        if engine is not None:
            raise MciError(
                f"the engine is still running (pid {engine.pid})",
                "a shutdown must not finish while the engine could still trade",
                "rerun `mci shutdown` (it resumes at the stop step) or `mci shutdown --emergency`",
                ExitCode.INCOMPLETE,
            )
        ctx.close_broker()
        # The move to `stopped` is committed with the run's `done` (mci.engine.shutdown passes it as on_done):
        # a kill between two transactions would otherwise leave a stopped profile with an unfinished run.
        return StepOutcome("engine gone; the lifecycle moves to stopped as the run completes")


@register
class LifecycleHalt(Step):
    kind = "lifecycle.halt"

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> StepOutcome:
        reason = str(params.get("reason") or f"{ctx.purpose} sequence")
        if ctx.selection is not None:  # a scoped emergency latches its scope, not the profile (mci.store.latches)
            from mci.store import latches

            with ctx.store.transaction():
                latches.latch(ctx.store, ctx.profile.name, ctx.selection.as_dict(), ctx.clock.now(), reason, ctx.run_id)
            return StepOutcome(f"scope {ctx.selection.label()} latched: {reason}")
        state = ctx.lifecycle.current().state
        if state != "halted":
            ctx.lifecycle.fire("halt", ctx.clock.now(), reason, run_id=ctx.run_id)
        return StepOutcome(f"halted (latched): {reason}")
