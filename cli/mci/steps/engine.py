"""engine.start / engine.health / engine.pause / engine.stop: the trading engine, through mci.enginectl."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Mapping

from mci.checks import duration_param
from mci.steps.base import Step, StepContext, StepOutcome, register


def access_token(ctx: StepContext) -> str | None:
    """The token the engine needs: Kite's from the token store (or MCI_ACCESS_TOKEN); paper needs none."""
    if ctx.profile.broker.kind != "kite":
        return None
    from mci.errors import RefusedError
    from mci.store.token_store import open_token_store

    record = open_token_store(ctx.profile, ctx.state_dir).load()
    if record is None:
        raise RefusedError(
            "no Kite access token to hand to the engine",
            "the token store is empty and MCI_ACCESS_TOKEN is not set; the engine could not reach the broker",
            "run `mci token login` (or `mci token set`), then `mci scan` and `mci ignite` again",
        )
    return record.access_token


@register
class EngineStart(Step):
    kind = "engine.start"

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> StepOutcome:
        before = ctx.engine.running()
        if before is not None:
            # A rerun after a crash finds the engine it started: never a second one.
            return StepOutcome(f"engine already running (pid {before.pid})", {"pid": before.pid, "started": False})
        info = ctx.engine.start(access_token(ctx))
        return StepOutcome(
            f"engine started (pid {info.pid}, log {info.log_path})",
            {"pid": info.pid, "started": True, "log": str(info.log_path)},
        )


@register
class EngineHealth(Step):
    kind = "engine.health"

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> StepOutcome:
        declared = ctx.profile.engine.get("health", {}).get("within")
        within = duration_param(params, "within", declared or timedelta(seconds=30))
        started = ctx.clock.monotonic()
        ctx.engine.wait_healthy(within=within)
        return StepOutcome(
            f"engine healthy after {ctx.clock.monotonic() - started:.1f}s", {"within_s": within.total_seconds()}
        )


@register
class EnginePause(Step):
    kind = "engine.pause"

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> StepOutcome:
        if ctx.engine.running() is None:
            return StepOutcome("engine not running: nothing to pause", {"running": False})
        info = ctx.engine.pause()
        summary = "engine paused: it accepts no new operations" if info.paused else info.detail
        return StepOutcome(summary, {"running": True, **info.as_dict()})


@register
class EngineStop(Step):
    kind = "engine.stop"

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> StepOutcome:
        if ctx.selection is not None:
            # A scoped kill closes one product, strategy or instrument; the engine trades the rest of the account.
            # Its latched scope is refused by `mci risk check`; `mci kill` without a scope stops the engine.
            return StepOutcome(
                f"engine left running: a scoped kill ({ctx.selection.label()}) does not stop it", {"scoped": True}
            )
        grace = duration_param(params, "grace", timedelta(0)) if params.get("grace") is not None else None
        info = ctx.engine.stop(grace=grace, signal=params.get("signal"))
        if not info.was_running:
            return StepOutcome(info.detail, info.as_dict())
        return StepOutcome(
            f"engine stopped (pid {info.pid}, {info.detail}, {info.elapsed.total_seconds():.1f}s)", info.as_dict()
        )
